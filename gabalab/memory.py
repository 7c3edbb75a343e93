"""Deterministic memory accounting for PyTorch calls on the CPU.

Python's :mod:`tracemalloc` does not see tensor memory, and the resident set size of the
process moves with the allocator and the operating system. The functions here count what
PyTorch itself allocates, in bytes, so the same call reports the same numbers run after run:

* :func:`measure_allocations` replays the allocation and free events that the PyTorch
  profiler records for the CPU allocator (``profile_memory=True``) during one call, and
  reports the peak of the running balance, the balance at the end, and the totals.
* :func:`count_saved_tensors` counts the tensors that autograd stores for a later backward
  pass while a call runs (through :func:`torch.autograd.graph.saved_tensors_hooks`).
* :func:`count_graph_nodes` counts the autograd nodes that hang from some tensors, i.e. the
  graph that stays alive as long as they do.
* :func:`tensor_bytes` is the expected size of a list of tensors, ``sum(numel * itemsize)``,
  to compare the measurements with.
* :func:`measure_grad_call` runs one ``torch.autograd.grad`` call under all of the above and
  returns a :class:`GradCall` record; :func:`grad_call_table` sets records side by side, and
  :func:`doubling_verdict` weighs a measured memory ratio against a claim that it doubles.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch.profiler import ProfilerActivity, profile

from gabalab._checks import (
    as_list,
    check_bool,
    check_grad_params,
    check_graph_loss,
    check_real,
    freed_graph_named,
)

__all__ = [
    "AllocationReport",
    "SavedTensorReport",
    "measure_allocations",
    "count_saved_tensors",
    "count_graph_nodes",
    "tensor_bytes",
    "GradCall",
    "measure_grad_call",
    "grad_call_table",
    "doubling_verdict",
]

T = TypeVar("T")

_MEMORY_EVENT = "[memory]"


@dataclass(frozen=True)
class AllocationReport:
    """Bytes that PyTorch's CPU allocator handed out and took back during one call.

    Every field counts requested tensor bytes (``numel * itemsize`` of each new storage)
    allocated during the call. Memory allocated before the call is invisible, also when the
    call frees it: the allocator reports a free to the profiler only for blocks it handed
    out while the profiler was running. The balance therefore never goes below zero.

    Attributes
    ----------
    peak_bytes : int
        Highest value of (bytes allocated so far - bytes freed so far) during the call,
        never below 0: the extra memory the call needed at its worst moment.
    retained_bytes : int
        The balance when the call returned: memory allocated during the call and still
        held, e.g. by the returned value or by an autograd graph it built.
    allocated_bytes : int
        Sum of all allocations during the call.
    freed_bytes : int
        Sum of the frees, during the call, of memory allocated during the call.
    n_allocations : int
        Number of allocations.
    """

    peak_bytes: int
    retained_bytes: int
    allocated_bytes: int
    freed_bytes: int
    n_allocations: int


@dataclass(frozen=True)
class SavedTensorReport:
    """Tensors that autograd saved for a later backward pass during one call.

    Attributes
    ----------
    n_tensors : int
        Number of save events (a tensor saved by two operations counts twice).
    storage_bytes : int
        Total size of the distinct storages behind the saved tensors. It includes storages
        that existed before the call (parameters, forward activations), so it bounds from
        above the new memory that the saves keep alive.
    """

    n_tensors: int
    storage_bytes: int


@contextlib.contextmanager
def _native_stderr_silenced(enabled: bool) -> Iterator[None]:
    """Point file descriptor 2 at the null device inside the block.

    The profiler's native library writes status lines (with a timestamp and a process id)
    straight to the process's standard error when it starts and stops; they would end up in
    notebook outputs. Python exceptions are unaffected.
    """
    if not enabled:
        yield
        return
    with contextlib.suppress(AttributeError, ValueError):
        sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _check_callable(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")


def measure_allocations(
    fn: Callable[..., T], *args: Any, quiet: bool = True, **kwargs: Any
) -> tuple[T, AllocationReport]:
    """Call ``fn(*args, **kwargs)`` and account for the CPU tensor memory it allocates.

    The call runs under :class:`torch.profiler.profile` with ``profile_memory=True``. The
    profiler records one event per allocation (positive size) and per free (negative size)
    of PyTorch's CPU allocator, in order; this function replays them and reports the peak
    and final balance (see :class:`AllocationReport`). The sizes are the requested tensor
    bytes, so for a given call and input they do not depend on timing. Only PyTorch CPU
    tensors allocated during the call are seen: not NumPy arrays, not Python objects, not
    the freeing of tensors that existed before. Operations that split work across threads
    may allocate a few bytes per thread, so tiny differences between thread counts are
    possible in ``peak_bytes`` of such operations.

    Parameters
    ----------
    fn : callable
        The call to measure. Its return value is kept alive until after the accounting, so
        memory it holds shows up in ``retained_bytes``.
    *args, **kwargs
        Passed to ``fn``.
    quiet : bool
        Silence the profiler's native status lines on standard error during the call
        (default True).

    Returns
    -------
    result : object
        What ``fn`` returned.
    report : AllocationReport

    Raises
    ------
    TypeError
        If ``fn`` is not callable.
    RuntimeError
        If another profiler is already running.

    Examples
    --------
    >>> import torch
    >>> a = torch.ones(1000)
    >>> b, report = measure_allocations(torch.cat, [a, a])
    >>> report.peak_bytes, report.retained_bytes, report.n_allocations
    (8000, 8000, 1)
    """
    _check_callable(fn)
    quiet = check_bool("quiet", quiet)
    with (
        _native_stderr_silenced(quiet),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
            result = fn(*args, **kwargs)
    events = prof.profiler.kineto_results.events()
    sizes = [int(e.nbytes()) for e in events if e.name() == _MEMORY_EVENT]
    balance = peak = allocated = freed = n_alloc = 0
    for size in sizes:
        balance += size
        peak = max(peak, balance)
        if size > 0:
            allocated += size
            n_alloc += 1
        else:
            freed -= size
    report = AllocationReport(
        peak_bytes=peak,
        retained_bytes=balance,
        allocated_bytes=allocated,
        freed_bytes=freed,
        n_allocations=n_alloc,
    )
    return result, report


def count_saved_tensors(
    fn: Callable[..., T], *args: Any, **kwargs: Any
) -> tuple[T, SavedTensorReport]:
    """Call ``fn(*args, **kwargs)`` and count the tensors autograd saves for backward.

    Every operation that autograd records keeps some of its inputs or outputs for its own
    backward formula; :func:`torch.autograd.graph.saved_tensors_hooks` sees each of them.
    A call that records nothing (no grad mode, or a gradient computed with
    ``create_graph=False``) saves nothing.

    Parameters
    ----------
    fn : callable
        The call to watch.
    *args, **kwargs
        Passed to ``fn``.

    Returns
    -------
    result : object
        What ``fn`` returned.
    report : SavedTensorReport

    Raises
    ------
    TypeError
        If ``fn`` is not callable.

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(3, requires_grad=True)
    >>> _, report = count_saved_tensors(lambda: (w * w).sum())
    >>> report.n_tensors, report.storage_bytes
    (2, 12)
    """
    _check_callable(fn)
    storages: dict[int, int] = {}
    count = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = int(storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = fn(*args, **kwargs)
    return result, SavedTensorReport(n_tensors=count, storage_bytes=sum(storages.values()))


def count_graph_nodes(tensors: Iterable[torch.Tensor]) -> int:
    """Number of distinct autograd nodes reachable from the ``grad_fn`` of ``tensors``.

    Tensors without a ``grad_fn`` (leaves, or results computed without recording) add
    nothing, so the count is 0 for gradients returned with ``create_graph=False``.

    Parameters
    ----------
    tensors : iterable of torch.Tensor

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If an entry is not a tensor.

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(3, requires_grad=True)
    >>> y = (2 * w).sum()  # SumBackward0, MulBackward0, AccumulateGrad
    >>> count_graph_nodes([y])
    3
    """
    stack = []
    for i, tensor in enumerate(as_list("tensors", tensors)):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensors[{i}] must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.grad_fn is not None:
            stack.append(tensor.grad_fn)
    seen: set[Any] = set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(child for child, _ in node.next_functions if child is not None)
    return len(seen)


def tensor_bytes(tensors: Iterable[torch.Tensor | None]) -> int:
    """Bytes needed to hold ``tensors`` as separate dense buffers: ``sum(numel * itemsize)``.

    ``None`` entries (e.g. gradients of unused parameters) count as 0.

    Parameters
    ----------
    tensors : iterable of torch.Tensor or None

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If an entry is neither a tensor nor ``None``.

    Examples
    --------
    >>> import torch
    >>> tensor_bytes([torch.zeros(3, 4), None,
    ...               torch.zeros(2, dtype=torch.float64)])
    64
    """
    total = 0
    for i, tensor in enumerate(as_list("tensors", tensors)):
        if tensor is None:
            continue
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"tensors[{i}] must be a torch.Tensor or None, got {type(tensor).__name__}"
            )
        total += tensor.numel() * tensor.element_size()
    return total


@dataclass(frozen=True)
class GradCall:
    """What one ``torch.autograd.grad`` call cost, as :func:`measure_grad_call` measures it.

    Attributes
    ----------
    peak_bytes : int
        The call's peak of CPU tensor memory (:attr:`AllocationReport.peak_bytes`).
    retained_bytes : int
        Memory allocated during the call and still held when it returned: the gradients,
        and with ``create_graph=True`` the graph that hangs from them.
    saved_tensors : int
        Tensors autograd saved for a later backward pass during the call
        (:attr:`SavedTensorReport.n_tensors`); 0 with ``create_graph=False``.
    graph_nodes : int
        Autograd nodes reachable from the returned gradients (:func:`count_graph_nodes`).
    grad_bytes : int
        Size of the returned gradients alone (:func:`tensor_bytes`).
    """

    peak_bytes: int
    retained_bytes: int
    saved_tensors: int
    graph_nodes: int
    grad_bytes: int


def measure_grad_call(
    loss: torch.Tensor, params: Sequence[torch.Tensor], *, create_graph: bool = False
) -> tuple[tuple[torch.Tensor, ...], GradCall]:
    """``torch.autograd.grad(loss, params, retain_graph=True)``, measured.

    The call runs inside :func:`count_saved_tensors` and :func:`measure_allocations`; the
    graph of the forward pass is kept (``retain_graph=True``) so that other calls can
    follow on it, and no parameter's ``.grad`` is touched.

    Parameters
    ----------
    loss : torch.Tensor
        A scalar loss that reaches every tensor in ``params``.
    params : sequence of torch.Tensor
        The tensors to differentiate with respect to (e.g. the shared parameters).
    create_graph : bool
        Record the gradient computation so that it can be differentiated again.

    Returns
    -------
    grads : tuple of torch.Tensor
        The gradients, one per tensor of ``params``.
    call : GradCall

    Raises
    ------
    TypeError
        If ``loss`` is not a tensor, ``params`` is not a list of tensors or
        ``create_graph`` is not a bool.
    ValueError
        If ``loss`` is not a scalar, is detached or its graph was freed, ``params`` is
        empty or holds a tensor that does not require grad or that ``loss`` does not reach.

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(1000, requires_grad=True)
    >>> grads, call = measure_grad_call((w * w).sum(), [w])
    >>> call.retained_bytes, call.grad_bytes, call.graph_nodes
    (4000, 4000, 0)
    >>> call.saved_tensors
    0
    """
    loss = check_graph_loss(loss)
    params = check_grad_params(params)
    create_graph = check_bool("create_graph", create_graph)
    try:
        with freed_graph_named("loss"):
            (grads, alloc), saved = count_saved_tensors(
                measure_allocations, torch.autograd.grad, loss, params,
                retain_graph=True, create_graph=create_graph)
    except RuntimeError as err:
        if "does not require grad" in str(err) or "not have been used" in str(err):
            raise ValueError(f"params: loss does not reach every tensor ({err})") from None
        raise
    call = GradCall(
        peak_bytes=alloc.peak_bytes,
        retained_bytes=alloc.retained_bytes,
        saved_tensors=saved.n_tensors,
        graph_nodes=count_graph_nodes(grads),
        grad_bytes=tensor_bytes(grads),
    )
    return grads, call


#: The rows of :func:`grad_call_table`: a label and the :class:`GradCall` field it shows.
_TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("held after call", "retained_bytes"),
    ("peak during call", "peak_bytes"),
    ("graph nodes kept", "graph_nodes"),
    ("tensors saved", "saved_tensors"),
)


def grad_call_table(calls: Mapping[str, GradCall]) -> str:
    """Several :class:`GradCall` records side by side, one column each, as text.

    Parameters
    ----------
    calls : mapping of str to GradCall
        Column headings (at most 20 characters each) and the records.

    Returns
    -------
    str
        A header line and one line per measure, numbers with thousands separators.

    Raises
    ------
    TypeError
        If ``calls`` is not a mapping of strings to :class:`GradCall` records.
    ValueError
        If ``calls`` is empty or a heading is longer than 20 characters.

    Examples
    --------
    >>> a = GradCall(8000, 4000, 0, 0, 4000)
    >>> print(grad_call_table({"off": a}))
                                          off
    held after call                     4,000
    peak during call                    8,000
    graph nodes kept                        0
    tensors saved                           0
    """
    if not isinstance(calls, Mapping):
        raise TypeError(f"calls must be a mapping of headings to GradCall records, got "
                        f"{type(calls).__name__}")
    if not calls:
        raise ValueError("calls is empty: give at least one record")
    for heading, call in calls.items():
        if not isinstance(heading, str):
            raise TypeError(f"calls: headings must be strings, got {heading!r}")
        if len(heading) > 20:
            raise ValueError(f"calls: heading {heading!r} is longer than 20 characters")
        if not isinstance(call, GradCall):
            raise TypeError(f"calls[{heading!r}] must be a GradCall, got {type(call).__name__}")
    lines = [f"{'':<20}" + "".join(f" {h:>20}" for h in calls)]
    for label, field in _TABLE_ROWS:
        lines.append(f"{label:<20}"
                     + "".join(f" {getattr(c, field):>20,}" for c in calls.values()))
    return "\n".join(lines)


def doubling_verdict(ratio: float) -> str:
    """Weigh a measured memory ratio against the claim that it "roughly doubles" the memory.

    Parameters
    ----------
    ratio : float
        The measured ratio (e.g. memory held with ``create_graph=True`` over without).

    Returns
    -------
    str
        ``"holds"`` for a ratio from 1.5 to 2.5 (about double); ``"holds in part"`` above
        2.5 (the memory grows, by more than the claim says); ``"contradicted"`` below 1.5.

    Raises
    ------
    TypeError, ValueError
        If ``ratio`` is not a finite positive number.

    Examples
    --------
    >>> doubling_verdict(2.1), doubling_verdict(9.5), doubling_verdict(1.1)
    ('holds', 'holds in part', 'contradicted')
    """
    ratio = check_real("ratio", ratio, positive=True)
    if ratio > 2.5:
        return "holds in part"
    return "holds" if ratio >= 1.5 else "contradicted"
