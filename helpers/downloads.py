"""Downloads: fetch a file once, check it, and unpack a zip safely.

Used for every dataset archive and for the Inception v3 weights. A file is written as
``<name>.part`` and renamed only once it passed its check, so a half-finished download is never
mistaken for a complete one; every kind of cut transfer is retried a few times.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from helpers.settings import DATA_ENV, DatasetCorruptError, DatasetNotFoundError

RETRY_PAUSE = 2.0  # seconds before the first retry of a download, doubled for each next one


@dataclass(frozen=True)
class Archive:
    """One file published by its authors (a dataset, weights), with the checksum we expect."""

    url: str
    sha256: str
    size: int | None  # None when only the unpacked contents are checked (Fashion-MNIST)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def sha256_of(path: Path) -> str:
    """Return the SHA-256 hex digest of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, archive: Archive) -> None:
    """Raise DatasetCorruptError unless ``path`` has the archive's size and SHA-256."""
    size = path.stat().st_size
    if size != archive.size:
        raise DatasetCorruptError(
            f"{path} has {size:,} bytes but {archive.filename} should have {archive.size:,}: "
            f"the download is incomplete or is not the right file. Delete it and try again, "
            f"or download {archive.url} by hand and put it there."
        )
    if sha256_of(path) != archive.sha256:
        raise DatasetCorruptError(
            f"{path} does not match the SHA-256 published for {archive.url}: the file is "
            f"damaged or is not the right file. Delete it and download it again."
        )


def download(archive: Archive, folder: Path, retries: int = 3,
             check: Callable[[Path], None] | None = None, time_limit: float = 3600.0,
             advice: str = f"or set {DATA_ENV} to a folder that already holds the data") -> Path:
    """Download ``archive`` into ``folder`` once (with a progress bar) and verify it.

    ``check`` replaces the default size and SHA-256 check of the downloaded file (Fashion-MNIST
    checks the unpacked contents instead); it raises DatasetCorruptError for a bad file.
    Every kind of interrupted transfer (refused, reset, cut off, timed out, damaged) is retried
    up to ``retries`` times within ``time_limit`` seconds in all. The file is written as
    ``<name>.part`` and renamed only once checked; a partial file is never kept. ``advice``
    ends the error message when every attempt failed (what else the user can do).
    """
    check = check or (lambda path: verify_file(path, archive))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / archive.filename
    if target.exists():
        check(target)
        return target
    partial = target.with_suffix(target.suffix + ".part")
    deadline = time.monotonic() + time_limit
    last_error: Exception | None = None
    try:
        for attempt in range(1, retries + 1):
            try:
                _fetch(archive, partial, deadline)
                check(partial)
                partial.replace(target)
                return target
            except (OSError, http.client.HTTPException, DatasetCorruptError) as error:
                last_error = error
                partial.unlink(missing_ok=True)
                print(f"Download attempt {attempt} of {retries} failed: "
                      f"{type(error).__name__}: {error}")
            left = deadline - time.monotonic()
            if left <= 0:
                last_error = TimeoutError(f"gave up after the time limit of {time_limit:.0f} s; "
                                          f"last: {last_error}")
                break
            if attempt < retries:
                time.sleep(min(RETRY_PAUSE * 2 ** (attempt - 1), left))
    finally:  # also on Ctrl-C or an unexpected error: never leave half a file behind
        partial.unlink(missing_ok=True)
    raise DatasetNotFoundError(
        f"Could not download {archive.url} ({last_error}). Download it by hand and put it at "
        f"{target}, {advice}."
    )


def _fetch(archive: Archive, partial: Path, deadline: float) -> None:
    """Stream ``archive.url`` into ``partial``; raise for a transfer cut off or past
    ``deadline`` (a server that sends a byte now and then never times out a single read)."""
    from tqdm.auto import tqdm

    timeout = max(1.0, min(60.0, deadline - time.monotonic()))
    with urllib.request.urlopen(archive.url, timeout=timeout) as response, open(
        partial, "wb"
    ) as out, tqdm(total=archive.size, unit="B", unit_scale=True, desc=archive.filename) as bar:
        while block := response.read1(1 << 16):
            out.write(block)
            bar.update(len(block))
            if time.monotonic() > deadline:
                raise TimeoutError(f"{archive.filename} was still downloading at the time "
                                   f"limit ({out.tell():,} bytes so far)")
        missing = getattr(response, "length", None)  # bytes announced but never sent
        if missing:
            raise http.client.IncompleteRead(b"", missing)


def safe_extract(zip_path: Path, destination: Path) -> None:
    """Extract a zip file, refusing any member that would land outside ``destination``."""
    destination = destination.resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                target = (destination / member.filename).resolve()
                if not target.is_relative_to(destination):
                    raise DatasetCorruptError(
                        f"{zip_path} holds {member.filename!r}, which would be written "
                        f"outside {destination}; refusing to extract it."
                    )
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DatasetCorruptError(f"{zip_path} holds a symbolic link: refused.")
            archive.extractall(destination)
    except zipfile.BadZipFile as error:
        raise DatasetCorruptError(f"{zip_path} is not a valid zip file ({error}).") from error
