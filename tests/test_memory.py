"""Byte accounting of PyTorch calls: gabalab.memory."""

from __future__ import annotations

import gc
import os

import pytest
import torch

from gabalab.memory import (
    AllocationReport,
    GradCall,
    count_graph_nodes,
    count_saved_tensors,
    doubling_verdict,
    grad_call_table,
    measure_allocations,
    measure_grad_call,
    tensor_bytes,
)
from gabalab.models import TinyDualHead
from gabalab.norms import shared_parameters


def test_concatenation_allocates_exactly_its_buffer() -> None:
    a, b = torch.ones(1000), torch.ones(250)
    out, report = measure_allocations(torch.cat, [a, b])
    assert out.numel() == 1250
    assert report == AllocationReport(peak_bytes=5000, retained_bytes=5000,
                                      allocated_bytes=5000, freed_bytes=0, n_allocations=1)


def test_temporary_counts_in_peak_not_in_retained() -> None:
    a = torch.ones(1000)
    out, report = measure_allocations(lambda: (a * 2.0).sum())
    assert float(out) == 2000.0
    assert report.retained_bytes == 4  # only the 0-d result is still alive
    assert report.peak_bytes >= 4000 + 4  # the doubled copy and the result at once
    assert report.freed_bytes >= 4000
    assert report.allocated_bytes == report.retained_bytes + report.freed_bytes


def test_freeing_older_memory_is_not_seen() -> None:
    # Garbage from earlier tests (cycles holding tensors allocated while an earlier profile
    # ran) would otherwise be collected inside this call and its frees counted.
    gc.collect()
    holder = [torch.ones(1000)]
    _, report = measure_allocations(holder.clear)
    assert not holder
    assert report == AllocationReport(0, 0, 0, 0, 0)


def test_balance_counts_frees_of_new_memory_only() -> None:
    old = [torch.ones(1000)]

    def swap() -> torch.Tensor:
        old.clear()  # frees 4000 bytes allocated before the call: invisible
        fresh = torch.ones(500)
        temporary = torch.ones(250)
        del temporary
        return fresh

    _, report = measure_allocations(swap)
    assert report == AllocationReport(peak_bytes=3000, retained_bytes=2000,
                                      allocated_bytes=3000, freed_bytes=1000, n_allocations=2)


def test_same_call_same_report() -> None:
    x = torch.arange(5000, dtype=torch.float32)

    def call() -> torch.Tensor:
        return torch.linalg.vector_norm(torch.cat([x, x]))

    reports = {measure_allocations(call)[1] for _ in range(3)}
    assert len(reports) == 1


def test_gradient_call_holds_exactly_the_gradients() -> None:
    model = TinyDualHead(seed=0)
    params = shared_parameters(model)
    rul, _ = model(torch.ones(8, 14))
    loss = rul.pow(2).mean()
    grads, report = measure_allocations(torch.autograd.grad, loss, params, retain_graph=True)
    assert report.retained_bytes == tensor_bytes(grads) == 4 * sum(p.numel() for p in params)
    grads_cg, report_cg = measure_allocations(
        torch.autograd.grad, loss, params, retain_graph=True, create_graph=True)
    assert report_cg.retained_bytes > report.retained_bytes
    assert count_graph_nodes(grads) == 0 and count_graph_nodes(grads_cg) > 0


def test_standard_error_descriptor_is_restored() -> None:
    before = os.fstat(2)
    measure_allocations(torch.zeros, 10)
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)


def test_errors_propagate_and_descriptor_is_restored() -> None:
    before = os.fstat(2)

    def boom() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        measure_allocations(boom)
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)


def test_quiet_off_still_measures() -> None:
    _, report = measure_allocations(torch.zeros, 10, quiet=False)
    assert report.retained_bytes == 40


@pytest.mark.parametrize("function", [measure_allocations, count_saved_tensors])
def test_non_callable_is_rejected(function) -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        function(3)


def test_saved_tensors_of_a_product() -> None:
    w = torch.ones(3, requires_grad=True)
    out, report = count_saved_tensors(lambda: (w * w).sum())
    assert float(out.detach()) == 3.0
    assert report.n_tensors == 2  # both factors are saved, one storage
    assert report.storage_bytes == 12


def test_nothing_saved_without_recording() -> None:
    w = torch.ones(3, requires_grad=True)
    with torch.no_grad():
        _, report = count_saved_tensors(lambda: (w * w).sum())
    assert report.n_tensors == 0 and report.storage_bytes == 0
    loss = (w * w * w).sum()
    _, off = count_saved_tensors(torch.autograd.grad, loss, [w], retain_graph=True)
    _, on = count_saved_tensors(torch.autograd.grad, loss, [w], create_graph=True)
    assert off.n_tensors == 0
    assert on.n_tensors > 0


