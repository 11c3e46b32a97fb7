"""The notebooks and the unit tests in an environment pinned to Colab's versions (issue 22.3).

    python tools/colab/colab_test.py [--env .venv-colab] [--notebooks 01 03 06] [--rebuild]

Run it with the project's own environment (`make colab-test`, `.ci/run`): that one drives the
tests (pytest + nbval) and the kernels run in a second environment, built here with Python 3.13
(Colab's; the closest Python found otherwise, and said so) from tools/colab/requirements.txt and
constraints.txt: what Colab preinstalls, at Colab's versions, and nothing that Colab lacks. Its
kernels start as Colab's do, with the stand-in ``google.colab`` imported (tools/colab/standin), so
each notebook's setup cell takes its Colab branch and runs ``%pip install ... "convnet-lab @
git+https://github.com/..."``. A git configuration of its own points that address at this
checkout, so pip really clones it (its last commit, as GitHub would serve it) and builds the
package. For each notebook, from a fresh Colab state:

1. the setup cell must have installed the helpers into that environment (the kernel reports
   ``helpers.__file__``), built from this checkout's HEAD commit;
2. it must not have upgraded, downgraded or removed anything Colab ships (``pip list`` before
   and after): a Colab user's torch, numpy, ipywidgets... stay as they are;
3. the notebook passes nbval in QUICK mode.

Then the fast unit tests (``pytest -m "not slow"``) run in that environment on this checkout.
Prints the time of each part; exits non-zero if anything failed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WANT = (3, 13)  # Colab's Python since 2026-08-25
KERNEL = "convnet-colab"
NOTEBOOKS = ("01", "03", "06")


def say(message: str) -> None:
    print(f"colab: {message}", flush=True)


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], check=True, **kwargs)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ------------------------------------------------------------------------------------------------
# Python: 3.13 if this machine has it, else the closest one
# ------------------------------------------------------------------------------------------------


def probe(executable: str) -> tuple[tuple[int, int, int], str] | None:
    """(version, real executable) of a Python that can make a venv, or None."""
    code = "import sys, venv, ensurepip; print(*sys.version_info[:3], sys.executable)"
    try:
        out = subprocess.run([executable, "-c", code], capture_output=True, text=True,
                             timeout=30).stdout.split()
        return (int(out[0]), int(out[1]), int(out[2])), out[3]
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python(explicit: str | None) -> tuple[tuple[int, int, int], str]:
    if explicit:
        found = probe(explicit)
        if found is None:
            sys.exit(f"colab: {explicit} is not a Python that can make a virtual environment")
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    names = [str(path) for path in sorted(pyenv.glob("versions/*/bin/python3"))]
    names += [shutil.which(f"python3.{minor}") for minor in range(8, 20)]
    names += [shutil.which("python3"), sys.executable]
    found = {}
    for name in filter(None, names):
        if (result := probe(name)) is not None:
            found[result[1]] = result
    if not found:
        sys.exit("colab: no Python that can make a virtual environment was found")
    return closest(list(found.values()))


def closest(found: list[tuple[tuple[int, int, int], str]]) -> tuple[tuple[int, int, int], str]:
    """Colab's minor version; else the nearest minor (the older on a tie: Colab's pins, such as
    numpy 2.1.3, have no wheels for a Python newer than Colab's); the newest patch."""
    return min(found, key=lambda f: (f[0][0] != WANT[0], abs(f[0][1] - WANT[1]), f[0][1],
                                     -f[0][2]))


# ------------------------------------------------------------------------------------------------
# The environment
# ------------------------------------------------------------------------------------------------


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def installed(env: Path) -> dict[str, str]:
    out = run([env_python(env), "-m", "pip", "list", "--format=json"],
              capture_output=True, text=True).stdout
    return {norm(item["name"]): item["version"] for item in json.loads(out)}


