"""Per-block squared gradient norms and the norms and weights of any selection of blocks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gabalab.blocks import (
    block_name,
    block_table,
    layer_types,
    selection_readout,
    selection_text,
)
from gabalab.models import DualTaskModel, TinyDualHead, parameter_counts
from gabalab.norms import grads_norm, shared_named_parameters, task_grad_norms
from gabalab.weighting import gaba_weights


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


@pytest.mark.parametrize(
    "name, block",
    [
        ("trunk.0.weight", "trunk"),
        ("module.trunk.0.weight", "trunk"),
        ("_orig_mod.module.rul_head.bias", "rul_head"),
        ("lstm.weight_ih_l0", "lstm"),
        ("module", "module"),  # a top-level parameter called "module" is its own block
    ],
)
def test_block_name(name, block) -> None:
    assert block_name(name) == block


def test_block_name_errors() -> None:
    with pytest.raises(TypeError, match="name"):
        block_name(3)
    with pytest.raises(ValueError, match="no block"):
        block_name("")
    with pytest.raises(ValueError, match="no block"):
        block_name("..")


def test_block_table_sums_squares_per_block(measured) -> None:
    model, _, named, grads = measured
    table = block_table(named, grads)
    assert list(table) == ["trunk", "rul_head", "health_head"]
    counts = parameter_counts(model)
    assert table["trunk"]["n_params"] == counts["shared"]
    assert table["rul_head"]["n_params"] == counts["rul_head"]
    for task, task_grads in grads.items():
        trunk = [g for (n, _), g in zip(named, task_grads) if n.startswith("trunk.")]
        assert table["trunk"][task] == pytest.approx(grads_norm(trunk) ** 2, rel=1e-5)
    # a loss does not reach the other task's head: allow_unused gives None, counted as 0
    assert table["health_head"]["rul"] == 0.0
    assert table["rul_head"]["health"] == 0.0
    assert table["rul_head"]["rul"] > 0.0


def test_block_table_errors(measured) -> None:
    _, _, named, grads = measured
    with pytest.raises(ValueError, match="named_params is empty"):
        block_table([], grads)
    with pytest.raises(TypeError, match="mapping"):
        block_table(named, [grads["rul"]])
    with pytest.raises(ValueError, match="at least one task"):
        block_table(named, {})
    with pytest.raises(ValueError, match="reserved"):
        block_table(named, {"n_params": grads["rul"]})
    with pytest.raises(ValueError, match="holds 5 gradients"):
        block_table(named, {"rul": grads["rul"][:5]})
    wrong = list(grads["rul"])
    wrong[0] = torch.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        block_table(named, {"rul": wrong})
    wrong[0] = "x"
    with pytest.raises(TypeError, match="tensor or None"):
        block_table(named, {"rul": wrong})


def test_trunk_selection_matches_the_sensor(measured) -> None:
    model, losses, named, grads = measured
    table = block_table(named, grads)
    readout = selection_readout(table, ["trunk"])
    shared = [p for _, p in shared_named_parameters(model)]
    expected = task_grad_norms(losses, shared)
    assert readout["norms"]["rul"] == pytest.approx(expected[0], rel=1e-5)
    assert readout["norms"]["health"] == pytest.approx(expected[1], rel=1e-5)
    assert readout["ratio"] == pytest.approx(expected[0] / expected[1], rel=1e-5)
    lam = gaba_weights(expected)
    assert readout["weights"]["rul"] == pytest.approx(lam[0], rel=1e-5)
    assert readout["weights"]["rul"] + readout["weights"]["health"] == pytest.approx(1.0)
    assert readout["n_params"] == sum(p.numel() for p in shared)


def test_including_a_head_moves_only_its_task(measured) -> None:
    _, _, named, grads = measured
    table = block_table(named, grads)
    trunk = selection_readout(table, ["trunk"])
    plus = selection_readout(table, ["trunk", "rul_head"])
    assert plus["norms"]["health"] == trunk["norms"]["health"]
    assert plus["norms"]["rul"] > trunk["norms"]["rul"]
    assert plus["weights"]["rul"] < trunk["weights"]["rul"]
    # the order of the selection does not matter; blocks are reported in table order
    assert selection_readout(table, ["rul_head", "trunk"])["blocks"] == ["trunk", "rul_head"]


def test_readout_by_hand() -> None:
    table = {"a": {"n_params": 2, "rul": 9.0, "health": 0.0},
             "b": {"n_params": 3, "rul": 16.0, "health": 4.0}}
    r = selection_readout(table, "b")
    assert r["norms"] == {"rul": 4.0, "health": 2.0}
    r = selection_readout(table, ["a"])
    assert r["ratio"] == math.inf
    assert r["weights"] == {"rul": 0.0, "health": 1.0}
    single = {"a": {"n_params": 1, "rul": 4.0}}
    r = selection_readout(single, ["a"])
    assert r["norms"] == {"rul": 2.0} and r["ratio"] is None and r["weights"] is None
    assert "ratio" not in selection_text(single, ["a"])


def test_readout_errors() -> None:
    table = {"a": {"n_params": 1, "rul": 1.0, "health": 1.0}}
    with pytest.raises(ValueError, match="table is empty"):
        selection_readout({}, ["a"])
    with pytest.raises(ValueError, match="selected is empty"):
        selection_readout(table, [])
    with pytest.raises(ValueError, match=r"\['z'\] are not blocks"):
        selection_readout(table, ["a", "z"])


def test_selection_text_lines(measured) -> None:
    _, _, named, grads = measured
    table = block_table(named, grads)
    r = selection_readout(table, ["trunk"])
    lines = selection_text(table, ["trunk"]).splitlines()
    assert lines[0] == "blocks        : trunk"
    assert lines[1] == f"parameters    : {r['n_params']:,}"
    assert lines[2] == f"||g_rul||     : {r['norms']['rul']:.4g}"
    assert lines[4] == f"ratio         : {r['ratio']:.4g}"
    assert lines[6] == f"lambda_health : {r['weights']['health']:.4g}"


def test_layer_types_per_block() -> None:
    model = DualTaskModel(conv_channels=(4,), lstm_hidden=4, lstm_layers=1,
                          attention_hidden=2, funnel=(8,), feature_dim=8, head_hidden=(4,),
                          seed=0)
    found = layer_types(model)
    counts = parameter_counts(model)
    assert list(found) == ["conv", "lstm", "attention", "funnel", "rul_head", "health_head"]
    assert found["conv"][1] == ("Conv1d",) and found["lstm"][1] == ("LSTM",)
    assert found["rul_head"] == (counts["rul_head"], ("Linear",))
    assert sum(n for n, _ in found.values()) == counts["total"]
    model.lstm.requires_grad_(False)  # frozen parameters still count
    assert layer_types(model) == found


def test_layer_types_errors_and_top_level_parameters() -> None:
    with pytest.raises(TypeError, match="model"):
        layer_types("model")
    with pytest.raises(ValueError, match="no parameter"):
        layer_types(nn.ReLU())

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))
            self.layer = nn.Linear(2, 2)

    assert layer_types(Scaled()) == {"(top level)": (3, ("Scaled",)),
                                     "layer": (6, ("Linear",))}
