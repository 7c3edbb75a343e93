"""Live explorer of section 18.1: which parameters count in the per-task gradient norms.

A checkbox per top-level block of the model (``conv``, ``lstm``, ..., ``rul_head``,
``health_head``). A squared L2 norm is a sum over parameters, so the per-block squared
norms of each task's gradient, computed once in Python on the section's batch
(:func:`gabalab.blocks.block_table`), can be recombined in the page for any choice of
blocks: both norms are square roots of sums of the ticked blocks, and the GABA weights
follow from the two norms. The chart shows each block's squared norms (log scale, the
ticked ones solid) and, as text, the choice, its parameter count, both norms, their ratio
and the weights.

Python twins: :func:`gabalab.blocks.selection_readout` and
:func:`gabalab.weighting.gaba_weights` (two tasks: ``lambda_i = g_j / (g_i + g_j)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from gabalab._checks import as_list, check_int
from gabalab.charts._common import finish, require_altair, round_sig, row_readout

__all__ = [
    "DEFAULT_HEADS",
    "DIGITS",
    "EXPRESSIONS",
    "READOUT",
    "TASKS",
    "block_rows",
    "selection_chart",
]

#: Significant digits of the embedded squared norms (the readout shows four, too).
DIGITS = 4
#: The two tasks of the table, in the order of the readout (the ratio is first / second).
TASKS: tuple[str, str] = ("rul", "health")
#: Each shown number as a Vega expression of the aggregated row (``datum.n``,
#: ``datum.sq_rul``, ``datum.sq_health``: sums over the ticked blocks), keyed like
#: :func:`gabalab.blocks.selection_readout` (flattened).
EXPRESSIONS: dict[str, str] = {
    "n_params": "datum.n",
    "norm_rul": "sqrt(datum.sq_rul)",
    "norm_health": "sqrt(datum.sq_health)",
    "ratio": "sqrt(datum.sq_rul) / sqrt(datum.sq_health)",
    "lambda_rul": (
        "sqrt(datum.sq_rul) + sqrt(datum.sq_health) == 0 ? 0.5 : "
        "sqrt(datum.sq_health) / (sqrt(datum.sq_rul) + sqrt(datum.sq_health))"
    ),
    "lambda_health": (
        "sqrt(datum.sq_rul) + sqrt(datum.sq_health) == 0 ? 0.5 : "
        "sqrt(datum.sq_rul) / (sqrt(datum.sq_rul) + sqrt(datum.sq_health))"
    ),
}
#: Blocks that start unticked when ``heads`` is not given (those of them the table has).
DEFAULT_HEADS: tuple[str, ...] = ("rul_head", "health_head")
#: Readout lines: (label, key, d3 format or "" for text).
READOUT: tuple[tuple[str, str, str], ...] = (
    ("blocks", "blocks", ""),
    ("parameters", "n_params", ",d"),
    ("‖g_rul‖₂", "norm_rul", ".4~g"),
    ("‖g_health‖₂", "norm_health", ".4~g"),
    ("ratio ‖g_rul‖₂ / ‖g_health‖₂", "ratio", ".4~g"),
    ("λ_rul", "lambda_rul", ".4~g"),
    ("λ_health", "lambda_health", ".4~g"),
)


def block_rows(table: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """The rows the chart embeds: per block its index, name, count and squared norms.

    Squared norms are rounded to :data:`DIGITS` significant digits, the digits they have on
    every machine: float32 gradients differ between thread counts and between CPUs' kernels,
    and for a block whose gradient nearly cancels (the attention scores of 18.1, squared
    norms of 1e-8 and 1e-14 beside 1e+3) already in the 6th significant digit.

    Parameters
    ----------
    table : mapping
        From :func:`gabalab.blocks.block_table`, with tasks ``rul`` and ``health``.

    Returns
    -------
    list of dict
        ``{"i", "block", "n_params", "sq_rul", "sq_health"}`` in table order.

    Raises
    ------
    TypeError
        If ``table`` is not a mapping of block name to a mapping of numbers (an integer
        ``n_params``).
    ValueError
        If the table is empty, a block name is empty or holds a quote, an entry lacks a
        task, or holds a negative or non-finite value.

    Examples
    --------
    >>> entry = {"n_params": 2, "rul": 912.04061, "health": 1.0}
    >>> (row,) = block_rows({"trunk": entry})
    >>> list(row)
    ['i', 'block', 'n_params', 'sq_rul', 'sq_health']
    >>> list(row.values())
    [0, 'trunk', 2, 912.0, 1.0]
    """
    if not isinstance(table, Mapping) or not table:
        raise ValueError("table must be a non-empty mapping from block to its entry")
    rows = []
    for i, (block, entry) in enumerate(table.items()):
        if not isinstance(block, str) or not block or "'" in block:
            raise ValueError(f"table's block names must be non-empty strings without quotes, "
                             f"got {block!r}")
        if not isinstance(entry, Mapping):
            raise TypeError(f"table[{block!r}] must be a mapping of n_params and the tasks' "
                            f"squared norms, got {type(entry).__name__}")
        missing = [k for k in ("n_params", *TASKS) if k not in entry]
        if missing:
            raise ValueError(f"table[{block!r}] lacks {missing}")
        for key in ("n_params", *TASKS):
            kind = Integral if key == "n_params" else Real
            if isinstance(entry[key], bool) or not isinstance(entry[key], kind):
                what = "an integer" if key == "n_params" else "a number"
                raise TypeError(f"table[{block!r}][{key!r}] must be {what}, got "
                                f"{type(entry[key]).__name__}")
        values = [float(entry[k]) for k in ("n_params", *TASKS)]
        if not all(np.isfinite(v) and v >= 0 for v in values):
            raise ValueError(f"table[{block!r}] must hold finite values >= 0")
        rows.append({"i": i, "block": block, "n_params": int(entry["n_params"]),
                     "sq_rul": round_sig(entry["rul"], DIGITS),
                     "sq_health": round_sig(entry["health"], DIGITS)})
    return rows


def selection_chart(
    table: Mapping[str, Mapping[str, float]],
    heads: Sequence[str] | None = None,
    width: int = 420,
) -> Any:
    """The 18.1 explorer as an Altair chart (show it with :func:`gabalab.charts.render.show`).

    Parameters
    ----------
    table : mapping
        From :func:`gabalab.blocks.block_table`.
    heads : sequence of str or None
        Blocks of the table that start unticked (the task heads); every other block starts
        ticked. Default: those of :data:`DEFAULT_HEADS` that the table has.
    width : int, default 420
        Width in pixels (100 to 2000).

    Returns
    -------
    altair.VConcatChart

    Raises
    ------
    TypeError, ValueError
        On an invalid table or width, or ``heads`` that is not a list of the table's blocks.
    """
    width = check_int("width", width, minimum=100)
    if width > 2000:
        raise ValueError(f"width must be <= 2000, got {width}")
    rows = block_rows(table)
    if heads is None:
        heads = [h for h in DEFAULT_HEADS if h in table]
    else:
        heads = as_list("heads", heads)
        for i, head in enumerate(heads):
            if not isinstance(head, str):
                raise TypeError(f"heads[{i}] must be a block name, got {type(head).__name__}")
            if head not in table:
                raise ValueError(f"heads[{i}] = {head!r} is not a block of table "
                                 f"({', '.join(table)})")
    alt = require_altair()
    params = [
        alt.param(name=f"block_{r['i']}", value=r["block"] not in heads,
                  bind=alt.binding_checkbox(name=f"{r['block']} "))
        for r in rows
    ]
    ticked = "[" + ", ".join(f"block_{r['i']}" for r in rows) + "][datum.i]"
    base = alt.Chart(alt.Data(values=rows)).transform_calculate(on=ticked)
    bars_data = base.transform_fold(["sq_rul", "sq_health"], as_=["task", "sq"]) \
        .transform_filter("datum.sq > 0")
    bars = bars_data.mark_bar().encode(
        y=alt.Y("block:N", sort=[r["block"] for r in rows], title=None),
        yOffset=alt.YOffset("task:N", sort=["sq_rul", "sq_health"]),
        x=alt.X("sq:Q", scale=alt.Scale(type="log"), stack=None,
                title="squared gradient norm of the block "
                "(log scale)"),
        color=alt.Color("task:N", scale=alt.Scale(domain=["sq_rul", "sq_health"],
                                                  range=["#c0392b", "#2471a3"]),
                        legend=alt.Legend(title=None, labelExpr="datum.label == 'sq_rul' ? "
                                          "'RUL task' : 'health task'")),
        opacity=alt.condition("datum.on", alt.value(1.0), alt.value(0.2)),
    ).properties(width=width, height=22 * len(rows),
                 title="Per block: the ticked ones count (solid)")
    chosen = (
        base.transform_filter("datum.on")
        .transform_aggregate(n="sum(n_params)", sq_rul="sum(sq_rul)",
                             sq_health="sum(sq_health)", names="values(block)")
        .transform_calculate(blocks="join(pluck(datum.names, 'block'), ', ')")
    )
    values = {**EXPRESSIONS, "blocks": "datum.blocks"}
    readout = row_readout(chosen, READOUT, values, width=width)
    return finish(alt.vconcat(bars, readout).add_params(*params))
