"""Explorer of section 18.1: which parameters count in the per-task gradient norms.

:func:`selection_explorer` puts a checkbox in front of every block of a
:func:`gabalab.blocks.block_table` and prints :func:`gabalab.blocks.selection_text` for the
blocks that are ticked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gabalab._checks import as_list
from gabalab.blocks import selection_readout, selection_text
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
    TypeError, ValueError
        If ``table`` is not a block table (see :func:`gabalab.blocks.selection_readout`) or
        ``heads`` is not a list of block names.
    """
    import ipywidgets as w  # optional dependency (the "widgets" extra)

    if isinstance(heads, str):
        raise TypeError("heads must be a sequence of block names, not one string")
    heads = as_list("heads", heads)
    if not all(isinstance(h, str) for h in heads):
        raise TypeError("heads must be block names (str)")
    if isinstance(table, Mapping) and table:
        selection_readout(table, list(table))  # checks every row
    else:
        selection_readout(table, [])  # names what is wrong with the table
    boxes = {b: w.Checkbox(value=b not in heads, description=b, indent=False) for b in table}

    def show(**ticked: bool) -> None:
        chosen = [b for b, on in ticked.items() if on]
        if not chosen:
            print("tick at least one block")
            return
        print(selection_text(table, chosen))

    return w.interactive(show, **boxes)