def stamp(python: str) -> str:
    digest = hashlib.sha256(python.encode())
    for path in sorted([HERE / "requirements.txt", HERE / "constraints.txt",
                        *(HERE / "standin").rglob("*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(env: Path, python: str) -> None:
    shutil.rmtree(env, ignore_errors=True)
    run([python, "-m", "venv", env])
    pip = [env_python(env), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
    run(pip + ["pip==" + pinned("pip")])  # Colab's pip, which the setup cell's %pip runs
    run(pip + ["-r", HERE / "requirements.txt", "-c", HERE / "constraints.txt"])
    # IPython 7.34 asks for jedi, but Colab's image has none (it has parso alone)
    run([env_python(env), "-m", "pip", "uninstall", "--quiet", "--yes", "jedi"])
    site = Path(run([env_python(env), "-c", "import sysconfig; print(sysconfig.get_paths()"
                     "['purelib'])"], capture_output=True, text=True).stdout.strip())
    shutil.copytree(HERE / "standin", site, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    spec = env / "share" / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(env_python(env)), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (Colab's versions)", "language": "python"}, indent=1))
    (env / "colab-baseline.json").write_text(json.dumps(installed(env), indent=1))


def pinned(name: str) -> str:
    for line in (HERE / "requirements.txt").read_text().splitlines():
        if norm(line.split("==")[0]) == norm(name):
            return line.split("==")[1].split()[0]
    raise KeyError(name)


def check_pins(packages: dict[str, str]) -> list[str]:
    """Each package the two files pin, as pinned (local version labels such as +cu128 aside)."""
    wrong = []
    for path in (HERE / "requirements.txt", HERE / "constraints.txt"):
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("#")[0].strip().split("==")
                have = packages.get(norm(name), "missing").split("+")[0]
                if have != version and norm(name) != "jedi":
                    wrong.append(f"{name} {have} (Colab: {version})")
    return wrong


def reset(env: Path, baseline: dict[str, str]) -> None:
    """Back to a fresh Colab runtime: remove what earlier setup cells installed, and put back
    Colab's version of anything they changed."""
    now = installed(env)
    extra = sorted(set(now) - set(baseline))
    if extra:
        run([env_python(env), "-m", "pip", "uninstall", "--quiet", "--yes", *extra])
    changed = [f"{name}=={version}" for name, version in baseline.items()
               if now.get(name) != version]
    if changed:
        run([env_python(env), "-m", "pip", "install", "--quiet", "--no-deps", *changed])


# ------------------------------------------------------------------------------------------------
# One notebook, as on Colab
# ------------------------------------------------------------------------------------------------


def repository() -> str:
    text = (REPO / "pyproject.toml").read_text()
    return re.search(r'^repository\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)


def head_commit() -> str:
    return run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
               text=True).stdout.strip()


def kernel_environment(env: Path, work: Path, name: str) -> dict[str, str]:
    """The driver's environment, which the kernel inherits: nothing of this checkout on the
    path, the Colab environment's pip first on PATH, GitHub's address for the project mapped to
    this checkout, pip's log and the kernel's report into ``work``."""
    gitconfig = work / "gitconfig"
    gitconfig.write_text(f'[url "file://{REPO}"]\n'
                         f"\tinsteadOf = https://github.com/{repository()}\n")
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    environment.update({
        "PATH": f"{env / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_PATH": str(env / "share" / "jupyter"),
        "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
        "PIP_LOG": str(work / f"pip-{name}.log"),
        "CONVNET_COLAB_REPORT": str(work / f"kernel-{name}.json"),
        "PYTHONNOUSERSITE": "1", "CONVNET_QUICK": "1"})
    return environment


def pip_summary(log: Path) -> list[str]:
    """What the setup cell's pip did, from its log: the clone, and what it installed."""
    if not log.is_file():
        return ["pip was not run (no log)"]
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        line = line.split(" ", 1)[-1].strip()  # drop the time stamp
        if line.startswith(("Running command git clone", "Successfully installed",
                            "Successfully built")):
            lines.append(line)
    satisfied = sum("Requirement already satisfied" in line
                    for line in log.read_text(errors="replace").splitlines())
    return lines + [f"{satisfied} requirements already satisfied by Colab's packages"]


def test_notebook(env: Path, work: Path, notebook: Path, site: Path) -> list[str]:
    """Run one notebook with nbval in the Colab environment; the problems found."""
    name = notebook.name[:2]
    before = installed(env)
    environment = kernel_environment(env, work, name)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-kernel-name", KERNEL, "--nbval-cell-timeout=900",
         str(notebook.relative_to(REPO))], cwd=REPO, env=environment)
    seconds = time.monotonic() - started
    problems = [] if done.returncode == 0 else [f"{notebook.name} failed under nbval"]
    after = installed(env)
    added = {n: v for n, v in after.items() if n not in before}
    changed = {n: (before[n], after[n]) for n in before if after.get(n) != before[n]}
    for package, (old, new) in changed.items():
        problems.append(f"the setup cell of {notebook.name} changed Colab's {package} "
                        f"{old} -> {new or 'removed'}")
    report_path = Path(environment["CONVNET_COLAB_REPORT"])
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    where = report.get("helpers") or "never imported"
    if not where.startswith(str(site) + os.sep):
        problems.append(f"{notebook.name}: the kernel imported helpers from {where}, not from "
                        f"the setup cell's install in {site}")
    direct = json.loads(run([env_python(env), "-c", "import importlib.metadata as m; print(m."
                             "distribution('convnet-lab').read_text('direct_url.json'))"],
                            capture_output=True, text=True).stdout) if "convnet-lab" in after \
        else {}
    commit = direct.get("vcs_info", {}).get("commit_id")
    if commit != head_commit():
        problems.append(f"{notebook.name}: convnet-lab was not built from this checkout's HEAD "
                        f"({direct or 'not installed'})")
    say(f"{notebook.name}: {'passed' if done.returncode == 0 else 'FAILED'} in {seconds:.0f} s "
        f"(kernel: Python {report.get('python')}, {report.get('versions')})")
    say(f"  helpers imported from {where}")
    say(f"  setup cell installed: {', '.join(f'{n} {v}' for n, v in sorted(added.items()))}"
        f" from {direct.get('url')} @ {str(commit)[:12]}; changed: "
        f"{', '.join(changed) or 'nothing Colab ships'}")
    for line in pip_summary(Path(environment["PIP_LOG"])):
        say(f"  pip: {line}")
    return problems


# ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", type=Path, default=REPO / ".venv-colab")
    parser.add_argument("--python", help="the Python to build it with (default: 3.13, found)")
    parser.add_argument("--notebooks", nargs="+", default=NOTEBOOKS, metavar="NN")
    parser.add_argument("--rebuild", action="store_true", help="build the environment anew")
    parser.add_argument("--skip-unit-tests", action="store_true")
    args = parser.parse_args()
    env = args.env.resolve()
    try:
        import nbval  # noqa: F401  (the driver side: this Python runs pytest with nbval)
    except ImportError:
        sys.exit("colab: run this with the project's environment (.venv/bin/python), "
                 "which has pytest and nbval")

    version, python = find_python(args.python)
    shown = ".".join(map(str, version))
    if version[:2] == WANT:
        say(f"Python {shown} ({python}), Colab's minor version {WANT[0]}.{WANT[1]}")
    else:
        say(f"Python {WANT[0]}.{WANT[1]} NOT FOUND: using the closest, Python {shown} "
            f"({python})")
    timings: dict[str, float] = {}
    started = time.monotonic()
    key = stamp(python)
    stamp_file = env / "colab-stamp"
    if (args.rebuild or not stamp_file.is_file() or stamp_file.read_text() != key
            or not (env / "colab-baseline.json").is_file()):
        say(f"building {env} from tools/colab/requirements.txt (Colab's versions)...")
        build(env, python)
        stamp_file.write_text(key)
        timings["install"] = time.monotonic() - started
        say(f"environment built in {timings['install']:.0f} s "
            f"({sum(f.stat().st_size for f in env.rglob('*') if f.is_file()) / 1e9:.1f} GB)")
    else:
        say(f"reusing {env} (built from the same pins; --rebuild builds it anew)")
    baseline = json.loads((env / "colab-baseline.json").read_text())
    reset(env, baseline)
    problems = [f"not at Colab's version: {w}" for w in check_pins(installed(env))]
    if "convnet-lab" in installed(env):
        problems.append("convnet-lab is installed before any setup cell ran")
    say("pinned: " + ", ".join(f"{n} {baseline[norm(n)]}" for n in (
        "torch", "torchvision", "timm", "numpy", "pillow", "matplotlib", "scikit-learn",
        "scipy", "ipywidgets", "ipython", "ipykernel", "jupyter-client", "anywidget")))

    site = Path(run([env_python(env), "-c", "import sysconfig; print(sysconfig.get_paths()"
                     "['purelib'])"], capture_output=True, text=True).stdout.strip())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="convnet-colab-") as work:
        for number in args.notebooks:
            (notebook,) = sorted((REPO / "notebooks").glob(f"{number}_*.ipynb"))
            reset(env, baseline)  # each notebook on a fresh runtime, as Colab gives one
            problems += test_notebook(env, Path(work), notebook, site)
    timings["notebooks"] = time.monotonic() - started

    if not args.skip_unit_tests:  # on this checkout, with the last notebook's install in place
        started = time.monotonic()
        environment = {key: value for key, value in os.environ.items()
                       if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        environment.update({"PATH": f"{env / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                            "CONVNET_EXPECT_IPYWIDGETS": pinned("ipywidgets"),
                            "MPLBACKEND": "Agg", "PYTHONNOUSERSITE": "1"})
        done = subprocess.run([env_python(env), "-m", "pytest", "-m", "not slow", "-q", "-rs",
                               "-o", "addopts=", "-p", "no:cacheprovider", "tests"],
                              cwd=REPO, env=environment)
        timings["unit tests"] = time.monotonic() - started
        if done.returncode != 0:
            problems.append(f"the unit tests failed under Colab's versions "
                            f"(exit {done.returncode})")
    reset(env, baseline)

    say("times: " + ", ".join(f"{part} {seconds:.0f} s" for part, seconds in timings.items()))
    for problem in problems:
        say(f"FAILED: {problem}")
    if not problems:
        say(f"passed: notebooks {' '.join(args.notebooks)} and the unit tests under Colab's "
            f"versions (Python {shown})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
