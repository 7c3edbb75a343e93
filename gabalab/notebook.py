"""The preamble every section notebook runs: one call sets the book's look and print options.

Each section starts with a hidden cell that imports what it uses and calls :func:`setup`, so
that all sections print arrays and draw figures alike, and nothing in the preamble depends on
which section it is in.
"""

from __future__ import annotations

import numpy as np
import torch

from gabalab._checks import check_int
from gabalab.plots.style import use_book_style
from gabalab.progress import show_timing

__all__ = ["PRINT_PRECISION", "setup"]

#: Digits after the decimal point when NumPy arrays and torch tensors are printed.
PRINT_PRECISION: int = 4


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
