"""Argument checks shared by the public functions of :mod:`gabalab`.

Every check raises :class:`ValueError` or :class:`TypeError` whose message starts with the
argument's name, so a caller sees at once which argument is wrong and why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import torch


def check_int(name: str, value: Any, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking its type and lower bound."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    nonnegative: bool = False,
) -> float:
    """Return ``value`` as a finite ``float``; optionally require it to be > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


#: Floating dtypes a model and its data can be computed in.
FLOAT_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def check_float_dtype(name: str, value: Any) -> torch.dtype:
    """Return ``value`` as a torch dtype if it is float32 or float64 (a dtype or its name)."""
    if isinstance(value, str):
        if value not in FLOAT_DTYPES:
            raise ValueError(f"{name} must be one of {list(FLOAT_DTYPES)}, got {value!r}")
        return FLOAT_DTYPES[value]
    if not isinstance(value, torch.dtype):
        raise TypeError(f"{name} must be torch.float32 or torch.float64, got "
                        f"{type(value).__name__}")
    if value not in FLOAT_DTYPES.values():
        raise ValueError(f"{name} must be torch.float32 or torch.float64, got {value}")
    return value


def check_finite_array(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` if ``array`` holds NaN or infinite entries."""
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")


def check_choice(
    name: str, value: Any, choices: Sequence[str], *, ignore_case: bool = False
) -> str:
    """Return ``value`` if it is one of ``choices`` (compared lower-cased with ``ignore_case``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {list(choices)}, got {type(value).__name__}")
    key = value.lower() if ignore_case else value
    if key not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return key


def check_scalar_losses(
    losses: Any, *, count: int | None = None, minimum: int = 1, name: str = "losses"
) -> list[torch.Tensor]:
    """Return ``losses`` as a list of scalar tensors that require grad.

    ``count`` asks for exactly that many losses, ``minimum`` for at least that many.
    """
    if isinstance(losses, torch.Tensor):
        raise TypeError(f"{name} must be a sequence of scalar tensors, one per task, not a "
                        "single tensor")
    if isinstance(losses, (str, bytes)) or not isinstance(losses, Iterable):
        raise TypeError(f"{name} must be a sequence of scalar tensors, got "
                        f"{type(losses).__name__}")
    out = list(losses)
    if count is not None and len(out) != count:
        raise ValueError(f"{name} must hold one loss per task: expected {count}, got {len(out)}")
    if len(out) < minimum:
        wanted = "one task loss" if minimum == 1 else f"{minimum} task losses"
        raise ValueError(f"{name} must hold at least {wanted}, got {len(out)}")
    for i, loss in enumerate(out):
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"{name}[{i}] must be a torch.Tensor, got {type(loss).__name__}")
        if loss.dim() != 0:
            raise ValueError(f"{name}[{i}] must be a scalar (0-d) tensor, got shape "
                             f"{tuple(loss.shape)}; reduce it with .mean() or .sum()")
        if not loss.requires_grad:
            raise ValueError(f"{name}[{i}] does not require grad: it is detached from the model")
    return out


def _kind_of(value: Any) -> str:
    """How a rejected value is described in a message: its type, or ``None``."""
    if value is None:
        return "None"
    if isinstance(value, Iterator):
        return f"a {type(value).__name__} (an iterator)"
    return type(value).__name__


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a ``bool``; only ``True``, ``False`` and NumPy booleans pass.

    A truthy string such as ``"no"`` would otherwise switch an option on without a word.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {_kind_of(value)}")


def check_path(name: str, value: Any) -> Path:
    """Return ``value`` as a :class:`pathlib.Path`; it must be a ``str`` or ``os.PathLike``."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip():
            return Path(text)
        if isinstance(text, str):
            raise ValueError(f"{name} must be a non-empty path, got {value!r}")
    raise TypeError(f"{name} must be a path (str or os.PathLike), got {_kind_of(value)}")


def as_list(name: str, values: Any) -> list[Any]:
    """Return the items of a list, tuple or other iterable as a new list.

    ``None``, strings, bytes, mappings and non-iterables are refused with a message naming
    ``name``; a generator is accepted and consumed once, here.
    """
    if values is None or isinstance(values, (str, bytes, Mapping)) or not isinstance(
        values, Iterable
    ):
        raise TypeError(f"{name} must be a list or tuple, got {_kind_of(values)}")
    if isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a list or tuple, not a single tensor")
    return list(values)


_KIND_NAMES = {"real": "real numbers", "int": "integers"}


def as_array(
    name: str,
    values: Any,
    *,
    kind: str = "real",
    ndim: int | tuple[int, ...] | None = None,
    nonempty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Return an array-like (list, tuple, NumPy array, tensor, number) as a checked array.

    Parameters
    ----------
    name : str
        The argument's name, which starts every message.
    values : array-like or torch.Tensor
        What the caller passed.
    kind : {"real", "int"}
        ``"real"`` returns float64 and accepts integer or floating input; ``"int"`` returns
        int64 and accepts integer input only (class labels, counts).
    ndim : int, tuple of int or None
        Required number of dimensions (one of them, for a tuple).
    nonempty : bool
        Require at least one entry.
    finite : bool
        Reject NaN and infinite entries (``kind="real"`` only).

    Raises
    ------
    TypeError
        For ``None``, a string, bytes, a mapping, a set, an iterator or generator, a
        ragged nesting, or entries that are not real numbers (strings, objects, complex,
        booleans) or not integers (``kind="int"``).
    ValueError
        For the wrong number of dimensions, an empty array with ``nonempty``, or
        non-finite entries.
    """
    if values is None or isinstance(values, (str, bytes, Mapping, Set, Iterator)):
        raise TypeError(f"{name} must be an array of {_KIND_NAMES[kind]}, got {_kind_of(values)}")
    if isinstance(values, torch.Tensor):
        if values.is_complex():
            raise TypeError(f"{name} must hold {_KIND_NAMES[kind]}, got dtype {values.dtype}")
        values = values.detach().cpu()
        if values.dtype == torch.bfloat16:
            values = values.float()
        values = values.numpy()
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a rectangular array of {_KIND_NAMES[kind]} (rows of equal length)"
        ) from None
    if array.dtype.kind == "O" and array.ndim > 0 and any(
        isinstance(v, (list, tuple, np.ndarray)) for v in array.reshape(-1)[:1]
    ):
        raise TypeError(
            f"{name} must be a rectangular array of {_KIND_NAMES[kind]} (rows of equal length)"
        )
    allowed = "iu" if kind == "int" else "iuf"
    if array.dtype.kind not in allowed:
        what = "booleans" if array.dtype.kind == "b" else f"dtype {array.dtype}"
        raise TypeError(f"{name} must hold {_KIND_NAMES[kind]}, got {what}")
    if ndim is not None:
        wanted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in wanted:
            dims = " or ".join(f"{d}-D" for d in wanted)
            raise ValueError(f"{name} must be {dims}, got shape {array.shape}")
    if nonempty and array.size == 0:
        raise ValueError(f"{name} is empty: it must hold at least one value")
    if kind == "int":
        return array.astype(np.int64, copy=False)
    array = array.astype(np.float64, copy=False)
    if finite:
        check_finite_array(name, array)
    return array


def as_real_array(name: str, values: Any) -> np.ndarray:
    """Return ``values`` (array-like or tensor) as a finite float64 array; errors name ``name``."""
    return as_array(name, values, kind="real")


def check_labels(name: str, labels: Any, n_classes: int, *, ndim: int | None = 1) -> np.ndarray:
    """Return integer class labels as int64, each in ``[0, n_classes)``."""
    array = as_array(name, labels, kind="int", ndim=ndim)
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes - 1}] ({n_classes} classes), got "
                         f"values from {array.min()} to {array.max()}")
    return array


def check_tensor(
    name: str,
    value: Any,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: torch.dtype | None = None,
    floating: bool = False,
) -> torch.Tensor:
    """Return ``value`` if it is a tensor of the required rank and dtype; messages name ``name``.

    ``dtype`` asks for that exact dtype (a model's parameter dtype), ``floating`` for any
    floating dtype.
    """
    if not isinstance(value, torch.Tensor):
        hint = " (convert it with torch.as_tensor)" if isinstance(value, np.ndarray) else ""
        raise TypeError(f"{name} must be a torch.Tensor, got {_kind_of(value)}{hint}")
    if ndim is not None:
        wanted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in wanted:
            dims = " or ".join(f"{d}-D" for d in wanted)
            raise ValueError(f"{name} must be {dims}, got shape {tuple(value.shape)}")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (the model's), got {value.dtype}")
    if floating and not value.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {value.dtype}")
    return value


def check_same_shape(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor
) -> None:
    """Raise if two tensors that a loss compares element by element differ in shape.

    PyTorch's losses broadcast ``(B,)`` against ``(B, 1)`` into a ``(B, B)`` comparison and
    only warn; the result is a wrong loss.
    """
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{name_b} has shape {tuple(b.shape)} but {name_a} has shape "
                         f"{tuple(a.shape)}: they must match (a loss would broadcast them)")


def check_task_targets(
    rul_pred: torch.Tensor,
    logits: torch.Tensor,
    y_rul: Any,
    y_health: Any,
    where: str = "",
) -> None:
    """Check a batch's targets against the dual-task outputs before a loss sees them.

    ``y_rul`` must be a tensor of the predictions' shape (``F.mse_loss`` would broadcast a
    ``(B, 1)`` target against ``(B,)`` predictions into a ``(B, B)`` comparison), and
    ``y_health`` a 1-D integer tensor of ``B`` labels in range of the logits' classes
    (``F.cross_entropy`` reads float targets as probabilities and fails deep inside on a
    label out of range). ``where`` prefixes every message (e.g. ``"batch 3: "``).
    """
    check_tensor(f"{where}y_rul", y_rul)
    check_tensor(f"{where}y_health", y_health)
    check_same_shape(f"{where}the RUL prediction", rul_pred, f"{where}y_rul", y_rul)
    if y_health.dtype.is_floating_point or y_health.dtype.is_complex or (
        y_health.dtype == torch.bool
    ) or y_health.dim() != 1:
        raise TypeError(f"{where}y_health must be a 1-D tensor of integer class labels, got "
                        f"dtype {y_health.dtype} and shape {tuple(y_health.shape)}")
    if logits.dim() != 2 or y_health.shape[0] != logits.shape[0]:
        raise ValueError(f"{where}y_health has {y_health.shape[0]} labels for logits of shape "
                         f"{tuple(logits.shape)}")
    n_classes = logits.shape[1]
    if y_health.numel() and (int(y_health.min()) < 0 or int(y_health.max()) >= n_classes):
        raise ValueError(f"{where}y_health must lie in [0, {n_classes - 1}] (the model's "
                         f"{n_classes} classes), got {int(y_health.min())} to "
                         f"{int(y_health.max())}")


def check_model_params(name: str, params: Any, model: torch.nn.Module) -> list[torch.Tensor]:
    """Return ``params`` as a list of distinct trainable parameters of ``model``.

    A tensor that is not one of the model's parameters would silently count as zero in a
    gradient norm (its gradient is never reached), so it is refused, as are frozen and
    repeated tensors and an empty list.
    """
    if isinstance(params, torch.Tensor):
        raise TypeError(f"{name} must be a sequence of tensors, not a single tensor")
    out = as_list(name, params)
    if not out:
        raise ValueError(f"{name} is empty: list at least one shared parameter")
    owned = {id(p) for p in model.parameters()}
    for i, prm in enumerate(out):
        check_tensor(f"{name}[{i}]", prm)
        if not prm.requires_grad:
            raise ValueError(f"{name}[{i}] does not require grad (frozen parameter)")
        if id(prm) not in owned:
            raise ValueError(f"{name}[{i}] is not a parameter of model: its gradient would "
                             "count as zero in both norms")
    if len({id(p) for p in out}) != len(out):
        raise ValueError(f"{name} lists the same tensor more than once")
    return out


def check_not_class(name: str, value: Any, wanted: str) -> None:
    """Refuse a class where an instance (or a function) is expected.

    A class is callable and has every method of its instances (unbound), so duck-typed checks
    let it through, and it fails later inside the library with a message about ``self``.

    Parameters
    ----------
    name : str
        The argument's name, which starts the message.
    value : object
        What the caller passed.
    wanted : str
        What the argument must be, e.g. ``"a torch.amp.GradScaler instance"``.

    Raises
    ------
    TypeError
        If ``value`` is a class.

    Examples
    --------
    >>> check_not_class("scaler", 3, "a GradScaler")
    >>> check_not_class(  # doctest: +ELLIPSIS
    ...     "scaler", int, "a GradScaler")
    Traceback (most recent call last):
    ...
    TypeError: scaler must be a GradScaler, not the class int itself ...
    """
    if isinstance(value, type):
        raise TypeError(f"{name} must be {wanted}, not the class {value.__name__} itself "
                        "(create one first)")


#: What autograd says when a graph's saved tensors were freed by an earlier backward pass.
_FREED_GRAPH = "backward through the graph a second time"


@contextmanager
def freed_graph_named(name: str) -> Iterator[None]:
    """Turn autograd's "backward through the graph a second time" into a ``ValueError``.

    Inside the block, a ``RuntimeError`` raised because the losses' graph was already freed
    (by a ``backward()`` or ``torch.autograd.grad`` call without ``retain_graph=True``)
    becomes a ``ValueError`` whose message starts with ``name`` and says what to do; every
    other exception passes through unchanged.

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(2, requires_grad=True)
    >>> loss = (w * w).sum()
    >>> loss.backward()
    >>> with freed_graph_named("losses[0]"):  # doctest: +ELLIPSIS
    ...     loss.backward()
    Traceback (most recent call last):
    ...
    ValueError: losses[0]: its graph was already freed by an earlier ...
    """
    try:
        yield
    except RuntimeError as err:
        if _FREED_GRAPH not in str(err):
            raise
        raise ValueError(f"{name}: its graph was already freed by an earlier backward() or "
                         "autograd.grad call: compute the losses again with a new forward "
                         "pass (or keep the graph with retain_graph=True in that earlier "
                         "call)") from None


def with_context(err: TypeError | ValueError, prefix: str) -> TypeError | ValueError:
    """A copy of ``err`` (a ``TypeError`` stays one, anything else becomes a ``ValueError``)
    whose message starts with ``prefix``, to name the caller's argument a check deep inside
    did not know, e.g. ``"dataset: "`` before a model's complaint about its input ``x``.

    Examples
    --------
    >>> with_context(ValueError("x must be 3-D"), "batch 2: ")
    ValueError('batch 2: x must be 3-D')
    """
    kind = TypeError if isinstance(err, TypeError) else ValueError
    return kind(f"{prefix}{err}")


def check_grad_params(params: Any, *,
                      empty: str = "list at least one tensor") -> list[torch.Tensor]:
    """Distinct tensors that require grad, as a list (``empty`` completes the error of none)."""
    if isinstance(params, torch.Tensor):
        raise TypeError("params must be a sequence of tensors, not a single tensor")
    params = as_list("params", params)
    if not params:
        raise ValueError(f"params is empty: {empty}")
    for i, prm in enumerate(params):
        if not isinstance(prm, torch.Tensor):
            raise TypeError(f"params[{i}] must be a torch.Tensor, got {type(prm).__name__}")
        if not prm.requires_grad:
            raise ValueError(f"params[{i}] does not require grad (frozen parameter)")
    if len({id(prm) for prm in params}) != len(params):
        raise ValueError("params lists the same tensor more than once")
    return params


def check_graph_loss(loss: Any) -> torch.Tensor:
    """Return ``loss`` after checking it is a scalar tensor attached to a graph."""
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"loss must be a scalar torch.Tensor, got {type(loss).__name__}")
    if loss.dim() != 0:
        raise ValueError(f"loss must be a scalar (0-d) tensor, got shape {tuple(loss.shape)}")
    if not loss.requires_grad:
        raise ValueError("loss does not require grad: it is detached from the model")
    return loss
