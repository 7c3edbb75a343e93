"""Shared-parameter selection and per-task gradient norms (gabalab.norms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from gabalab import norms
from gabalab.data import health_labels
from gabalab.models import DualTaskModel, TinyDualHead, parameter_counts
from gabalab.norms import grads_norm, shared_parameters, task_grad_norms, vector_norm

ORDERS = (1, 2, math.inf)
SMALL_DUAL = dict(conv_channels=(8,), lstm_hidden=8, lstm_layers=1, attention_hidden=4,
                  funnel=(16,), feature_dim=8, head_hidden=(4,))


def _batch(seed: int, batch: int = 16, windows: bool = False):
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 30, 14) if windows else (batch, 14)
    x = torch.randn(*shape, generator=gen)
    y = torch.randint(0, 126, (batch,), generator=gen).double()
    return x, y.float(), torch.from_numpy(health_labels(y.numpy()))


def _losses(model: nn.Module, seed: int, windows: bool = False):
    x, y_rul, y_hs = _batch(seed, windows=windows)
    rul, logits = model(x)
    return [F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_hs)]


def _models():
    for seed in range(3):
        yield f"tiny-{seed}", TinyDualHead(seed=seed), False
        yield f"dual-{seed}", DualTaskModel(**SMALL_DUAL, seed=seed), True


MODELS = list(_models())


class Wrapper(nn.Module):
    """A wrapper that stores the model as ``module``, like DataParallel does."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.module = model

    def forward(self, x):
        return self.module(x)


# ---------------------------------------------------------------- the two ways agree


