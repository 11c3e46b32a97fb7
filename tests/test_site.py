"""The website (`make site`) as a learner sees it, in headless Chromium driven by Playwright.

The site is built here the way CI and `make site` build it (`mkdocs build --strict`: a broken
link or a missing page fails), into a temporary folder, and served on 127.0.0.1 by a throw-away
HTTP server (search needs http, not file://). Every page, the home page and one per notebook in
the collection's order, is opened in the light and the dark theme and must show: its title (the
notebook's own); every image loaded (naturalWidth > 0), as many output images as the notebook
has PNG outputs, each on an opaque white background in the dark theme; its Colab badge; the
previous/next links; links inside the site that answer; every answer block (<details>) opening
when its summary is clicked; no console error, and no request to any other host than 127.0.0.1
(fonts, scripts and images all come from the site). Searching for "577" and "333,898" must find
the pages that hold them. The site must have at least one answer block. A second, tiny site
built from a generated notebook checks that an answer block opens and a formula is typeset by
the site's own MathJax. A screenshot of each page (both themes) goes to test-artifacts/site/.

Needs Chromium and playwright like tests/test_browser.py (skipped with the same message).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import test_browser
from test_browser import needs_browser

pytestmark = pytest.mark.slow  # builds the site and opens it in Chromium: the slow tier

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
# CONVNET_SITE_NOTEBOOKS: build and check the site from another folder of notebooks (a local
# copy with changes, say); tools/site_hooks.py reads the same variable.
NOTEBOOK_FOLDER = Path(os.environ.get("CONVNET_SITE_NOTEBOOKS") or REPO / "notebooks")
NOTEBOOKS = sorted(NOTEBOOK_FOLDER.glob("[0-9][0-9]_*.ipynb"))
ARTIFACTS = REPO / "test-artifacts" / "site"  # git-ignored
REPOSITORY = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
    "tool"]["convnet-lab"]["repository"]
SEARCHES = ("577", "333,898")  # numbers the README and notebooks 01 and 02 teach
BUILD_TIMEOUT_S = 120
browser = test_browser.browser  # the JupyterLab test's Chromium fixture, one per module



def in_browser(test):
    """Marked `browser`, and skipped without Chromium or playwright (as in test_browser.py)."""
    for mark in needs_browser:
        test = mark(test)
    return test


# ----------------------------------------------------------------------------------------------
# Building and serving
# ----------------------------------------------------------------------------------------------


def run_build(site_dir: Path, notebooks: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", CONVNET_SITE_NOTEBOOKS=str(notebooks))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
         "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(site_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


def build_site(site_dir: Path, notebooks: Path = NOTEBOOK_FOLDER) -> float:
    """`mkdocs build --strict` of mkdocs.yml into site_dir; returns the seconds it took."""
    start = time.monotonic()
    done = run_build(site_dir, notebooks)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    return time.monotonic() - start


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a page closed mid-download
            super().handle_error(request, client_address)


class Server:
    """A folder served on 127.0.0.1 in a thread of this process."""

    def __init__(self, folder: Path) -> None:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    seconds = build_site(folder)
    print(f"\nsite built in {seconds:.1f} s")
    server = Server(folder)
    try:
        yield folder, server.url
    finally:
        server.stop()


# ----------------------------------------------------------------------------------------------
# What a page must show
# ----------------------------------------------------------------------------------------------


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def notebook_title(path: Path) -> str:
    first = "".join(load(path)["cells"][0]["source"]).splitlines()[0]
    assert first.startswith("# "), f"{path.name} does not start with a # title"
    return first[2:].strip()


def png_outputs(path: Path) -> int:
    return sum("image/png" in output.get("data", {})
               for cell in load(path)["cells"] for output in cell.get("outputs", []))


def mathjax_blank_font(message) -> bool:
    """MathJax 2's HTML-CSS output declares a fallback font with src url(about:blank), which
    Chromium refuses with two console errors; nothing is missing from the page."""
    return (message.location.get("url") == "about:blank"
            or message.text.startswith("Access to font at 'about:blank'"))


class Visit:
    """A page opened in the browser, with every console error and every request that left
    127.0.0.1 recorded (those are refused, as a closed network would)."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        self.page.on("console", lambda message: self.errors.append(message.text)
                     if message.type == "error" and not mathjax_blank_font(message) else None)
        self.page.route("**/*", self._route)
        self.page.goto(url, wait_until="load")

    def _route(self, route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).hostname != "127.0.0.1":
            self.outside.append(url)
            route.abort()
        else:
            route.continue_()

    def close(self) -> None:
        self.page.close()


def check_images(page, expected_outputs: int | None) -> int:
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
    broken = page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0))"
                           ".map(i => i.getAttribute('src').slice(0, 80))")
    assert not broken, f"images that did not load: {broken}"
    outputs = page.locator(".jp-OutputArea-output img").count()
    if expected_outputs is not None:
        assert outputs == expected_outputs, (
            f"{outputs} output images on the page, {expected_outputs} PNG outputs in the notebook")
    return page.evaluate("document.images.length")


