"""Explorer of section 18.1: which parameters count in the per-task gradient norms.

:func:`selection_explorer` puts a checkbox in front of every block of a
:func:`gabalab.blocks.block_table` and prints :func:`gabalab.blocks.selection_text` for the
blocks that are ticked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gabalab.blocks import selection_text
from gabalab.norms import DEFAULT_HEADS

__all__ = ["selection_explorer"]


def selection_explorer(
    table: Mapping[str, Mapping[str, float]], heads: Sequence[str] = DEFAULT_HEADS
) -> Any:
    """A checkbox per block; the readout follows the blocks that are ticked.

    Parameters
    ----------
    table : mapping
        From :func:`block_table`.
    heads : sequence of str
        Blocks left unticked at the start (the task heads); every other block starts ticked.

    Returns
    -------
    ipywidgets.interactive
        Display it in a notebook (it is the value of the cell).

    Raises
    ------
    ValueError
        If ``table`` is empty.
    """
    import ipywidgets as w  # optional dependency (the "widgets" extra)

    if not table:
        raise ValueError("table is empty")
    boxes = {b: w.Checkbox(value=b not in heads, description=b, indent=False) for b in table}

    def show(**ticked: bool) -> None:
        chosen = [b for b, on in ticked.items() if on]
        if not chosen:
            print("tick at least one block")
            return
        print(selection_text(table, chosen))

    return w.interactive(show, **boxes)
