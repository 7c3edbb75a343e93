"""Parameter blocks: per-task squared gradient norms per top-level block of a model.

The gradients of each task are computed once; :func:`block_table` sums their squares per
top-level block of the model (``conv``, ``lstm``, ..., ``rul_head``, ``health_head``).
Because the squared L2 norm of a set of parameters is the sum of the squared norms of its
parts, any selection of blocks can then be evaluated without another backward pass:
:func:`selection_readout` gives the two norms, their ratio and the GABA weights for the
chosen blocks, and :func:`selection_text` formats them. :func:`layer_types` says which layer
types hold each block's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import torch
from torch import nn

from gabalab._checks import as_list
from gabalab.weighting import gaba_weights

__all__ = [
    "WRAPPER_PREFIXES",
    "block_name",
    "layer_types",
    "block_table",
    "selection_readout",
    "selection_text",
]

#: Leading name components that wrappers add (``DataParallel``: ``module``,
#: ``torch.compile``: ``_orig_mod``); :func:`block_name` skips them.
WRAPPER_PREFIXES: tuple[str, ...] = ("module", "_orig_mod")


def block_name(name: str, wrappers: Sequence[str] = WRAPPER_PREFIXES) -> str:
    """Top-level block of a dotted parameter name, skipping wrapper prefixes.

    Parameters
    ----------
    name : str
        A name from :meth:`torch.nn.Module.named_parameters`.
    wrappers : sequence of str
        Leading components to skip.

    Returns
    -------
    str

    Raises
    ------
    TypeError
        If ``name`` is not a string.
    ValueError
        If ``name`` has no non-empty component.

    Examples
    --------
    >>> block_name("module.lstm.weight_ih_l0")
    'lstm'
    >>> block_name("rul_head.0.bias")
    'rul_head'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if isinstance(wrappers, str):
        raise TypeError("wrappers must be a sequence of strings, not one string")
    wrappers = tuple(as_list("wrappers", wrappers))
    parts = [p for p in name.split(".") if p]
    while len(parts) > 1 and parts[0] in wrappers:
        parts = parts[1:]
    if not parts:
        raise ValueError(f"name {name!r} is empty: it has no block")
    return parts[0]


def layer_types(model: nn.Module) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Parameter count and layer types of every top-level block of ``model``.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    dict
        ``{block: (n_params, types)}``, in the order the blocks first appear: the number of
        parameters (entries, frozen ones included) and the sorted class names of the modules
        that own them directly.

    Raises
    ------
    TypeError
        If ``model`` is not a module.
    ValueError
        If ``model`` has no parameter.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Conv1d(3, 1, 1))
    >>> layer_types(model)
    {'0': (9, ('Linear',)), '2': (4, ('Conv1d',))}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    counts: dict[str, int] = {}
    types: dict[str, set[str]] = {}
    for module_name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        block = block_name(module_name) if module_name else "(top level)"
        counts[block] = counts.get(block, 0) + sum(p.numel() for p in own)
        types.setdefault(block, set()).add(type(module).__name__)
    if not counts:
        raise ValueError("model has no parameter")
    return {block: (n, tuple(sorted(types[block]))) for block, n in counts.items()}


