"""Tests of gabalab.models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from gabalab.models import DualTaskModel, TinyDualHead, parameter_counts, redraw_default_init
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


#: Run in a fresh process under a given ATEN_CPU_CAPABILITY: a SHA-256 of the parameters of
#: seeded models, of a mixed stack redrawn by redraw_default_init, and of the same models and
#: stack initialised by PyTorch alone (redraw_default_init disabled), plus the random state
#: each construction leaves behind.
_WEIGHTS_BY_KERNEL = """
import hashlib, json, sys
import torch
from torch import nn
import gabalab.models as m

SMALL = json.loads(sys.argv[1])

def digest(module):
    h = hashlib.sha256()
    for p in module.parameters():
        h.update(p.detach().numpy().tobytes())
    return h.hexdigest()

def stack(redraw):
    torch.manual_seed(11)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LSTM(5, 6, num_layers=2, bidirectional=True),
                        nn.Linear(7, 2, bias=False), nn.Conv1d(2, 3, 1))
    if redraw:
        torch.manual_seed(11)
        m.redraw_default_init(net)
    return digest(net) + str(torch.rand(1).item())

def models():
    torch.manual_seed(5)
    tiny = digest(m.TinyDualHead()) + str(torch.rand(1).item())
    return [digest(m.DualTaskModel(**SMALL, seed=3)), digest(m.DualTaskModel(seed=0)), tiny]

out = {"stack": stack(True), "models": models(), "plain_stack": stack(False)}
m.redraw_default_init = lambda module: None  # PyTorch's init stays, the random state too
torch.set_rng_state = lambda state: None
out["plain_models"] = models()
print(json.dumps(out))
"""


def _weights_under(capability: str) -> dict[str, object]:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _WEIGHTS_BY_KERNEL, json.dumps(SMALL)],
                          env=env, capture_output=True, text=True, timeout=240, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_seeded_weights_are_the_same_under_every_cpu_kernel() -> None:
    """The baseline kernel rounds PyTorch's uniform draws differently from the AVX2 one."""
    fused, baseline = _weights_under("avx2"), _weights_under("default")
    # The package's models and redraw: the same bits with either kernel ...
    assert baseline["models"] == fused["models"]
    assert baseline["stack"] == fused["stack"]
    # ... and exactly PyTorch's own initialisation on the AVX2 (fused multiply-add) kernel,
    # random state afterwards included ...
    assert fused["plain_models"] == fused["models"]
    assert fused["plain_stack"] == fused["stack"]
    # ... which the baseline kernel does not reproduce on its own.
    assert baseline["plain_models"][:2] != fused["plain_models"][:2]
    assert baseline["plain_stack"] != fused["plain_stack"]


def test_redraw_default_init_keeps_the_distribution_and_refuses_what_it_cannot_redraw() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(400, 300)
    redraw_default_init(layer)
    bound = 1 / 400 ** 0.5
    weight, bias = layer.weight.detach(), layer.bias.detach()
    assert float(weight.abs().max()) <= bound and float(bias.abs().max()) <= bound
    assert abs(float(weight.std()) - bound / 3 ** 0.5) < 0.01 * bound
    with pytest.raises(TypeError, match="BatchNorm1d"):
        redraw_default_init(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    wide = nn.Linear(2, 2).double()
    before = wide.weight.detach().clone()
    with pytest.raises(TypeError, match="float64"):
        redraw_default_init(wide)
    assert torch.equal(wide.weight, before)  # refused before anything was drawn


def test_a_float64_model_starts_from_the_float32_weights() -> None:
    narrow = DualTaskModel(**SMALL, seed=4)
    wide = DualTaskModel(**SMALL, seed=4).double()
    for a, b in zip(narrow.parameters(), wide.parameters()):
        assert b.dtype == torch.float64 and torch.equal(a.double(), b)