def open_every_answer(page) -> int:
    """Click the summary of every <details>; each must then be open. Returns how many."""
    blocks = page.locator("article details")
    for i in range(blocks.count()):
        block = blocks.nth(i)
        if block.evaluate("d => d.open"):
            block.evaluate("d => { d.open = false; }")
        summary = block.locator(":scope > summary")
        assert summary.count() == 1, f"answer block {i + 1} has no <summary> to click"
        summary.scroll_into_view_if_needed()
        summary.click()
        page.wait_for_function("d => d.open", arg=block.element_handle(), timeout=5_000)
        text = block.inner_text().replace(summary.inner_text(), "", 1).strip()
        assert text, f"answer block {i + 1} opened on nothing"
    return blocks.count()


CHECKED_LINKS: set[str] = set()  # each answered once


def check_internal_links(page, base: str) -> int:
    hrefs = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    inside = sorted({h.split("#")[0] for h in hrefs if h.startswith(base)})
    for url in set(inside) - CHECKED_LINKS:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                assert answer.status == 200, f"{url}: HTTP {answer.status}"
        except urllib.error.HTTPError as error:
            pytest.fail(f"link {url} on {page.url}: HTTP {error.code}")
        CHECKED_LINKS.add(url)
    return len(inside)


def switch_theme(page, scheme: str) -> None:
    toggle = page.locator("form[data-md-component=palette] label:visible")
    toggle.first.click()
    page.wait_for_function("s => document.body.getAttribute('data-md-color-scheme') === s",
                           arg=scheme, timeout=5_000)


def check_dark_figures(page) -> None:
    backgrounds = page.locator(".jp-OutputArea-output img").evaluate_all(
        "images => images.map(i => getComputedStyle(i).backgroundColor)")
    assert all(b == "rgb(255, 255, 255)" for b in backgrounds), (
        f"output images without a white background in the dark theme: {set(backgrounds)}")


def screenshot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


PAGES = [("index", "", None)] + [
    (p.stem, f"notebooks/{p.stem}/", p) for p in NOTEBOOKS]


@in_browser
@pytest.mark.parametrize("name, path, notebook", PAGES, ids=[name for name, _, _ in PAGES])
def test_page(name, path, notebook, site, browser):
    folder, base = site
    start = time.monotonic()
    visit = Visit(browser, base + path)
    page = visit.page
    try:
        title = notebook_title(notebook) if notebook else "convnet-lab"
        heading = page.locator("article h1").first.inner_text().replace("¶", "").strip()
        assert heading == title, f"the page's title is {heading!r}, not {title!r}"
        assert page.title().startswith(title), page.title()
        images = check_images(page, png_outputs(notebook) if notebook else None)

        index = [p for _, _, p in PAGES].index(notebook)
        footer = page.locator(".md-footer")
        assert footer.locator(".md-footer__link--prev").count() == (index > 0), "previous link"
        assert footer.locator(".md-footer__link--next").count() == (index < len(PAGES) - 1), (
            "next link")
        if notebook:
            colab = (f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/"
                     f"notebooks/{notebook.name}")
            badge = page.locator(f"article a[href='{colab}'] img")
            assert badge.count() == 1, f"no Colab badge linking {colab}"
        else:  # the home page: the README's badges, one per notebook
            assert page.locator("article a[href*='colab.research.google.com'] img").count() == (
                len(NOTEBOOKS))
        links = check_internal_links(page, base)
        answers = open_every_answer(page)
        if page.locator("script[src*='MathJax.js']").count():
            page.wait_for_function("window.MathJax && MathJax.isReady === true", timeout=30_000)
            assert page.locator(".MathJax_Error, merror").count() == 0, "a formula failed"
        light = screenshot(page, f"{name}-light")

        switch_theme(page, "slate")
        check_dark_figures(page)
        figures = page.locator(".jp-OutputArea-output img")
        if figures.count():  # the dark theme where it matters: around the first figure
            figures.first.scroll_into_view_if_needed()
        dark = screenshot(page, f"{name}-dark", full_page=False)
        switch_theme(page, "default")  # the choice is remembered: leave the light one

        page.wait_for_timeout(300)  # late console messages
        assert not visit.outside, f"requests to other hosts: {visit.outside}"
        assert not visit.errors, "browser console errors:\n" + "\n".join(visit.errors)
        print(f"\n{name}: {images} images loaded, {links} internal links, {answers} answer "
              f"block(s) opened, screenshots {light.name}, {dark.name} "
              f"({time.monotonic() - start:.1f} s)")
    except BaseException:
        screenshot(page, f"{name}-failure")
        raise
    finally:
        visit.close()


