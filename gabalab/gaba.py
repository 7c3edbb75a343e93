"""GABA in a training loop: per-task gradients, closed-form weights, one combined ``.grad``.

A GABA step replaces ``loss.backward()`` in a multi-task training loop. The caller runs one
forward pass and computes the K scalar task losses; the step then

1. takes one gradient per task with :func:`torch.autograd.grad` on every trainable parameter
   involved (shared trunk and task heads), keeping the graph between tasks;
2. measures each task's L2 gradient norm on the *shared* parameters only;
3. turns the norms into the closed-form weights of :func:`gabalab.weighting.gaba_weights`,
   optionally after smoothing the norms with an exponential moving average (EMA) and
   flooring the weights;
4. adds ``sum_i w_i * grad_i`` to each parameter's ``.grad``, built from the per-task
   gradients it already holds, so there is no third backward pass.

The caller then calls ``optimizer.step()`` as usual; the step never does. Each head receives
its own task's gradient times that task's weight: exactly what ``(sum_i w_i L_i).backward()``
would give with the weights held constant, at the cost of one forward plus K gradient calls.

``.grad`` semantics
    The weighted gradient is *accumulated* into ``.grad``, as ``backward()`` does: a
    parameter whose ``.grad`` is ``None`` receives the weighted gradient, one that already
    has a gradient gets it added. Call ``optimizer.zero_grad()`` before the step, as before
    a backward pass (or leave gradients in place on purpose to accumulate micro-batches).

Failure policy
    Non-finite losses or gradients raise :class:`ValueError` by default
    (``on_nonfinite="raise"``). With ``on_nonfinite="skip"`` the step returns a result
    flagged ``skipped`` with the reason, and leaves ``.grad`` and the EMA state exactly as
    they were; the caller should then not call ``optimizer.step()``. When every norm is
    zero the weights are uniform. Parameters a task does not reach (a "shared" parameter
    one task never touches, or a head parameter no task touches) count as zero in that
    task's norm; they are reported by name in a warning, once per balancer, and are listed
    on every result and in :attr:`GabaBalancer.unreached`.

Use :class:`GabaBalancer` in a loop (it keeps the EMA state and validates the parameter
lists once); :func:`gaba_backward` is the one-call form without state.

The stages of a step are plain functions of this module, each testable alone:
:func:`task_gradients` (step 1), :func:`tensor_norms`, :func:`shared_norms` and
:func:`nonfinite_reason` (step 2), :func:`gabalab.weighting.stabilised_weights` (step 3) and
:func:`write_weighted_grad` (step 4).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from gabalab._checks import check_choice, check_int, check_scalar_losses
from gabalab.norms import DEFAULT_HEADS, shared_named_parameters
from gabalab.weighting import check_ema, check_floor, stabilised_weights

__all__ = [
    "GabaResult",
    "GabaBalancer",
    "gaba_backward",
    "task_gradients",
    "tensor_norms",
    "shared_norms",
    "nonfinite_reason",
    "write_weighted_grad",
]

# Parameters as tensors, or as (name, tensor) pairs such as model.named_parameters() yields.
_Params = Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]]

_POLICIES = ("raise", "skip")


@dataclass(frozen=True)
class GabaResult:
    """What one GABA step measured and applied, for logging.

    Attributes
    ----------
    norms : tuple of float
        Each task's L2 gradient norm on the shared parameters, measured on this step (NaN or
        inf where that gradient is not finite).
    smoothed_norms : tuple of float
        The norms the weights were computed from: ``norms`` itself without EMA, else the EMA
        state after this step's update. NaN on a skipped step.
    weights : tuple of float
        The weights applied (after the floor, if any); they sum to one. NaN on a skipped
        step.
    ratio : float
        ``max(norms) / min(norms)``: ``inf`` when the smallest norm is zero and the largest
        is not, NaN when every norm is zero or a norm is not finite.
    skipped : bool
        True when the step wrote nothing (non-finite values with ``on_nonfinite="skip"``).
    reason : str
        Why the step was skipped; empty otherwise.
    unreached : tuple of (int, str)
        ``(task, name)`` pairs found on this step: ``losses[task]`` does not reach the
        parameter ``name``. A head parameter appears only when no task reaches it.
    """

    norms: tuple[float, ...]
    smoothed_norms: tuple[float, ...]
    weights: tuple[float, ...]
    ratio: float
    skipped: bool = False
    reason: str = ""
    unreached: tuple[tuple[int, str], ...] = ()

    def as_dict(self, prefix: str = "gaba/") -> dict[str, float]:
        """Flat ``{name: number}`` view for a metrics logger.

        Parameters
        ----------
        prefix : str
            Prepended to every key.

        Returns
        -------
        dict of str to float
            ``norm_i``, ``smoothed_norm_i`` and ``weight_i`` for each task ``i``, plus
            ``ratio`` and ``skipped`` (0.0 or 1.0).

        Examples
        --------
        >>> r = GabaResult((3.0, 1.0), (3.0, 1.0), (0.25, 0.75), 3.0)
        >>> r.as_dict()["gaba/weight_1"]
        0.75
        """
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        out: dict[str, float] = {}
        for i, (g, s, w) in enumerate(zip(self.norms, self.smoothed_norms, self.weights)):
            out[f"{prefix}norm_{i}"] = g
            out[f"{prefix}smoothed_norm_{i}"] = s
            out[f"{prefix}weight_{i}"] = w
        out[f"{prefix}ratio"] = self.ratio
        out[f"{prefix}skipped"] = float(self.skipped)
        return out


def _named(argument: str, params: Any, *, allow_empty: bool) -> list[tuple[str, torch.Tensor]]:
    """Validate a parameter list and return ``(name, tensor)`` pairs."""
    if isinstance(params, torch.Tensor):
        raise TypeError(f"{argument} must be a list of tensors or (name, tensor) pairs, "
                        "not a single tensor")
    if isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise TypeError(f"{argument} must be a list of tensors or (name, tensor) pairs, "
                        f"got {type(params).__name__}")
    out: list[tuple[str, torch.Tensor]] = []
    for i, item in enumerate(params):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, tensor = item
        else:
            name, tensor = f"{argument}[{i}]", item
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{argument}[{i}] must be a torch.Tensor, got {type(tensor).__name__}")
        if not tensor.requires_grad:
            raise ValueError(f"{argument}[{i}] ({name}) does not require grad (frozen parameter)")
        if not tensor.is_leaf:
            raise ValueError(f"{argument}[{i}] ({name}) is not a leaf tensor: pass parameters")
        if tensor.layout != torch.strided:
            raise TypeError(f"{argument}[{i}] ({name}) is not a dense tensor")
        out.append((name, tensor))
    if not out and not allow_empty:
        raise ValueError(f"{argument} is empty: select at least one shared parameter")
    seen: dict[int, str] = {}
    for name, tensor in out:
        if id(tensor) in seen:
            raise ValueError(f"{argument} lists the same tensor twice ({seen[id(tensor)]} and "
                             f"{name})")
        seen[id(tensor)] = name
    return out


def _ratio(norms: Sequence[float]) -> float:
    if not all(math.isfinite(g) for g in norms):
        return math.nan
    hi, lo = max(norms), min(norms)
    if hi == 0.0:
        return math.nan
    return math.inf if lo == 0.0 else hi / lo


# ---------------------------------------------------------------------------------------------
# The stages of one step. Each is a plain function so that it can be tested, and shown, alone;
# GabaBalancer.step chains them.
# ---------------------------------------------------------------------------------------------

#: One task's gradients, one entry per parameter (``None`` where the task does not reach it).
TaskGrads = tuple[torch.Tensor | None, ...]


def task_gradients(
    losses: Sequence[torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    retain_graph: bool = False,
) -> list[TaskGrads]:
    """Stage 1: each task's gradient on every parameter, one :func:`torch.autograd.grad` call each.

    The graph of the forward pass is kept between the calls and, unless ``retain_graph``,
    freed after the last one; ``create_graph`` is off and no ``.grad`` is touched.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        Scalar task losses from one forward pass (validated by the caller).
    params : sequence of torch.Tensor
        Every parameter to differentiate: the shared ones first, then the heads.
    retain_graph : bool
        Keep the graph after the last call as well.

    Returns
    -------
    list of tuple
        ``grads[i][j]``: task ``i``'s gradient on ``params[j]``, ``None`` where unreached.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> task_gradients([(3 * w).sum(), w.sum()], [w])
    [(tensor([3., 3.]),), (tensor([1., 1.]),)]
    """
    k = len(losses)
    return [
        torch.autograd.grad(loss, params, retain_graph=retain_graph or i < k - 1,
                            allow_unused=True)
        for i, loss in enumerate(losses)
    ]


def tensor_norms(grads: Sequence[TaskGrads]) -> list[list[float | None]]:
    """Stage 2a: the L2 norm of every gradient tensor of every task.

    All norms are taken in one ``torch._foreach_norm`` call and copied to the host once; a
    step costs no more than one extra kernel launch per tensor and one synchronisation.

    Parameters
    ----------
    grads : sequence of tuple
        From :func:`task_gradients`.

    Returns
    -------
    list of list
        ``norms[i][j] = ||grads[i][j]||_2`` as a float (NaN or inf where the gradient is not
        finite), ``None`` where ``grads[i][j]`` is ``None``.

    Examples
    --------
    >>> import torch
    >>> tensor_norms([(torch.tensor([3.0, 4.0]), None), (torch.tensor([0.0, 1.0]), None)])
    [[5.0, None], [1.0, None]]
    """
    flat = [g for task in grads for g in task if g is not None]
    values = torch.stack(torch._foreach_norm(flat)).tolist() if flat else []
    out: list[list[float | None]] = []
    it = iter(values)
    for task in grads:
        out.append([None if g is None else float(next(it)) for g in task])
    return out


def shared_norms(norms: Sequence[Sequence[float | None]], n_shared: int) -> tuple[float, ...]:
    """Stage 2b: each task's norm on the shared parameters, from the per-tensor norms.

    ``||g_i|| = sqrt(sum_j ||g_ij||^2)`` over the first ``n_shared`` tensors (the shared
    ones), summed with :func:`math.fsum`; an unreached tensor counts as zero.

    Parameters
    ----------
    norms : sequence of sequence of float or None
        From :func:`tensor_norms`.
    n_shared : int
        How many of the leading parameters are shared.

    Returns
    -------
    tuple of float
        One norm per task.

    Examples
    --------
    >>> shared_norms([[3.0, 4.0, 12.0], [1.0, None, 0.0]], n_shared=2)
    (5.0, 1.0)
    """
    return tuple(
        math.sqrt(math.fsum(n * n for n in task[:n_shared] if n is not None)) for task in norms
    )


def nonfinite_reason(
    losses: Sequence[torch.Tensor],
    norms: Sequence[Sequence[float | None]],
    names: Sequence[str],
) -> str:
    """Stage 2c: why a step must not be applied, or ``""`` when every value is finite.

    Looks at the losses first, then at each task's per-tensor gradient norms (a NaN or inf
    entry makes its tensor's norm NaN or inf), and names the first offender.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        The task losses.
    norms : sequence of sequence of float or None
        From :func:`tensor_norms`.
    names : sequence of str
        Parameter names, in the order of ``norms[i]``.

    Returns
    -------
    str

    Examples
    --------
    >>> import torch
    >>> nonfinite_reason([torch.tensor(1.0), torch.tensor(2.0)], [[1.0], [float("nan")]], ["w"])
    'losses[1]: the gradient on w is not finite (NaN or inf)'
    """
    for i, loss in enumerate(losses):
        value = float(loss.detach())
        if not math.isfinite(value):
            return f"losses[{i}] is not finite ({value})"
        for j, n in enumerate(norms[i]):
            if n is not None and not math.isfinite(n):
                return f"losses[{i}]: the gradient on {names[j]} is not finite (NaN or inf)"
    return ""


def write_weighted_grad(
    params: Sequence[torch.Tensor],
    grads: Sequence[TaskGrads],
    weights: Sequence[float],
) -> None:
    """Stage 4: accumulate ``sum_i weights[i] * grads[i]`` into each parameter's ``.grad``.

    A parameter whose ``.grad`` is ``None`` receives the combination; one that has a
    gradient gets it added, as ``backward()`` would. Parameters no task reaches are left
    alone. Uses foreach kernels, without building a third autograd graph.

    Parameters
    ----------
    params : sequence of torch.Tensor
        The parameters, in the order of ``grads[i]``.
    grads : sequence of tuple
        From :func:`task_gradients`.
    weights : sequence of float
        One weight per task.

    Examples
    --------
    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> write_weighted_grad([w], [(torch.tensor([3.0, 3.0]),), (torch.tensor([1.0, 1.0]),)],
    ...                     [0.25, 0.75])
    >>> w.grad
    tensor([1.5000, 1.5000])
    """
    combined: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for task, w in zip(grads, weights):
            present = {j: g for j, g in enumerate(task) if g is not None}
            fresh = [j for j in present if j not in combined]
            seen = [j for j in present if j in combined]
            if fresh:
                scaled = torch._foreach_mul([present[j] for j in fresh], w)
                combined.update(zip(fresh, scaled))
            if seen:
                torch._foreach_add_([combined[j] for j in seen], [present[j] for j in seen],
                                    alpha=w)
        filled: list[tuple[torch.Tensor, torch.Tensor]] = []
        for j, tensor in combined.items():
            grad = params[j].grad
            if grad is None:
                params[j].grad = tensor
            else:
                filled.append((grad, tensor))
        if filled:
            torch._foreach_add_([g for g, _ in filled], [t for _, t in filled])


class GabaBalancer:
    """GABA loss balancing as a replacement for ``loss.backward()``.

    Build it once with the shared and head parameters, then call :meth:`step` with the K
    task losses of each batch instead of ``backward()``; it writes the GABA-weighted gradient
    into ``.grad`` and returns a :class:`GabaResult` for logging. It never calls
    ``optimizer.step()``.

    Parameters
    ----------
    shared : iterable of torch.Tensor or of (str, torch.Tensor)
        The shared (trunk) parameters, on which the per-task norms are measured. Names, when
        given as pairs (e.g. from :func:`gabalab.norms.shared_named_parameters`), are used in
        messages.
    heads : iterable of torch.Tensor or of (str, torch.Tensor)
        The task-head parameters: they receive their task's weighted gradient but do not
        enter the norms. May be empty.
    n_tasks : int
        Number of tasks K, ``>= 2``; :meth:`step` expects exactly K losses.
    ema : float or None
        Smoothing factor ``beta`` in ``[0, 1)`` of an exponential moving average of the
        norms, ``m <- beta * m + (1 - beta) * g``, started at the first finite norms.
        ``None`` (default) or 0 uses each step's norms as they are.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / n_tasks``
        (see :func:`gabalab.weighting.floor_weights`).
        Default 0: no floor.
    on_nonfinite : {"raise", "skip"}
        What to do when a loss or gradient holds NaN or inf: raise :class:`ValueError`
        (default), or skip the step, leaving ``.grad`` and the EMA state untouched.

    Attributes
    ----------
    n_tasks : int
    ema : float or None
    floor : float
    on_nonfinite : str
    n_steps : int
        Calls of :meth:`step` that returned, skipped ones included.
    n_skipped : int
        Steps skipped because of non-finite values.

    Raises
    ------
    TypeError
        If a parameter list is not a list of tensors, or an option has the wrong type.
    ValueError
        If ``shared`` is empty, a tensor is listed twice or in both lists, a tensor is
        frozen or not a leaf, ``n_tasks < 2``, ``ema`` is outside ``[0, 1)``, ``floor`` is
        negative or larger than ``1 / n_tasks``, or ``on_nonfinite`` is unknown.

    See Also
    --------
    gaba_backward : the same step as one call, without EMA state.
    gabalab.weighting.gaba_weights : the closed-form weights.

    Examples
    --------
    >>> import torch
    >>> from gabalab.models import TinyDualHead
    >>> model = TinyDualHead(seed=0)
    >>> balancer = GabaBalancer.from_model(model)
    >>> rul, logits = model(torch.ones(8, 14))
    >>> losses = [((rul - 100.0) ** 2).mean(),
    ...           torch.nn.functional.cross_entropy(logits, torch.zeros(8, dtype=torch.long))]
    >>> result = balancer.step(losses)
    >>> round(sum(result.weights), 12), result.norms[0] > result.norms[1]
    (1.0, True)
    >>> model.rul_head.weight.grad is not None
    True
    """

    def __init__(
        self,
        shared: _Params,
        heads: _Params = (),
        *,
        n_tasks: int = 2,
        ema: float | None = None,
        floor: float = 0.0,
        on_nonfinite: Literal["raise", "skip"] = "raise",
    ) -> None:
        shared_named = _named("shared", shared, allow_empty=False)
        head_named = _named("heads", heads, allow_empty=True)
        shared_ids = {id(t): n for n, t in shared_named}
        for name, tensor in head_named:
            if id(tensor) in shared_ids:
                raise ValueError(f"heads and shared overlap: {name} is also listed in shared as "
                                 f"{shared_ids[id(tensor)]}")
        self.n_tasks = check_int("n_tasks", n_tasks, minimum=2)
        self.ema = check_ema(ema)
        self.floor = check_floor(floor, self.n_tasks)
        self.on_nonfinite = check_choice("on_nonfinite", on_nonfinite, _POLICIES)
        named = shared_named + head_named
        self._names = [n for n, _ in named]
        self._params = [t for _, t in named]
        self._n_shared = len(shared_named)
        self._ema_norms: np.ndarray | None = None
        self._unreached: set[tuple[int, str]] = set()
        self._warned = False
        self.n_steps = 0
        self.n_skipped = 0

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        heads: Sequence[str] = DEFAULT_HEADS,
        *,
        n_tasks: int | None = None,
        **options: Any,
    ) -> GabaBalancer:
        """Build a balancer from a model whose heads are named modules.

        Shared parameters are selected with :func:`gabalab.norms.shared_named_parameters`;
        every other trainable parameter of the model is a head parameter.

        Parameters
        ----------
        model : torch.nn.Module
            The multi-task model.
        heads : sequence of str
            Name fragments of the head modules (default ``("rul_head", "health_head")``).
        n_tasks : int or None
            Number of tasks; ``None`` (default) takes ``len(heads)``.
        **options
            ``ema``, ``floor``, ``on_nonfinite`` as in :class:`GabaBalancer`.

        Returns
        -------
        GabaBalancer

        Raises
        ------
        TypeError, ValueError
            As :func:`gabalab.norms.shared_named_parameters` and :class:`GabaBalancer`.
        """
        shared = shared_named_parameters(model, heads)
        ids = {id(t) for _, t in shared}
        head_params = [(n, t) for n, t in model.named_parameters()
                       if t.requires_grad and id(t) not in ids]
        return cls(shared, head_params, n_tasks=len(heads) if n_tasks is None else n_tasks,
                   **options)

    @property
    def shared_names(self) -> tuple[str, ...]:
        """Names of the shared parameters, in order."""
        return tuple(self._names[: self._n_shared])

    @property
    def head_names(self) -> tuple[str, ...]:
        """Names of the head parameters, in order."""
        return tuple(self._names[self._n_shared :])

    @property
    def smoothed_norms(self) -> tuple[float, ...] | None:
        """Current EMA of the norms (``None`` before the first step or without EMA)."""
        if self._ema_norms is None:
            return None
        return tuple(float(g) for g in self._ema_norms)

    @property
    def unreached(self) -> tuple[tuple[int, str], ...]:
        """Every ``(task, name)`` pair seen so far where a task does not reach a parameter."""
        return tuple(sorted(self._unreached))

    def reset(self) -> None:
        """Forget the EMA state (the next step starts the average afresh)."""
        self._ema_norms = None

    def state_dict(self) -> dict[str, Any]:
        """The mutable state, for checkpoints: EMA norms and step counters.

        Returns
        -------
        dict
            ``{"ema_norms": list of float or None, "n_steps": int, "n_skipped": int}``.
        """
        ema = None if self._ema_norms is None else [float(g) for g in self._ema_norms]
        return {"ema_norms": ema, "n_steps": self.n_steps, "n_skipped": self.n_skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            From :meth:`state_dict`.

        Raises
        ------
        ValueError
            If the EMA norms do not hold one finite, non-negative value per task.
        """
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict, got {type(state).__name__}")
        ema = state.get("ema_norms")
        if ema is not None:
            values = np.asarray(ema, dtype=np.float64)
            if values.shape != (self.n_tasks,) or not np.all(np.isfinite(values)) or np.any(
                values < 0
            ):
                raise ValueError(f"state['ema_norms'] must hold {self.n_tasks} finite norms "
                                 f">= 0, got {ema}")
            ema = values
        self._ema_norms = ema
        self.n_steps = check_int("state['n_steps']", state.get("n_steps", 0), minimum=0)
        self.n_skipped = check_int("state['n_skipped']", state.get("n_skipped", 0), minimum=0)

    def step(self, losses: Sequence[torch.Tensor], *, retain_graph: bool = False) -> GabaResult:
        """Write the GABA-weighted gradient of ``losses`` into ``.grad``.

        The step chains the stages of this module: :func:`task_gradients`, then
        :func:`tensor_norms`, :func:`shared_norms` and :func:`nonfinite_reason`, then
        :func:`gabalab.weighting.stabilised_weights` (EMA, closed form, floor), then
        :func:`write_weighted_grad`.

        Parameters
        ----------
        losses : sequence of torch.Tensor
            The K scalar task losses, from one forward pass.
        retain_graph : bool
            Keep the autograd graph after the last gradient call (default False: it is
            freed, as after ``backward()``).

        Returns
        -------
        GabaResult
            Norms, weights and flags of this step.

        Raises
        ------
        TypeError
            If ``losses`` is not a sequence of tensors.
        ValueError
            If the number of losses is not ``n_tasks``, a loss is not a scalar or does not
            require grad, a loss reaches none of the shared parameters, or (with
            ``on_nonfinite="raise"``) a loss or gradient is not finite.
        """
        losses = check_scalar_losses(losses, count=self.n_tasks)
        grads = task_gradients(losses, self._params, retain_graph=retain_graph)
        unreached = self._check_reach(grads)
        per_tensor = tensor_norms(grads)
        norms = shared_norms(per_tensor, self._n_shared)
        reason = nonfinite_reason(losses, per_tensor, self._names)
        if reason:
            if self.on_nonfinite == "raise":
                raise ValueError(f"{reason}; nothing was written to .grad (pass "
                                 "on_nonfinite='skip' to skip such steps)")
            self.n_steps += 1
            self.n_skipped += 1
            nan = (math.nan,) * self.n_tasks
            return GabaResult(norms, nan, nan, _ratio(norms), True, reason, unreached)
        update = stabilised_weights(norms, self._ema_norms, ema=self.ema, floor=self.floor)
        if self.ema:
            self._ema_norms = update.norms
        weights = tuple(float(w) for w in update.weights)
        write_weighted_grad(self._params, grads, weights)
        self.n_steps += 1
        return GabaResult(norms, tuple(float(g) for g in update.norms), weights, _ratio(norms),
                          False, "", unreached)

    def _check_reach(self, grads: Sequence[TaskGrads]) -> tuple[tuple[int, str], ...]:
        """Raise if a task reaches no shared parameter; record the parameters it misses."""
        present = [[j for j, g in enumerate(task) if g is not None] for task in grads]
        for i, idx in enumerate(present):
            if not idx or idx[0] >= self._n_shared:
                raise ValueError(f"losses[{i}] reaches none of the shared parameters; check "
                                 "which parameters are shared and which are heads")
        return self._record_unreached(present)

    def _record_unreached(self, present: list[list[int]]) -> tuple[tuple[int, str], ...]:
        """Find (task, name) pairs a task does not reach; warn the first time any appear."""
        n_shared, names = self._n_shared, self._names
        found: list[tuple[int, str]] = []
        reached_heads: set[int] = set()
        for i, idx in enumerate(present):
            if len(idx) < n_shared or idx[n_shared - 1] != n_shared - 1:
                have = set(idx)
                found += [(i, names[j]) for j in range(n_shared) if j not in have]
            reached_heads.update(j for j in idx if j >= n_shared)
        dead = [j for j in range(n_shared, len(names)) if j not in reached_heads]
        found += [(i, names[j]) for j in dead for i in range(len(present))]
        if found:
            self._unreached.update(found)
            if not self._warned:
                self._warned = True
                listed = ", ".join(f"losses[{i}] -> {n}" for i, n in found[:8])
                more = f" and {len(found) - 8} more" if len(found) > 8 else ""
                warnings.warn(
                    f"GabaBalancer: some tasks do not reach some parameters ({listed}{more}); "
                    "they count as zero in that task's norm. This warning is shown once; see "
                    "GabaBalancer.unreached.",
                    UserWarning,
                    stacklevel=3,
                )
        return tuple(found)


