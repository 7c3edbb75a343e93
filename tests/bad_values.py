"""Strategies of malformed values, by the kind of argument they are thrown at.

Each strategy draws values that a caller could plausibly pass by mistake (``None``, a string
where a number is expected, a generator where a list is, a float where an integer is,
non-finite numbers, ragged nestings, wrong shapes) and that every public function must refuse
with a :class:`TypeError` or :class:`ValueError` naming the argument.

Besides those generic ones, a strategy per kind of mistake that looks right at first sight:
:func:`empty` collections and arrays with a :func:`zero_axes` axis, a NaN or inf at any place
of a valid array (:func:`nonfinite`), :func:`classes` where instances are expected,
:func:`reserved_names` where a variable name is, and values :func:`built` afresh for each
draw, for what pairs wrongly with the other arguments (a balancer built for another model, a
state dict where a model's parameters are expected) or cannot be reused
(:func:`freed_losses`, whose graph an earlier backward pass freed).
"""

from __future__ import annotations

import builtins
import keyword
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st

_OPAQUE = object()


def _fresh_generator() -> Any:
    return (v for v in [1.0, 2.0])


def _fresh_iterator() -> Any:
    return iter([1.0, 2.0])


#: Values no argument of a number, a list, an array or a path accepts.
COMMON: list[Any] = [None, _OPAQUE, b"12", {"a": 1}]


