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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
import torch
from torch import nn

from gabalab._checks import check_int, check_real
from gabalab.norms import DEFAULT_HEADS, shared_named_parameters
from gabalab.weighting import gaba_weights

__all__ = ["GabaResult", "GabaBalancer", "gaba_backward", "floor_weights"]

# Parameters as tensors, or as (name, tensor) pairs such as model.named_parameters() yields.
_Params = Union[Iterable[torch.Tensor], Iterable[tuple[str, torch.Tensor]]]

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


def floor_weights(weights: Sequence[float] | np.ndarray, floor: float) -> np.ndarray:
    """Raise weights below ``floor`` to ``floor`` and rescale the others to keep the sum one.

    Weights under the floor are set to exactly ``floor``; the remaining ones are scaled by a
    common factor so that the total is one. Scaling down can push another weight under the
    floor, so the rule is applied until none is left below it. The order of the weights is
    kept, and with ``floor * K == 1`` every weight becomes ``1 / K``.

    Parameters
    ----------
    weights : sequence of float
        ``K >= 2`` finite, non-negative weights with a positive sum (they are normalised to
        sum to one first).
    floor : float
        Smallest weight allowed, ``0 <= floor <= 1 / K``. Zero returns the normalised input.

    Returns
    -------
    numpy.ndarray, shape (K,)
        Weights ``>= floor`` that sum to one.

    Raises
    ------
    TypeError
        If ``floor`` is not a real number.
    ValueError
        If there are fewer than two weights, a weight is negative or not finite, they sum to
        zero, or ``floor`` is negative or larger than ``1 / K``.

    Examples
    --------
    >>> floor_weights([0.01, 0.99], 0.1)
    array([0.1, 0.9])
    >>> floor_weights([0.02, 0.08, 0.9], 0.1)
    array([0.1, 0.1, 0.8])
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    k = w.size
    if k < 2:
        raise ValueError(f"weights must hold at least 2 task weights, got {k}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0, got {w.tolist()}")
    total = math.fsum(w)
    if total <= 0:
        raise ValueError("weights must have a positive sum")
    floor = check_real("floor", floor, nonnegative=True)
    if floor * k > 1 + 1e-12:
        raise ValueError(f"floor must be <= 1/K = {1 / k:.6g} so that weights can sum to one, "
                         f"got {floor}")
    w = w / total
    if floor == 0.0:
        return w
    fixed = np.zeros(k, dtype=bool)
    while True:
        free = np.flatnonzero(~fixed)
        budget = 1.0 - floor * fixed.sum()
        mass = math.fsum(w[free])
        scaled = w[free] * (budget / mass) if mass > 0 else np.full(free.size, budget / free.size)
        low = scaled < floor
        if not low.any() or low.all():
            out = np.full(k, floor)
            out[free] = scaled if not low.all() else budget / free.size
            return out
        fixed[free[low]] = True


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
        Smallest weight, ``0 <= floor <= 1 / n_tasks`` (see :func:`floor_weights`).
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
        if ema is not None:
            ema = check_real("ema", ema, nonnegative=True)
            if ema >= 1:
                raise ValueError(f"ema must be in [0, 1) (or None), got {ema}")
        self.ema = ema
        floor = check_real("floor", floor, nonnegative=True)
        if floor * self.n_tasks > 1 + 1e-12:
            raise ValueError(f"floor must satisfy floor * n_tasks <= 1 so that the weights can "
                             f"sum to one, got floor={floor} with n_tasks={self.n_tasks}")
        self.floor = floor
        if on_nonfinite not in _POLICIES:
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        self.on_nonfinite = on_nonfinite
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

    def _check_losses(self, losses: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if isinstance(losses, torch.Tensor):
            raise TypeError("losses must be a sequence of scalar tensors, one per task, "
                            "not a single tensor")
        if isinstance(losses, (str, bytes)) or not isinstance(losses, Iterable):
            raise TypeError(f"losses must be a sequence of scalar tensors, got "
                            f"{type(losses).__name__}")
        losses = list(losses)
        if len(losses) != self.n_tasks:
            raise ValueError(f"losses must hold one loss per task: expected {self.n_tasks}, "
                             f"got {len(losses)}")
        for i, loss in enumerate(losses):
            if not isinstance(loss, torch.Tensor):
                raise TypeError(f"losses[{i}] must be a torch.Tensor, got {type(loss).__name__}")
            if loss.dim() != 0:
                raise ValueError(f"losses[{i}] must be a scalar (0-d) tensor, got shape "
                                 f"{tuple(loss.shape)}; reduce it with .mean() or .sum()")
            if not loss.requires_grad:
                raise ValueError(f"losses[{i}] does not require grad: it is detached from the "
                                 "model")
        return losses

    def step(self, losses: Sequence[torch.Tensor], *, retain_graph: bool = False) -> GabaResult:
        """Write the GABA-weighted gradient of ``losses`` into ``.grad``.

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
        losses = self._check_losses(losses)
        params, names, k, n_shared = self._params, self._names, self.n_tasks, self._n_shared
        grads = [
            torch.autograd.grad(loss, params, retain_graph=retain_graph or i < k - 1,
                                allow_unused=True)
            for i, loss in enumerate(losses)
        ]
        present = [[j for j, g in enumerate(task) if g is not None] for task in grads]
        for i, idx in enumerate(present):
            if not idx or idx[0] >= n_shared:
                raise ValueError(f"losses[{i}] reaches none of the shared parameters; check "
                                 "which parameters are shared and which are heads")
        unreached = self._record_unreached(present)

        # One norm per (task, tensor), all in one foreach call and one host transfer.
        flat = [grads[i][j] for i in range(k) for j in present[i]]
        per_tensor = torch.stack(torch._foreach_norm(flat)).tolist()
        norms, reason, start = [], "", 0
        for i in range(k):
            task_norms = per_tensor[start : start + len(present[i])]
            start += len(present[i])
            norms.append(math.sqrt(math.fsum(
                n * n for j, n in zip(present[i], task_norms) if j < n_shared)))
            if not reason:
                value = float(losses[i].detach())
                if not math.isfinite(value):
                    reason = f"losses[{i}] is not finite ({value})"
                else:
                    bad = next((j for j, n in zip(present[i], task_norms)
                                if not math.isfinite(n)), None)
                    if bad is not None:
                        reason = (f"losses[{i}]: the gradient on {names[bad]} is not finite "
                                  "(NaN or inf)")
        norms_t = tuple(norms)
        if reason:
            if self.on_nonfinite == "raise":
                raise ValueError(f"{reason}; nothing was written to .grad (pass "
                                 "on_nonfinite='skip' to skip such steps)")
            self.n_steps += 1
            self.n_skipped += 1
            nan = (math.nan,) * k
            return GabaResult(norms_t, nan, nan, _ratio(norms_t), True, reason, unreached)

        raw = np.asarray(norms_t, dtype=np.float64)
        if self.ema:
            state = raw if self._ema_norms is None else (
                self.ema * self._ema_norms + (1.0 - self.ema) * raw)
            self._ema_norms = state
        else:
            state = raw
        weights = gaba_weights(state)
        if self.floor > 0:
            weights = floor_weights(weights, self.floor)
        self._write(grads, present, [float(w) for w in weights])
        self.n_steps += 1
        return GabaResult(norms_t, tuple(float(g) for g in state),
                          tuple(float(w) for w in weights), _ratio(norms_t), False, "", unreached)

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

    def _write(self, grads: list[tuple[torch.Tensor | None, ...]], present: list[list[int]],
               weights: list[float]) -> None:
        """Accumulate ``sum_i w_i * grads[i]`` into ``.grad`` with foreach kernels."""
        params = self._params
        combined: list[torch.Tensor | None] = [None] * len(params)
        with torch.no_grad():
            for i, w in enumerate(weights):
                fresh = [j for j in present[i] if combined[j] is None]
                seen = [j for j in present[i] if combined[j] is not None]
                if fresh:
                    scaled = torch._foreach_mul([grads[i][j] for j in fresh], w)
                    for j, tensor in zip(fresh, scaled):
                        combined[j] = tensor
                if seen:
                    torch._foreach_add_([combined[j] for j in seen],
                                        [grads[i][j] for j in seen], alpha=w)
            empty, filled = [], []
            for j, tensor in enumerate(combined):
                if tensor is None:
                    continue
                (empty if params[j].grad is None else filled).append(j)
            for j in empty:
                params[j].grad = combined[j]
            if filled:
                torch._foreach_add_([params[j].grad for j in filled],
                                    [combined[j] for j in filled])


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
    if isinstance(losses, torch.Tensor):
        raise TypeError("losses must be a sequence of scalar tensors, one per task, "
                        "not a single tensor")
    losses = list(losses)
    if len(losses) < 2:
        raise ValueError(f"losses must hold at least 2 task losses, got {len(losses)}")
    balancer = GabaBalancer(shared, heads, n_tasks=len(losses), floor=floor,
                            on_nonfinite=on_nonfinite)
    return balancer.step(losses, retain_graph=retain_graph)