@pytest.mark.parametrize("name,model,windows", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("p", ORDERS)
def test_autograd_and_backward_ways_agree(name, model, windows, p) -> None:
    losses = _losses(model, seed=11, windows=windows)
    params = norms.shared_parameters(model)
    functional = norms.task_grad_norms(losses, params, p=p)
    classic = norms.task_grad_norms_backward(model, losses, params, p=p)
    assert all(v > 0 for v in functional)
    np.testing.assert_allclose(functional, classic, rtol=1e-6, atol=0)


@pytest.mark.parametrize("name,model,windows", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("p", ORDERS)
def test_norms_match_numpy_on_the_concatenated_gradient(name, model, windows, p) -> None:
    losses = _losses(model, seed=5, windows=windows)
    params = norms.shared_parameters(model)
    got = norms.task_grad_norms(losses, params, p=p)
    for loss, value in zip(losses, got):
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        flat = np.concatenate([
            (g if g is not None else torch.zeros_like(prm)).detach().double().numpy().ravel()
            for g, prm in zip(grads, params)
        ])
        assert flat.size == sum(prm.numel() for prm in params)
        assert value == pytest.approx(float(np.linalg.norm(flat, ord=p)), rel=1e-5)


def test_three_orders_are_ordered_and_differ() -> None:
    model = TinyDualHead(seed=0)
    losses = _losses(model, seed=0)
    params = norms.shared_parameters(model)
    l1, l2, linf = (norms.task_grad_norms(losses, params, p=p)[0] for p in ORDERS)
    n = sum(prm.numel() for prm in params)
    assert linf <= l2 <= l1
    assert l1 <= math.sqrt(n) * l2 * (1 + 1e-6)
    assert l2 <= math.sqrt(n) * linf * (1 + 1e-6)
    assert l1 > 1.5 * l2 > 1.5 * linf


def test_task_grad_norm_single_loss() -> None:
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    assert norms.task_grad_norm((w**2).sum() / 2, [w]) == pytest.approx(5.0)
    assert norms.task_grad_norm((w**2).sum() / 2, [w], p=1) == pytest.approx(7.0)
    assert norms.task_grad_norm((w**2).sum() / 2, [w], p=math.inf) == pytest.approx(4.0)


# ---------------------------------------------------------------- .grad left alone


def test_autograd_way_leaves_grad_untouched() -> None:
    model = TinyDualHead(seed=1)
    gen = torch.Generator().manual_seed(3)
    named = list(model.named_parameters())
    for i, (_, prm) in enumerate(named):
        if i % 2 == 0:  # every other parameter holds an old gradient, the rest hold None
            prm.grad = torch.randn(prm.shape, generator=gen)
    before = {n: None if p.grad is None else p.grad.clone() for n, p in named}
    ids = {n: None if p.grad is None else id(p.grad) for n, p in named}
    losses = _losses(model, seed=2)
    values = norms.task_grad_norms(losses, norms.shared_parameters(model))
    assert all(v > 0 for v in values)
    for n, prm in named:
        if before[n] is None:
            assert prm.grad is None, n
        else:
            assert id(prm.grad) == ids[n], n
            assert torch.equal(prm.grad, before[n]), n


def test_backward_way_leaves_last_task_gradient_in_grad() -> None:
    model = TinyDualHead(seed=4)
    losses = _losses(model, seed=4)
    params = norms.shared_parameters(model)
    _, hs = norms.task_grad_norms_backward(model, losses, params)
    assert norms.grads_norm([prm.grad for prm in params]) == pytest.approx(hs, rel=1e-6)


def test_graph_retained_by_default_and_freed_on_request() -> None:
    model = TinyDualHead(seed=0)
    losses = _losses(model, seed=0)
    params = norms.shared_parameters(model)
    norms.task_grad_norms(losses, params)
    sum(losses).backward()  # still possible: the graph was kept
    losses = _losses(model, seed=0)
    norms.task_grad_norms(losses, params, retain_graph=False)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        losses[1].backward()


# ---------------------------------------------------------------- selection by name


def test_tiny_selection_is_the_trunk() -> None:
    names = [n for n, _ in norms.shared_named_parameters(TinyDualHead(seed=0))]
    assert names == ["trunk.0.weight", "trunk.0.bias", "trunk.2.weight", "trunk.2.bias"]


def test_dual_selection_excludes_exactly_the_heads() -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    names = {n for n, _ in norms.shared_named_parameters(model)}
    every = {n for n, _ in model.named_parameters()}
    heads = {n for n in every if n.startswith(("rul_head.", "health_head."))}
    assert heads and names == every - heads


@pytest.mark.parametrize("wrap", [Wrapper, nn.DataParallel], ids=["attribute", "DataParallel"])
def test_wrapper_prefix(wrap) -> None:
    model = TinyDualHead(seed=2)
    wrapped = wrap(model)
    plain = [n for n, _ in norms.shared_named_parameters(model)]
    prefixed = [n for n, _ in norms.shared_named_parameters(wrapped)]
    assert prefixed == ["module." + n for n in plain]
    x, y_rul, y_hs = _batch(6)
    rul, logits = wrapped(x)
    losses = [F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_hs)]
    via_wrapper = norms.task_grad_norms(losses, norms.shared_parameters(wrapped))
    via_model = norms.task_grad_norms(losses, norms.shared_parameters(model))
    assert via_wrapper == via_model


def test_component_match_is_not_a_substring_match() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rul_header = nn.Linear(2, 2)  # shared, despite containing "rul_head"
            self.rul_head = nn.Linear(2, 1)
            self.health_head = nn.Linear(2, 3)

    names = [n for n, _ in norms.shared_named_parameters(Model())]
    assert names == ["rul_header.weight", "rul_header.bias"]


def test_frozen_parameters_are_skipped() -> None:
    model = TinyDualHead(seed=0)
    model.trunk[0].weight.requires_grad_(False)
    model.health_head.bias.requires_grad_(False)  # a frozen head still counts as matched
    names = [n for n, _ in norms.shared_named_parameters(model)]
    assert names == ["trunk.0.bias", "trunk.2.weight", "trunk.2.bias"]


def test_unmatched_head_pattern_is_named() -> None:
    with pytest.raises(ValueError, match=r"hs_head.*match no parameter"):
        norms.shared_named_parameters(TinyDualHead(seed=0), heads=("rul_head", "hs_head"))


def test_empty_selection_names_the_patterns() -> None:
    model = TinyDualHead(seed=0)
    with pytest.raises(ValueError, match=r"no trainable shared parameter.*'trunk'"):
        norms.shared_named_parameters(model, heads=("rul_head", "health_head", "trunk"))
    for prm in model.trunk.parameters():
        prm.requires_grad_(False)
    with pytest.raises(ValueError, match=r"no trainable shared parameter.*'rul_head'"):
        norms.shared_parameters(model)


def test_selection_argument_errors() -> None:
    model = TinyDualHead(seed=0)
    with pytest.raises(ValueError, match="heads"):
        norms.shared_named_parameters(model, heads=())
    with pytest.raises(TypeError, match="heads"):
        norms.shared_named_parameters(model, heads="rul_head")
    with pytest.raises(TypeError, match="model"):
        norms.shared_named_parameters(object())


def test_layer_type_selection_counts_heads_in_and_trunk_out() -> None:
    model = DualTaskModel(**SMALL_DUAL, seed=0)
    by_type = norms.layer_type_selection(model, nn.Linear)
    counts = parameter_counts(model)
    linear = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear)
                 for p in m.parameters(recurse=False))
    assert by_type.layer_type == "Linear" and by_type.n_params == linear
    assert by_type.head_params == counts["heads"]  # every head layer is an nn.Linear
    assert by_type.shared_missed == counts["shared"] - (linear - counts["heads"])
    assert by_type.missed_types == ("Conv1d", "LSTM")
    assert by_type.quotes() == {"type_heads": f"{counts['heads']:,}",
                                "type_missed": f"{by_type.shared_missed:,}"}
    assert str(by_type).splitlines()[0] == f"nn.Linear selection: {linear:,} parameters"


