"""Cheaper sensors for :class:`gabalab.gaba.GabaBalancer`: held weights and representation norms.

The exact sensor of :mod:`gabalab.gaba` takes one gradient per task on every shared
parameter at every step: one forward pass plus K backward passes through the trunk. Two
cheaper ways to get the weights are offered here, as options of the balancer:

Periodic measurement (``measure_every=N``)
    The weights are measured on one step in N and *held* on the N - 1 steps in between:
    those steps run one ordinary ``backward()`` of ``sum_i w_i L_i`` with the held weights
    (after EMA and floor, as they were at the measurement). A held step costs what a plain
    step costs plus one norm of ``.grad`` (the non-finite check); the weights lag behind the
    norms by up to N - 1 steps. With ``ema`` the average runs over the measurements, one per
    N steps.

Representation sensor (``sensor="representation"``)
    The norms are those of each task's gradient with respect to the shared *features* ``z``,
    the tensor the heads read, instead of the shared parameters. They cost K backward passes
    through the heads only (:func:`representation_gradients`); the step then runs one
    ordinary ``backward()`` of the weighted loss through heads and trunk. What it gives up:
    ``dL_i/dz`` leaves out the trunk's Jacobian, which maps it to the parameters, so the
    ratio of the norms on ``z`` is the ratio on the parameters only when the trunk treats the
    tasks' gradients alike. Two norms of the ``(B, d)`` gradient are offered
    (``representation_norm``):

    ``"batch_sum"`` (default)
        The norm of its sum over the batch, ``||sum_b dL_i/dz_b||``: the gradient with
        respect to one offset added to every sample's features. Samples whose gradients
        point different ways cancel here as they do in the gradient on the shared
        parameters, which sums the samples' contributions through the trunk.
    ``"frobenius"``
        The Frobenius norm of the whole gradient, every sample's row counted in full (as
        some libraries measure it). No cancellation between samples: a task whose samples
        disagree looks louder than it is on the parameters.

Both run the weighted loss through one ordinary ``backward()``, so on those steps
``DistributedDataParallel``'s hooks, a ``GradScaler`` (``scaler.scale(loss).backward()``)
and a compiled model's backward graph work as for any loss. How the balancer combines them
with several processes, micro-batches and a scaler is described on the class
(:class:`gabalab.gaba.GabaBalancer`, "Cheaper sensors").

Giving the balancer the features: ``step(losses, features=z)`` with ``z`` the tensor the
heads read in this forward pass. When the forward pass runs inside a wrapper (a
``DistributedDataParallel`` model must be called as a whole, so that its hooks are
prepared), :class:`FeatureTap` records the heads' inputs with forward pre-hooks instead.

The pieces, each usable alone: :func:`check_sensor`, :func:`check_measure_every`,
:func:`check_representation_norm` and :func:`check_features` validate the options;
:class:`FeatureTap` records the features; :func:`representation_gradients`,
:func:`batch_sums` and :func:`feature_norms` are the representation sensor;
:func:`weighted_loss` and :func:`weighted_backward` the one backward pass; :func:`grad_norm`
the check of ``.grad`` after it; :class:`HeldWeights` what is held between measurements.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gabalab._checks import (
    as_array,
    as_list,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_scalar_losses,
    check_tensor,
    freed_graph_named,
)
from gabalab.amp import check_scaler
from gabalab.distributed import unwrap_model
from gabalab.norms import DEFAULT_HEADS

__all__ = [
    "SENSORS",
    "REPRESENTATION_NORMS",
    "check_sensor",
    "check_representation_norm",
    "check_measure_every",
    "check_features",
    "compile_hint",
    "FeatureTap",
    "representation_gradients",
    "batch_sums",
    "feature_norms",
    "weighted_loss",
    "weighted_backward",
    "grad_norm",
    "HeldWeights",
]

#: The sensors by name: every shared parameter, or the shared features the heads read.
SENSORS: tuple[str, ...] = ("exact", "representation")

#: The norms of the representation sensor: of the gradient summed over the batch (default),
#: or of the whole per-sample gradient.
REPRESENTATION_NORMS: tuple[str, ...] = ("batch_sum", "frobenius")

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_sensor(sensor: str) -> str:
    """Validate a sensor name: one of :data:`SENSORS`.

    Examples
    --------
    >>> check_sensor("representation")
    'representation'
    """
    return check_choice("sensor", sensor, SENSORS)


def check_representation_norm(name: str, argument: str = "representation_norm") -> str:
    """Validate a representation-norm name: one of :data:`REPRESENTATION_NORMS`.

    Messages start with ``argument``, the name of the caller's argument.

    Examples
    --------
    >>> check_representation_norm("frobenius")
    'frobenius'
    """
    return check_choice(argument, name, REPRESENTATION_NORMS)


def check_measure_every(measure_every: int) -> int:
    """Validate ``measure_every``: an integer >= 1 (1 measures at every step).

    Examples
    --------
    >>> check_measure_every(4)
    4
    """
    return check_int("measure_every", measure_every, minimum=1)


def check_features(features: Any, name: str = "features") -> list[torch.Tensor]:
    """Validate the shared features of a step: a tensor, or a sequence of tensors, in the graph.

    Parameters
    ----------
    features : torch.Tensor or sequence of torch.Tensor
        The output of the trunk that the heads read, from this step's forward pass (not
        detached): ``z = model.features(x)``, then the heads applied to ``z``.
    name : str
        The caller's name for the argument, which starts every message.

    Returns
    -------
    list of torch.Tensor

    Raises
    ------
    TypeError
        If ``features`` is not a tensor or a sequence of tensors.
    ValueError
        If it is empty, or a tensor does not require grad or is a leaf (a parameter or an
        input, not an output of the trunk).

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(3, requires_grad=True)
    >>> [tuple(t.shape) for t in check_features(2 * w)]
    [(3,)]
    """
    if isinstance(features, torch.Tensor):
        tensors = [features]
    elif isinstance(features, (str, bytes)) or not isinstance(features, Iterable):
        raise TypeError(f"{name} must be a torch.Tensor or a sequence of tensors (the shared "
                        f"features the heads read), got {type(features).__name__}")
    else:
        tensors = list(features)
        if not tensors:
            raise ValueError(f"{name} is empty: pass the tensor the heads read")
    for i, t in enumerate(tensors):
        where = name if isinstance(features, torch.Tensor) else f"{name}[{i}]"
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{where} must be a torch.Tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise ValueError(f"{where} does not require grad: pass the trunk's output from "
                             "this step's forward pass, not a detached copy")
        if t.is_leaf:
            raise ValueError(f"{where} is a leaf tensor (a parameter or an input): pass the "
                             "trunk's output, the tensor the heads read")
    return tensors


def compile_hint(err: RuntimeError) -> RuntimeError | None:
    """The error to raise instead of ``err`` when a compiled graph refused a second gradient call.

    AOTAutograd's donated buffers free a compiled graph's saved tensors after its first
    backward; the balancer needs several gradient calls on one graph.

    Returns
    -------
    RuntimeError or None
        An error naming the setting that avoids it, or ``None`` for any other error.

    Examples
    --------
    >>> compile_hint(RuntimeError("something else")) is None
    True
    """
    if not isinstance(err, BaseException):
        raise TypeError(f"err must be an exception, got {type(err).__name__}")
    if "donated buffer" not in str(err):
        return None
    return RuntimeError(
        "a torch.compile'd model freed its saved tensors after the first task's gradient "
        "(AOTAutograd's donated buffers). The balancer needs one gradient per task from "
        "the same graph: set torch._functorch.config.donated_buffer = False before the "
        f"model's first compiled forward pass. ({err})")


class FeatureTap:
    """Record the tensors the heads read, at every forward pass, for the representation sensor.

    A forward pre-hook on each head module keeps its first input. After a forward pass,
    :attr:`features` holds the distinct tensors the heads read (one tensor when they all
    read the same shared features), ready for ``balancer.step(losses, features=...)``. The
    model may be wrapped in ``DistributedDataParallel`` or ``torch.compile`` (looked
    through); call the wrapper for the forward pass as usual.

    Parameters
    ----------
    model : torch.nn.Module
        The multi-task model, wrapped or not.
    heads : sequence of str
        Names of the head modules (default ``("rul_head", "health_head")``): the module
        whose dotted name ends with each.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``heads`` is not a sequence of strings.
    ValueError
        If a head name matches no module.

    Examples
    --------
    >>> import torch
    >>> from gabalab.models import TinyDualHead
    >>> model = TinyDualHead(seed=0)
    >>> with FeatureTap(model) as tap:
    ...     rul, logits = model(torch.ones(4, 14))
    ...     [tuple(z.shape) for z in tap.features]
    [(4, 16)]
    """

    def __init__(self, model: nn.Module, heads: Sequence[str] = DEFAULT_HEADS) -> None:
        inner, _ = unwrap_model(model)
        if isinstance(heads, (str, bytes)) or not isinstance(heads, Sequence) or not all(
                isinstance(h, str) for h in heads):
            raise TypeError("heads must be a sequence of strings such as ('rul_head', "
                            "'health_head')")
        if not heads:
            raise ValueError("heads must name at least one head module")
        modules = dict(inner.named_modules())
        self._inputs: dict[str, torch.Tensor] = {}
        self._handles = []
        for head in heads:
            want = head.strip(".").split(".")
            found = [n for n in modules if n and n.split(".")[-len(want):] == want]
            if not found:
                raise ValueError(f"heads: no module of the model is named {head!r}")
            name = min(found, key=len)
            self._handles.append(modules[name].register_forward_pre_hook(self._hook(head)))
        self.heads = tuple(heads)

    def _hook(self, head: str) -> Any:
        def record(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            if inputs and isinstance(inputs[0], torch.Tensor):
                self._inputs[head] = inputs[0]
        return record

    @property
    def features(self) -> list[torch.Tensor]:
        """The distinct tensors the heads read in the latest forward pass, in head order.

        Raises
        ------
        RuntimeError
            If a head has not run since the tap was made (or :meth:`clear` was called).
        """
        missing = [h for h in self.heads if h not in self._inputs]
        if missing:
            raise RuntimeError(f"FeatureTap: the head(s) {missing} have not run since the tap "
                               "was made or cleared: run the forward pass first")
        out: list[torch.Tensor] = []
        for head in self.heads:
            t = self._inputs[head]
            if not any(t is u for u in out):
                out.append(t)
        return out

    def clear(self) -> None:
        """Forget the recorded tensors (and the graph they hold on to)."""
        self._inputs.clear()

    def remove(self) -> None:
        """Remove the hooks and forget the recorded tensors."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.clear()

    def __enter__(self) -> FeatureTap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def representation_gradients(
    losses: Sequence[torch.Tensor],
    features: Sequence[torch.Tensor],
) -> list[tuple[torch.Tensor, ...]]:
    """Each task's gradient on the shared features: K backward passes through the heads only.

    The graph is kept (the weighted backward through the trunk follows), nothing is written
    to ``.grad``, and the trunk is not differentiated: autograd stops at ``features``.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        The K scalar task losses (validated by the caller).
    features : sequence of torch.Tensor
        From :func:`check_features`.

    Returns
    -------
    list of tuple of torch.Tensor
        ``grads[i][m]``: ``d losses[i] / d features[m]``, zeros where a task does not read
        a feature tensor.

    Raises
    ------
    TypeError, ValueError
        As :func:`check_features` and for losses that are not scalar tensors requiring grad;
        ``ValueError`` if a loss reaches none of the feature tensors (they are not what its
        head reads) or its graph was already freed by an earlier backward pass.
    RuntimeError
        As :func:`torch.autograd.grad`, with the fix for a compiled graph's donated buffers.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> z = 2 * w
    >>> representation_gradients([(3 * z).sum(), z.sum()], [z])
    [(tensor([3., 3.]),), (tensor([1., 1.]),)]
    """
    losses = check_scalar_losses(losses)
    features = check_features(features)
    out: list[tuple[torch.Tensor, ...]] = []
    for i, loss in enumerate(losses):
        try:
            grads = torch.autograd.grad(loss, features, retain_graph=True, allow_unused=True)
        except RuntimeError as err:
            hint = compile_hint(err)
            if hint is not None:
                raise hint from err
            with freed_graph_named(f"losses[{i}]"):  # a freed graph becomes a ValueError
                raise
        if all(g is None for g in grads):
            raise ValueError(f"losses[{i}] does not depend on the features: pass the tensor its "
                             "head reads (the trunk's output from this forward pass)")
        out.append(tuple(torch.zeros_like(f) if g is None else g
                         for f, g in zip(features, grads)))
    return out


