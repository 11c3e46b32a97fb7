"""MkDocs hooks that make the site (`make site`) from the committed notebooks and README.md.

Nothing is executed and nothing is written outside the site folder: README.md and
notebooks/NN_*.ipynb are handed to MkDocs as generated files (read where they are), so the
docs/ folder holds only the site's own stylesheet and badge.

- The home page is README.md: its links to notebooks/*.ipynb become links to their pages
  (MkDocs resolves them), links to other files of the repository (helpers/, data/README.md, ...)
  point at them on GitHub, and the Colab badge image is the site's own copy (no external image).
- The navigation is the home page, then the notebooks in the collection's order (01, 02, ...).
- Each notebook page gets its "Open in Colab" badge under its title, its links to other
  notebooks and to README.md point at their pages, and formulas are typeset by MathJax 2
  served from the site itself (from the jupyter-server-mathjax package), not from a CDN.
- A link that leads nowhere is logged as a warning, so `mkdocs build --strict` fails on it.

CONVNET_SITE_NOTEBOOKS, when set, names another folder to take the notebooks from (the site's
test uses it to check a page with an answer block and a formula); links keep pointing at the
repository's files. The repository (owner/name) comes from pyproject.toml,
[tool.convnet-lab] repository.
"""

from __future__ import annotations

import html
import logging
import os
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

log = logging.getLogger("mkdocs.hooks.convnet_lab")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = "assets/colab-badge.svg"  # in docs/
MATHJAX = "assets/mathjax"  # in the site
# The parts of MathJax 2 that TeX input and HTML-CSS output with the STIX web fonts need (the
# package has no TeX fonts, and its output code only in the combined configuration file; a11y
# and the translations are left out: 6 MB).
MATHJAX_PARTS = ("MathJax.js", "config/", "extensions/", "jax/input/", "jax/element/",
                 "jax/output/HTML-CSS/", "fonts/HTML-CSS/STIX-Web/woff/", "LICENSE")
MATHJAX_LEFT_OUT = ("extensions/a11y/",)
MATHJAX_CONFIG = ('<script>window.MathJax = {"HTML-CSS": {availableFonts: [], imageFont: null, '
                  'preferredFont: null, webFont: "STIX-Web"}, menuSettings: {zoom: "Click"}};'
                  '</script>')
HREF = re.compile(r'(<a\s[^>]*?href=")([^"]*)(")')
MARKDOWN_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def repository() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["convnet-lab"]["repository"]


def notebooks() -> list[Path]:
    # CONVNET_SITE_NOTEBOOKS: build from another folder of notebooks (a test's copy, say).
    folder = Path(os.environ.get("CONVNET_SITE_NOTEBOOKS") or REPO / "notebooks")
    return sorted(folder.glob(NOTEBOOK_GLOB))


def github_url(path: str) -> str:
    kind = "tree" if (REPO / path).is_dir() else "blob"
    return f"https://github.com/{repository()}/{kind}/main/{path.rstrip('/')}"


def colab_url(notebook: str) -> str:
    return f"https://colab.research.google.com/github/{repository()}/blob/main/notebooks/{notebook}"


def is_external(target: str) -> bool:
    return bool(urlsplit(target).scheme) or target.startswith(("#", "//"))


# ----------------------------------------------------------------------------------------------
# Configuration and files
# ----------------------------------------------------------------------------------------------


def on_config(config):
    owner, name = repository().split("/")
    config.site_url = config.site_url or f"https://{owner}.github.io/{name}/"
    config.nav = [{"Home": "index.md"}] + [f"notebooks/{p.name}" for p in notebooks()]
    return config


