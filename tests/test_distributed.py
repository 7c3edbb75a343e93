"""GABA over two real processes (gloo on 127.0.0.1): exact, agreed, bounded in time.

Two runs of two ranks each, started by the tests themselves through
:func:`gabalab.distributed.spawn_local` (collectives and the whole run time out after
``TIMEOUT_S``):

* ``exact``: several SGD steps of a small dual-head model, unwrapped and wrapped in
  ``DistributedDataParallel`` (plain, ``find_unused_parameters=True``,
  ``static_graph=True``), with small buckets, and with two accumulated micro-batches per
  rank. Each is compared with a
  single-process run on the concatenated batch, here in the parent process.
* ``bad``: setups that cannot be exact or that fail on one rank only; every rank must reach
  the same outcome (all skip or all raise), and the group must still work afterwards.
* ``cheap``: held weights (``measure_every``) and the representation sensor under
  ``DistributedDataParallel`` (plain, ``find_unused_parameters``, ``static_graph``,
  micro-batches under ``no_sync``), compared with one process on the concatenated batch;
  then the setups they refuse (an unwrapped model) and failures on one rank.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from gabalab import distributed
from gabalab.distributed import (
    CommStats,
    active_group,
    average_task_gradients,
    broadcast_parameters,
    check_replicated_parameters,
    norm_spread,
    spawn_local,
    unwrap_model,
)
from gabalab.gaba import HEADER_FIELDS, GabaBalancer
from gabalab.gaba_stages import task_gradients
from gabalab.models import TinyDualHead
from gabalab.norms import shared_named_parameters
from gabalab.sensors import FeatureTap

WORLD = 2
PER_RANK = 8
STEPS = 3
LR = 0.1
TIMEOUT_S = 30.0
CONFIGS = ("unwrapped", "ddp", "ddp_unused", "ddp_static", "small_buckets", "ddp_accumulate")


def global_batch(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The concatenated batch of one step (every rank can build it; rank r takes its rows)."""
    gen = torch.Generator().manual_seed(100 + step)
    n = WORLD * PER_RANK
    x = torch.randn(n, 14, generator=gen)
    y = torch.randn(n, generator=gen) * 10.0
    c = torch.randint(0, 3, (n,), generator=gen)
    return x, y, c


def shard(batch, lo: int, hi: int):
    return tuple(t[lo:hi] for t in batch)


def task_losses(model: nn.Module, batch) -> list[torch.Tensor]:
    x, y, c = batch
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


