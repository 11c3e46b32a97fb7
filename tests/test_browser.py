"""End to end in a real browser: JupyterLab driven by headless Chromium, as a learner uses it.

A throw-away copy of notebooks/ is served by JupyterLab from this environment (127.0.0.1, a
token). Every notebook is opened: its kernel must start without a question and its saved outputs
must show no widget error. The notebooks are not run again here (nbval runs each one): instead a
small notebook written by this test, holding every widget the collection has (the kernel editor,
the augmentation explorer, the upload classifier), is run (*Run -> Run All Cells*): every code
cell must run, in order, without a traceback; every widget must render (no "Error displaying
widget", no "model not found"); the browser console must show no error. The upload widget then
gets phone-sized photos made from a real one (a 12 MB and a 6 MB 4000 x 3000 JPEG, a 2560 x 1600
PNG screenshot, a portrait stored landscape with EXIF orientation 6) through its file chooser, the
first with a text file: a bar chart and, beside it, its heat-map panel must appear for each photo
and the one-line "✗ notes.txt: ..." error for the text file; the kernel must have received each
photo shrunk in the browser below 1 MB, upright, and given the answer predict_image gives on the
original file (the model names the brightest side of the photo, so a turned photo would get
another answer), with a heat-map hottest on that side; files Chromium cannot decode get their
one-line reasons. Times from the click to the chart are printed; a screenshot
goes to test-artifacts/browser/.

Needs Chromium (`apt-get install chromium` on Debian/Ubuntu; another path in CONVNET_CHROMIUM)
and the Python package playwright (requirements.txt; its own browser download is not used);
skipped without them. QUICK mode and the data folder come from conftest.py. Select it with
`pytest -m browser`, leave it out with `-m "not browser"`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # JupyterLab in Chromium: the slow tier

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the tests are skipped below
    sync_playwright = None

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGETS_NOTEBOOK = "widgets_in_jupyterlab.ipynb"  # written into the served copy by the test
BRIGHTEST_SIDE = """class BrightestSide(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.grey = torch.nn.Conv2d(3, 1, 1)  # the pixels' grey, moved from -1...1 to 0...2
        torch.nn.init.constant_(self.grey.weight, 1 / 3)
        torch.nn.init.constant_(self.grey.bias, 1.0)

    def forward(self, pixels):
        grey = self.grey(pixels)[:, 0].clamp(min=1e-3)
        h, w = grey.shape[-2:]
        top, bottom = grey[:, :h // 2].mean((1, 2)), grey[:, h // 2:].mean((1, 2))
        left, right = grey[:, :, :w // 2].mean((1, 2)), grey[:, :, w // 2:].mean((1, 2))
        return 20 * torch.stack([top, bottom, left, right], 1).log()


SIDES = ['top', 'bottom', 'left', 'right']


def hottest_side(heat):
    h, w = heat.shape
    sums = [heat[:h // 2].sum(), heat[h // 2:].sum(),
            heat[:, :w // 2].sum(), heat[:, w // 2:].sum()]
    return SIDES[int(torch.stack(sums).argmax())]
"""
WIDGET_CELLS = [  # every widget of the collection, built as the notebooks build them
    "import torch\n\nimport helpers\nfrom helpers.explorers import augmentation_explorer, "
    "kernel_editor\nfrom helpers.widgets import "
    "PhotoClassifier",
    "kernel_editor(helpers.load_ascent())",
    "photos = helpers.find_split('horse-or-human/validation')\n"
    "horse = helpers.data.read_image_file(helpers.list_images(photos / 'horses')[0], 150)\n"
    "augmentation_explorer(horse)",
    # A model with clear preferences (which side of the photo is brightest), so that a photo
    # turned sideways or upside down on its way (EXIF orientation lost) gets another answer.
    BRIGHTEST_SIDE +
    "classifier = PhotoClassifier(BrightestSide(), SIDES, helpers.ImageTransform(150), topk=4)\n"
    "classifier",
    # Run again by the test after each upload: what the kernel received and answered, and the
    # side where each photo's heat-map is hottest.
    "import json\n\n"
    "print(json.dumps({'received': classifier.upload.received, 'answers': classifier.answers,\n"
    "                  'hottest': {name: hottest_side(heat)\n"
    "                              for name, heat in classifier.heat_maps.items()}}))",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"  # git-ignored
CHROMIUM = Path(os.environ.get("CONVNET_CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags Chromium keeps calling Google's services, which a closed network
# refuses; Playwright gives every launch a fresh, temporary profile.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
RUN_ALL_TIMEOUT_S = 600  # one notebook in QUICK mode: seconds to ~2 minutes on a busy 2-core CPU
WIDGET_PROBLEMS = ("Error displaying widget", "model not found")
# Console errors that are JupyterLab's own, not the collection's (each with its reason).
IGNORED_CONSOLE_ERRORS = [
    r"^Failed to load resource: the server responded with a status of 404",  # optional endpoints
]

_missing = [what for what, absent in ((f"Chromium ({CHROMIUM})", not CHROMIUM.exists()),
                                      ("the Python package playwright", sync_playwright is None))
            if absent]
needs_browser = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(_missing), reason=(
        f"browser test skipped: {' and '.join(_missing)} not found. Install Chromium with "
        f"`sudo apt-get install chromium` (Debian/Ubuntu; or set CONVNET_CHROMIUM to its path) and "
        f"playwright with `pip install -r requirements.txt` (no `playwright install` needed)")),
]


# ----------------------------------------------------------------------------------------------
# JupyterLab on 127.0.0.1, serving a copy of notebooks/
# ----------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, base: Path, env: dict[str, str]) -> None:
        self.base, self.token = base, secrets.token_hex(24)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = base / "jupyterlab.log"
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={base / 'notebooks'}",
            "--ServerApp.allow_root=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # were this process ever orphaned, it would stop by itself
            "--ServerApp.shutdown_no_activity_timeout=1200",
            "--MappingKernelManager.cull_idle_timeout=900",
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, cwd=base, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_until_up(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                self.api("/api/status", timeout=5)
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in {timeout_s} s:\n{self.log_tail()}")
                time.sleep(0.5)

    def shut_down_kernels(self) -> None:
        for session in self.api("/api/sessions"):
            self.api(f"/api/sessions/{session['id']}", "DELETE", timeout=60)
        for kernel in self.api("/api/kernels"):
            self.api(f"/api/kernels/{kernel['id']}", "DELETE", timeout=60)

    def stop(self) -> None:
        """Kernels first, then the server's process group (SIGTERM, then SIGKILL), then any
        kernel left (kernels run in sessions of their own, named by a file in our runtime dir)."""
        if self.process.poll() is None:
            try:
                self.shut_down_kernels()
            except (OSError, urllib.error.URLError, ValueError):
                pass
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        runtime = str(self.base / "runtime")
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if runtime.encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def notebooks_folder_listing() -> set[str]:
    return {str(p.relative_to(REPO)) for p in (REPO / "notebooks").rglob("*")}


def write_widgets_notebook(path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)
                                               for source in WIDGET_CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    before = notebooks_folder_listing()
    base = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(REPO / "notebooks", base / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "models"))
    write_widgets_notebook(base / "notebooks" / WIDGETS_NOTEBOOK)
    # Every cell kept in the page (the default windowing drops off-screen ones); no news; no
    # autosave (nothing here needs the copy saved).
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "docmanager-extension/plugin": {"autosave": False},
    }
    for name, values in settings.items():
        path = base / "settings" / f"@jupyterlab/{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)  # CONVNET_QUICK, CONVNET_DATA, CONVNET_MODELS set by conftest.py
    env.pop("MPLBACKEND", None)  # conftest's Agg would hide every inline figure
    # the kernels import this checkout's helpers, whichever checkout the environment installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update({f"JUPYTER{key}": str(base / folder) for key, folder in (
        ("_CONFIG_DIR", "config"), ("_DATA_DIR", "data"), ("_RUNTIME_DIR", "runtime"),
        ("LAB_SETTINGS_DIR", "settings"), ("LAB_WORKSPACES_DIR", "workspaces"))})
    server = Lab(base, env)

    def interrupt(signum, frame):  # a SIGTERM (a CI timeout, say) still runs the clean-up below
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        server.wait_until_up()
        print(f"\nJupyterLab at {server.url}, log {server.log}")
        yield server
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    # Nothing may appear there (checkpoints, models, uploads); a notebook that someone writes
    # meanwhile is theirs, not this test's.
    appeared = {path for path in notebooks_folder_listing() - before
                if not re.fullmatch(r"notebooks/\d\d_[^/]+\.ipynb", path)}
    assert not appeared, f"the test left files in notebooks/: {sorted(appeared)}"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ----------------------------------------------------------------------------------------------
# Driving a notebook
# ----------------------------------------------------------------------------------------------


def kernel_ready(page, lab: Lab, notebook: str) -> bool:
    """The notebook's kernel is started, connected to the page and idle. (The toolbar says
    "idle" before any kernel exists; Run All clicked then asks which kernel to start.)"""
    sessions = [s for s in lab.api("/api/sessions") if s["path"] == notebook]
    kernel = sessions[0]["kernel"] if sessions else {}
    return (kernel.get("execution_state") == "idle" and kernel.get("connections", 0) > 0
            and page.get_attribute(".jp-Notebook-ExecutionIndicator", "data-status") == "idle")


def wait_for(page, what: str, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if page.locator(".jp-Dialog").count():
            dialog = page.locator(".jp-Dialog").inner_text()
            hint = (" (the notebook's metadata names no kernel: give it the kernelspec python3)"
                    if "Select Kernel" in dialog else "")
            pytest.fail(f"a dialog opened while waiting for {what}{hint}: {dialog!r}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        page.wait_for_timeout(500)


def click_menu(page, menu: str, command: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def prompts(page) -> list[str]:
    return page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()


def run_all_cells(page, lab: Lab, notebook: str) -> float:
    """Clear the outputs, Run All Cells, and wait until no cell is queued or running and the
    kernel is idle (three checks in a row). Returns the seconds taken."""
    click_menu(page, "Edit", "editmenu:clear-all")
    wait_for(page, "the outputs to clear",
             lambda: all(p.strip() in ("[ ]:", "") for p in prompts(page)), 30)
    start = time.monotonic()
    click_menu(page, "Run", "runmenu:run-all")
    settled = []

    def finished() -> bool:
        shown = prompts(page)
        done = not any("*" in p for p in shown) and any("[1]" in p for p in shown)
        settled.append(done and kernel_ready(page, lab, notebook))
        return settled[-3:] == [True] * 3

    wait_for(page, f"Run All in {notebook} (prompts {prompts(page)})", finished, RUN_ALL_TIMEOUT_S)
    return time.monotonic() - start


def check_cells_ran(page) -> None:
    shown = [p.strip() for p in prompts(page)]
    tracebacks = [text for text in page.locator(".jp-OutputArea-output").all_inner_texts()
                  if "Traceback (most recent call last)" in text]
    assert not tracebacks, f"a cell raised:\n{tracebacks[0]}"
    assert shown == [f"[{i}]:" for i in range(1, len(shown) + 1)], (
        f"not every code cell ran, in order, in a fresh kernel: {shown}")


def widget_outputs(page):
    """Cell outputs drawn by the widget renderer: every other renderer marks its output with
    the mime type it shows, this one does not (it shows its widget, or an error text). The
    renderer hides the output of a widget closed on purpose (a finished progress bar): those
    are not counted."""
    return page.locator(".jp-Cell-outputArea > .jp-OutputArea-child > "
                        ".jp-OutputArea-output:not([data-mime-type]):not(.lm-mod-hidden)")


def check_widgets(page, console_errors: list[str]) -> int:
    """Every widget output shows its widget, nothing says "Error displaying widget" or "model
    not found", and the console is clean. Returns the number of widget outputs."""
    outputs = widget_outputs(page)
    wait_for(page, "the widgets to render", lambda: outputs.evaluate_all(
        "outputs => outputs.every(o => o.querySelector(':scope > .jupyter-widgets')"
        " || o.innerText.trim())"), 60)
    text = page.locator(".jp-Notebook").inner_text()
    for problem in WIDGET_PROBLEMS:
        assert problem not in text, f"the notebook shows {problem!r}"
    shown = outputs.evaluate_all(
        "outputs => outputs.map(o => !!o.querySelector(':scope > .jupyter-widgets'))")
    assert all(shown), f"widget outputs without their widget: {outputs.all_inner_texts()}"
    assert not console_errors, "browser console errors:\n" + "\n".join(console_errors)
    return len(shown)


def phone_photos(folder: Path) -> dict[Path, str]:
    """Photos as phones and screens make them, each brightest on one side, made from a real
    photo of the data folder: {path: the side BrightestSide should name}. A 4000 x 3000 JPEG of
    over 11 MB, one of about 6 MB, a 2560 x 1600 PNG screenshot, and a portrait photo stored
    landscape with EXIF Orientation 6 (upright, its bottom is brightest; read as stored, its
    right side would be)."""
    import numpy as np
    from PIL import Image

    from helpers import find_split, list_images

    photo = Image.open(list_images(find_split("horse-or-human/validation") / "humans")[0])
    rng = np.random.default_rng(0)

    def picture(size, bright: str, noise: float) -> Image.Image:
        pixels = np.asarray(photo.convert("RGB").resize(size, Image.BICUBIC), dtype=np.float32)
        ramp = np.linspace(1.0, 0.3, size[1] if bright in ("top", "bottom") else size[0])
        ramp = ramp[::-1] if bright in ("bottom", "right") else ramp
        pixels *= ramp[:, None, None] if bright in ("top", "bottom") else ramp[None, :, None]
        pixels += rng.normal(0, noise, pixels.shape).astype(np.float32)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

    def jpeg(name: str, image: Image.Image, at_least: int, **options) -> Path:
        path = folder / name
        image.save(path, quality=97, **options)
        assert path.stat().st_size >= at_least, (name, path.stat().st_size)
        return path

    photos = {jpeg("IMG_12MB.jpg", picture((4000, 3000), "top", 32), 11_000_000): "top",
              jpeg("IMG_6MB.jpg", picture((4000, 3000), "left", 6), 5_000_000): "left"}
    screen = picture((2560, 1600), "right", 6).convert("RGBA")
    screen.paste((40, 44, 52, 255), (0, 0, 2560, 60))  # a window's title bar
    screen.save(folder / "Screenshot.png")
    assert (folder / "Screenshot.png").stat().st_size >= 3_000_000
    photos[folder / "Screenshot.png"] = "right"
    upright = picture((3000, 4000), "bottom", 6)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to show it
    photos[jpeg("IMG_portrait.jpg", upright.transpose(Image.Transpose.ROTATE_90), 2_000_000,
                exif=exif)] = "bottom"
    return photos


def upload(page, widget, files: list[Path], charts: int) -> float:
    """Choose ``files`` in the widget's file chooser; wait until ``charts`` new charts, each with
    its heat-map panel beside it, are drawn (decoded <img>s, in place of the last ones).
    Returns the seconds from the click."""
    old = widget.locator("img").evaluate_all("images => images.map(i => i.src)")
    with page.expect_file_chooser(timeout=30_000) as chooser:
        widget.locator(".widget-upload").click()  # its <input type=file> is not in the page
        start = time.monotonic()
    assert chooser.value.is_multiple(), "the upload widget should take several files at once"
    chooser.value.set_files(files)
    page.wait_for_function(
        "([box, old, n]) => { const images = [...box.querySelectorAll('img')];"
        " const maps = images.filter(i => i.classList.contains('heat-map'));"
        " return images.length === 2 * n && maps.length === n"
        " && images.every(i => !old.includes(i.src) && i.complete && i.naturalWidth > 100); }",
        arg=[widget.element_handle(), old, charts], timeout=180_000)
    return time.monotonic() - start


def kernel_report(page) -> dict:
    """Run the notebook's last cell again (Ctrl+Enter): what the kernel received, answered."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    before = cell.locator(".jp-InputArea-prompt").inner_text()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    wait_for(page, "the report cell to run again", lambda: (
        cell.locator(".jp-InputArea-prompt").inner_text() not in (before, "[*]:")
        and cell.locator(".jp-OutputArea-output").count() > 0), 60)
    return json.loads(cell.locator(".jp-OutputArea-output").last.inner_text())


def check_uploads(page, widget, photos: dict[Path, str], not_an_image: Path,
                  screenshot: Path) -> None:
    """Upload each photo (the first with a text file) through the widget's file chooser: each
    gets a chart, the text file the one-line error; the kernel received each photo shrunk below
    1 MB (upright: a portrait stays portrait) and its answer is predict_image's on the original
    file. Prints the sizes and times; saves a screenshot."""
    from helpers import ImageTransform, predict_image

    namespace = {"torch": __import__("torch")}
    exec(BRIGHTEST_SIDE, namespace)
    model, sides = namespace["BrightestSide"](), namespace["SIDES"]
    for number, (photo, side) in enumerate(photos.items()):
        expected = predict_image(model, photo, sides, ImageTransform(150), topk=4)
        assert expected[0][0] == side and expected[0][1] > 0.6, (photo.name, expected)
        files = [photo, not_an_image] if number == 0 else [photo]
        seconds = upload(page, widget, files, charts=1)
        if number == 0:
            error = widget.locator(".widget-html", has_text=f"✗ {not_an_image.name}:")
            error.first.wait_for(timeout=30_000)
            assert error.count() == 1, error.all_inner_texts()
            print(f"\n  {not_an_image.name}: {error.first.inner_text().strip()}")
        report = kernel_report(page)
        received = {item["name"]: item for item in report["received"]}
        item, answer = received[photo.name], report["answers"][photo.name]
        assert item["kind"] == "shrunk" and item["size"] == photo.stat().st_size, item
        assert item["received"] < 1_000_000 and max(item["width"], item["height"]) == 1024, item
        if side == "bottom":  # the portrait photo: EXIF applied in the browser
            assert item["height"] > item["width"], f"not turned upright: {item}"
        assert answer[0][0] == expected[0][0], (photo.name, answer, expected)
        assert report["hottest"][photo.name] == side, (photo.name, report["hottest"])
        print(f"\n  {photo.name}: {item['size']:,} bytes, received {item['received']:,} "
              f"({item['width']} x {item['height']}); chart and heat-map {seconds:.1f} s after "
              f"the click; heat-map hottest on the {report['hottest'][photo.name]}; "
              f"widget {answer[0][0]} {answer[0][1]:.0%}, predict_image {expected[0][0]} "
              f"{expected[0][1]:.0%}")
        if number == 0:
            assert set(received) == {photo.name, not_an_image.name}
            assert received[not_an_image.name]["kind"] == "original"
    cell = page.locator(".jp-CodeCell").filter(has=widget)
    cell.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cell.screenshot(path=str(screenshot))
    print(f"  screenshot {screenshot.relative_to(REPO)}")
    # Files Chromium cannot decode: a small one is sent as it is (the kernel names it), a large
    # one is not sent (the line says the browser could not read it).
    heic, noise = not_an_image.with_name("IMG_0004.HEIC"), not_an_image.with_name("noise.jpg")
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + os.urandom(2_000_000))
    noise.write_bytes(os.urandom(9_000_000))
    upload(page, widget, [heic, noise], charts=0)
    for name, reason in ((heic.name, "is a HEIC/HEIF photo"),
                         (noise.name, "the browser could not read it as a picture")):
        line = widget.locator(".widget-html", has_text=f"✗ {name}:")
        line.first.wait_for(timeout=30_000)
        assert reason in line.inner_text(), line.inner_text()
        print(f"  {line.inner_text().strip()[:150]}")


# ----------------------------------------------------------------------------------------------
# The test
# ----------------------------------------------------------------------------------------------


def open_page(browser, lab: Lab, notebook: str):
    """A page with ``notebook`` open and its kernel idle; the list collects console errors."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    console_errors: list[str] = []
    page.on("pageerror", lambda error: console_errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: console_errors.append(message.text) if (
        message.type == "error" and not any(re.search(pattern, message.text)
                                            for pattern in IGNORED_CONSOLE_ERRORS)) else None)
    page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    wait_for(page, "the kernel to start", lambda: kernel_ready(page, lab, notebook), 180)
    return page, console_errors


def on_failure_and_close(page, lab: Lab, name: str):
    """Screenshot and log when the test failed; always close the page and its kernel."""
    def finish(failed: bool) -> None:
        if failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"))
                print(f"\nscreenshot of the failure: {ARTIFACTS / f'{name}-failure.png'}\n"
                      f"JupyterLab log:\n{lab.log_tail()}")
            except Exception:  # the original failure matters, not this one
                pass
        page.close()
        try:
            lab.shut_down_kernels()  # one kernel at a time
        except (OSError, urllib.error.URLError):
            pass  # the server is gone: the test has failed already, the fixture cleans up
    return finish


def check_answers(page, notebook: str) -> int:
    """Every `<details>` answer block renders closed (its answer hidden) and opens on a click.
    Cells are drawn as they scroll into view, so the page is scrolled to the end first."""
    cells = json.loads((REPO / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    expected = sum("".join(c["source"]).count("<details>") for c in cells
                   if c["cell_type"] == "markdown")
    answers = page.locator(".jp-RenderedMarkdown details")
    for _ in range(200):
        if answers.count() >= expected:
            break
        page.mouse.move(700, 600)
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(150)
    assert answers.count() == expected, f"{answers.count()} of {expected} answer blocks drawn"
    for index in range(expected):
        block = answers.nth(index)
        block.scroll_into_view_if_needed()
        answer = block.locator(":scope > :not(summary)").first
        assert not block.evaluate("d => d.open") and not answer.is_visible(), \
            f"answer {index + 1} is shown before it is asked for"
        block.locator(":scope > summary").click()
        assert block.evaluate("d => d.open") and answer.is_visible(), \
            f"answer {index + 1} did not open on a click"
    return expected


@pytest.mark.parametrize("notebook", [pytest.param(p.name, marks=needs_browser)
                                      for p in NOTEBOOKS])
def test_notebook_opens_in_jupyterlab(notebook, lab, browser):
    """The kernel starts without a question, the saved outputs show no widget error, and every
    answer is hidden until its summary is clicked."""
    (ARTIFACTS / f"{Path(notebook).stem}-failure.png").unlink(missing_ok=True)
    page, console_errors = open_page(browser, lab, notebook)
    finish, failed = on_failure_and_close(page, lab, Path(notebook).stem), True
    try:
        check_widgets(page, console_errors)
        answers = check_answers(page, notebook)
        print(f"\n{notebook}: {answers} answer blocks closed, each opened by a click")
        failed = False
    finally:
        finish(failed)


@pytest.mark.parametrize("notebook", [pytest.param(WIDGETS_NOTEBOOK, marks=needs_browser)])
def test_every_widget_runs_in_jupyterlab(notebook, lab, browser, tmp_path):
    """Run the widgets notebook; each widget renders; the upload classifier answers a photo."""
    page, console_errors = open_page(browser, lab, notebook)
    finish, failed = on_failure_and_close(page, lab, "widgets"), True
    try:
        seconds = run_all_cells(page, lab, notebook)
        check_cells_ran(page)
        widgets = check_widgets(page, console_errors)
        assert widgets == 3, f"{widgets} widgets shown, expected the 3 the notebook builds"
        print(f"\n{notebook}: Run All Cells took {seconds:.0f} s, {widgets} widget(s) shown")
        uploads = widget_outputs(page).filter(has=page.locator(".widget-upload"))
        assert uploads.count() == 1, f"{uploads.count()} upload widgets"
        not_an_image = tmp_path / "notes.txt"
        not_an_image.write_text("Dear diary, this is not a photo.\n")
        check_uploads(page, uploads.first, phone_photos(tmp_path), not_an_image,
                      ARTIFACTS / "widgets-upload.png")
        page.wait_for_timeout(500)  # late console messages
        check_widgets(page, console_errors)
        failed = False
    finally:
        finish(failed)


def test_the_notebooks_show_the_widgets_this_test_runs():
    """Each widget the widgets notebook builds is one a notebook shows (else the test would
    check widgets nobody uses), and each notebook's widget is among them."""
    shown = {}
    for path in NOTEBOOKS:
        code = "".join("".join(cell["source"]) for cell in json.loads(path.read_text(
            encoding="utf-8"))["cells"] if cell["cell_type"] == "code")
        shown[path.name[:2]] = {name for name in ("kernel_editor", "augmentation_explorer",
                                                  "PhotoClassifier") if f"{name}(" in code}
    assert shown["01"] == {"kernel_editor"} and shown["04"] == {"augmentation_explorer"}
    assert "PhotoClassifier" in shown["03"]
    built = "".join(WIDGET_CELLS)
    assert all(f"{name}(" in built for names in shown.values() for name in names)
