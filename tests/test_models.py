"""Tests of gabalab.models."""

from __future__ import annotations

import pytest
import torch

from gabalab.models import DualTaskModel, TinyDualHead, parameter_counts
from gabalab.norms import shared_named_parameters

SMALL = dict(conv_channels=(8, 8), lstm_hidden=8, lstm_layers=2, attention_hidden=4,
             funnel=(16,), feature_dim=32, head_hidden=(8,))


def test_default_dual_task_model_parameter_counts() -> None:
    counts = parameter_counts(DualTaskModel(seed=0))
    assert counts == {
        "shared": 3_396_161,
        "rul_head": 545,
        "health_head": 579,
        "heads": 1_124,
        "total": 3_397_285,
    }
    assert abs(counts["shared"] - 3.4e6) / 3.4e6 < 0.01


def test_default_model_output_shapes() -> None:
    model = DualTaskModel(seed=0).eval()
    with torch.no_grad():
        rul, logits = model(torch.rand(3, 30, 14))
        z = model.features(torch.rand(3, 30, 14))
    assert tuple(rul.shape) == (3,) and tuple(logits.shape) == (3, 3)
    assert tuple(z.shape) == (3, 32)


@pytest.mark.parametrize("batch", [1, 5])
def test_small_model_shapes_and_other_window_lengths(batch: int) -> None:
    model = DualTaskModel(**SMALL, seed=1)
    for length in (30, 12):
        rul, logits = model(torch.rand(batch, length, 14))
        assert tuple(rul.shape) == (batch,) and tuple(logits.shape) == (batch, 3)


def test_heads_excluded_from_shared() -> None:
    for model in (DualTaskModel(**SMALL, seed=0), TinyDualHead(seed=0)):
        names = [n for n, _ in shared_named_parameters(model)]
        assert names and not any(n.startswith(("rul_head", "health_head")) for n in names)
        counts = parameter_counts(model)
        shared = sum(p.numel() for _, p in shared_named_parameters(model))
        assert counts["shared"] == shared
        assert counts["rul_head"] == sum(p.numel() for p in model.rul_head.parameters())
        assert counts["health_head"] == sum(p.numel() for p in model.health_head.parameters())
        assert counts["total"] == sum(p.numel() for p in model.parameters())


def test_tiny_dual_head_structure() -> None:
    model = TinyDualHead(seed=0)
    assert [n for n, _ in model.named_children()] == ["trunk", "rul_head", "health_head"]
    assert parameter_counts(model) == {
        "shared": 14 * 32 + 32 + 32 * 16 + 16,
        "rul_head": 17,
        "health_head": 51,
        "heads": 68,
        "total": 1076,
    }
    rul, logits = model(torch.rand(4, 14))
    assert tuple(rul.shape) == (4,) and tuple(logits.shape) == (4, 3)
    # windows are reduced to their last step
    x = torch.rand(4, 30, 14)
    torch.testing.assert_close(model(x)[0], model(x[:, -1])[0])
    other = TinyDualHead(n_features=5, hidden=(7,), n_classes=4, seed=0)
    assert tuple(other(torch.rand(2, 5))[1].shape) == (2, 4)


def test_seeded_construction_is_deterministic_and_isolated() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = DualTaskModel(**SMALL, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # global RNG untouched
    b = DualTaskModel(**SMALL, seed=7)
    c = DualTaskModel(**SMALL, seed=8)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.lstm.weight_ih_l0, c.lstm.weight_ih_l0)
    t1, t2 = TinyDualHead(seed=3), TinyDualHead(seed=3)
    assert torch.equal(t1.trunk[0].weight, t2.trunk[0].weight)


def test_dropout_makes_train_and_eval_differ() -> None:
    model = DualTaskModel(**SMALL, dropout=0.5, seed=0)
    x = torch.rand(6, 30, 14)
    model.train()
    torch.manual_seed(0)
    first = model(x)[0]
    second = model(x)[0]
    assert not torch.allclose(first, second)
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x)[0], model(x)[0]
    assert torch.equal(e1, e2)
    assert not torch.allclose(first.detach(), e1)
    no_dropout = DualTaskModel(**SMALL, dropout=0.0, seed=0).train()
    torch.testing.assert_close(no_dropout(x)[0], no_dropout(x)[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"kernel_size": 4}, ValueError, "kernel_size"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"lstm_hidden": 0}, ValueError, "lstm_hidden"),
        ({"funnel": (16, 0)}, ValueError, r"funnel\[1\]"),
        ({"funnel": "16"}, TypeError, "funnel"),
        ({"seed": -1}, ValueError, "seed"),
        ({"feature_dim": 2.5}, TypeError, "feature_dim"),
    ],
)
def test_constructor_validation(kwargs: dict, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        DualTaskModel(**{**SMALL, **kwargs})


def test_input_shape_validation() -> None:
    with pytest.raises(ValueError, match="x must have shape"):
        DualTaskModel(**SMALL, seed=0)(torch.rand(2, 30, 13))
    with pytest.raises(ValueError, match="x must have shape"):
        TinyDualHead(seed=0)(torch.rand(2, 13))
    with pytest.raises(ValueError, match="hidden"):
        TinyDualHead(hidden=())


def test_parameter_counts_validation() -> None:
    with pytest.raises(ValueError, match="heads"):
        parameter_counts(TinyDualHead(seed=0), heads=("rul_head", "missing_head"))
    with pytest.raises(TypeError, match="model"):
        parameter_counts("not a model")


def test_inputs_of_the_wrong_rank_or_dtype_are_named_but_autocast_runs() -> None:
    model = DualTaskModel(conv_channels=(4,), lstm_hidden=4, lstm_layers=1,
                          attention_hidden=2, funnel=(8,), seed=0)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 14\)"):
        model(torch.zeros(2, 14))
    with pytest.raises(TypeError, match="x must have dtype torch.float32"):
        model(torch.zeros(2, 5, 14, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"h must have shape \(B, T, 8\)"):
        model.attention(torch.zeros(2, 8))  # a 2-D input would pool over features
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rul, logits = model(torch.zeros(2, 5, 14))
    assert rul.shape == (2,) and logits.shape == (2, 3)