def flat_params(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()


# --------------------------------------------------------------------------- rank workers


def counting_hook(state: list, bucket):
    """A DDP communication hook that counts the buckets DDP's own reducer all-reduces."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    state.append(bucket.buffer().numel())
    return allreduce_hook(None, bucket)


def exact_worker(rank: int, world: int) -> dict:
    """Every configuration of CONFIGS on this rank: final parameters and per-step results."""
    out: dict = {}
    for config in CONFIGS:
        model = TinyDualHead(seed=0)
        net: nn.Module = model
        reduced_by_ddp: list = []
        if config.startswith("ddp"):
            net = DDP(model, find_unused_parameters=(config == "ddp_unused"),
                      static_graph=(config == "ddp_static"))
            net.register_comm_hook(reduced_by_ddp, counting_hook)
        cap = 0.001 if config == "small_buckets" else 25.0
        balancer = GabaBalancer.from_model(net, bucket_cap_mb=cap)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        steps = []
        for step in range(STEPS):
            optimizer.zero_grad(set_to_none=True)
            batch = global_batch(step)
            if config == "ddp_accumulate":
                half = PER_RANK // 2
                base = rank * PER_RANK
                balancer.accumulate([loss / 2 for loss in
                                     task_losses(net, shard(batch, base, base + half))])
                result = balancer.step([loss / 2 for loss in
                                        task_losses(net, shard(batch, base + half,
                                                               base + PER_RANK))])
            else:
                part = shard(batch, rank * PER_RANK, (rank + 1) * PER_RANK)
                result = balancer.step(task_losses(net, part))
            optimizer.step()
            steps.append(result)
        out[config] = {"params": flat_params(model), "results": steps,
                       "reduced_by_ddp": reduced_by_ddp}
    return out


def _outcome(fn) -> tuple[str, str, str]:
    """Run ``fn``; report ("ok", repr of its value, "") or ("raised", type, message)."""
    try:
        value = fn()
    except Exception as err:
        return ("raised", type(err).__name__, str(err))
    return ("ok", repr(value), "")


def bad_worker(rank: int, world: int) -> dict:
    """Setups that cannot be exact or fail on one rank; each outcome as seen by this rank."""
    out: dict = {}
    x = torch.randn(PER_RANK, 14, generator=torch.Generator().manual_seed(rank))
    y = torch.randn(PER_RANK, generator=torch.Generator().manual_seed(10 + rank))
    c = torch.arange(PER_RANK) % 3

    # FSDP (both generations) is refused at construction.
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard

    sharded = TinyDualHead(seed=0)
    fully_shard(sharded, mesh=init_device_mesh("cpu", (world,)))
    out["fsdp2_model"] = _outcome(lambda: GabaBalancer.from_model(sharded))
    out["fsdp2_params"] = _outcome(lambda: GabaBalancer(list(sharded.trunk.parameters())))
    wrapped = FullyShardedDataParallel(TinyDualHead(seed=0), device_id=torch.device("cpu"),
                                       use_orig_params=True)
    out["fsdp1_model"] = _outcome(lambda: GabaBalancer.from_model(wrapped))
    out["fsdp1_params"] = _outcome(lambda: GabaBalancer(list(wrapped.parameters())))

    def fresh(**options):
        model = TinyDualHead(seed=0)
        return model, GabaBalancer.from_model(model, **options)

    # Mismatched task counts: rank 1 balances three tasks, rank 0 two.
    model, _ = fresh()
    k = 3 if rank == 1 else 2
    balancer = GabaBalancer.from_model(model, n_tasks=k)
    losses = task_losses(model, (x, y, c))
    if k == 3:
        losses.append(F.l1_loss(model(x)[0], y))
    out["n_tasks"] = _outcome(lambda: balancer.step(losses))

    # Rank 1 passes the wrong number of losses to a two-task balancer.
    model, balancer = fresh()
    losses = task_losses(model, (x, y, c))
    if rank == 1:
        losses = losses + [losses[0] * 2]
    out["n_losses"] = _outcome(lambda: balancer.step(losses))

    # The same error, found in accumulate() and raised by apply() on every rank.
    model, balancer = fresh()
    losses = task_losses(model, (x, y, c))
    out["accumulate_held"] = _outcome(
        lambda: balancer.accumulate(losses[:1] if rank == 1 else losses))
    out["accumulate_raised"] = _outcome(balancer.apply)

    # A non-finite loss on rank 1 only, with on_nonfinite="skip", then "raise".
    model, balancer = fresh(on_nonfinite="skip", ema=0.5)
    balancer.step(task_losses(model, (x, y, c)))
    ema_before = balancer.smoothed_norms
    model.zero_grad(set_to_none=True)
    losses = task_losses(model, (x, y, c))
    if rank == 1:
        losses[1] = losses[1] * math.inf
    result = balancer.step(losses)
    out["skip"] = (result.skipped, result.reason, balancer.smoothed_norms == ema_before,
                   all(p.grad is None for p in model.parameters()), balancer.n_skipped)
    model, balancer = fresh()
    losses = task_losses(model, (x, y, c))
    if rank == 1:
        losses[0] = losses[0] * math.nan
    out["raise"] = _outcome(lambda: balancer.step(losses))

    # GradScaler: an overflow on rank 1 only makes every rank's scaler skip and back off.
    model, balancer = fresh(ema=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    balancer.step(task_losses(model, (x, y, c)), scaler=scaler)
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    before, ema_before = flat_params(model), balancer.smoothed_norms
    losses = task_losses(model, (x, y, c))
    if rank == 1:
        losses[0] = losses[0] * math.inf
    result = balancer.step(losses, scaler=scaler)
    scaler.unscale_(optimizer)
    scaler.step(optimizer)
    scaler.update()
    out["overflow"] = (result.overflow, result.skipped, scaler.get_scale(),
                       bool(np.array_equal(before, flat_params(model))),
                       balancer.smoothed_norms == ema_before, balancer.n_overflows)

    # Replicas that differ (an unwrapped model seeded per rank) are refused.
    model = TinyDualHead(seed=rank)
    balancer = GabaBalancer.from_model(model)
    out["replicas"] = _outcome(lambda: balancer.step(task_losses(model, (x, y, c))))
    broadcast_parameters(model.parameters())
    model.zero_grad(set_to_none=True)
    out["after_broadcast"] = _outcome(
        lambda: balancer.step(task_losses(model, (x, y, c))).skipped)

    # The group still works after all this: one normal step keeps the replicas identical.
    model, balancer = fresh()
    balancer.step(task_losses(model, (x, y, c)))
    torch.optim.SGD(model.parameters(), lr=LR).step()
    out["final_params"] = flat_params(model)
    return out


# --------------------------------------------------------------------------- parent side


@pytest.fixture(scope="module")
def exact() -> tuple[list[dict], float]:
    start = time.perf_counter()
    ranks = spawn_local(exact_worker, WORLD, timeout_s=TIMEOUT_S)
    return ranks, time.perf_counter() - start  # the duration, for --durations reports


@pytest.fixture(scope="module")
def bad() -> list[dict]:
    return spawn_local(bad_worker, WORLD, timeout_s=TIMEOUT_S)


def _grad_vectors(model: nn.Module, batch) -> list[torch.Tensor]:
    """Each task's gradient on the shared parameters, flattened (float64)."""
    shared = [p for _, p in shared_named_parameters(model)]
    grads = task_gradients(task_losses(model, batch), shared)
    return [torch.cat([g.reshape(-1) for g in task]).double() for task in grads]


@pytest.fixture(scope="module")
def reference() -> dict:
    """Single process, concatenated batch: parameters, norms and per-shard gradients."""
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    norms, shard_grads, full_grads = [], [], []
    for step in range(STEPS):
        batch = global_batch(step)
        full_grads.append(_grad_vectors(model, batch))
        shard_grads.append([_grad_vectors(model, shard(batch, r * PER_RANK,
                                                       (r + 1) * PER_RANK))
                            for r in range(WORLD)])
        optimizer.zero_grad(set_to_none=True)
        norms.append(balancer.step(task_losses(model, batch)).norms)
        optimizer.step()
    return {"params": flat_params(model), "norms": norms, "shards": shard_grads,
            "full": full_grads}


def hang_worker(rank: int, world: int) -> None:
    """Rank 0 waits in a collective that rank 1 never joins."""
    if rank == 0:
        dist.all_reduce(torch.ones(1))
    else:
        time.sleep(60)


def test_a_collective_that_never_completes_fails_instead_of_hanging() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)rank 0 raised.*Timed out"):
        spawn_local(hang_worker, WORLD, timeout_s=2.0)


@pytest.mark.parametrize("config", CONFIGS)
def test_replicas_are_identical_and_equal_the_big_batch(exact, reference, config) -> None:
    ranks, _ = exact
    params = [r[config]["params"] for r in ranks]
    for other in params[1:]:
        np.testing.assert_array_equal(params[0], other)
    np.testing.assert_allclose(params[0], reference["params"], rtol=1e-5, atol=1e-6)
    for step in range(STEPS):
        results = [r[config]["results"][step] for r in ranks]
        assert all(res.world_size == WORLD and not res.skipped for res in results)
        assert results[0].weights == results[1].weights
        np.testing.assert_allclose(results[0].norms, reference["norms"][step], rtol=1e-5)


def test_ddp_wrapped_models_do_not_drift_and_raise_nothing(exact) -> None:
    """The drift the plain autograd.grad route shows under DDP is gone."""
    ranks, _ = exact
    plain = ranks[0]["unwrapped"]["params"]
    for config in ("ddp", "ddp_unused", "ddp_static"):  # the same arithmetic, bit for bit
        np.testing.assert_array_equal(ranks[0][config]["params"], plain)
        np.testing.assert_array_equal(ranks[1][config]["params"], plain)