def readme_as_home_page() -> str:
    """README.md with repository links that work from the site's home page (docs/index.md)."""

    def relink(match: re.Match) -> str:
        target = match.group(2)
        if is_external(target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        if re.fullmatch(r"notebooks/" + NOTEBOOK_GLOB.replace("*", "[^/]*"), path):
            return match.group(0)  # a page of the site: MkDocs checks and rewrites it
        if (REPO / path).exists():
            return match.group(1) + github_url(path) + (f"#{anchor}" if anchor else "") + ")"
        return match.group(0)  # leads nowhere: MkDocs warns, --strict fails

    text = (REPO / "README.md").read_text(encoding="utf-8")
    return MARKDOWN_LINK.sub(relink, text.replace(COLAB_BADGE_IMAGE, BADGE))


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns notebooks into pages
def on_files(files, config):
    files.append(File.generated(config, "index.md", content=readme_as_home_page()))
    for notebook in notebooks():
        files.append(File.generated(config, f"notebooks/{notebook.name}",
                                    abs_src_path=str(notebook)))
    mathjax = mathjax_folder()
    for path in sorted(mathjax.rglob("*")):
        relative = path.relative_to(mathjax).as_posix()
        if (path.is_file() and relative.startswith(MATHJAX_PARTS)
                and not relative.startswith(MATHJAX_LEFT_OUT)):
            files.append(File.generated(config, f"{MATHJAX}/{relative}", abs_src_path=str(path)))
    return files


def on_nav(nav, config, files):
    # mkdocs-jupyter wraps each notebook's File in its own, which works out the source path
    # from the docs folder; a generated file has none, so give the wrapper the real path.
    for file in files:
        inner = getattr(file, "file", None)
        if isinstance(inner, File) and file.abs_src_path is None:
            file.abs_src_path = inner.abs_src_path
    return nav


def mathjax_folder() -> Path:
    import jupyter_server_mathjax

    return Path(jupyter_server_mathjax.__file__).parent / "static"


# ----------------------------------------------------------------------------------------------
# Notebook pages
# ----------------------------------------------------------------------------------------------


def on_page_content(content, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return content
    here = posixpath.dirname(page.file.src_uri)

    def to_site(path: str) -> str:
        return files.get_file_from_path(path).url_relative_to(page.file)

    def relink(match: re.Match) -> str:
        target = html.unescape(match.group(2))
        if is_external(target) or not target:
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(here, path))
        if resolved == "README.md":
            resolved = "index.md"
        if files.get_file_from_path(resolved) is not None:
            url = to_site(resolved) + (f"#{anchor}" if anchor else "")
        elif (REPO / resolved).exists():
            url = github_url(resolved) + (f"#{anchor}" if anchor else "")
        else:
            log.warning("%s links to %r, which is neither a page of the site nor a file of "
                        "the repository", page.file.src_uri, target)
            return match.group(0)
        return match.group(1) + html.escape(url) + match.group(3)

    content = HREF.sub(relink, content)

    # MathJax from the site, configured for the fonts it has.
    mathjax = to_site(f"{MATHJAX}/MathJax.js")
    content, found = re.subn(r'<script src="[^"]*mathjax[^"]*">',
                             f'{MATHJAX_CONFIG}\n<script src="{mathjax}?config='
                             f'TeX-AMS-MML_HTMLorMML-full,Safe">',
                             content, count=1, flags=re.IGNORECASE)
    if not found:
        log.warning("%s: no MathJax script found to point at the site's copy", page.file.src_uri)

    # nbconvert's Mermaid loader imports its library from a CDN when a page has diagrams; these
    # notebooks have none, so it goes (a diagram would show as its source text).
    content, found = re.subn(r'<script type="module">(?:(?!</script>).)*?mermaid.*?</script>',
                             "", content, flags=re.DOTALL)
    if re.search(r"<pre class=\"mermaid\"|class=\"jp-Mermaid\"", content):
        log.warning("%s has a Mermaid diagram, which the site cannot draw offline",
                    page.file.src_uri)

    # The Colab badge under the notebook's title.
    name = posixpath.basename(page.file.src_uri)
    badge = (f'<p class="colab-badge"><a href="{colab_url(name)}" title="Open {name} in Colab">'
             f'<img src="{to_site(BADGE)}" alt="Open In Colab"></a></p>')
    content, found = re.subn(r"(</h1>)", r"\1" + badge.replace("\\", r"\\"), content, count=1)
    if not found:
        log.warning("%s has no title (# heading): the Colab badge goes on top", page.file.src_uri)
        content = badge + content
    return content
