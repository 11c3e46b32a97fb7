"""A stand-in for Colab's ``google.colab`` package, for the Colab test environment (tools/colab).

Only the parts this project touches, behaving as Colab documents them:

- ``files.upload()`` shows a file chooser, waits, and returns ``{name: bytes}`` (``{}`` when the
  learner cancels). Here nobody can choose files, so it returns ``{}``, as if cancelled.
- ``output.enable_custom_widget_manager()`` / ``disable_custom_widget_manager()`` exist.

Colab's kernel imports ``google.colab`` as it starts (here: ``colab_kernel_launcher``), which is
how a notebook knows it runs on Colab (``"google.colab" in sys.modules``).
"""
from google.colab import files, output

__all__ = ["files", "output"]
__version__ = "0.0.1a2"  # the version Colab's package reports