def test_layer_type_selection_skips_frozen_and_agrees_when_types_fit() -> None:
    model = TinyDualHead(seed=0)  # every layer is an nn.Linear
    everything = norms.layer_type_selection(model, nn.Linear)
    assert everything.shared_missed == 0 and everything.missed_types == ()
    assert everything.head_params == parameter_counts(model)["heads"]
    model.trunk[0].requires_grad_(False)
    frozen = norms.layer_type_selection(model, nn.Linear)
    assert frozen.n_params == everything.n_params - 14 * 32 - 32
    none = norms.layer_type_selection(model, nn.Conv1d)
    assert none.n_params == 0 and none.missed_types == ("Linear",)


def test_layer_type_selection_errors() -> None:
    with pytest.raises(TypeError, match="layer_type"):
        norms.layer_type_selection(TinyDualHead(seed=0), "Linear")
    with pytest.raises(TypeError, match="layer_type"):
        norms.layer_type_selection(TinyDualHead(seed=0), int)
    with pytest.raises(TypeError, match="model"):
        norms.layer_type_selection(object())


# ---------------------------------------------------------------- measurement errors


@pytest.fixture
def tiny():
    model = TinyDualHead(seed=0)
    return model, _losses(model, seed=0), norms.shared_parameters(model)


@pytest.mark.parametrize("way", ["autograd", "backward"])
class TestMeasurementErrors:
    @staticmethod
    def _call(way, model, losses, params, **kw):
        if way == "autograd":
            return norms.task_grad_norms(losses, params, **kw)
        return norms.task_grad_norms_backward(model, losses, params, **kw)

    def test_empty_params(self, way, tiny) -> None:
        model, losses, _ = tiny
        with pytest.raises(ValueError, match="params is empty"):
            self._call(way, model, losses, [])

    def test_empty_losses(self, way, tiny) -> None:
        model, _, params = tiny
        with pytest.raises(ValueError, match="losses must hold at least one"):
            self._call(way, model, [], params)

    def test_non_scalar_loss(self, way, tiny) -> None:
        model, _, params = tiny
        rul, _ = model(_batch(0)[0])
        with pytest.raises(ValueError, match=r"losses\[0\] must be a scalar"):
            self._call(way, model, [rul], params)

    def test_detached_loss(self, way, tiny) -> None:
        model, losses, params = tiny
        with pytest.raises(ValueError, match=r"losses\[1\] does not require grad.*detached"):
            self._call(way, model, [losses[0], losses[1].detach()], params)

    def test_loss_reaching_no_param(self, way, tiny) -> None:
        model, _, params = tiny
        head_only = model.rul_head.weight.sum()
        with pytest.raises(ValueError, match=r"losses\[0\] does not depend on any tensor"):
            self._call(way, model, [head_only], params)

    def test_duplicate_params(self, way, tiny) -> None:
        model, losses, params = tiny
        with pytest.raises(ValueError, match="same tensor more than once"):
            self._call(way, model, losses, params + params[:1])

    def test_frozen_param_in_list(self, way, tiny) -> None:
        model, losses, params = tiny
        params[0].requires_grad_(False)
        with pytest.raises(ValueError, match=r"params\[0\] does not require grad"):
            self._call(way, model, losses, params)

    def test_nan_gradient_with_finite_loss(self, way, tiny) -> None:
        model, _, params = tiny
        loss = torch.sqrt((params[0] * 0.0).sum())  # value 0, gradient 0 * inf = NaN
        assert torch.isfinite(loss)
        with pytest.raises(ValueError, match="non-finite"):
            self._call(way, model, [loss], params)

    def test_bad_order(self, way, tiny) -> None:
        model, losses, params = tiny
        with pytest.raises(ValueError, match="p must be >= 1"):
            self._call(way, model, losses, params, p=0.5)
        with pytest.raises(TypeError, match="p must be a real number"):
            self._call(way, model, losses, params, p="2")

    def test_single_tensor_instead_of_sequence(self, way, tiny) -> None:
        model, losses, params = tiny
        with pytest.raises(TypeError, match="losses must be a sequence"):
            self._call(way, model, losses[0], params)
        with pytest.raises(TypeError, match="params must be a sequence"):
            self._call(way, model, losses, params[0])