def test_graph_nodes() -> None:
    w = torch.ones(3, requires_grad=True)
    assert count_graph_nodes([(2 * w).sum()]) == 3
    assert count_graph_nodes([w, torch.zeros(2)]) == 0
    y = (w * 3).sum()
    assert count_graph_nodes([y, y]) == 3  # shared nodes are counted once
    with pytest.raises(TypeError, match=r"tensors\[1\]"):
        count_graph_nodes([y, 1.0])


def test_tensor_bytes() -> None:
    assert tensor_bytes([torch.zeros(3, 4), None, torch.zeros(2, dtype=torch.float64)]) == 64
    assert tensor_bytes([]) == 0
    assert tensor_bytes([torch.zeros(5, dtype=torch.float16)]) == 10
    with pytest.raises(TypeError, match=r"tensors\[0\]"):
        tensor_bytes([[1.0]])


def test_measure_grad_call_matches_the_separate_measurements() -> None:
    model = TinyDualHead(seed=0)
    params = shared_parameters(model)
    rul, _ = model(torch.ones(8, 14))
    loss = rul.pow(2).mean()
    grads, call = measure_grad_call(loss, params)
    (expected, alloc), saved = count_saved_tensors(
        measure_allocations, torch.autograd.grad, loss, params, retain_graph=True)
    assert all(torch.equal(a, b) for a, b in zip(grads, expected))
    assert call == GradCall(alloc.peak_bytes, alloc.retained_bytes, saved.n_tensors, 0,
                            tensor_bytes(expected))
    assert call.retained_bytes == call.grad_bytes == 4 * sum(p.numel() for p in params)
    assert all(p.grad is None for p in params)  # .grad untouched
    grads_cg, recorded = measure_grad_call(loss, params, create_graph=True)
    assert recorded.saved_tensors > 0 and recorded.graph_nodes > 0
    assert recorded.retained_bytes > call.retained_bytes
    assert recorded.grad_bytes == call.grad_bytes


def test_measure_grad_call_errors() -> None:
    w = torch.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="loss"):
        measure_grad_call(3.0, [w])
    with pytest.raises(ValueError, match="loss must be a scalar"):
        measure_grad_call(w * 2, [w])
    with pytest.raises(ValueError, match="loss does not require grad"):
        measure_grad_call(torch.tensor(1.0), [w])
    with pytest.raises(ValueError, match="params is empty"):
        measure_grad_call(w.sum(), [])
    with pytest.raises(TypeError, match="params"):
        measure_grad_call(w.sum(), w)
    with pytest.raises(ValueError, match=r"params\[0\] does not require grad"):
        measure_grad_call(w.sum(), [torch.ones(3)])
    with pytest.raises(ValueError, match="params: loss does not reach"):
        measure_grad_call(w.sum(), [w, torch.ones(2, requires_grad=True)])
    with pytest.raises(TypeError, match="create_graph"):
        measure_grad_call(w.sum(), [w], create_graph="yes")
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(ValueError, match="loss: its graph was already freed"):
        measure_grad_call(loss, [w])


def test_grad_call_table_lines_and_errors() -> None:
    a, b = GradCall(8000, 4000, 0, 0, 4000), GradCall(90_000, 40_000, 12, 30, 4000)
    lines = grad_call_table({"off": a, "on": b}).splitlines()
    assert len(lines) == 5 and max(len(line) for line in lines) <= 76
    assert lines[1].split() == ["held", "after", "call", "4,000", "40,000"]
    assert lines[4].split()[-2:] == ["0", "12"]
    with pytest.raises(ValueError, match="calls is empty"):
        grad_call_table({})
    with pytest.raises(TypeError, match="calls"):
        grad_call_table([a])
    with pytest.raises(TypeError, match=r"calls\['x'\]"):
        grad_call_table({"x": 3})
    with pytest.raises(ValueError, match="longer than 20"):
        grad_call_table({"a" * 21: a})


@pytest.mark.parametrize("ratio, verdict", [
    (2.0, "holds"), (1.5, "holds"), (2.5, "holds"), (2.51, "holds in part"),
    (9.5, "holds in part"), (1.49, "contradicted"), (1.0, "contradicted"),
])
def test_doubling_verdict(ratio, verdict) -> None:
    assert doubling_verdict(ratio) == verdict


def test_doubling_verdict_errors() -> None:
    with pytest.raises(ValueError, match="ratio"):
        doubling_verdict(0.0)
    with pytest.raises(TypeError, match="ratio"):
        doubling_verdict("2")
