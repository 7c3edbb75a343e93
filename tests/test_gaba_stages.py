"""The stages of one GABA step, each alone, against autograd and ``backward()``."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import gabalab.gaba_stages
from gabalab.gaba_stages import (
    add_task_gradients,
    nonfinite_reason,
    shared_norms,
    task_gradients,
    tensor_norms,
    write_weighted_grad,
)


def _params() -> list[torch.Tensor]:
    """A shared weight ``w`` and one head each, ``a`` and ``b``."""
    g = torch.Generator().manual_seed(0)
    return [torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()
            for shape in ((3, 4), (3,), (3,))]


def _losses(params: list[torch.Tensor]) -> list[torch.Tensor]:
    """``L_a = (a . w x)^2`` and ``L_b = sum(b * w x)`` for a fixed ``x``."""
    w, a, b = params
    z = w @ torch.linspace(-1.0, 2.0, 4, dtype=torch.float64)
    return [(a @ z) ** 2, (b * z).sum()]


def _two_tasks() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    params = _params()
    return _losses(params), params


def test_task_gradients_are_each_tasks_own_gradient() -> None:
    losses, params = _two_tasks()
    grads = task_gradients(losses, params)
    # the head a task does not reach is None, not zeros
    assert [[g is None for g in row] for row in grads] == [[False, False, True],
                                                            [False, True, False]]
    for i, row in enumerate(grads):
        fresh = _params()
        expected = torch.autograd.grad(_losses(fresh)[i], fresh, allow_unused=True)
        for got, want in zip(row, expected):
            assert (got is None and want is None) or torch.equal(got, want)
    assert all(p.grad is None for p in params)  # no .grad touched


def test_the_graph_is_freed_after_the_last_task_unless_kept() -> None:
    losses, params = _two_tasks()
    task_gradients(losses, params, retain_graph=True)
    task_gradients(losses, params)  # the graph was kept, so a second pass works
    with pytest.raises(RuntimeError, match="second time"):
        task_gradients(losses, params)


def test_add_task_gradients_sums_and_fills_missing_entries() -> None:
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0])
    total = add_task_gradients([(a, None), (None, None)], [(b, b), (None, a)])
    assert torch.equal(total[0][0], a + b) and total[0][1] is b and total[1] == (None, a)
    assert torch.equal(a, torch.tensor([1.0, 2.0]))  # inputs untouched
    with pytest.raises(ValueError, match="same tasks and parameters"):
        add_task_gradients([(a,)], [(a, b)])


def test_norms_per_tensor_and_on_the_shared_parameters() -> None:
    losses, params = _two_tasks()
    grads = task_gradients(losses, params)
    per_tensor = tensor_norms(grads)
    for row, norms in zip(grads, per_tensor):
        assert norms == [None if g is None else float(torch.linalg.vector_norm(g)) for g in row]
    shared = shared_norms(per_tensor, n_shared=1)
    assert shared == tuple(float(torch.linalg.vector_norm(row[0])) for row in grads)


def test_half_precision_norms_are_summed_in_float32() -> None:
    big = torch.full((4096,), 300.0, dtype=torch.float16)  # its square sum overflows float16
    tiny = torch.full((4,), 1e-4, dtype=torch.bfloat16)
    [[n_big, n_tiny, n_wide]] = tensor_norms([(big, tiny, torch.tensor([3.0, 4.0]))])
    assert n_big == pytest.approx(300.0 * 64.0, rel=1e-6) and math.isfinite(n_big)
    assert n_tiny == pytest.approx(2e-4, rel=1e-2) and n_wide == 5.0


def test_nonfinite_reason_names_the_loss_first_then_the_tensor() -> None:
    finite = [torch.tensor(1.0), torch.tensor(2.0)]
    assert nonfinite_reason(finite, [[1.0, None], [2.0, 3.0]], ["w", "head"]) == ""
    assert nonfinite_reason(finite, [[1.0, None], [2.0, math.inf]], ["w", "head"]) == (
        "losses[1]: the gradient on head is not finite (NaN or inf)")
    bad = [torch.tensor(1.0), torch.tensor(math.nan)]
    assert nonfinite_reason(bad, [[1.0, None], [math.nan, 3.0]], ["w", "head"]) == (
        "losses[1] is not finite (nan)")


def test_write_weighted_grad_equals_backward_of_the_weighted_sum() -> None:
    weights = [0.25, 0.75]
    ours = _params()
    write_weighted_grad(ours, task_gradients(_losses(ours), ours), weights)
    reference = _params()
    sum(w * loss for w, loss in zip(weights, _losses(reference))).backward()
    for mine, p in zip(ours, reference):
        assert torch.allclose(mine.grad, p.grad, rtol=1e-14, atol=0.0)
    # a second write accumulates into .grad, as a second backward() does
    write_weighted_grad(ours, task_gradients(_losses(ours), ours), weights)
    sum(w * loss for w, loss in zip(weights, _losses(reference))).backward()
    for mine, p in zip(ours, reference):
        assert torch.allclose(mine.grad, p.grad, rtol=1e-14, atol=0.0)


def test_gaba_stages_doctests() -> None:
    failures, tried = doctest.testmod(gabalab.gaba_stages)
    assert tried >= 6 and failures == 0