def test_ddp_does_not_reduce_the_gradients_again(exact) -> None:
    """DDP's reducer never fires: no bucket goes through its communication hook.

    With static_graph=True, DDP queues one delayed all-reduce in the first iteration; it
    sends the (untouched) buckets once and writes nothing back, as the identical parameters
    above show.
    """
    ranks, _ = exact
    n_params = sum(p.numel() for p in TinyDualHead(seed=0).parameters())
    for rank in ranks:
        for config in ("ddp", "ddp_unused", "ddp_accumulate"):
            assert rank[config]["reduced_by_ddp"] == []
        assert sum(rank["ddp_static"]["reduced_by_ddp"]) == n_params  # once, first step


def test_local_norms_obey_the_identity(exact, reference) -> None:
    """mean_r ||g_r||^2 = ||g||^2 + mean_r ||g_r - g||^2; the naive mean is too large."""
    ranks, _ = exact
    for step in range(STEPS):
        shards = reference["shards"][step]
        results = [r["unwrapped"]["results"][step] for r in ranks]
        for task in range(2):
            local = [res.local_norms[task] for res in results]
            mine = [float(shards[r][task].norm()) for r in range(WORLD)]
            np.testing.assert_allclose(local, mine, rtol=1e-5)
            mean = sum(shards[r][task] for r in range(WORLD)) / WORLD
            spread = sum(float((shards[r][task] - mean).norm()) ** 2
                         for r in range(WORLD)) / WORLD
            exact_norm = results[0].norms[task]
            mean_square = sum(g * g for g in local) / WORLD
            assert mean_square - exact_norm**2 == pytest.approx(spread, rel=1e-4)
            assert spread > 1e-3 * exact_norm**2  # the two shards really differ
            naive = sum(local) / WORLD
            assert exact_norm < naive <= math.sqrt(mean_square) * (1 + 1e-7)


def test_norm_spread_is_the_numpy_twin_of_the_ranks_norms(exact, reference) -> None:
    ranks, _ = exact
    for step in range(STEPS):
        results = [r["unwrapped"]["results"][step] for r in ranks]
        for task in range(2):
            shards = np.stack([g[task].numpy() for g in reference["shards"][step]])
            out = norm_spread(shards)
            assert out.n_shards == WORLD
            assert out.norm_of_mean == pytest.approx(results[0].norms[task], rel=1e-5)
            assert out.mean_local_norm == pytest.approx(
                sum(r.local_norms[task] for r in results) / WORLD, rel=1e-5)
            assert out.mean_square_local == pytest.approx(out.square_of_mean + out.spread,
                                                          rel=1e-12)


