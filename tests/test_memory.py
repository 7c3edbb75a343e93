"""Byte accounting of PyTorch calls: gabalab.memory."""

from __future__ import annotations

import gc
import os

import pytest
import torch

from gabalab.memory import (
    AllocationReport,
    count_graph_nodes,
    count_saved_tensors,
    measure_allocations,
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
