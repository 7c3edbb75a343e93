"""Context managers that change torch state inside a block and put it back afterwards.

* :func:`seeded` draws torch's CPU random numbers (dropout masks, initial weights) from a
  generator seeded inside the block, leaving the global generator as it was.
* :func:`training_mode` puts a model in training or evaluation mode inside the block and
  restores every submodule's own flag afterwards, also when the block raises.

Both exist so that a measurement or an evaluation can be reproducible and side-effect free
without the caller saving and restoring state by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from gabalab._checks import check_int

__all__ = ["seeded", "training_mode"]


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed torch's CPU random number generator inside the block; restore it afterwards.

    Parameters
    ----------
    seed : int or None
        Seed, ``>= 0``. ``None`` leaves the global generator in use (the block is then a
        no-op wrapper).

    Raises
    ------
    TypeError, ValueError
        If ``seed`` is not a non-negative integer or None.

    Examples
    --------
    >>> import torch
    >>> with seeded(0):
    ...     a = torch.rand(2)
    >>> with seeded(0):
    ...     b = torch.rand(2)
    >>> bool(torch.equal(a, b))
    True
    """
    if seed is None:
        yield
        return
    seed = check_int("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def training_mode(model: nn.Module, train: bool) -> Iterator[None]:
    """Call ``model.train(train)`` inside the block; restore each submodule's flag after.

    Parameters
    ----------
    model : torch.nn.Module
        The model.
    train : bool
        True for training mode (dropout active), False for evaluation mode.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``train`` is not a bool.

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Dropout(0.5))
    >>> net[0].eval()
    Dropout(p=0.5, inplace=False)
    >>> with training_mode(net, True):
    ...     net[0].training
    True
    >>> net[0].training
    False
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(train, bool):
        raise TypeError(f"train must be a bool, got {type(train).__name__}")
    flags = [(module, module.training) for module in model.modules()]
    model.train(train)
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag
