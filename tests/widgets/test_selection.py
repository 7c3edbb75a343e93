"""The 18.1 explorer: a checkbox per parameter block."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gabalab.blocks import block_table
from gabalab.models import TinyDualHead
from gabalab.widgets.selection import selection_explorer


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


def test_explorer_builds_with_heads_unticked(measured) -> None:
    pytest.importorskip("ipywidgets")
    _, _, named, grads = measured
    table = block_table(named, grads)
    explorer = selection_explorer(table)
    boxes = explorer.children[:-1]
    assert [b.description for b in boxes] == ["trunk", "rul_head", "health_head"]
    assert [b.value for b in boxes] == [True, False, False]
    boxes[1].value = True
    explorer.update()
    assert explorer.kwargs == {"trunk": True, "rul_head": True, "health_head": False}
    with pytest.raises(ValueError, match="table is empty"):
        selection_explorer({})