def _with(base: list[Any], extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    return st.sampled_from(base + list(extra))


def ints(
    minimum: int | None = None, maximum: int | None = None, extra: Sequence[Any] = ()
) -> st.SearchStrategy[Any]:
    """Not an integer in ``[minimum, maximum]``."""
    strategy = _with(COMMON + ["3", 2.5, 3.0, True, False, [3], float("nan"), 1 + 2j,
                               np.float64(2.0), torch.tensor(3)], extra)
    if minimum is not None:
        strategy = strategy | st.integers(min_value=minimum - 10**6, max_value=minimum - 1)
    if maximum is not None:
        strategy = strategy | st.integers(min_value=maximum + 1, max_value=maximum + 10**9)
    return strategy


def reals(
    *,
    positive: bool = False,
    nonnegative: bool = False,
    below: float | None = None,
    above: float | None = None,
    at_least: float | None = None,
    extra: Sequence[Any] = (),
) -> st.SearchStrategy[Any]:
    """Not a finite real number in range: values under ``below``, over ``above``, or from
    ``at_least`` up are out of it."""
    strategy = _with(COMMON + ["1.0", [1.0], float("nan"), float("inf"), float("-inf"),
                               1 + 2j, True], extra)
    if positive:
        strategy = strategy | st.floats(max_value=0.0, allow_nan=False, allow_infinity=False)
    elif nonnegative:
        strategy = strategy | st.floats(max_value=-1e-9, allow_nan=False,
                                        allow_infinity=False)
    if below is not None:
        strategy = strategy | st.floats(max_value=below, allow_nan=False, allow_infinity=False,
                                        exclude_max=True)
    if above is not None:
        strategy = strategy | st.floats(min_value=above, allow_nan=False, allow_infinity=False,
                                        exclude_min=True)
    if at_least is not None:
        strategy = strategy | st.floats(min_value=at_least, allow_nan=False,
                                        allow_infinity=False)
    return strategy


def arrays(extra: Sequence[Any] = (), *, finite: bool = True) -> st.SearchStrategy[Any]:
    """Not an array of real numbers (and, with ``finite``, not finite)."""
    base: list[Any] = COMMON + ["1,2", "ab", {1.0, 2.0}, [[1.0, 2.0], [3.0]], ["a", "b"],
                                [1 + 2j, 2.0], [True, False], [_OPAQUE]]
    strategy = _with(base, extra) | st.builds(_fresh_generator) | st.builds(_fresh_iterator)
    if finite:
        strategy = strategy | st.lists(
            st.floats(), min_size=1, max_size=6
        ).filter(lambda v: not np.all(np.isfinite(v))).map(np.asarray)
    return strategy


def lists(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a list or tuple of items."""
    return _with(COMMON + ["ab", 3, 2.5], extra)


def bools(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not ``True`` or ``False``: truthy and falsy look-alikes."""
    return _with([None, "no", "yes", "", "False", 0, 1, 1.0, [True], np.int64(1)], extra)


def choices(valid: Sequence[str], *, ignore_case: bool = False,
            extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not one of ``valid``."""
    known = {v.lower() for v in valid} if ignore_case else set(valid)

    def unknown(text: str) -> bool:
        return (text.lower() if ignore_case else text) not in known

    return _with([None, 3, b"x", "", [valid[0]]], extra) | st.text(
        min_size=1, max_size=8).filter(unknown)


def paths(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a path."""
    return _with([None, 3, 2.5, [], b"/tmp", "", "   ", _OPAQUE], extra)


def modules(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a ``torch.nn.Module``."""
    return _with([None, "model", 3, (lambda x: x), torch.ones(2), _OPAQUE], extra)


def callables(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not callable."""
    return _with([3, "f", [1], _OPAQUE], extra)


def mappings(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a mapping."""
    return _with([None, [], "ab", 3, [("a", 1)], _OPAQUE], extra)


def strings(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a string."""
    return _with([None, 3, b"x", ["a"], _OPAQUE], extra)


def tensor_lists(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a list of trainable tensors."""
    frozen = torch.zeros(2)
    return _with([None, "ab", 3, torch.ones(2, requires_grad=True), [1.0], ["w"], [],
                  [frozen], [None]], extra)


def loss_lists(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Not a list of scalar losses that require grad."""
    return _with([None, "ab", 3, torch.tensor(1.0, requires_grad=True), [1.0, 2.0],
                  [torch.ones(2, requires_grad=True)], [torch.tensor(1.0)], []], extra)


def just(*values: Any) -> st.SearchStrategy[Any]:
    """Exactly these values (the silent cases, each named)."""
    return st.sampled_from(list(values))


def _empty_generator() -> Any:
    return (v for v in ())


def empty(extra: Sequence[Any] = ()) -> st.SearchStrategy[Any]:
    """Empty collections: a list, a tuple, an empty NumPy array, and an iterator and a
    generator that yield nothing; ``extra`` adds the argument's own empty forms (a list of
    empty tensors, a mapping of empty lists)."""
    return _with([[], (), np.zeros(0)], extra) | st.builds(lambda: iter(())) | st.builds(
        _empty_generator)


def zero_axes(
    shape: Sequence[int],
    axes: Sequence[int] | None = None,
    *,
    tensor: bool = False,
    dtype: Any = None,
) -> st.SearchStrategy[Any]:
    """Arrays (``tensor``: tensors of ``dtype``) of ``shape`` with one of ``axes`` (default
    each axis in turn) of length 0: right in every other way, such as a ``(0, 26)`` table, a
    window of no time step, a batch without a feature."""
    which = range(len(shape)) if axes is None else axes
    shapes = [tuple(0 if i == axis else n for i, n in enumerate(shape)) for axis in which]

    def make(size: tuple[int, ...]) -> Any:
        if tensor:
            return torch.zeros(size, dtype=torch.float32 if dtype is None else dtype)
        return np.zeros(size, dtype=np.float64 if dtype is None else dtype)

    return st.sampled_from(shapes).map(make)


#: The non-finite floats :func:`nonfinite` places.
NONFINITE: tuple[float, ...] = (math.nan, math.inf, -math.inf)


def nonfinite(value: Any) -> st.SearchStrategy[Any]:
    """``value`` (a NumPy array or a tensor, valid as it is) with one entry replaced by NaN,
    inf or -inf: the first, the last or any other, so that a check of only part of the
    array (a column, the first row) shows."""
    size = value.numel() if isinstance(value, torch.Tensor) else int(np.size(value))
    if size == 0:
        raise ValueError("nonfinite needs a value with at least one entry")

    def place(where: tuple[int, float]) -> Any:
        index, entry = where
        if isinstance(value, torch.Tensor):
            out = value.detach().clone()
        else:
            out = np.array(value, dtype=np.float64, copy=True)
        out.reshape(-1)[index] = entry
        return out

    positions = st.sampled_from([0, size - 1]) | st.integers(min_value=0, max_value=size - 1)
    return st.tuples(positions, st.sampled_from(NONFINITE)).map(place)


def classes(*types: type) -> st.SearchStrategy[Any]:
    """The class itself where an instance of it is expected (``torch.amp.GradScaler`` for a
    scaler, ``altair.Chart`` for a chart) or a function is (an ``nn.Module`` class for a loss
    function): a class is callable and has every method of its instances, unbound."""
    return st.sampled_from(list(types))


def built(*factories: Callable[[], Any]) -> st.SearchStrategy[Any]:
    """The value each factory makes, made afresh for each draw: mismatched pairs (a balancer
    built for another model, a state dict where a model's parameters are expected, the
    features of another forward pass) and whatever a call may use up."""
    return st.sampled_from(list(factories)).map(lambda make: make())


def freed_losses(make_losses: Callable[[], Sequence[Any]]) -> st.SearchStrategy[Any]:
    """Losses from ``make_losses`` whose autograd graph a ``backward()`` already freed, as
    after an ordinary training step: they look valid (scalars that require grad) until
    differentiated."""
    def make() -> list[Any]:
        losses = list(make_losses())
        sum(losses).backward()
        return losses

    return built(make)


#: IPython's own variables in every kernel (besides its ``_``-prefixed output history).
_IPYTHON_NAMES = ("In", "Out", "get_ipython", "exit", "quit")


def reserved_names(extra: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """Python identifiers that cannot become a variable of their own: every keyword
    (``class``, ``lambda``, ``None``), the names of builtins (``print``, ``len``) and of
    IPython's variables (``In``, ``_``, ``_1``), which binding would shadow."""
    names = [*keyword.kwlist, "print", "len", "list", "sum", "_", "__", "_1", "_i",
             *_IPYTHON_NAMES, *extra]
    assert all(n.isidentifier() and (keyword.iskeyword(n) or hasattr(builtins, n)
                                     or n.startswith("_") or n in _IPYTHON_NAMES)
               for n in names)
    return st.sampled_from(names)


def listed_values(strategy: st.SearchStrategy[Any]) -> list[Any]:
    """Every value a strategy of this module draws from an explicit list (the ``extra`` and
    common values), through unions and filters; generated ranges (``st.integers``,
    ``st.floats``) are left to hypothesis' draws.

    It looks inside hypothesis' strategy objects (pinned in requirements.txt), so that the
    test command can try each listed value once besides the random draws.
    """
    from hypothesis.strategies._internal.strategies import (
        FilteredStrategy,
        MappedStrategy,
        OneOfStrategy,
        SampledFromStrategy,
        filter_not_satisfied,
    )

    def walk(s: Any, conditions: tuple[Any, ...]) -> list[Any]:
        while hasattr(s, "wrapped_strategy") and not isinstance(
            s, (OneOfStrategy, SampledFromStrategy, FilteredStrategy, MappedStrategy)
        ):
            s = s.wrapped_strategy
        if isinstance(s, OneOfStrategy):
            return [v for sub in s.original_strategies for v in walk(sub, conditions)]
        if isinstance(s, FilteredStrategy):
            return walk(s.filtered_strategy, conditions + tuple(s.flat_conditions))
        if isinstance(s, SampledFromStrategy):
            out = []
            for i in range(len(s.elements)):
                value = s._transform(s.elements[i], data=None)
                if value is not filter_not_satisfied and all(c(value) for c in conditions):
                    out.append(value)
            return out
        return []

    return walk(strategy, ())