def block_table(
    named_params: Sequence[tuple[str, torch.Tensor]],
    grads: Mapping[str, Sequence[torch.Tensor | None]],
) -> dict[str, dict[str, float]]:
    """Parameter count and squared gradient norm of every task, per top-level block.

    Parameters
    ----------
    named_params : sequence of (str, torch.Tensor)
        The parameters, e.g. ``list(model.named_parameters())``.
    grads : mapping of str to sequence of torch.Tensor or None
        For each task name (e.g. ``"rul"``, ``"health"``), its gradients aligned with
        ``named_params``; ``None`` means the task's loss does not reach that parameter.

    Returns
    -------
    dict
        ``{block: {"n_params": count, task: squared norm, ...}}`` in the order the blocks
        first appear. The squares are summed in float64.

    Raises
    ------
    TypeError
        If ``grads`` is not a mapping, or an entry is neither a tensor nor ``None``.
    ValueError
        If there are no parameters or tasks, a gradient list has the wrong length or a
        gradient's shape differs from its parameter's, a gradient holds NaN or inf (or its
        squared norm overflows), or a task is named ``n_params``.

    Examples
    --------
    >>> import torch
    >>> named = [("trunk.weight", torch.zeros(2)),
    ...          ("rul_head.weight", torch.zeros(1))]
    >>> grads = {"rul": [torch.tensor([3.0, 4.0]), torch.tensor([1.0])],
    ...          "health": [torch.tensor([0.0, 1.0]), None]}
    >>> table = block_table(named, grads)
    >>> table["trunk"]
    {'n_params': 2, 'rul': 25.0, 'health': 1.0}
    >>> table["rul_head"]
    {'n_params': 1, 'rul': 1.0, 'health': 0.0}
    """
    named_params = as_list("named_params", named_params)
    if not named_params:
        raise ValueError("named_params is empty")
    for i, pair in enumerate(named_params):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
                and isinstance(pair[1], torch.Tensor)):
            raise TypeError(f"named_params[{i}] must be a (name, tensor) pair such as "
                            f"model.named_parameters() yields, got {type(pair).__name__}")
    if not isinstance(grads, Mapping):
        raise TypeError(
            f"grads must be a mapping from task name to gradients, got {type(grads).__name__}"
        )
    if not grads:
        raise ValueError("grads must hold at least one task")
    if "n_params" in grads:
        raise ValueError("grads: 'n_params' is reserved and cannot name a task")
    table: dict[str, dict[str, float]] = {}
    for name, param in named_params:
        block = table.setdefault(block_name(name), {"n_params": 0, **{t: 0.0 for t in grads}})
        block["n_params"] += int(param.numel())
    for task, task_grads in grads.items():
        if not isinstance(task, str):
            raise TypeError(f"grads must be keyed by task names (str), got {task!r}")
        task_grads = as_list(f"grads[{task!r}]", task_grads)
        if len(task_grads) != len(named_params):
            raise ValueError(
                f"grads[{task!r}] holds {len(task_grads)} gradients for the "
                f"{len(named_params)} parameters of named_params: one per parameter, in order"
            )
        for (name, param), grad in zip(named_params, task_grads):
            if grad is None:
                continue
            if not isinstance(grad, torch.Tensor):
                raise TypeError(f"grads[{task!r}] entry for {name} must be a tensor or None")
            if grad.shape != param.shape:
                raise ValueError(
                    f"grads[{task!r}] for {name} has shape {tuple(grad.shape)}, "
                    f"parameter has {tuple(param.shape)}"
                )
            square = float(torch.sum(grad.detach().double() ** 2))
            if not math.isfinite(square):
                raise ValueError(f"grads[{task!r}] for {name} is not finite (NaN or inf), or "
                                 "its squared norm overflows float64")
            table[block_name(name)][task] += square
    return table


def _tasks(table: Mapping[str, Mapping[str, float]]) -> list[str]:
    first = next(iter(table.values()))
    return [k for k in first if k != "n_params"]


def _check_table(table: object) -> None:
    """A table as :func:`block_table` returns it: blocks with the same keys, counts, squares."""
    if not isinstance(table, Mapping):
        raise TypeError(f"table must be a mapping from block to its row (from block_table), got "
                        f"{type(table).__name__}")
    if not table:
        raise ValueError("table is empty")
    keys = None
    for block, row in table.items():
        if not isinstance(row, Mapping):
            raise TypeError(f"table[{block!r}] must be a mapping, got {type(row).__name__}")
        if "n_params" not in row:
            raise ValueError(f"table[{block!r}] has no 'n_params' entry")
        if keys is None:
            keys = list(row)
        elif list(row) != keys:
            raise ValueError(f"table[{block!r}] has entries {list(row)}, the first block {keys}")
        for key, value in row.items():
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(
                value
            ) or value < 0:
                raise ValueError(f"table[{block!r}][{key!r}] must be a finite number >= 0, got "
                                 f"{value!r}")


