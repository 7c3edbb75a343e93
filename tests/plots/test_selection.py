"""The 18.1 figure: norms and weights per choice of parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from gabalab.blocks import block_table, selection_readout
from gabalab.models import TinyDualHead
from gabalab.plots.selection import plot_selection


@pytest.fixture(scope="module")
def measured():
    """A TinyDualHead, its losses on a fixed batch and the per-task gradients of all parameters."""
    model = TinyDualHead(seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 14, generator=gen)
    y = 125.0 * torch.rand(16, generator=gen)
    c = torch.randint(0, 3, (16,), generator=gen)
    rul, logits = model(x)
    losses = [F.mse_loss(rul, y), F.cross_entropy(logits, c)]
    named = list(model.named_parameters())
    params = [p for _, p in named]
    grads = {
        task: list(torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True))
        for task, loss in zip(("rul", "health"), losses)
    }
    return model, losses, named, grads


def test_plot_selection(measured) -> None:
    _, _, named, grads = measured
    table = block_table(named, grads)
    fig = plot_selection(table, {"trunk": ["trunk"], "all": list(table)})
    assert isinstance(fig, Figure)
    left, right = fig.axes
    assert len(left.patches) == 4 and len(right.patches) == 4  # 2 selections x 2 tasks
    heights = [p.get_height() for p in left.patches]
    trunk = selection_readout(table, ["trunk"])["norms"]
    assert np.isclose(heights[0], trunk["rul"]) and np.isclose(heights[2], trunk["health"])
    with pytest.raises(ValueError, match="selections"):
        plot_selection(table, {})
