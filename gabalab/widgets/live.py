"""Show an explorer in a live JupyterLab session and a note in the stored notebook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gabalab.charts.render import output_mode

__all__ = ["lab_only"]


def lab_only(build: Callable[[], Any], note: str) -> Any:
    """The explorer ``build()`` in a live JupyterLab session; elsewhere ``note`` as Markdown.

    A notebook's stored outputs are what the site shows and what the notebook tests compare;
    a widget there would be a dead control (no kernel behind it) with an id that changes on
    every run. The session is told apart as the charts do
    (:func:`gabalab.charts.render.output_mode`: ``"inline"`` in JupyterLab).

    Parameters
    ----------
    build : callable
        Returns the explorer; called only in a live session.
    note : str
        Markdown saying what the explorer shows (non-empty).

    Returns
    -------
    object
        The explorer, or an :class:`IPython.display.Markdown` of ``note``.

    Raises
    ------
    TypeError, ValueError
        If ``build`` is not callable or ``note`` is not a non-empty string.

    Examples
    --------
    >>> import os
    >>> os.environ["GABALAB_CHARTS"] = "static"
    >>> lab_only(lambda: 1 / 0, "Retrains the model.").data
    'Retrains the model.'
    >>> del os.environ["GABALAB_CHARTS"]
    """
    from IPython.display import Markdown  # with ipywidgets (the "widgets" extra)

    if not callable(build):
        raise TypeError(f"build must be callable, got {type(build).__name__}")
    if not isinstance(note, str):
        raise TypeError(f"note must be a string, got {type(note).__name__}")
    if not note.strip():
        raise ValueError("note must say what the explorer shows, got an empty string")
    if output_mode() == "inline":
        return build()
    return Markdown(note)