def test_norm_spread_of_one_shard_has_no_spread_and_validates() -> None:
    out = norm_spread([[1.0, 2.0, 2.0]])
    assert (out.spread, out.norm_of_mean, out.mean_local_norm) == (0.0, 3.0, 3.0)
    with pytest.raises(ValueError, match=r"shape \(R, P\)"):
        norm_spread([1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(R, P\)"):
        norm_spread(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="gradients contains 1 non-finite"):
        norm_spread([[1.0, math.nan]])


def test_bytes_per_step_match_the_parameter_sizes(exact) -> None:
    ranks, _ = exact
    model = TinyDualHead(seed=0)
    shared = [p for _, p in shared_named_parameters(model)]
    shared_ids = {id(p) for p in shared}
    p_shared = sum(p.numel() for p in shared)
    p_heads = sum(p.numel() for p in model.parameters() if id(p) not in shared_ids)
    n_tensors, k = len(list(model.parameters())), 2
    header = 16 * len(HEADER_FIELDS)  # float64 values, sent with their negatives
    mask = k * n_tensors  # one byte per (task, tensor)
    data = 4 * (k * p_shared + p_heads)  # float32: every task on the trunk, each head once
    for config in ("unwrapped", "ddp", "ddp_unused", "ddp_static", "ddp_accumulate"):
        result = ranks[0][config]["results"][-1]
        assert result.all_reduce_bytes == header + mask + data
        assert result.all_reduce_calls == 3  # header, mask, one bucket
    small = ranks[0]["small_buckets"]["results"][-1]
    assert small.all_reduce_bytes == header + mask + data
    assert small.all_reduce_calls > 3
    # a plain DDP step all-reduces every gradient once
    assert data / (4 * (p_shared + p_heads)) == pytest.approx(
        (k * p_shared + p_heads) / (p_shared + p_heads))
    as_dict = result.as_dict()
    assert as_dict["gaba/all_reduce_bytes"] == float(header + mask + data)
    assert as_dict["gaba/world_size"] == 2.0 and "gaba/local_norm_1" in as_dict


def test_accumulated_steps_report_their_micro_batches(exact) -> None:
    ranks, _ = exact
    result = ranks[1]["ddp_accumulate"]["results"][0]
    assert result.micro_batches == 2 and result.as_dict()["gaba/micro_batches"] == 2.0


def test_sharded_parameters_are_refused(bad) -> None:
    for rank in bad:
        for key in ("fsdp2_model", "fsdp1_model"):
            assert rank[key][:2] == ("raised", "TypeError")
            assert "wrapped by FSDP" in rank[key][2]
        assert rank["fsdp2_params"][:2] == ("raised", "TypeError")
        assert "DTensor" in rank["fsdp2_params"][2]
        assert rank["fsdp1_params"][:2] == ("raised", "TypeError")
        assert "FullyShardedDataParallel" in rank["fsdp1_params"][2]


def test_mismatched_task_counts_raise_on_every_rank(bad) -> None:
    for rank in bad:
        assert rank["n_tasks"][:2] == ("raised", "ValueError")
        assert "number of tasks (n_tasks) differs between ranks" in rank["n_tasks"][2]


def test_a_local_error_raises_on_every_rank(bad) -> None:
    assert bad[1]["n_losses"][:2] == ("raised", "ValueError")
    assert "expected 2, got 3" in bad[1]["n_losses"][2]
    assert bad[0]["n_losses"][:2] == ("raised", "RemoteRankError")
    assert "rank 1" in bad[0]["n_losses"][2] and "expected 2, got 3" in bad[0]["n_losses"][2]
    # found by accumulate(), held, raised by apply() everywhere
    assert [r["accumulate_held"][0] for r in bad] == ["ok", "ok"]
    assert bad[1]["accumulate_raised"][:2] == ("raised", "ValueError")
    assert bad[0]["accumulate_raised"][:2] == ("raised", "RemoteRankError")


def test_a_nonfinite_loss_on_one_rank_is_skipped_by_every_rank(bad) -> None:
    for rank in bad:
        skipped, reason, ema_kept, grad_untouched, n_skipped = rank["skip"]
        assert skipped and ema_kept and grad_untouched and n_skipped == 1
        assert reason == "rank 1: losses[1] is not finite (inf)"
    for rank in bad:
        assert rank["raise"][:2] == ("raised", "ValueError")
        assert rank["raise"][2].startswith("rank 1: losses[0] is not finite (nan)")


def test_an_overflow_on_one_rank_backs_off_every_scaler(bad) -> None:
    for rank in bad:
        overflow, skipped, scale, unchanged, ema_kept, n_overflows = rank["overflow"]
        assert overflow and not skipped and unchanged and ema_kept and n_overflows == 1
        assert scale == 512.0  # 1024 halved by scaler.update()


def test_differing_replicas_are_refused_until_broadcast(bad) -> None:
    for rank in bad:
        assert rank["replicas"][:2] == ("raised", "ValueError")
        assert "replicas' parameters differ" in rank["replicas"][2]
        assert rank["after_broadcast"] == ("ok", "False", "")


def test_the_group_still_works_after_the_failures(bad) -> None:
    np.testing.assert_array_equal(bad[0]["final_params"], bad[1]["final_params"])


# ----------------------------------------------------- cheaper sensors over two processes

CHEAP_STEPS = 4
#: config -> (DDP options or None for an unwrapped model, balancer options, micro-batches)
CHEAP = {
    "ddp_periodic": ({}, dict(measure_every=2), 1),
    "ddp_unused_periodic": (dict(find_unused_parameters=True), dict(measure_every=2), 1),
    "ddp_unused_representation": (dict(find_unused_parameters=True),
                                  dict(sensor="representation", ema=0.5), 1),
    "ddp_accumulate_periodic": ({}, dict(measure_every=2), 2),
    "ddp_representation": ({}, dict(sensor="representation"), 1),
    "ddp_representation_frobenius": ({}, dict(sensor="representation",
                                              representation_norm="frobenius"), 1),
    "ddp_representation_periodic": ({}, dict(sensor="representation", measure_every=2,
                                             ema=0.5), 1),
}


def _cheap_step(net, balancer, tap, batch, micro_batches: int, rank: int):
    """One step of rank ``rank`` on its shard of ``batch``, in ``micro_batches`` parts."""
    lo, size = rank * PER_RANK, PER_RANK // micro_batches
    representation = balancer.sensor == "representation"
    for m in range(micro_batches):
        part = shard(batch, lo + m * size, lo + (m + 1) * size)
        last = m == micro_batches - 1
        with contextlib.nullcontext() if last else net.no_sync():
            losses = [loss / micro_batches for loss in task_losses(net, part)]
        features = tap.features if representation else None
        if last:
            return balancer.step(losses, features=features)
        with net.no_sync():
            balancer.accumulate(losses, features=features)
    raise AssertionError("unreachable")


def cheap_worker(rank: int, world: int) -> dict:
    """The cheaper sensors under DDP on this rank, then the setups they must refuse."""
    out: dict = {}
    for config, (ddp_options, options, micro_batches) in CHEAP.items():
        model = TinyDualHead(seed=0)
        net = DDP(model, **ddp_options)
        balancer = GabaBalancer.from_model(net, **options)
        tap = FeatureTap(net)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        steps = []
        for step in range(CHEAP_STEPS):
            optimizer.zero_grad(set_to_none=True)
            steps.append(_cheap_step(net, balancer, tap, global_batch(step), micro_batches,
                                     rank))
            optimizer.step()
        out[config] = {"params": flat_params(model), "results": steps}

    x, y, c = shard(global_batch(0), rank * PER_RANK, (rank + 1) * PER_RANK)

    # An unwrapped model: nothing averages a held step's backward, and every rank says so.
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, measure_every=2)
    out["unwrapped_measure"] = _outcome(lambda: balancer.step(task_losses(model, (x, y, c)))
                                        .fresh)
    model.zero_grad(set_to_none=True)
    out["unwrapped_held"] = _outcome(lambda: balancer.step(task_losses(model, (x, y, c))))
    out["unwrapped_grads_reset"] = all(p.grad is None for p in model.parameters())
    model = TinyDualHead(seed=0)
    tap = FeatureTap(model)
    balancer = GabaBalancer.from_model(model, sensor="representation")
    out["unwrapped_representation"] = _outcome(
        lambda: balancer.step(task_losses(model, (x, y, c)), features=tap.features))

    # DDP's static graph is refused at construction for held and representation steps.
    static = DDP(TinyDualHead(seed=0), static_graph=True)
    out["static_periodic"] = _outcome(lambda: GabaBalancer.from_model(static, measure_every=2))
    out["static_representation"] = _outcome(
        lambda: GabaBalancer.from_model(static, sensor="representation"))
    out["static_exact"] = _outcome(lambda: GabaBalancer.from_model(static).sensor)

    def ddp_parts(**options):
        model = TinyDualHead(seed=0)
        net = DDP(model)
        return model, net, GabaBalancer.from_model(net, **options), FeatureTap(net)

    # A non-finite loss on rank 1 only, on a held step and on a representation step: every
    # rank skips before the backward (no rank is left waiting in DDP's all-reduce).
    for name, options in (("held_skip", dict(measure_every=2, on_nonfinite="skip")),
                          ("representation_skip", dict(sensor="representation",
                                                       on_nonfinite="skip"))):
        model, net, balancer, tap = ddp_parts(**options)
        if "held" in name:
            balancer.step(task_losses(net, (x, y, c)))
            model.zero_grad(set_to_none=True)
        losses = task_losses(net, (x, y, c))
        if rank == 1:
            losses[1] = losses[1] * math.inf
        features = tap.features if "representation" in name else None
        result = balancer.step(losses, features=features)
        out[name] = (result.skipped, result.reason, result.fresh,
                     all(p.grad is None for p in model.parameters()), balancer.n_skipped)

    # A local error on rank 1 at a held step raises on every rank, before any backward.
    model, net, balancer, _ = ddp_parts(measure_every=2)
    balancer.step(task_losses(net, (x, y, c)))
    model.zero_grad(set_to_none=True)
    losses = task_losses(net, (x, y, c))
    if rank == 1:
        losses = losses + [losses[0] * 2]
    out["held_error"] = _outcome(lambda: balancer.step(losses))
    out["held_error_grads"] = all(p.grad is None for p in model.parameters())

    # The group still works: two more periodic steps through DDP keep the replicas equal.
    model, net, balancer, _ = ddp_parts(measure_every=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(2):
        optimizer.zero_grad(set_to_none=True)
        balancer.step(task_losses(net, (x, y, c)))
        optimizer.step()
    out["final_params"] = flat_params(model)
    return out


@pytest.fixture(scope="module")
def cheap() -> list[dict]:
    return spawn_local(cheap_worker, WORLD, timeout_s=TIMEOUT_S)


def _cheap_reference(options: dict) -> dict:
    """The same training in one process on the concatenated batches."""
    model = TinyDualHead(seed=0)
    balancer = GabaBalancer.from_model(model, **options)
    tap = FeatureTap(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    results = []
    for step in range(CHEAP_STEPS):
        optimizer.zero_grad(set_to_none=True)
        losses = task_losses(model, global_batch(step))
        features = tap.features if balancer.sensor == "representation" else None
        results.append(balancer.step(losses, features=features))
        optimizer.step()
    return {"params": flat_params(model), "results": results}


@pytest.mark.parametrize("config", list(CHEAP))
def test_cheaper_sensors_under_ddp_equal_the_big_batch(cheap, config) -> None:
    ranks = [r[config] for r in cheap]
    reference = _cheap_reference(CHEAP[config][1])
    np.testing.assert_array_equal(ranks[0]["params"], ranks[1]["params"])
    np.testing.assert_allclose(ranks[0]["params"], reference["params"], rtol=1e-5, atol=1e-6)
    every = CHEAP[config][1].get("measure_every", 1)
    for step in range(CHEAP_STEPS):
        ours = [r["results"][step] for r in ranks]
        ref = reference["results"][step]
        assert all(res.fresh == (step % every == 0) == ref.fresh for res in ours)
        assert ours[0].weights == ours[1].weights and not ours[0].skipped
        np.testing.assert_allclose(ours[0].weights, ref.weights, rtol=1e-5)
        if ref.fresh:  # representation norms summed over the ranks: the big batch's
            np.testing.assert_allclose(ours[0].norms, ref.norms, rtol=1e-5)
        assert all(res.world_size == WORLD for res in ours)
        assert ours[0].all_reduce_calls == ours[1].all_reduce_calls > 0


def test_held_steps_send_two_small_messages_and_leave_the_rest_to_ddp(cheap) -> None:
    held = cheap[0]["ddp_periodic"]["results"][1]
    assert not held.fresh and held.all_reduce_calls == 2  # before and after the backward
    header = 16 * len(HEADER_FIELDS)  # (min, max) float64 pairs
    assert held.all_reduce_bytes == 2 * header
    representation = cheap[0]["ddp_representation"]["results"][0]
    assert representation.all_reduce_calls == 3  # the headers and the K batch sums
    assert representation.all_reduce_bytes == 2 * header + 8 * 2 * 16  # K x d float64
    frobenius = cheap[0]["ddp_representation_frobenius"]["results"][0]
    assert frobenius.all_reduce_bytes == 2 * header + 8 * 2  # K squared norms


def test_an_unwrapped_model_is_refused_on_held_and_representation_steps(cheap) -> None:
    for rank in cheap:
        assert rank["unwrapped_measure"] == ("ok", "True", "")
        for key in ("unwrapped_held", "unwrapped_representation"):
            status, kind, message = rank[key]
            assert (status, kind) == ("raised", "ValueError")
            assert "differ between ranks after the weighted backward()" in message
            assert "DistributedDataParallel" in message
        assert rank["unwrapped_grads_reset"]


def test_a_static_graph_is_refused_for_held_and_representation_steps(cheap) -> None:
    for rank in cheap:
        for key in ("static_periodic", "static_representation"):
            assert rank[key][:2] == ("raised", "ValueError")
            assert "static_graph=True) cannot be combined" in rank[key][2]
        assert rank["static_exact"] == ("ok", "'exact'", "")


def test_a_nonfinite_loss_on_one_rank_skips_held_and_representation_steps(cheap) -> None:
    for name in ("held_skip", "representation_skip"):
        for rank in cheap:
            skipped, reason, fresh, grads_none, n_skipped = rank[name]
            assert skipped and grads_none and n_skipped == 1
            assert reason.startswith("rank 1: losses[1] is not finite")
            assert fresh == (name == "representation_skip")


def test_a_local_error_at_a_held_step_raises_on_every_rank(cheap) -> None:
    assert cheap[1]["held_error"][:2] == ("raised", "ValueError")
    assert "expected 2, got 3" in cheap[1]["held_error"][2]
    assert cheap[0]["held_error"][:2] == ("raised", "RemoteRankError")
    assert "rank 1" in cheap[0]["held_error"][2]
    assert all(rank["held_error_grads"] for rank in cheap)
    np.testing.assert_array_equal(cheap[0]["final_params"], cheap[1]["final_params"])


# ------------------------------------------- ranks that disagree, ranks that stop answering

#: setting -> (rank 0's options, rank 1's options, the words the refusal must contain).
#: Each pair used to reach collectives of different sizes (gloo aborted the process) or to
#: step on and diverge; every rank must now refuse, with the same message, before .grad.
DISAGREEING = {
    "sensor": (dict(), dict(sensor="representation"), "the sensor differs"),
    "measure_every": (dict(), dict(measure_every=3), "measure_every differs"),
    "ema": (dict(), dict(ema=0.5), "the EMA factor (ema) differs"),
    "floor": (dict(), dict(floor=0.0), "the floor differs"),
    "weight_rule": (dict(), dict(weight_rule="complement"), "weight_rule differs"),
    "on_nonfinite": (dict(), dict(on_nonfinite="skip"), "on_nonfinite differs"),
    "representation_norm": (dict(sensor="representation"),
                            dict(sensor="representation", representation_norm="frobenius"),
                            "representation_norm differs"),
    "bucket_cap_mb": (dict(), dict(bucket_cap_mb=0.001), "bucket_cap_mb differs"),
}
#: Values each rank reports for the setting (as the message writes them).
DISAGREEING_VALUES = {
    "sensor": ("'exact'", "'representation'"), "measure_every": ("1", "3"),
    "ema": ("0.9", "0.5"), "floor": ("0.0001", "0.0"), "weight_rule": ("'inverse'", "'complement'"),
    "on_nonfinite": ("'raise'", "'skip'"),
    "representation_norm": ("'batch_sum'", "'frobenius'"), "bucket_cap_mb": ("25.0", "0.001"),
}


def _refusal(net, model, balancer, tap, batch) -> tuple:
    """One step; its outcome, whether .grad was left untouched, and the parameters."""
    losses = task_losses(net, batch)
    features = tap.features if balancer.sensor == "representation" else None
    outcome = _outcome(lambda: balancer.step(losses, features=features).skipped)
    return outcome, all(p.grad is None for p in model.parameters()), flat_params(model)


def disagree_worker(rank: int, world: int) -> dict:
    """Balancers built or loaded differently on the two ranks; each outcome on this rank."""
    out: dict = {}
    batch = shard(global_batch(0), rank * PER_RANK, (rank + 1) * PER_RANK)
    for name, options in DISAGREEING.items():
        model = TinyDualHead(seed=0)
        net = DDP(model)
        balancer = GabaBalancer.from_model(net, **options[rank])
        out[name] = _refusal(net, model, balancer, FeatureTap(net), batch)

    # State loaded on one rank only: the step count, the EMA and the held weights.
    def two_steps(**options):
        model = TinyDualHead(seed=0)
        net = DDP(model)
        balancer = GabaBalancer.from_model(net, **options)
        for _ in range(2):
            model.zero_grad(set_to_none=True)
            balancer.step(task_losses(net, batch))
        model.zero_grad(set_to_none=True)
        return model, net, balancer

    model, net, balancer = two_steps()
    state = balancer.state_dict()
    if rank == 1:
        balancer.load_state_dict({**state, "n_steps": 1})
    out["n_steps"] = _refusal(net, model, balancer, None, batch)
    model, net, balancer = two_steps()
    state = balancer.state_dict()
    if rank == 1:
        balancer.load_state_dict({**state, "ema_norms": [g * 2 for g in state["ema_norms"]]})
    out["ema_state"] = _refusal(net, model, balancer, None, batch)
    model, net, balancer = two_steps(measure_every=3)
    state = balancer.state_dict()
    if rank == 1:
        balancer.load_state_dict({**state, "held_weights": [0.5, 0.5]})
    out["held_state"] = _refusal(net, model, balancer, None, batch)
    out["held_state_mode"] = balancer.measurement_due

    # Every refusal happened on every rank at the same call: the group still works.
    model = TinyDualHead(seed=0)
    net = DDP(model)
    balancer = GabaBalancer.from_model(net, timeout_s=20.0)
    balancer.step(task_losses(net, batch))
    torch.optim.SGD(model.parameters(), lr=LR).step()
    out["final_params"] = flat_params(model)
    return out


@pytest.fixture(scope="module")
def disagree() -> list[dict]:
    return spawn_local(disagree_worker, WORLD, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("setting", list(DISAGREEING))
def test_ranks_with_different_settings_refuse_on_every_rank(disagree, setting) -> None:
    words = DISAGREEING[setting][2]
    values = DISAGREEING_VALUES[setting]
    messages = set()
    for rank in disagree:
        (status, kind, message), untouched, _ = rank[setting]
        assert (status, kind) == ("raised", "ValueError"), (setting, rank[setting][0])
        assert words in message
        assert f"{values[0]} on rank 0" in message and f"{values[1]} on rank 1" in message
        assert "nothing was written to .grad on any rank" in message
        assert untouched
        messages.add(message)
    assert len(messages) == 1  # the same words on every rank
    np.testing.assert_array_equal(disagree[0][setting][2], disagree[1][setting][2])


@pytest.mark.parametrize(("setting", "words"), [
    ("n_steps", "the step count (n_steps) differs between ranks (2 on rank 0; 1 on rank 1)"),
    ("ema_state", "the EMA of the norms differs between ranks"),
    ("held_state", "the held weights differ between ranks"),
])
def test_state_loaded_on_one_rank_only_is_refused_before_the_replicas_diverge(
        disagree, setting, words) -> None:
    messages = set()
    for rank in disagree:
        (status, kind, message), untouched, _ = rank[setting]
        assert (status, kind) == ("raised", "ValueError")
        assert words in message and "load the same state_dict on every rank" in message
        assert untouched
        messages.add(message)
    assert len(messages) == 1
    np.testing.assert_array_equal(disagree[0][setting][2], disagree[1][setting][2])
    if setting == "held_state":  # refused at a held step, before its backward through DDP
        assert "(0.5, 0.5)" in messages.pop()
        assert [rank["held_state_mode"] for rank in disagree] == [False, False]


def test_the_group_still_works_after_the_refusals(disagree) -> None:
    np.testing.assert_array_equal(disagree[0]["final_params"], disagree[1]["final_params"])


def silent_peer_worker(rank: int, world: int, name: str) -> object:
    """Rank 1 stops answering; rank 0's step must fail within its timeout, naming the call.

    A collective that timed out leaves the group unusable, so each case is its own run.
    """
    model = TinyDualHead(seed=0)
    batch = shard(global_batch(0), rank * PER_RANK, (rank + 1) * PER_RANK)
    net = DDP(model) if name == "held" else model
    balancer = GabaBalancer.from_model(net, timeout_s=1.5,
                                       measure_every=2 if name == "held" else 1)
    if name == "held":
        balancer.step(task_losses(net, batch))
        model.zero_grad(set_to_none=True)
    if rank == 1:
        time.sleep(4.0)  # alive, but not calling the step
        return None
    start = time.monotonic()
    outcome = _outcome(lambda: balancer.step(task_losses(net, batch)))
    return outcome, time.monotonic() - start


@pytest.mark.parametrize(("name", "call"), [
    ("exact", "apply() (exact step)"), ("held", "accumulate() (held step, micro-batch 1)")])
def test_a_silent_peer_fails_the_step_within_the_timeout(name, call) -> None:
    ranks = spawn_local(silent_peer_worker, WORLD, args=(name,), timeout_s=TIMEOUT_S)
    (status, kind, message), seconds = ranks[0]
    assert (status, kind) == ("raised", "CollectiveTimeoutError")
    assert f"waited more than 1.5 s in the step header all-reduce of {call}" in message
    assert "rank 0 of 2" in message
    assert 1.5 <= seconds < 3.5


def test_timeout_s_is_checked() -> None:
    params = [torch.zeros(2, requires_grad=True)]
    assert GabaBalancer(params, timeout_s=None).timeout_s is None
    assert GabaBalancer(params, timeout_s=5).timeout_s == 5.0
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="timeout_s"):
            GabaBalancer(params, timeout_s=bad)
    with pytest.raises(TypeError, match="timeout_s"):
        GabaBalancer(params, timeout_s="10")


# --------------------------------------------------------------------------- one process


def test_single_process_needs_no_group() -> None:
    assert active_group() is None
    with pytest.raises(TypeError, match="process_group must be None or a torch.distributed"):
        active_group("world")
    model = TinyDualHead(seed=0)
    with pytest.raises(TypeError, match="process_group must be None"):
        GabaBalancer.from_model(model, process_group=1)
    for cap, error in ((0, ValueError), (-1.0, ValueError), ("25", TypeError)):
        with pytest.raises(error, match="bucket_cap_mb"):
            GabaBalancer.from_model(model, bucket_cap_mb=cap)
    result = GabaBalancer.from_model(model).step(
        task_losses(model, shard(global_batch(0), 0, PER_RANK)))
    assert result.world_size == 1 and result.local_norms == result.norms
    assert (result.all_reduce_calls, result.all_reduce_bytes) == (0, 0)
    assert "gaba/world_size" not in result.as_dict()


def test_unwrap_model_looks_through_compile_and_validates() -> None:
    model = TinyDualHead(seed=0)
    wrapper = nn.Module()
    wrapper._orig_mod = model  # the attribute torch.compile's wrapper uses
    assert unwrap_model(wrapper) == (model, None)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        unwrap_model("model")


def test_check_replicated_parameters_names_the_parameter() -> None:
    flat = nn.Parameter(torch.zeros(3))
    flat._fsdp_flattened = True
    message = r"parameter trunk.w is managed by FullyShardedDataParallel"
    with pytest.raises(TypeError, match=message):
        check_replicated_parameters([("trunk.w", flat)])


def test_spawn_and_broadcast_validate_their_arguments() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        spawn_local("f")
    with pytest.raises(ValueError, match="world_size must be >= 1"):
        spawn_local(exact_worker, 0)
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        spawn_local(exact_worker, timeout_s=0)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        spawn_local(exact_worker, threads=0)
    with pytest.raises(TypeError, match="args must be a sequence"):
        spawn_local(exact_worker, args="x")
    with pytest.raises(ValueError, match="backend must be one of"):
        spawn_local(exact_worker, backend="mpi")
    with pytest.raises(ValueError, match="src must be >= 0"):
        broadcast_parameters([], src=-1)
    with pytest.raises(TypeError, match="process_group must be None"):
        broadcast_parameters([], process_group="g")
    broadcast_parameters([torch.zeros(1)])  # no group: nothing to do
    assert CommStats(1, 8) + CommStats(2, 16) == CommStats(3, 24)


def test_average_task_gradients_validates_its_arguments() -> None:
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0"):
        average_task_gradients([(None,)], [w], None, bucket_cap_mb=0)
    with pytest.raises(ValueError, match="one entry per parameter"):
        average_task_gradients([(None, None)], [w], None)


def test_distributed_module_doctests() -> None:
    import doctest

    failures, tried = doctest.testmod(distributed)
    assert tried >= 3 and failures == 0
    assert not dist.is_initialized()


@pytest.fixture()
def one_rank_group():
    """A gloo group of this process alone (world size 1), destroyed afterwards."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield dist.group.WORLD
    finally:
        dist.destroy_process_group()


def test_a_one_rank_group_is_a_single_process(one_rank_group) -> None:
    assert active_group() is None and active_group(one_rank_group) is None
    model = TinyDualHead(seed=0)
    batch = shard(global_batch(0), 0, PER_RANK)
    result = GabaBalancer.from_model(model, process_group=one_rank_group).step(
        task_losses(model, batch))
    twin = TinyDualHead(seed=0)
    alone = GabaBalancer.from_model(twin).step(task_losses(twin, batch))
    assert result == alone and result.world_size == 1
    with pytest.raises(ValueError, match=r"src must be a rank of the group \(< 1\), got 1"):
        broadcast_parameters(model.parameters(), src=1)
    broadcast_parameters(model.parameters(), src=0, process_group=one_rank_group)


@pytest.mark.parametrize("options", [dict(measure_every=2), dict(sensor="representation")])
def test_cheaper_sensors_on_a_one_rank_group_are_a_single_process(one_rank_group,
                                                                   options) -> None:
    results = []
    for group in (one_rank_group, None):
        model = TinyDualHead(seed=0)
        tap = FeatureTap(model)
        balancer = GabaBalancer.from_model(model, process_group=group, **options)
        steps = []
        for step in range(3):
            model.zero_grad(set_to_none=True)
            losses = task_losses(model, shard(global_batch(step), 0, PER_RANK))
            features = tap.features if "sensor" in options else None
            steps.append((balancer.step(losses, features=features),
                          [p.grad.clone() for p in model.parameters()]))
        results.append(steps)
    for (ours, grads), (alone, ref) in zip(*results):
        assert ours == alone and ours.world_size == 1 and ours.all_reduce_calls == 0
        assert all(torch.equal(g, h) for g, h in zip(grads, ref))
    assert [r.fresh for r, _ in results[0]] == ([True, False, True] if "measure_every" in options
                                                else [True] * 3)


def test_an_explicit_group_needs_torch_distributed(one_rank_group) -> None:
    group = one_rank_group
    dist.destroy_process_group()
    try:
        with pytest.raises(RuntimeError, match="torch.distributed is not initialised"):
            active_group(group)
    finally:
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)


def test_load_state_dict_checks_the_overflow_count() -> None:
    balancer = GabaBalancer.from_model(TinyDualHead(seed=0))
    state = {"ema_norms": None, "n_steps": 3, "n_skipped": 0, "n_overflows": -1}
    with pytest.raises(ValueError, match=r"state\['n_overflows'\] must be >= 0"):
        balancer.load_state_dict(state)
    balancer.load_state_dict({**state, "n_overflows": 2})
    assert balancer.state_dict()["n_overflows"] == 2


# ------------------------------------------- shard gradients and the stored scale benchmark

def _dual_batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return (torch.randn(n, 14, generator=gen, dtype=torch.float64),
            100 * torch.rand(n, generator=gen, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=gen))


def test_shard_gradients_average_to_the_batch_gradient() -> None:
    model = TinyDualHead(seed=0).double()
    x, y, c = _dual_batch()
    shared = [p for _, p in shared_named_parameters(model)]
    rul, logits = model(x)
    whole = task_gradients([F.mse_loss(rul, y), F.cross_entropy(logits, c)], shared)
    for n_shards in (1, 2, 4):
        per_task = distributed.shard_gradients(model, x, y, c, n_shards)
        assert [g.shape for g in per_task] == [(n_shards, sum(p.numel() for p in shared))] * 2
        for task, g in enumerate(per_task):
            flat = torch.cat([t.reshape(-1) for t in whole[task]]).numpy()
            np.testing.assert_allclose(g.mean(axis=0), flat, rtol=1e-12, atol=1e-15)
    # the shards are the batch's consecutive rows
    first = distributed.shard_gradients(model, x[:4], y[:4], c[:4], 1)
    np.testing.assert_array_equal(distributed.shard_gradients(model, x, y, c, 2)[1][0],
                                  first[1][0])
    assert all(p.grad is None for p in model.parameters())


def test_shard_gradients_validate() -> None:
    model = TinyDualHead(seed=0).double()
    x, y, c = _dual_batch()
    with pytest.raises(ValueError, match="n_shards must divide the batch of 8 evenly"):
        distributed.shard_gradients(model, x, y, c, 3)
    with pytest.raises(ValueError, match="y_rul must hold one target per sample"):
        distributed.shard_gradients(model, x, y[:4], c, 2)
    with pytest.raises(TypeError, match="y_health must be a 1-D tensor of integer"):
        distributed.shard_gradients(model, x, y, c.double(), 2)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        distributed.shard_gradients("model", x, y, c, 2)


def test_norm_spread_excess() -> None:
    out = norm_spread([[3.0, 0.0], [1.0, 0.0]])
    assert out.excess == 0.25  # spread 1 over ||g||^2 4
    assert norm_spread([[1.0], [-1.0]]).excess == math.inf


def _scale_benchmark() -> dict:
    path = Path(__file__).resolve().parents[1] / "results/benchmarks/gaba_scale.json"
    return json.loads(path.read_text("utf-8"))


def test_scale_costs_read_the_stored_benchmark() -> None:
    bench = _scale_benchmark()
    costs = distributed.scale_costs(bench)
    ratios = bench["summary"]["ratios"]
    for pair, row in ratios.items():
        assert costs.ratios[pair] == (row["ratio_of_medians"], row["paired_ratio"])
        assert costs.paired(pair) == row["paired_ratio"]
    traffic = bench["bytes_per_step"]
    assert costs.plain_bytes == traffic["per_variant"]["plain"]["ddp_reducer_bytes"]
    assert costs.gaba_bytes == traffic["per_variant"]["gaba"]["balancer_bytes"]
    quotes = costs.quotes()
    assert quotes["gaba"] == f"{ratios['gaba/plain']['paired_ratio']:.2f}"
    assert quotes["comm"] == f"{ratios['gaba/gaba_local']['paired_ratio'] - 1:.0%}"
    assert quotes["mb"] == f"{costs.gaba_bytes / 2**20:.1f}"
    assert quotes["date"] == bench["provenance"]["date_utc"][:10]
    table = costs.table().splitlines()
    assert max(map(len, table)) <= 76
    assert len(table) == 2 + len(bench["summary"]["variants"]) + len(ratios) + 2
    with pytest.raises(ValueError, match="pair must be one of"):
        costs.paired("plain/gaba")


def test_scale_costs_validate() -> None:
    bench = _scale_benchmark()
    del bench["summary"]["ratios"]["gaba_amp/plain_amp"]
    with pytest.raises(ValueError, match="has no pair 'gaba_amp/plain_amp'"):
        distributed.scale_costs(bench)
    bench = _scale_benchmark()
    bench["summary"]["variants"]["plain"]["median_ms"] = -1.0
    with pytest.raises(ValueError, match=r"\['plain'\]\['median_ms'\] must be > 0"):
        distributed.scale_costs(bench)
    with pytest.raises(ValueError, match="benchmark has no entry 'setup'"):
        distributed.scale_costs({})
    with pytest.raises(TypeError, match="benchmark must be a mapping"):
        distributed.scale_costs([])
