"""A live plot of loss and accuracy that ``helpers.fit`` redraws after every epoch in a notebook.

It is one PNG, replaced in place through an IPython display handle (as fastai's
ShowGraphCallback does), and it is removed when training ends: the notebooks plot the History
themselves afterwards, so a saved notebook keeps no extra figure. Outside a notebook's kernel
(plain Python, scripts, pytest) it displays nothing at all.
"""

from __future__ import annotations

import sys

from matplotlib.figure import Figure

from helpers.plots import draw_history, figure_png, finish_figure


def in_notebook() -> bool:
    """True in a notebook's kernel (JupyterLab, Colab, VS Code...), where displays are drawn."""
    ipython = sys.modules.get("IPython")  # never imported: certainly not in a notebook
    shell = ipython.get_ipython() if ipython else None
    return getattr(shell, "kernel", None) is not None  # a terminal IPython has no kernel


def history_png(history, epochs: int) -> bytes:
    """The curves of a helpers.History so far as PNG bytes, the x axis over all ``epochs``
    planned. Drawn on a Figure of its own: pyplot never sees it."""
    fig = Figure(figsize=(9, 3))
    draw_history(fig, history, epochs)
    return figure_png(finish_figure(fig, f"epoch {len(history)} of {epochs}"), dpi=72)


class LivePlot:
    """The live plot of one ``fit``: ``update(history)`` after each epoch, ``close()`` at the end.

    With ``show=False``, or outside a notebook, every call does nothing.
    """

    def __init__(self, epochs: int, show: bool = True) -> None:
        self.epochs, self.handle = epochs, None
        if show and in_notebook():
            from IPython.display import display

            # An empty output, placed now so that the plot stays above the lines fit prints.
            self.handle = display({}, raw=True, display_id=True)

    def update(self, history) -> None:
        """Redraw the plot in place with the epochs of ``history`` (a helpers.History)."""
        if self.handle is not None:
            from IPython.display import Image

            self.handle.update(Image(history_png(history, self.epochs), format="png"))

    def close(self) -> None:
        """Empty the plot's output, so that the saved notebook keeps no figure of it."""
        if self.handle is not None:
            self.handle.update({}, raw=True)
            self.handle = None
