"""Start an IPython kernel the way Colab's does (``python3 -m colab_kernel_launcher -f FILE``).

For the Colab test environment (tools/colab): ``google.colab`` (the stand-in) is imported as the
kernel starts, ``%pip`` runs the bare ``pip`` through the shell as Colab's own magic does, and
figures use the inline backend. With CONVNET_COLAB_REPORT set, after each cell the kernel writes
there (JSON) where ``helpers`` was imported from and the versions it runs with, so the test can
check that a notebook's setup cell installed the helpers into this environment.
"""
import json
import os
import sys

os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # as on Colab

import google.colab  # noqa: E402,F401  (Colab's kernel has it in sys.modules from the start)
from ipykernel.kernelapp import IPKernelApp  # noqa: E402


def pip_magic(line: str) -> None:
    """Colab's %pip: ``pip <line>`` through the shell (this environment's pip first on PATH)."""
    get_ipython().system(f"pip {line}")  # noqa: F821


def write_report(*_args) -> None:
    helpers = sys.modules.get("helpers")
    if helpers is None:
        return
    versions = {name: getattr(sys.modules.get(name), "__version__", None)
                for name in ("torch", "torchvision", "numpy", "ipywidgets", "IPython")}
    report = {"helpers": getattr(helpers, "__file__", None), "python": sys.version.split()[0],
              "executable": sys.executable, "versions": versions}
    with open(os.environ["CONVNET_COLAB_REPORT"], "w") as file:
        json.dump(report, file)


def main() -> None:
    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    app.shell.register_magic_function(pip_magic, magic_kind="line", magic_name="pip")
    if os.environ.get("CONVNET_COLAB_REPORT"):
        app.shell.events.register("post_run_cell", write_report)
    app.start()


if __name__ == "__main__":
    main()