def gaba_backward(
    losses: Sequence[torch.Tensor],
    shared: _Params,
    heads: _Params = (),
    *,
    floor: float = 0.0,
    on_nonfinite: Literal["raise", "skip"] = "raise",
    retain_graph: bool = False,
) -> GabaResult:
    """One GABA step without state: ``backward()`` of the GABA-weighted loss, done cheaply.

    Equivalent to ``GabaBalancer(shared, heads, n_tasks=len(losses), ...).step(losses)``. In
    a training loop prefer :class:`GabaBalancer`, which checks the parameter lists once,
    keeps the EMA state and warns about unreached parameters only once.

    Parameters
    ----------
    losses : sequence of torch.Tensor
        K >= 2 scalar task losses from one forward pass.
    shared, heads : iterable of torch.Tensor or of (str, torch.Tensor)
        Shared and head parameters, as in :class:`GabaBalancer`.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / K``.
    on_nonfinite : {"raise", "skip"}
        Failure policy, as in :class:`GabaBalancer`.
    retain_graph : bool
        Keep the graph after the step.

    Returns
    -------
    GabaResult

    Raises
    ------
    TypeError, ValueError
        As :class:`GabaBalancer` and :meth:`GabaBalancer.step`; also when fewer than two
        losses are given.

    Examples
    --------
    >>> import torch
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> result = gaba_backward([(3 * w).sum(), w.sum()], [w])
    >>> [round(x, 4) for x in result.weights]
    [0.25, 0.75]
    >>> w.grad
    tensor([1.5000, 1.5000])
    """
    losses = check_scalar_losses(losses, minimum=2)
    balancer = GabaBalancer(shared, heads, n_tasks=len(losses), floor=floor,
                            on_nonfinite=on_nonfinite)
    return balancer.step(losses, retain_graph=retain_graph)
