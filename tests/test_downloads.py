"""Downloads over a flaky network, served by a local HTTP server that misbehaves on purpose,
and image folders as phones, Macs and damaged copies leave them."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import data, downloads
from helpers.downloads import Archive, download
from helpers.settings import DatasetCorruptError, DatasetNotFoundError

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


class Server(http.server.ThreadingHTTPServer):
    """Answers the n-th request with the n-th behaviour of ``plan`` (the last one repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.plan: list[str] = ["whole"]
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data.zip"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:
        server = self.server
        behaviour = server.plan[min(server.requests, len(server.plan) - 1)]
        server.requests += 1
        self.send_response(200)
        if behaviour == "chunked-cut":  # a chunked response that stops in its second chunk
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(PAYLOAD) // 2
            self.wfile.write(b"%x\r\n" % half + PAYLOAD[:half] + b"\r\n")
            self.wfile.write(b"%x\r\n" % half + PAYLOAD[half:half + 1000])
            return
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        if behaviour == "length-cut":  # announces every byte, sends a third
            self.wfile.write(PAYLOAD[:len(PAYLOAD) // 3])
        elif behaviour == "drip":  # a byte now and then: no single read ever times out
            for byte in PAYLOAD[:40]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.wfile.write(PAYLOAD)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(downloads, "RETRY_PAUSE", 0.0)
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def archive_at(server: Server) -> Archive:
    return Archive(server.url, hashlib.sha256(PAYLOAD).hexdigest(), len(PAYLOAD))


@pytest.mark.parametrize("failure", ["chunked-cut", "length-cut"])
def test_a_transfer_cut_off_is_retried_and_no_part_file_is_left(server, tmp_path, failure,
                                                                 capsys):
    server.plan = [failure, "whole"]
    path = download(archive_at(server), tmp_path)
    assert path.read_bytes() == PAYLOAD and server.requests == 2
    assert [p.name for p in tmp_path.iterdir()] == ["data.zip"]
    assert "attempt 1 of 3 failed: IncompleteRead" in capsys.readouterr().out


def test_a_transfer_that_always_breaks_gives_the_usual_message(server, tmp_path):
    server.plan = ["chunked-cut", "length-cut"]
    with pytest.raises(DatasetNotFoundError) as caught:
        download(archive_at(server), tmp_path, retries=3)
    message = str(caught.value)
    assert server.url in message and str(tmp_path / "data.zip") in message
    assert "Download it by hand" in message
    assert server.requests == 3 and list(tmp_path.iterdir()) == []


def test_a_dripping_server_is_given_up_on_at_the_time_limit(server, tmp_path):
    server.plan = ["drip"]
    start = time.monotonic()
    with pytest.raises(DatasetNotFoundError, match="time limit of 1 s") as caught:
        download(archive_at(server), tmp_path, time_limit=1.0)
    assert time.monotonic() - start < 4
    assert server.url in str(caught.value) and list(tmp_path.iterdir()) == []


def test_ctrl_c_during_a_download_leaves_no_part_file(server, tmp_path):
    def interrupted(path: Path) -> None:
        assert path.name == "data.zip.part" and path.exists()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(archive_at(server), tmp_path, check=interrupted)
    assert list(tmp_path.iterdir()) == []


def test_a_stale_part_file_is_never_trusted(server, tmp_path):
    (tmp_path / "data.zip.part").write_bytes(PAYLOAD[:5000])
    assert download(archive_at(server), tmp_path).read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["data.zip"]


def test_the_check_callable_replaces_the_default_check(server, tmp_path):
    seen = []

    def picky(path: Path) -> None:
        seen.append(path.stat().st_size)
        if len(seen) < 2:
            raise DatasetCorruptError("not yet")

    wrong = Archive(server.url, "0" * 64, 1)  # the default check would refuse this
    assert download(wrong, tmp_path, check=picky).read_bytes() == PAYLOAD
    assert seen == [len(PAYLOAD)] * 2


# --------------------------------------------------------------------------------------
# Image folders: macOS companions, hidden folders, a damaged photo
# --------------------------------------------------------------------------------------


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def image_folder(root: Path) -> Path:
    for name, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (root / name).mkdir(parents=True)
        for i in range(3):
            (root / name / f"{i}.jpg").write_bytes(jpeg(colour))
            # what macOS writes beside each file on a non-Mac disk or into a zip
            (root / name / f"._{i}.jpg").write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
        (root / name / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "__MACOSX" / "cats").mkdir(parents=True)
    return root


def test_macos_companions_and_hidden_folders_are_not_images_or_classes(tmp_path):
    folder = image_folder(tmp_path / "pets")
    assert [p.name for p in data.list_images(folder / "cats")] == ["0.jpg", "1.jpg", "2.jpg"]
    images = data.load_image_folder(folder, 16)
    assert images.class_names == ["cats", "dogs"] and images.labels.tolist() == [0] * 3 + [1] * 3
    centre = images.images[0, :, 8, 8].int() - torch.tensor([200, 30, 30])
    assert centre.abs().max() <= 4  # the red cat, give or take JPEG's rounding


def test_an_image_that_cannot_be_decoded_is_named(tmp_path):
    folder = image_folder(tmp_path / "pets")
    damaged = folder / "dogs" / "1.jpg"
    good = bytearray(damaged.read_bytes())
    good[2:40] = bytes(38)  # the header's segments zeroed: the decoder cannot even start
    damaged.write_bytes(bytes(good))
    with pytest.raises(DatasetCorruptError, match=f"{damaged}.*delete or replace that file"):
        data.load_image_folder(folder, 16)
