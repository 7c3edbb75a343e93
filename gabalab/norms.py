"""Per-task gradient norms on the shared parameters of a multi-task model.

The *shared* parameters are those that every task's loss reaches: the backbone, not the task
heads. They are selected by name (:func:`shared_named_parameters`), and each task's gradient
on them is measured either functionally with :func:`torch.autograd.grad`
(:func:`task_grad_norms`, which leaves ``.grad`` alone) or the classic way with one
``backward(retain_graph=True)`` per task (:func:`task_grad_norms_backward`).
:func:`layer_type_selection` shows what a selection by layer type would get wrong instead.

:func:`norm_scaling` and :func:`norm_scaling_sweep` show how such norms scale with the number
of parameters: each task's gradient is modelled as ``N`` independent entries with a given
per-element scale (standard deviation), whose L2 norm grows like ``scale * sqrt(N)`` while the
ratio of two of them and the root-mean-square entry ``||g|| / sqrt(N)`` do not depend on ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gabalab._checks import (
    as_array,
    as_list,
    check_grad_params,
    check_graph_loss,
    check_int,
    check_real,
    check_scalar_losses,
    freed_graph_named,
)

__all__ = [
    "DEFAULT_HEADS",
    "shared_named_parameters",
    "shared_parameters",
    "TypeSelection",
    "layer_type_selection",
    "vector_norm",
    "grads_norm",
    "task_grad_norm",
    "task_grad_norms",
    "task_grad_norms_backward",
    "MAX_PARAMS",
    "random_task_gradients",
    "norm_scaling",
    "norm_scaling_sweep",
]

#: Name fragments of the two task heads of every model in this package.
DEFAULT_HEADS: tuple[str, str] = ("rul_head", "health_head")


def _name_matches(name: str, pattern: str) -> bool:
    """True when ``pattern`` is one dot-separated component run of ``name``.

    ``"rul_head"`` matches ``"rul_head.0.weight"`` and ``"module.rul_head.bias"`` but not
    ``"pre_rul_header.weight"``: a plain substring test would catch unrelated names.
    """
    parts = name.split(".")
    want = pattern.strip(".").split(".")
    n = len(want)
    return any(parts[i : i + n] == want for i in range(len(parts) - n + 1))


def shared_named_parameters(
    model: nn.Module, heads: Sequence[str] = DEFAULT_HEADS
) -> list[tuple[str, nn.Parameter]]:
    """Return the trainable ``(name, parameter)`` pairs outside the task heads.

    Parameters
    ----------
    model : torch.nn.Module
        The multi-task model.
    heads : sequence of str
        Name fragments of the head modules, e.g. ``("rul_head", "health_head")``. A
        parameter is a head parameter when one of these appears as a whole component
        (or run of components) of its dotted name, so wrapper prefixes such as
        ``module.`` (``DataParallel``) or ``_orig_mod.`` (``torch.compile``) do not
        matter.

    Returns
    -------
    list of (str, torch.nn.Parameter)
        The shared parameters with ``requires_grad=True``, in registration order.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``heads`` is not a sequence of strings.
    ValueError
        If ``heads`` is empty, a head pattern matches no parameter, or nothing is left.

    Examples
    --------
    >>> from torch import nn
    >>> class M(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.trunk = nn.Linear(4, 8)
    ...         self.rul_head = nn.Linear(8, 1)
    ...         self.health_head = nn.Linear(8, 3)
    >>> [name for name, _ in shared_named_parameters(M())]
    ['trunk.weight', 'trunk.bias']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(heads, str):
        raise TypeError("heads must be a sequence of strings such as ('rul_head', 'health_head')")
    try:
        heads = tuple(heads)
    except TypeError:
        raise TypeError(
            f"heads must be a sequence of strings, got {type(heads).__name__}"
        ) from None
    if not all(isinstance(h, str) for h in heads):
        raise TypeError("heads must be a sequence of strings such as ('rul_head', 'health_head')")
    if not heads or any(not h.strip(".") for h in heads):
        raise ValueError("heads must name at least one head module with non-empty names")
    named = list(model.named_parameters())
    unmatched = [h for h in heads if not any(_name_matches(n, h) for n, _ in named)]
    if unmatched:
        raise ValueError(
            f"heads: pattern(s) {unmatched} match no parameter name of the model; "
            f"first names are {[n for n, _ in named[:6]]}"
        )
    shared = [
        (n, p)
        for n, p in named
        if p.requires_grad and not any(_name_matches(n, h) for h in heads)
    ]
    if not shared:
        raise ValueError(
            f"no trainable shared parameter is left after excluding heads {list(heads)}"
        )
    return shared


def shared_parameters(
    model: nn.Module, heads: Sequence[str] = DEFAULT_HEADS
) -> list[nn.Parameter]:
    """Return the trainable parameters outside the task heads.

    See :func:`shared_named_parameters` for the selection rule, parameters and errors.

    Examples
    --------
    >>> from gabalab.models import TinyDualHead
    >>> params = shared_parameters(TinyDualHead(seed=0))
    >>> len(params) > 0
    True
    """
    return [p for _, p in shared_named_parameters(model, heads)]


@dataclass(frozen=True)
class TypeSelection:
    """A selection of parameters by layer type, set against the selection by name.

    Built by :func:`layer_type_selection`; all counts are numbers of parameters (entries).

    Attributes
    ----------
    layer_type : str
        The layer class the selection takes, e.g. ``"Linear"``.
    n_params : int
        Parameters of every layer of that type.
    head_params : int
        Of those, the ones in the heads (which the selection by name leaves out).
    shared_missed : int
        Shared (trainable, non-head) parameters the selection by type leaves out.
    missed_types : tuple of str
        The layer types that hold the missed shared parameters, sorted.
    """

    layer_type: str
    n_params: int
    head_params: int
    shared_missed: int
    missed_types: tuple[str, ...]

    def __str__(self) -> str:
        return (f"nn.{self.layer_type} selection: {self.n_params:,} parameters\n"
                f"  of which head parameters:     {self.head_params:,}\n"
                f"  shared parameters it misses:  {self.shared_missed:,}"
                f"  ({' and '.join(self.missed_types)})")

    def quotes(self) -> dict[str, str]:
        """``type_heads`` and ``type_missed`` with thousands separators, for the prose."""
        return {"type_heads": f"{self.head_params:,}", "type_missed": f"{self.shared_missed:,}"}


def layer_type_selection(
    model: nn.Module, layer_type: type[nn.Module] = nn.Linear,
    heads: Sequence[str] = DEFAULT_HEADS,
) -> TypeSelection:
    """Select the trainable parameters of every ``layer_type`` layer; compare with by name.

    Parameters
    ----------
    model : torch.nn.Module
        The multi-task model.
    layer_type : type
        A subclass of :class:`torch.nn.Module`, e.g. ``nn.Linear``.
    heads : sequence of str
        As in :func:`shared_named_parameters`, which gives the selection by name.

    Returns
    -------
    TypeSelection

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``layer_type`` is not a module class; ``heads`` as
        in :func:`shared_named_parameters`.
    ValueError
        As :func:`shared_named_parameters`.

    Examples
    --------
    >>> from torch import nn
    >>> class M(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv = nn.Conv1d(2, 4, 3)
    ...         self.rul_head = nn.Linear(4, 1)
    ...         self.health_head = nn.Linear(4, 3)
    >>> print(layer_type_selection(M(), nn.Linear))
    nn.Linear selection: 20 parameters
      of which head parameters:     20
      shared parameters it misses:  28  (Conv1d)
    """
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        raise TypeError(f"layer_type must be a torch.nn.Module subclass such as nn.Linear, "
                        f"got {layer_type!r}")
    shared = {id(p) for _, p in shared_named_parameters(model, heads)}
    by_type = {id(p): p for module in model.modules() if isinstance(module, layer_type)
               for p in module.parameters(recurse=False) if p.requires_grad}
    missed_types = sorted({type(module).__name__ for module in model.modules()
                           for p in module.parameters(recurse=False)
                           if id(p) in shared and id(p) not in by_type})
    shared_missed = sum(p.numel() for _, p in shared_named_parameters(model, heads)
                        if id(p) not in by_type)
    return TypeSelection(
        layer_type=layer_type.__name__,
        n_params=sum(p.numel() for p in by_type.values()),
        head_params=sum(p.numel() for key, p in by_type.items() if key not in shared),
        shared_missed=shared_missed,
        missed_types=tuple(missed_types),
    )


def _check_order(p: float) -> float:
    if p == math.inf:
        return p
    p = check_real("p", p, positive=True)
    if p < 1:
        raise ValueError(f"p must be >= 1 (a norm) or math.inf, got {p}")
    return p


def vector_norm(vectors: Iterable[np.ndarray], p: float = 2.0) -> float:
    """L-p norm of several NumPy arrays taken as one concatenated vector.

    Parameters
    ----------
    vectors : iterable of numpy.ndarray
        The pieces (for example the gradient of each parameter tensor).
    p : float
        Order of the norm, ``>= 1`` or ``math.inf``. Default 2.

    Returns
    -------
    float
        ``||concat(vectors)||_p``.

    Raises
    ------
    TypeError
        If ``vectors`` is not a list of numeric arrays.
    ValueError
        If there are no pieces, every piece is empty (a vector without entries has no
        meaningful norm), ``p`` is not a norm order, or an entry is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> vector_norm([np.array([3.0]), np.array([[4.0]])])
    5.0
    """
    p = _check_order(p)
    pieces = [as_array(f"vectors[{i}]", v).ravel()
              for i, v in enumerate(as_list("vectors", vectors))]
    if not pieces:
        raise ValueError("vectors must hold at least one array")
    flat = np.concatenate(pieces)
    if not flat.size:
        raise ValueError(f"vectors holds no entry: its {len(pieces)} array(s) are all empty")
    return float(np.linalg.norm(flat, ord=p))


def grads_norm(grads: Iterable[torch.Tensor | None], p: float = 2.0) -> float:
    """L-p norm of several gradient tensors taken as one concatenated vector.

    ``None`` entries (parameters a loss does not reach) count as zeros, so a list of ``None``
    only has norm 0; a list without any gradient is refused. Each tensor's norm
    is taken in its own precision, but at least float32 (half-precision gradients are
    accumulated in float32), and the per-tensor norms are combined in float64.

    Parameters
    ----------
    grads : iterable of torch.Tensor or None
        Gradient tensors, e.g. the output of :func:`torch.autograd.grad`.
    p : float
        Order of the norm, ``>= 1`` or ``math.inf``. Default 2.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``grads`` is not a list of tensors (and ``None`` entries).
    ValueError
        If ``grads`` is empty or holds only empty tensors (no gradient entry at all, where a
        norm of 0 would hide a wrong selection of parameters), ``p`` is not a norm order, or
        a gradient holds NaN or inf.

    Examples
    --------
    >>> import torch
    >>> grads_norm([torch.tensor([3.0]), None, torch.tensor([[4.0]])])
    5.0
    """
    p = _check_order(p)
    items = as_list("grads", grads)
    for i, g in enumerate(items):
        if g is not None and not isinstance(g, torch.Tensor):
            raise TypeError(f"grads[{i}] must be a torch.Tensor or None, got {type(g).__name__}")
    if not items:
        raise ValueError("grads is empty: pass one gradient (or None) per parameter")
    if all(g is not None and not g.numel() for g in items):
        raise ValueError(f"grads holds no entry: its {len(items)} tensor(s) are all empty")
    present = [g.detach() for g in items if g is not None]
    if not present:
        return 0.0
    per_tensor = torch.stack([
        torch.linalg.vector_norm(g, ord=p, dtype=torch.promote_types(g.dtype, torch.float32))
        .to(torch.float64)
        for g in present
    ])
    if not bool(torch.isfinite(per_tensor).all()):
        raise ValueError("grads contain non-finite values (NaN or inf)")
    return float(torch.linalg.vector_norm(per_tensor, ord=p))


def _check_params(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return check_grad_params(params, empty="select at least one shared parameter")


def task_grad_norm(
    loss: torch.Tensor,
    params: Sequence[torch.Tensor],
    *,
    p: float = 2.0,
    retain_graph: bool = True,
) -> float:
    """Norm of one loss's gradient on ``params``, leaving every ``.grad`` untouched.

    Parameters
    ----------
    loss : torch.Tensor
        A scalar loss that depends on at least one tensor in ``params``.
    params : sequence of torch.Tensor
        The shared parameters.
    p : float
        Order of the norm (2 by default; 1 and ``math.inf`` for comparison).
    retain_graph : bool
        Keep the autograd graph so that another task's gradient (or a later backward)
        can use the same forward pass. Default True.

    Returns
    -------
    float
        ``|| d loss / d params ||_p`` over all listed parameters as one vector.

    Raises
    ------
    TypeError, ValueError
        See :func:`task_grad_norms`.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
    >>> task_grad_norm((w ** 2).sum() / 2, [w])
    5.0
    """
    loss = check_graph_loss(loss)
    return task_grad_norms([loss], params, p=p, retain_graph=retain_graph)[0]


def task_grad_norms(
    losses: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    p: float = 2.0,
    retain_graph: bool = True,
) -> list[float]:
    """Per-task gradient norms on the shared parameters with :func:`torch.autograd.grad`.

    One gradient call per loss on the graph of one forward pass; ``create_graph`` is off,
    and the gradients are returned rather than accumulated, so the ``.grad`` fields of the
    model are left exactly as they were.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        One scalar loss per task, all from the same forward pass.
    params : sequence of torch.Tensor
        The shared parameters (see :func:`shared_parameters`).
    p : float
        Order of the norm (2 by default; 1 and ``math.inf`` for comparison).
    retain_graph : bool
        Keep the graph after the last loss as well (default True), so the caller can
        still run ``backward``. The graph is always retained between losses.

    Returns
    -------
    list of float
        One norm per loss, in the order given.

    Raises
    ------
    TypeError
        If ``losses`` or ``params`` hold something other than tensors.
    ValueError
        If ``losses`` or ``params`` is empty, a loss is not a scalar or is detached, its
        graph was already freed by an earlier backward pass, a parameter is frozen or
        repeated, a loss reaches none of ``params``, or a gradient is not finite.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
    >>> task_grad_norms([(w ** 2).sum() / 2, w.sum()], [w])
    [5.0, 1.4142135381698608]
    """
    losses = check_scalar_losses(losses)
    params = _check_params(params)
    p = _check_order(p)
    norms = []
    for i, loss in enumerate(losses):
        keep = retain_graph or i < len(losses) - 1
        with freed_graph_named(f"losses[{i}]"):
            grads = torch.autograd.grad(loss, params, retain_graph=keep, allow_unused=True)
        if all(g is None for g in grads):
            raise ValueError(f"losses[{i}] does not depend on any tensor in params")
        try:
            norms.append(grads_norm(grads, p=p))
        except ValueError as err:
            raise ValueError(f"losses[{i}]: {err}") from None
    return norms


def task_grad_norms_backward(
    model: nn.Module,
    losses: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    p: float = 2.0,
) -> list[float]:
    """Per-task gradient norms the classic way: ``backward(retain_graph=True)`` per task.

    The model's gradients are zeroed before each task's backward pass so that each norm
    is that task's alone; on return ``.grad`` holds the *last* task's gradient. Prefer
    :func:`task_grad_norms`, which gives the same numbers without touching ``.grad``.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose gradients are zeroed between tasks.
    losses, params, p
        As in :func:`task_grad_norms`.

    Returns
    -------
    list of float
        One norm per loss.

    Raises
    ------
    TypeError, ValueError
        As in :func:`task_grad_norms`; also if a tensor in ``params`` is not a parameter of
        ``model`` (``model.zero_grad`` would not clear it between tasks, and the norms would
        mix the tasks).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    losses = check_scalar_losses(losses)
    params = _check_params(params)
    p = _check_order(p)
    owned = {id(prm) for prm in model.parameters()}
    foreign = [i for i, prm in enumerate(params) if id(prm) not in owned]
    if foreign:
        raise ValueError(f"params[{foreign[0]}] is not a parameter of model: its .grad would not "
                         "be zeroed between tasks, so the norms would mix the tasks")
    norms = []
    for i, loss in enumerate(losses):
        model.zero_grad(set_to_none=True)
        with freed_graph_named(f"losses[{i}]"):
            loss.backward(retain_graph=True)
        grads = [prm.grad for prm in params]
        if all(g is None for g in grads):
            raise ValueError(f"losses[{i}] does not depend on any tensor in params")
        try:
            norms.append(grads_norm(grads, p=p))
        except ValueError as err:
            raise ValueError(f"losses[{i}]: {err}") from None
    return norms


#: Largest ``N`` accepted (two float64 vectors of this size take 160 MB).
MAX_PARAMS: int = 10_000_000


def _check_n(n_params: Any, name: str = "n_params") -> int:
    n_params = check_int(name, n_params, minimum=1)
    if n_params > MAX_PARAMS:
        raise ValueError(f"{name} must be <= {MAX_PARAMS}, got {n_params}")
    return n_params


def random_task_gradients(
    n_params: int, scale_rul: float, scale_hs: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Two random gradient vectors with the given per-element scales.

    ``g_rul = scale_rul * u`` and ``g_hs = scale_hs * v`` with ``u`` then ``v`` drawn as
    independent standard normal vectors of length ``n_params`` from
    ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n_params : int
        ``N``, the number of shared parameters (1 to :data:`MAX_PARAMS`).
    scale_rul, scale_hs : float
        Per-element standard deviation of each task's gradient (> 0).
    seed : int
        Seed (>= 0).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(g_rul, g_hs)``, each of shape ``(n_params,)``.

    Raises
    ------
    TypeError, ValueError
        On an argument of the wrong type or out of range, naming it.

    Examples
    --------
    >>> g_rul, g_hs = random_task_gradients(5, 1.0, 0.01, seed=0)
    >>> g_rul.shape, g_hs.shape
    ((5,), (5,))
    """
    n_params = _check_n(n_params)
    scale_rul = check_real("scale_rul", scale_rul, positive=True)
    scale_hs = check_real("scale_hs", scale_hs, positive=True)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    g_rul = scale_rul * rng.standard_normal(n_params)
    g_hs = scale_hs * rng.standard_normal(n_params)
    return g_rul, g_hs


def norm_scaling(
    n_params: int, scale_rul: float, scale_hs: float, *, seed: int = 0
) -> dict[str, float]:
    """Both L2 norms, their ratio and the root-mean-square entries for one ``N``.

    Parameters
    ----------
    n_params, scale_rul, scale_hs, seed
        As in :func:`random_task_gradients`.

    Returns
    -------
    dict
        ``n_params``; ``norm_rul`` and ``norm_hs`` (L2 norms, about ``scale * sqrt(N)``);
        ``ratio`` (``norm_rul / norm_hs``, about ``scale_rul / scale_hs``); ``rms_rul``
        and ``rms_hs`` (``||g|| / sqrt(N)``, about the scales).

    Raises
    ------
    TypeError, ValueError
        As in :func:`random_task_gradients`.

    Examples
    --------
    >>> out = norm_scaling(1_000_000, 1.0, 0.002, seed=0)
    >>> abs(out["ratio"] / 500 - 1) < 0.01, round(out["rms_rul"], 2)
    (True, 1.0)
    """
    g_rul, g_hs = random_task_gradients(n_params, scale_rul, scale_hs, seed=seed)
    norm_rul = float(np.linalg.norm(g_rul))
    norm_hs = float(np.linalg.norm(g_hs))
    root_n = float(np.sqrt(g_rul.size))
    return {
        "n_params": int(g_rul.size),
        "norm_rul": norm_rul,
        "norm_hs": norm_hs,
        "ratio": norm_rul / norm_hs,
        "rms_rul": norm_rul / root_n,
        "rms_hs": norm_hs / root_n,
    }


def norm_scaling_sweep(
    n_values: Sequence[int], scale_rul: float, scale_hs: float, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """:func:`norm_scaling` over several ``N``, each drawn from the same ``seed``.

    Parameters
    ----------
    n_values : sequence of int
        The parameter counts (at least one).
    scale_rul, scale_hs, seed
        As in :func:`random_task_gradients`.

    Returns
    -------
    dict of numpy.ndarray
        The keys of :func:`norm_scaling`, each an array over ``n_values``.

    Raises
    ------
    TypeError, ValueError
        If ``n_values`` is empty or holds an invalid count, or another argument is invalid.

    Examples
    --------
    >>> sweep = norm_scaling_sweep([100, 10_000], 1.0, 0.01, seed=0)
    >>> sweep["norm_rul"].shape
    (2,)
    """
    if isinstance(n_values, (str, bytes)) or not isinstance(n_values, (Sequence, np.ndarray)):
        raise TypeError("n_values must be a sequence of positive integers")
    if len(n_values) == 0:
        raise ValueError("n_values must hold at least one parameter count")
    rows = [
        norm_scaling(_check_n(n, f"n_values[{i}]"), scale_rul, scale_hs, seed=seed)
        for i, n in enumerate(n_values)
    ]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}