def selection_readout(
    table: Mapping[str, Mapping[str, float]], selected: Iterable[str]
) -> dict[str, Any]:
    """Norms, ratio and GABA weights when only the ``selected`` blocks count.

    Parameters
    ----------
    table : mapping
        From :func:`block_table`.
    selected : iterable of str
        Block names to include.

    Returns
    -------
    dict
        ``blocks`` (list, in table order), ``n_params`` (int), ``norms`` ({task: float}),
        ``ratio`` (first task's norm over the second's; ``inf`` when the second is 0,
        ``None`` with a single task) and ``weights`` ({task: float} from
        :func:`gabalab.weighting.gaba_weights`; ``None`` with a single task).

    Raises
    ------
    TypeError
        If ``table`` is not a mapping of blocks to mappings, or ``selected`` is not a list of
        block names.
    ValueError
        If ``table`` is empty or its rows disagree on the tasks or lack ``n_params``, nothing
        is selected, or a name is not a block of ``table``.

    Examples
    --------
    >>> table = {
    ...     "trunk": {"n_params": 2, "rul": 900.0, "health": 1.0},
    ...     "rul_head": {"n_params": 1, "rul": 1600.0, "health": 0.0},
    ... }
    >>> r = selection_readout(table, ["trunk"])
    >>> r["norms"], r["ratio"]
    ({'rul': 30.0, 'health': 1.0}, 30.0)
    >>> selection_readout(table, ["trunk", "rul_head"])["ratio"]
    50.0
    """
    _check_table(table)
    if isinstance(selected, str):
        selected = [selected]
    names = as_list("selected", selected)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"selected[{i}] must be a block name (str), got "
                            f"{type(name).__name__}")
    chosen = set(names)
    unknown = sorted(chosen - set(table))
    if unknown:
        raise ValueError(f"selected: {unknown} are not blocks of the table {list(table)}")
    if not chosen:
        raise ValueError("selected is empty: choose at least one block")
    blocks = [b for b in table if b in chosen]
    tasks = _tasks(table)
    norms = {t: math.sqrt(math.fsum(float(table[b][t]) for b in blocks)) for t in tasks}
    n_params = int(sum(int(table[b]["n_params"]) for b in blocks))
    ratio: float | None = None
    weights: dict[str, float] | None = None
    if len(tasks) >= 2:
        a, b = norms[tasks[0]], norms[tasks[1]]
        ratio = a / b if b > 0 else math.inf
        lam = gaba_weights([norms[t] for t in tasks])
        weights = {t: float(w) for t, w in zip(tasks, lam)}
    return {"blocks": blocks, "n_params": n_params, "norms": norms, "ratio": ratio,
            "weights": weights}


def selection_text(table: Mapping[str, Mapping[str, float]], selected: Iterable[str]) -> str:
    """The readout of :func:`selection_readout` as aligned text, 4 significant digits.

    Examples
    --------
    >>> table = {
    ...     "trunk": {"n_params": 2, "rul": 900.0, "health": 1.0},
    ...     "rul_head": {"n_params": 1, "rul": 1600.0, "health": 0.0},
    ... }
    >>> print(selection_text(table, ["trunk"]))
    blocks        : trunk
    parameters    : 2
    ||g_rul||     : 30
    ||g_health||  : 1
    ratio         : 30
    lambda_rul    : 0.03226
    lambda_health : 0.9677
    """
    r = selection_readout(table, selected)
    width = max(len(f"lambda_{t}") for t in r["norms"])
    lines = [f"{'blocks':<{width}} : {', '.join(r['blocks'])}",
             f"{'parameters':<{width}} : {r['n_params']:,}"]
    lines += [f"{f'||g_{t}||':<{width}} : {v:.4g}" for t, v in r["norms"].items()]
    if r["ratio"] is not None:
        lines.append(f"{'ratio':<{width}} : {r['ratio']:.4g}")
        lines += [f"{f'lambda_{t}':<{width}} : {v:.4g}" for t, v in r["weights"].items()]
    return "\n".join(lines)
