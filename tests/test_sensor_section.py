"""The claims section 18.1 rests on, checked outside the notebook.

* The L2 norm of a list of gradient tensors is the same whether taken as the root of the
  summed per-tensor squares, as the norm of the concatenation, with
  ``torch.nn.utils.get_total_norm``, with ``gabalab.norms.grads_norm`` or with its NumPy
  twin ``gabalab.norms.vector_norm``: on random lists and on real model gradients.
* L2 is unchanged by an orthogonal change of basis; L1 and L-infinity are not.
* For two tasks the GABA weights equal IMTL-G's on real model gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gabalab.models import DualTaskModel, TinyDualHead
from gabalab.norms import grads_norm, shared_parameters, task_grad_norms, vector_norm
from gabalab.weighting import gaba_weights, imtl_g_weights

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


@pytest.mark.parametrize("name", list(MODELS))
def test_gaba_equals_imtl_g_on_model_gradients(name) -> None:
    model = MODELS[name]()
    _, grads = _task_grads(model, seed=1)
    flat = [torch.cat([g.reshape(-1) for g in gs]).double().numpy() for gs in grads]
    norms = [float(np.linalg.norm(f)) for f in flat]
    lam = gaba_weights(norms)
    np.testing.assert_allclose(imtl_g_weights(flat), lam, rtol=0, atol=1e-9)
    # and the weighted gradients have equal norms
    assert lam[0] * norms[0] == pytest.approx(lam[1] * norms[1], rel=1e-9)


def test_rotation_leaves_l2_and_moves_l1_and_linf() -> None:
    rng = np.random.default_rng(1)
    g = rng.standard_normal(23)
    q, r = np.linalg.qr(np.random.default_rng(0).standard_normal((23, 23)))
    q = q * np.sign(np.diag(r))
    np.testing.assert_allclose(q.T @ q, np.eye(23), atol=1e-12)
    assert vector_norm([q @ g]) == pytest.approx(vector_norm([g]), rel=1e-12)
    assert abs(vector_norm([q @ g], p=1) - vector_norm([g], p=1)) > 1e-3
    assert abs(vector_norm([q @ g], p=math.inf) - vector_norm([g], p=math.inf)) > 1e-3