# ---------------------------------------------------------------- grads_norm, vector_norm

shapes = st.lists(st.lists(st.integers(1, 5), min_size=0, max_size=3), min_size=1, max_size=5)


@settings(max_examples=50, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**16), p=st.sampled_from([1, 1.5, 2, 3, math.inf]))
def test_grads_norm_and_vector_norm_against_numpy(shapes, seed, p) -> None:
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(rng.standard_normal(s) * rng.choice([1e-3, 1.0, 1e3])) for s in shapes]
    flat = np.concatenate([np.ravel(a) for a in arrays])
    expected = float(np.linalg.norm(flat, ord=p))
    assert norms.vector_norm(arrays, p=p) == pytest.approx(expected, rel=1e-12)
    tensors = [torch.from_numpy(a).float() for a in arrays]
    expected32 = float(np.linalg.norm(
        np.concatenate([t.double().numpy().ravel() for t in tensors]), ord=p))
    assert norms.grads_norm(tensors, p=p) == pytest.approx(expected32, rel=1e-5)


def test_grads_norm_none_counts_as_zero() -> None:
    a = torch.tensor([3.0, 0.0])
    assert norms.grads_norm([a, None, torch.tensor([[4.0]])]) == pytest.approx(5.0)
    assert norms.grads_norm([None, None]) == 0.0


def test_grads_norm_rejects_non_finite() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        norms.grads_norm([torch.tensor([1.0, float("nan")])])
    with pytest.raises(ValueError, match="non-finite"):
        norms.grads_norm([torch.tensor([float("inf")])], p=math.inf)


def test_vector_norm_errors() -> None:
    with pytest.raises(ValueError, match="at least one array"):
        norms.vector_norm([])
    with pytest.raises(ValueError, match="non-finite"):
        norms.vector_norm([np.array([1.0, np.nan])])
    with pytest.raises(ValueError, match="p must be >= 1"):
        norms.vector_norm([np.ones(3)], p=0.5)


def test_vector_norm_equals_frobenius_of_pieces() -> None:
    rng = np.random.default_rng(0)
    pieces = [rng.standard_normal((8, 4)), rng.standard_normal(8)]
    by_piece = math.sqrt(sum(float(np.sum(a**2)) for a in pieces))
    assert norms.vector_norm(pieces) == pytest.approx(by_piece, rel=1e-14)


def test_grads_norm_keeps_float64_precision() -> None:
    rng = np.random.default_rng(1)
    a = 1.0 + 1e-3 * rng.standard_normal(1000)
    expected = float(np.linalg.norm(a, ord=1))
    assert norms.grads_norm([torch.from_numpy(a)], p=1) == pytest.approx(expected, rel=1e-12)


N_VALUES = [10**k for k in range(1, 7)]


