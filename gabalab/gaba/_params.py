"""The parameter lists of a balancer, and which parameters each task's gradient reaches.

:func:`named_lists` validates the shared and head lists once, when the balancer is built
(:func:`split_model` finds them in a model);
:func:`check_reach` looks at every micro-batch's gradients, refuses a task that reaches
no shared parameter, and records (with a warning, once per balancer) the parameters a
task does not reach; :func:`checksum` is the number ranks compare to find replicas that
drifted apart.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from gabalab import distributed
from gabalab.gaba._settings import Settings
from gabalab.gaba._state import BalancerState
from gabalab.gaba_stages import TaskGrads
from gabalab.norms import shared_named_parameters

#: Parameters as tensors, or as (name, tensor) pairs such as model.named_parameters() yields.
ParamList = Iterable[torch.Tensor] | Iterable[tuple[str, torch.Tensor]]


def named(argument: str, params: Any, *, allow_empty: bool) -> list[tuple[str, torch.Tensor]]:
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


def named_lists(shared: Any, heads: Any) -> tuple[list[tuple[str, torch.Tensor]],
                                                  list[tuple[str, torch.Tensor]]]:
    """The shared and head lists as ``(name, tensor)`` pairs, checked alone and together."""
    shared_named = named("shared", shared, allow_empty=False)
    if sum(t.numel() for _, t in shared_named) == 0:
        raise ValueError("shared holds no entry: its tensors are all empty, so there is no "
                         "norm to balance")
    head_named = named("heads", heads, allow_empty=True)
    shared_ids = {id(t): n for n, t in shared_named}
    for name, tensor in head_named:
        if id(tensor) in shared_ids:
            raise ValueError(f"heads and shared overlap: {name} is also listed in shared as "
                             f"{shared_ids[id(tensor)]}")
    return shared_named, head_named


def split_model(model: Any, heads: Sequence[str], options: dict[str, Any]) -> tuple[
        list[tuple[str, torch.Tensor]], list[tuple[str, torch.Tensor]], Any]:
    """A model's shared and head parameters, and the process group of its DDP wrapper.

    Raises
    ------
    ValueError
        If the model is wrapped in ``DistributedDataParallel(static_graph=True)`` and the
        ``options`` ask for held or representation steps.
    """
    inner, group = distributed.unwrap_model(model)
    if distributed.uses_static_graph(model) and (
            options.get("sensor", "exact") != "exact" or options.get("measure_every", 1) != 1):
        raise ValueError(
            "DistributedDataParallel(static_graph=True) cannot be combined with held or "
            "representation steps: its first all-reduce fires at the end of the first "
            "autograd pass through the outputs, the balancer's own gradient call, and its "
            "later reductions then leave .grad unaveraged. Wrap the model without "
            "static_graph, or use sensor='exact' with measure_every=1")
    shared: list[tuple[str, torch.Tensor]] = list(shared_named_parameters(inner, heads))
    ids = {id(t) for _, t in shared}
    head_params: list[tuple[str, torch.Tensor]] = [
        (n, t) for n, t in inner.named_parameters() if t.requires_grad and id(t) not in ids]
    return shared, head_params, group


def checksum(params: Sequence[torch.Tensor]) -> float:
    """Sum of squares of every parameter (float64 of the float norms): equal replicas agree."""
    with torch.no_grad():
        norms = torch.stack(torch._foreach_norm([p.detach() for p in params])).double()
        return float((norms * norms).sum())


def check_reach(grads: Sequence[TaskGrads], settings: Settings,
                state: BalancerState) -> tuple[tuple[int, str], ...]:
    """Raise if a task reaches no shared parameter; record the parameters it misses.

    The warning about missed parameters is attributed to the line that calls this function.
    """
    n_shared = settings.n_shared
    present = [[j for j, g in enumerate(task) if g is not None] for task in grads]
    for i, idx in enumerate(present):
        if not idx or idx[0] >= n_shared:
            raise ValueError(f"losses[{i}] reaches none of the shared parameters; check "
                             "which parameters are shared and which are heads")
    n_heads = len(settings.params) - n_shared
    if n_heads and not any(j >= n_shared for idx in present for j in idx):
        raise ValueError(f"heads: no loss reaches any of its {n_heads} parameters (are they "
                         "parameters of another model?); nothing was written to .grad")
    return _record_unreached(present, settings.names, n_shared, state)


def _record_unreached(present: list[list[int]], names: Sequence[str], n_shared: int,
                      state: BalancerState) -> tuple[tuple[int, str], ...]:
    """Find (task, name) pairs a task does not reach; warn the first time any appear."""
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
        state.unreached.update(found)
        if not state.warned:
            state.warned = True
            listed = ", ".join(f"losses[{i}] -> {n}" for i, n in found[:8])
            more = f" and {len(found) - 8} more" if len(found) > 8 else ""
            warnings.warn(
                f"GabaBalancer: some tasks do not reach some parameters ({listed}{more}); "
                "they count as zero in that task's norm. This warning is shown once; see "
                "GabaBalancer.unreached.",
                UserWarning,
                stacklevel=3,  # the caller of check_reach
            )
    return tuple(found)