@in_browser
@pytest.mark.parametrize("query", SEARCHES)
def test_search_finds(query, site, browser):
    _, base = site
    visit = Visit(browser, base)
    page = visit.page
    try:
        page.locator("label.md-search__icon, .md-search__input").first.click()
        page.locator("input.md-search__input").fill(query)
        results = page.locator(".md-search-result__item")
        results.first.wait_for(timeout=30_000)
        texts = results.all_inner_texts()
        assert any(query in text for text in texts), f"no result shows {query!r}: {texts[:3]}"
        page.screenshot(path=str(ARTIFACTS / f"search-{query.replace(',', '')}.png"))
        assert not visit.outside, f"requests to other hosts: {visit.outside}"
        assert not visit.errors, "browser console errors:\n" + "\n".join(visit.errors)
        print(f"\nsearch {query!r}: {len(texts)} result(s), first: {texts[0].splitlines()[0]!r}")
    finally:
        visit.close()


def test_the_site_has_an_answer_block(site):
    folder, _ = site
    pages = {path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8").count(
        "<details") for path in folder.rglob("*.html")}
    assert sum(pages.values()) >= 1, (
        "no page of the site has an answer block (<details>): the notebooks should have some")


# ----------------------------------------------------------------------------------------------
# An answer block and a formula, from a generated notebook
# ----------------------------------------------------------------------------------------------


def tiny_notebook(extra: str = "") -> dict:
    markdown = ("# 01 · A test page\n\nThe area of a circle is $A = \\pi r^2$, and\n\n"
                "$$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}.$$\n\n"
                "<details>\n<summary>Show the answer</summary>\n\n"
                "The answer is **42**.\n\n</details>\n" + extra)
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": markdown},
                      {"cell_type": "code", "execution_count": 1, "metadata": {},
                       "source": "print(6 * 7)",
                       "outputs": [{"output_type": "stream", "name": "stdout",
                                    "text": "42\n"}]}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def tiny_collection(folder: Path, extra: str = "") -> Path:
    """The collection's notebook names (README.md links them all), each a tiny notebook; the
    first has an answer block, two formulas and `extra`."""
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    for i, path in enumerate(NOTEBOOKS):
        (notebooks / path.name).write_text(json.dumps(tiny_notebook(extra) if i == 0 else
                                                      tiny_notebook()))
    return notebooks


@in_browser
def test_an_answer_block_opens_and_formulas_are_typeset(tmp_path, browser):
    notebooks = tiny_collection(tmp_path)
    build_site(tmp_path / "site", notebooks)
    server = Server(tmp_path / "site")
    visit = Visit(browser, urljoin(server.url, f"notebooks/{NOTEBOOKS[0].stem}/"))
    page = visit.page
    try:
        assert open_every_answer(page) == 1
        assert "42" in page.locator("article details").inner_text()
        page.wait_for_function("window.MathJax && MathJax.isReady === true", timeout=30_000)
        page.wait_for_function("document.querySelectorAll('.MathJax, .MathJax_Display')"
                               ".length >= 2", timeout=30_000)
        assert page.locator(".MathJax_Error, merror").count() == 0, "a formula failed"
        assert "$" not in page.locator(".jp-RenderedMarkdown").first.inner_text(), (
            "a formula is still shown as TeX source")
        screenshot(page, "generated-answer-and-formula")
        assert not visit.outside, f"requests to other hosts: {visit.outside}"
        assert not visit.errors, "browser console errors:\n" + "\n".join(visit.errors)
    finally:
        visit.close()
        server.stop()


def test_a_broken_link_fails_the_strict_build(tmp_path):
    notebooks = tiny_collection(tmp_path, "\nNext: [notebook 09](09_not_written_yet.ipynb).\n")
    done = run_build(tmp_path / "site", notebooks)
    assert done.returncode != 0, "mkdocs build --strict passed with a link that leads nowhere"
    assert "09_not_written_yet.ipynb" in done.stdout + done.stderr, done.stdout + done.stderr


def test_the_readme_links_the_site_built_from_the_repository_setting():
    owner, name = REPOSITORY.split("/")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"https://{owner}.github.io/{name}/" in readme
    assert "make site" in readme


def test_the_built_site_names_no_script_or_style_elsewhere(site):
    """No <script src>, stylesheet or image from another site (links to read elsewhere are
    fine)."""
    folder, _ = site
    pattern = re.compile(r'<(?:script|img|iframe|source)\b[^>]*\bsrc="((?:https?:)?//[^"]+)"'
                         r'|<link\b(?=[^>]*\brel="(?:stylesheet|preload|preconnect|icon)")'
                         r'[^>]*\bhref="((?:https?:)?//[^"]+)"')
    found = {f"{path.relative_to(folder)}: {a or b}" for path in folder.rglob("*.html")
             for a, b in pattern.findall(path.read_text(encoding="utf-8"))}
    assert not found, f"the site loads from other hosts: {sorted(found)}"
