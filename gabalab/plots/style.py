"""The style every figure of the book shares: task colours and matplotlib defaults."""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["TASK_COLOURS", "use_book_style"]

#: Colours of the two tasks, used the same way in every figure.
TASK_COLOURS = {"rul": "#c0392b", "health": "#2471a3"}


def use_book_style() -> None:
    """Set the matplotlib defaults that every figure of the book uses."""
    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 3.6),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "legend.frameon": False,
        }
    )