def test_l2_norms_grow_like_sqrt_n() -> None:
    sweep = norms.norm_scaling_sweep(N_VALUES, 1.0, 0.002, seed=0)
    log_n = np.log(N_VALUES)
    for key in ("norm_rul", "norm_hs"):
        slope = np.polyfit(log_n, np.log(sweep[key]), 1)[0]
        assert slope == pytest.approx(0.5, abs=0.02), key
    # a hundredfold more parameters: about tenfold larger norms
    growth = sweep["norm_rul"][-1] / sweep["norm_rul"][-3]
    assert growth == pytest.approx(10.0, rel=0.01)


def test_ratio_and_rms_do_not_grow_with_n() -> None:
    sweep = norms.norm_scaling_sweep(N_VALUES, 1.0, 0.002, seed=0)
    n = np.asarray(N_VALUES, dtype=float)
    # ||g||/sqrt(N) and the ratio stay at the scales; the spread shrinks like 1/sqrt(N).
    assert np.all(np.abs(sweep["rms_rul"] - 1.0) < 4 / np.sqrt(2 * n))
    assert np.all(np.abs(sweep["rms_hs"] / 0.002 - 1.0) < 4 / np.sqrt(2 * n))
    assert np.all(np.abs(sweep["ratio"] / 500.0 - 1.0) < 6 / np.sqrt(n))
    assert sweep["ratio"][-1] == pytest.approx(500.0, rel=0.005)
    slope = np.polyfit(np.log(n[2:]), np.log(sweep["ratio"][2:]), 1)[0]
    assert abs(slope) < 0.01


@pytest.mark.parametrize("scale_rul,scale_hs", [(1.0, 1.0), (1.0, 0.01), (0.3, 0.003), (2.0, 5.0)])
def test_ratio_tracks_the_scale_ratio(scale_rul, scale_hs) -> None:
    out = norms.norm_scaling(200_000, scale_rul, scale_hs, seed=1)
    assert out["ratio"] == pytest.approx(scale_rul / scale_hs, rel=0.02)
    assert out["norm_rul"] == pytest.approx(scale_rul * np.sqrt(200_000), rel=0.01)
    assert out["rms_hs"] == pytest.approx(scale_hs, rel=0.01)


def test_same_seed_same_numbers_and_exact_definitions() -> None:
    a = norms.norm_scaling(1000, 1.0, 0.01, seed=3)
    assert a == norms.norm_scaling(1000, 1.0, 0.01, seed=3)
    assert a != norms.norm_scaling(1000, 1.0, 0.01, seed=4)
    g_rul, g_hs = norms.random_task_gradients(1000, 1.0, 0.01, seed=3)
    assert a["norm_rul"] == float(np.linalg.norm(g_rul))
    assert a["ratio"] == a["norm_rul"] / a["norm_hs"]
    assert a["rms_hs"] == pytest.approx(np.sqrt(np.mean(g_hs**2)), rel=1e-12)


