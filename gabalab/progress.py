"""Progress bars of the package's long loops, on standard error.

Bars show the count of batches done, and the elapsed time and rate unless timing is switched
off with :func:`show_timing`: the book's notebooks switch it off (through
:func:`gabalab.notebook.setup`), so that a bar printed into a stored notebook is the same on
every run and only the numbers the loop computes (a running ratio, say) appear in it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

from gabalab._checks import check_bool, check_int

__all__ = ["show_timing", "timing_shown", "progress_bar"]

T = TypeVar("T")

_state = {"timing": True}

#: Bar layout without elapsed time or rate: description, percentage, bar, count, postfix.
_PLAIN_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt}{postfix}"


def show_timing(enabled: bool) -> None:
    """Show (True, the default) or hide elapsed time and rate in the package's progress bars.

    Parameters
    ----------
    enabled : bool

    Raises
    ------
    TypeError
        If ``enabled`` is not a bool.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _state["timing"] = enabled


def timing_shown() -> bool:
    """Whether progress bars show elapsed time and rate (see :func:`show_timing`)."""
    return _state["timing"]


def progress_bar(
    iterable: Iterable[T], *, total: int | None, desc: str, enabled: bool = True
) -> tqdm[T]:
    """A ``tqdm`` bar over ``iterable`` on standard error, counting batches.

    With timing hidden, the bar is redrawn every tenth of ``total`` (and at the end) rather
    than by the clock, so what it prints does not depend on how fast the machine is.

    Parameters
    ----------
    iterable : iterable
        What to loop over.
    total : int or None
        Number of items, if known.
    desc : str
        Label in front of the bar.
    enabled : bool
        False returns a bar that prints nothing.

    Returns
    -------
    tqdm.tqdm

    Raises
    ------
    TypeError
        If ``iterable`` is not iterable, ``total`` is not an integer or None, ``desc`` is not
        a str, or ``enabled`` is not a bool.
    ValueError
        If ``total`` is negative.

    Examples
    --------
    >>> sum(progress_bar(range(4), total=4, desc="demo", enabled=False))
    6
    """
    if iterable is None or isinstance(iterable, (str, bytes)) or not isinstance(
        iterable, Iterable
    ):
        raise TypeError(f"iterable must be iterable, got {type(iterable).__name__}")
    if total is not None:
        total = check_int("total", total, minimum=0)
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")
    enabled = check_bool("enabled", enabled)
    options: dict[str, Any] = {"total": total, "desc": desc, "file": sys.stderr,
                               "disable": not enabled, "unit": "batch", "leave": True}
    if not _state["timing"]:
        every = 1 if total is None else max(1, total // 10)
        options.update(bar_format=_PLAIN_FORMAT, mininterval=0.0, maxinterval=float("inf"),
                       miniters=every, smoothing=0.0)
    return tqdm(iterable, **options)
