"""What every section notebook shares: the preamble, and pitfalls shown as their message.

Each section starts with a hidden cell that imports what it uses and calls :func:`setup`, so
that all sections print arrays and draw figures alike, and nothing in the preamble depends on
which section it is in. A pitfall that raises runs inside :func:`shows_error`, which prints
the error's type and message, wrapped to the page's width, instead of a traceback through
library internals (which would also name the folders of the machine that ran it).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from gabalab._checks import check_int
from gabalab.plots.style import use_book_style
from gabalab.progress import show_timing

__all__ = ["PRINT_PRECISION", "error_message", "setup", "shows_error"]

#: Digits after the decimal point when NumPy arrays and torch tensors are printed.
PRINT_PRECISION: int = 4

#: Columns of a printed error message: what the book's text column shows without scrolling.
ERROR_WIDTH: int = 76


def setup(*, seed: int | None = None) -> None:
    """Set the book's figure style, array print options and inline figures.

    * matplotlib: :func:`gabalab.plots.style.use_book_style`, and the inline backend when
      running in an IPython kernel;
    * NumPy: :data:`PRINT_PRECISION` digits, no scientific notation for small entries;
    * torch: :data:`PRINT_PRECISION` digits;
    * progress bars without elapsed time and rate (:func:`gabalab.progress.show_timing`), so
      that a stored notebook prints the same bar on every run;
    * with ``seed``, torch's global random generator is seeded (nothing is printed).

    Parameters
    ----------
    seed : int or None
        Seed for ``torch.manual_seed``; ``None`` leaves the generator alone.

    Raises
    ------
    TypeError, ValueError
        If ``seed`` is not a non-negative integer or None.

    Examples
    --------
    >>> saved = np.get_printoptions()
    >>> setup()
    >>> np.array([1 / 3, 1e-6])
    array([0.3333, 0.    ])
    >>> np.set_printoptions(**saved)
    >>> show_timing(True)
    """
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: no inline figures to set up
        shell = None
    else:
        shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        # Before the style: selecting the inline backend applies its own figure defaults.
        shell.run_line_magic("matplotlib", "inline")
    use_book_style()
    np.set_printoptions(precision=PRINT_PRECISION, suppress=True)
    torch.set_printoptions(precision=PRINT_PRECISION)
    show_timing(False)
    if seed is not None:
        torch.manual_seed(seed)


def error_message(error: BaseException, width: int = ERROR_WIDTH) -> str:
    """``"TypeName: message"``, each line of the message wrapped to ``width`` columns.

    Parameters
    ----------
    error : BaseException
    width : int
        Columns per line, at least 20.

    Raises
    ------
    TypeError, ValueError
        If ``error`` is not an exception or ``width`` not an integer of at least 20.

    Examples
    --------
    >>> err = ValueError("weights must sum to 1, got 0.5")
    >>> print(error_message(err, width=30))
    ValueError: weights must sum
    to 1, got 0.5
    """
    if not isinstance(error, BaseException):
        raise TypeError(f"error must be an exception, got {type(error).__name__}")
    width = check_int("width", width, minimum=20)
    text = f"{type(error).__name__}: {error}"
    lines = []
    for line in text.splitlines() or [text]:
        lines += textwrap.wrap(line, width=width, break_long_words=True,
                               break_on_hyphens=False) or [""]
    return "\n".join(lines)


@contextmanager
def shows_error(*expected: type[BaseException], width: int = ERROR_WIDTH) -> Iterator[None]:
    """Run a block that must fail with one of ``expected``; print its error as its message.

    A pitfall cell of the book runs its mistake inside this block: the reader sees the
    message the library gives (:func:`error_message`), and if the mistake ever stops
    raising, the cell fails instead of silently showing nothing. An exception of another
    type is not caught.

    Parameters
    ----------
    *expected : type of BaseException
        The exception types the block may raise (at least one).
    width : int
        Columns of the printed message.

    Raises
    ------
    TypeError, ValueError
        If no exception type is given, one is not an exception class, or ``width`` is not
        an integer of at least 20.
    AssertionError
        If the block raises nothing.

    Examples
    --------
    >>> with shows_error(ZeroDivisionError):
    ...     1 / 0
    ZeroDivisionError: division by zero
    """
    if not expected:
        raise TypeError("expected: name at least one exception type")
    for kind in expected:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"expected must be exception classes, got {kind!r}")
    width = check_int("width", width, minimum=20)
    try:
        yield
    except expected as err:
        print(error_message(err, width=width))
    else:
        names = " or ".join(kind.__name__ for kind in expected)
        raise AssertionError(f"the block was expected to raise {names} and raised nothing")