def test_scaling_a_task_scales_only_its_norm() -> None:
    base = norms.norm_scaling(5000, 1.0, 0.01, seed=0)
    louder = norms.norm_scaling(5000, 10.0, 0.01, seed=0)
    assert louder["norm_rul"] == pytest.approx(10 * base["norm_rul"], rel=1e-12)
    assert louder["norm_hs"] == base["norm_hs"]
    assert louder["ratio"] == pytest.approx(10 * base["ratio"], rel=1e-12)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="n_params must be >= 1"):
        norms.norm_scaling(0, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_params must be <="):
        norms.norm_scaling(norms.MAX_PARAMS + 1, 1.0, 1.0)
    with pytest.raises(ValueError, match="scale_hs must be > 0"):
        norms.norm_scaling(10, 1.0, 0.0)
    with pytest.raises(TypeError, match="n_params must be an integer"):
        norms.norm_scaling(10.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_values must hold"):
        norms.norm_scaling_sweep([], 1.0, 1.0)
    with pytest.raises(ValueError, match=r"n_values\[1\]"):
        norms.norm_scaling_sweep([10, -1], 1.0, 1.0)


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


def test_get_total_norm_exists() -> None:
    assert callable(getattr(torch.nn.utils, "get_total_norm", None))


def _all_ways(arrays: list[np.ndarray]) -> dict[str, float]:
    tensors32 = [torch.from_numpy(a.astype(np.float32)) for a in arrays]
    tensors64 = [torch.from_numpy(a) for a in arrays]
    return {
        "sum_of_squares": math.sqrt(math.fsum(float(np.sum(a**2)) for a in arrays)),
        "concat_numpy": float(np.linalg.norm(np.concatenate([a.ravel() for a in arrays]))),
        "vector_norm": vector_norm(arrays),
        "concat_torch": float(
            torch.linalg.vector_norm(torch.cat([t.reshape(-1) for t in tensors64]))
        ),
        "get_total_norm": float(torch.nn.utils.get_total_norm(tensors64)),
        "get_total_norm_f32": float(torch.nn.utils.get_total_norm(tensors32)),
        "grads_norm": grads_norm(tensors32),
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(shapes, min_size=1, max_size=6),
    st.integers(0, 2**32 - 1),
    st.floats(1e-4, 1e3),
)
def test_every_way_agrees_on_random_lists(shape_list, seed, scale) -> None:
    rng = np.random.default_rng(seed)
    arrays = [scale * rng.standard_normal(s) for s in shape_list]
    ways = _all_ways(arrays)
    ref = ways["sum_of_squares"]
    for name in ("concat_numpy", "vector_norm", "concat_torch", "get_total_norm"):
        assert ways[name] == pytest.approx(ref, rel=1e-12), name
    for name in ("get_total_norm_f32", "grads_norm"):
        assert ways[name] == pytest.approx(ref, rel=1e-5), name


def test_section_numpy_example() -> None:
    rng = np.random.default_rng(1)
    arrays = [5.0 * rng.standard_normal(s) for s in [(3, 4), (3,), (2, 3), (2,)]]
    ways = _all_ways(arrays)
    assert abs(ways["sum_of_squares"] - ways["concat_numpy"]) <= 1e-12 * ways["concat_numpy"]
    assert ways["get_total_norm"] == pytest.approx(ways["sum_of_squares"], rel=1e-12)


def _task_grads(model: torch.nn.Module, seed: int) -> tuple[list[torch.Tensor], list[tuple]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(16, 30, 14, generator=gen)
    y = 125.0 * torch.rand(16, generator=gen)
    c = torch.randint(0, 3, (16,), generator=gen)
    model.eval()  # no dropout: the same function for every call
    rul, logits = model(x)
    losses = [F.mse_loss(rul, y), F.cross_entropy(logits, c)]
    params = shared_parameters(model)
    grads = [torch.autograd.grad(loss, params, retain_graph=True) for loss in losses]
    return losses, grads


MODELS = {
    "tiny": lambda: TinyDualHead(hidden=(32, 16), seed=0),
    "dual_small": lambda: DualTaskModel(conv_channels=(8, 16), lstm_hidden=16, lstm_layers=2,
                                        attention_hidden=8, funnel=(32, 16), seed=0),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_way_agrees_on_model_gradients(name) -> None:
    model = MODELS[name]()
    losses, grads = _task_grads(model, seed=0)
    sensor = task_grad_norms(losses, shared_parameters(model))
    for task, task_grads in enumerate(grads):
        arrays = [g.double().numpy() for g in task_grads]
        ways = _all_ways(arrays)
        for way, value in ways.items():
            assert value == pytest.approx(ways["sum_of_squares"], rel=1e-6), way
        assert float(torch.nn.utils.get_total_norm(list(task_grads))) == pytest.approx(
            sensor[task], rel=1e-6)
        assert grads_norm(task_grads) == pytest.approx(sensor[task], rel=1e-6)


def test_rotation_leaves_l2_and_moves_l1_and_linf() -> None:
    rng = np.random.default_rng(1)
    g = rng.standard_normal(23)
    q, r = np.linalg.qr(np.random.default_rng(0).standard_normal((23, 23)))
    q = q * np.sign(np.diag(r))
    np.testing.assert_allclose(q.T @ q, np.eye(23), atol=1e-12)
    assert vector_norm([q @ g]) == pytest.approx(vector_norm([g]), rel=1e-12)
    assert abs(vector_norm([q @ g], p=1) - vector_norm([g], p=1)) > 1e-3
    assert abs(vector_norm([q @ g], p=math.inf) - vector_norm([g], p=math.inf)) > 1e-3
