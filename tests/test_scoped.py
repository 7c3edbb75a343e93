"""Seeded and train/eval blocks restore what they changed, also on error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gabalab.scoped import seeded, training_mode


def test_seeded_repeats_draws_and_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with seeded(5):
        a = torch.rand(3)
    with seeded(5):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_next)


def test_seeded_none_uses_the_global_generator() -> None:
    torch.manual_seed(7)
    with seeded(None):
        a = torch.rand(2)
    torch.manual_seed(7)
    assert torch.equal(a, torch.rand(2))


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_seeded_rejects_bad_seeds(bad: object, error: type) -> None:
    with pytest.raises(error, match="seed"), seeded(bad):  # type: ignore[arg-type]
        pass


def test_training_mode_restores_each_submodule_even_on_error() -> None:
    net = nn.Sequential(nn.Dropout(0.5), nn.Linear(2, 2))
    net.train()
    net[1].eval()  # a mixed state must come back exactly
    with pytest.raises(RuntimeError, match="boom"), training_mode(net, False):
        assert not net[0].training and not net[1].training
        raise RuntimeError("boom")
    assert net.training and net[0].training and not net[1].training


def test_training_mode_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="model"), training_mode("net", True):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError, match="train"), training_mode(nn.Linear(1, 1), 1):  # type: ignore[arg-type]
        pass