def _check_grads(grads: Any) -> list[list[torch.Tensor]]:
    """Per task, one gradient per feature tensor, each with a batch dimension, alike per tensor."""
    tasks = as_list("grads", grads)
    if not tasks:
        raise ValueError("grads must hold one entry per task, got none")
    out: list[list[torch.Tensor]] = []
    for i, task in enumerate(tasks):
        row = as_list(f"grads[{i}]", task)
        if not row:
            raise ValueError(f"grads[{i}] is empty: it must hold one gradient per feature tensor")
        for m, g in enumerate(row):
            check_tensor(f"grads[{i}][{m}]", g)
            if g.dim() == 0:
                raise ValueError(f"grads[{i}][{m}] must have a batch dimension (first); got a "
                                 "0-d tensor")
            if not g.numel():
                raise ValueError(f"grads[{i}][{m}] has no entry (shape {tuple(g.shape)}): an "
                                 "empty batch or feature axis has no norm to measure")
        if out and [tuple(g.shape) for g in row] != [tuple(g.shape) for g in out[0]]:
            raise ValueError(f"grads[{i}] must hold gradients of the shapes of grads[0] (the "
                             "same feature tensors), got "
                             f"{[tuple(g.shape) for g in row]}")
        out.append(row)
    return out


def batch_sums(grads: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """Each task's feature gradients summed over the batch (dimension 0), laid end to end.

    Parameters
    ----------
    grads : sequence of sequence of torch.Tensor
        From :func:`representation_gradients`: per task, one gradient per feature tensor,
        each with the batch as its first dimension.

    Returns
    -------
    torch.Tensor, shape (K, D)
        Float64, on the gradients' device; ``D`` is the number of feature entries per sample.

    Raises
    ------
    TypeError
        If ``grads`` is not a list of lists of tensors.
    ValueError
        If it is empty, a gradient has no batch dimension (a 0-d tensor) or no entry, or the
        tasks' gradients differ in shape.

    Examples
    --------
    >>> import torch
    >>> batch_sums([(torch.tensor([[1.0, 2.0], [3.0, -2.0]]),),
    ...             (torch.ones(2, 2),)])
    tensor([[4., 0.],
            [2., 2.]], dtype=torch.float64)
    """
    rows = [torch.cat([g.detach().to(torch.float64).sum(dim=0).reshape(-1) for g in task])
            for task in _check_grads(grads)]
    return torch.stack(rows)


def feature_norms(
    grads: Sequence[Sequence[torch.Tensor]],
    scale: float | None = None,
    *,
    reduce: str = "batch_sum",
) -> tuple[float, ...]:
    """Each task's representation norm over its feature gradients, in one host synchronisation.

    Parameters
    ----------
    grads : sequence of sequence of torch.Tensor
        From :func:`representation_gradients`.
    scale : float or None
        A ``GradScaler``'s scale the gradients carry; the norms are divided by it.
    reduce : {"batch_sum", "frobenius"}
        ``"batch_sum"``: the norm of the gradient summed over the batch (:func:`batch_sums`);
        ``"frobenius"``: ``sqrt(sum_m ||grads[i][m]||^2)``, every sample's entries counted
        (float32 accumulation for half-precision gradients, float64 across tensors).

    Returns
    -------
    tuple of float
        One norm per task; NaN or inf where a gradient is not finite.

    Raises
    ------
    TypeError, ValueError
        If ``reduce`` is not a representation norm, ``scale`` is not a positive number, or
        ``grads`` is not as :func:`batch_sums` needs it.

    Examples
    --------
    >>> import torch
    >>> g = [(torch.tensor([[3.0, 4.0], [3.0, -4.0]]),),
    ...      (torch.tensor([[1.0, 0.0], [0.0, 0.0]]),)]

    The first task's rows sum to (6, 0): its samples disagree on the second entry.

    >>> feature_norms(g)
    (6.0, 1.0)
    >>> frobenius = feature_norms(g, reduce="frobenius")  # sqrt(50), 1
    >>> [round(v, 6) for v in frobenius]
    [7.071068, 1.0]
    """
    reduce = check_representation_norm(reduce, "reduce")
    if scale is not None:
        scale = check_real("scale", scale, positive=True)
    grads = _check_grads(grads)
    if reduce == "batch_sum":
        norms = torch.linalg.vector_norm(batch_sums(grads), dim=1).tolist()
        return tuple(v if scale is None else v / scale for v in norms)
    flat = [g.detach() for task in grads for g in task]
    values = [0.0] * len(flat)
    for group in ([k for k, g in enumerate(flat) if g.dtype in _LOW_PRECISION],
                  [k for k, g in enumerate(flat) if g.dtype not in _LOW_PRECISION]):
        if not group:
            continue
        tensors = [flat[k] for k in group]
        found = (torch._foreach_norm(tensors, 2, dtype=torch.float32)
                 if flat[group[0]].dtype in _LOW_PRECISION else torch._foreach_norm(tensors))
        for k, v in zip(group, torch.stack(found).tolist()):
            values[k] = v
    out, start = [], 0
    for task in grads:
        part = values[start:start + len(task)]
        start += len(task)
        total = math.sqrt(math.fsum(v * v for v in part)) if all(map(math.isfinite, part)) \
            else math.nan
        out.append(total if scale is None else total / scale)
    return tuple(out)


def weighted_loss(losses: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``sum_i weights[i] * losses[i]``, the weights as constants.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor(2.0, requires_grad=True)
    >>> b = torch.tensor(4.0, requires_grad=True)
    >>> weighted_loss([a, b], [0.25, 0.75])
    tensor(3.5000, grad_fn=<AddBackward0>)

    Raises
    ------
    TypeError, ValueError
        If ``losses`` is not a list of scalar tensors that require grad, or ``weights`` is not
        one finite number per loss.
    """
    losses = check_scalar_losses(losses)
    values = as_array("weights", weights, ndim=1)
    if values.size != len(losses):
        raise ValueError(f"weights must hold one weight per loss ({len(losses)}), got "
                         f"{values.size}")
    total = losses[0] * float(values[0])
    for loss, w in zip(losses[1:], values[1:]):
        total = total + loss * float(w)
    return total


def weighted_backward(
    losses: Sequence[torch.Tensor],
    weights: Sequence[float],
    *,
    scaler: Any = None,
    retain_graph: bool = False,
) -> None:
    """One ordinary ``backward()`` of ``sum_i w_i L_i``: gradient hooks (DDP's) fire as usual.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        The K scalar task losses.
    weights : sequence of float
        One weight per task.
    scaler : torch.amp.GradScaler or None
        When given, ``scaler.scale(loss).backward()``.
    retain_graph : bool
        Keep the graph after the backward pass.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> weighted_backward([(3 * w).sum(), w.sum()], [0.25, 0.75])
    >>> w.grad
    tensor([1.5000, 1.5000])

    Raises
    ------
    TypeError, ValueError
        As :func:`weighted_loss`, for a ``scaler`` that is not a ``GradScaler`` or a
        ``retain_graph`` that is not a bool, or ``ValueError`` if the losses' graph was
        already freed by an earlier backward pass.
    """
    scaler = check_scaler(scaler)
    retain_graph = check_bool("retain_graph", retain_graph)
    loss = weighted_loss(losses, weights)
    if scaler is not None:
        loss = scaler.scale(loss)
    with freed_graph_named("losses"):
        loss.backward(retain_graph=retain_graph)


def grad_norm(params: Sequence[torch.Tensor]) -> float:
    """L2 norm of every ``.grad`` of ``params`` together, in one host synchronisation.

    Parameters without a gradient count as zero; an empty ``params`` is refused (its norm of
    0 would pass any check of the gradient).

    Returns
    -------
    float
        NaN or inf when a gradient is not finite.

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> w.grad = torch.tensor([3.0, 4.0])
    >>> grad_norm([w, torch.zeros(1, requires_grad=True)])
    5.0

    Raises
    ------
    TypeError, ValueError
        If ``params`` is not a list of tensors, is empty, or holds one that does not require
        grad (a frozen parameter has no gradient to check).
    """
    tensors = as_list("params", params)
    if not tensors:
        raise ValueError("params is empty: pass the parameters whose .grad to measure")
    for i, p in enumerate(tensors):
        check_tensor(f"params[{i}]", p)
        if not p.requires_grad:
            raise ValueError(f"params[{i}] does not require grad (a frozen parameter)")
    grads = [p.grad.detach() for p in tensors if p.grad is not None]
    if not grads:
        return 0.0
    low = [g for g in grads if g.dtype in _LOW_PRECISION]
    high = [g for g in grads if g.dtype not in _LOW_PRECISION]
    parts = []
    if high:
        parts.append(torch.stack(torch._foreach_norm(high)).double())
    if low:
        parts.append(torch.stack(torch._foreach_norm(low, 2, dtype=torch.float32)).double())
    return float(torch.linalg.vector_norm(torch.cat(parts)))


@dataclass
class HeldWeights:
    """The weights of the last measurement, held until the next one.

    Attributes
    ----------
    weights : tuple of float
        The weights applied at the measurement (after EMA and floor).
    norms : tuple of float
        The norms they were computed from (the EMA state, or the measured norms).
    age : int
        Applied steps since the measurement (0 on the measuring step itself).
    """

    weights: tuple[float, ...]
    norms: tuple[float, ...]
    age: int = 0

    def due(self, measure_every: int) -> bool:
        """Whether the next step must measure: it would be ``measure_every`` steps old.

        Examples
        --------
        >>> held = HeldWeights((0.5, 0.5), (1.0, 1.0), age=2)
        >>> held.due(4), held.due(3)
        (False, True)
        """
        return self.age + 1 >= check_measure_every(measure_every)
