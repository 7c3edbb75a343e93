"""Cheaper sensors: held weights (measure_every) and the representation sensor, alone and in
GabaBalancer, against hand-written references."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gabalab.sensors
from gabalab.gaba import GabaBalancer, gaba_backward
from gabalab.models import DualTaskModel, TinyDualHead
from gabalab.norms import shared_parameters, task_grad_norms
from gabalab.sensors import (
    FeatureTap,
    HeldWeights,
    batch_sums,
    check_features,
    check_measure_every,
    check_sensor,
    compile_hint,
    feature_norms,
    grad_norm,
    representation_gradients,
    weighted_backward,
    weighted_loss,
)
from gabalab.weighting import DEFAULT_FLOOR, gaba_weights, stabilised_weights
from tests.conftest import SMALL_DUAL
from tests.test_gaba import ExtraHead


def _batch(step: int, n: int = 8, dtype=torch.float64):
    gen = torch.Generator().manual_seed(200 + step)
    x = torch.randn(n, 14, generator=gen, dtype=dtype)
    y = torch.randn(n, generator=gen, dtype=dtype) * 10.0
    c = torch.randint(0, 3, (n,), generator=gen)
    return x, y, c


def _parts(model, batch):
    """(losses, z): the two task losses and the shared features they were computed from."""
    x, y, c = batch
    z = model.features(x)
    rul, logits = model.rul_head(z).squeeze(-1), model.health_head(z)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)], z


def _grads(model) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in model.parameters()]


def _params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


# ------------------------------------------------------------------------- the module alone


def test_option_checks() -> None:
    assert check_sensor("exact") == "exact" and check_measure_every(16) == 16
    with pytest.raises(ValueError, match=r"sensor must be one of \['exact', 'representation'\]"):
        check_sensor("rep")
    with pytest.raises(TypeError, match="sensor must be one of"):
        check_sensor(1)
    with pytest.raises(ValueError, match="measure_every must be >= 1, got 0"):
        check_measure_every(0)
    with pytest.raises(TypeError, match="measure_every must be an integer"):
        check_measure_every(2.0)
    with pytest.raises(TypeError, match="measure_every must be an integer"):
        check_measure_every(True)


def test_check_features_names_the_problem() -> None:
    w = torch.ones(3, requires_grad=True)
    z = 2 * w
    assert check_features(z)[0] is z and [t is z for t in check_features((z, 3 * w))][0]
    with pytest.raises(TypeError, match="features must be a torch.Tensor or a sequence"):
        check_features(3.0)
    with pytest.raises(TypeError, match="features must be a torch.Tensor or a sequence"):
        check_features("z")
    with pytest.raises(TypeError, match=r"features\[1\] must be a torch.Tensor, got float"):
        check_features([z, 1.0])
    with pytest.raises(ValueError, match="features is empty"):
        check_features([])
    with pytest.raises(ValueError, match="features does not require grad.*detached"):
        check_features(z.detach())
    with pytest.raises(ValueError, match="features is a leaf tensor"):
        check_features(w)


def test_representation_gradients_and_norms_by_hand() -> None:
    w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    z, other = 2 * w, 3 * w
    grads = representation_gradients([(3 * z).sum(), (z * z).sum() + other.sum()], [z, other])
    assert torch.equal(grads[0][0], torch.tensor([3.0, 3.0], dtype=torch.float64))
    assert torch.equal(grads[0][1], torch.zeros(2, dtype=torch.float64))  # not read: zeros
    assert torch.equal(grads[1][0], 2 * z.detach())  # d(z.z)/dz = 2z = (4, 8)
    assert torch.equal(grads[1][1], torch.ones(2, dtype=torch.float64))
    assert w.grad is None  # nothing written to .grad, the trunk not differentiated
    # the features here have a batch of two samples: (3, 3) sums to 6, (4, 8) to 12
    assert batch_sums(grads).tolist() == [[6.0, 0.0], [12.0, 2.0]]
    assert feature_norms(grads) == (6.0, math.sqrt(148.0))
    assert feature_norms(grads, scale=2.0) == (3.0, math.sqrt(148.0) / 2)
    norms = feature_norms(grads, reduce="frobenius")
    assert norms == (math.sqrt(18.0), math.sqrt(16 + 64 + 2))
    assert feature_norms(grads, scale=2.0, reduce="frobenius") == (math.sqrt(18.0) / 2,
                                                                    math.sqrt(82.0) / 2)
    with pytest.raises(ValueError, match="grads must hold one entry per task, got none"):
        feature_norms([])
    with pytest.raises(ValueError, match=r"grads\[1\] must hold gradients of the shapes"):
        feature_norms([(torch.ones(2, 2),), (torch.ones(3, 2),)])
    with pytest.raises(ValueError, match="reduce must be one of"):
        feature_norms(grads, reduce="sum")
    with pytest.raises(ValueError, match="batch dimension"):
        batch_sums([(torch.tensor(1.0),)])
    with pytest.raises(ValueError, match=r"losses\[1\] does not depend on the features"):
        representation_gradients([z.sum(), (5 * w).sum()], [z])


def test_feature_norms_sum_half_precision_in_float32_and_report_nonfinite() -> None:
    big = torch.full((70_000,), 300.0, dtype=torch.float16)  # its float16 norm overflows
    out = feature_norms([(big, torch.tensor([3.0, 4.0])),
                         (torch.zeros_like(big), torch.tensor([math.nan, 0.0]))],
                        reduce="frobenius")
    assert out[0] == pytest.approx(math.sqrt(300.0**2 * 70_000 + 25.0), rel=1e-4)
    assert math.isnan(out[1])
    half = torch.full((70_000, 1), 300.0, dtype=torch.float16)  # sums to 2.1e7 in float64
    assert feature_norms([(half,)]) == (300.0 * 70_000,)
    assert math.isnan(feature_norms([(torch.tensor([[math.nan]]),)])[0])


def test_weighted_loss_backward_and_grad_norm() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="weights must hold one weight per loss"):
        weighted_loss([w.sum(), w.sum()], [1.0])
    weighted_backward([(3 * w).sum(), w.sum()], [0.25, 0.75], retain_graph=False)
    assert torch.equal(w.grad, torch.tensor([1.5, 1.5]))
    scaler = torch.amp.GradScaler("cpu", init_scale=4.0)
    w.grad = None
    weighted_backward([(3 * w).sum(), w.sum()], [0.25, 0.75], scaler=scaler)
    assert torch.equal(w.grad, torch.tensor([6.0, 6.0]))
    h = torch.zeros(1, dtype=torch.bfloat16, requires_grad=True)
    h.grad = torch.tensor([4.0], dtype=torch.bfloat16)
    assert grad_norm([w, h, torch.zeros(1, requires_grad=True)]) == pytest.approx(
        math.sqrt(72.0 + 16.0), rel=1e-7)  # float32 norm of w
    assert grad_norm([torch.zeros(1, requires_grad=True)]) == 0.0
    w.grad[0] = math.inf
    assert math.isinf(grad_norm([w]))


def test_held_weights_fall_due_every_n_steps() -> None:
    held = HeldWeights((0.5, 0.5), (1.0, 1.0))
    pattern = []
    for _ in range(6):
        pattern.append(held.due(3))
        held.age = 0 if held.due(3) else held.age + 1
    assert pattern == [False, False, True, False, False, True]
    assert HeldWeights((1.0, 0.0), (0.0, 1.0)).due(1)


def test_compile_hint_and_doctests() -> None:
    hint = compile_hint(RuntimeError("... non-empty donated buffers ..."))
    assert hint is not None and "donated_buffer = False" in str(hint)
    failures, tried = doctest.testmod(gabalab.sensors)
    assert tried >= 12 and failures == 0


def test_feature_tap_records_what_the_heads_read() -> None:
    model = DualTaskModel(**SMALL_DUAL, dropout=0.0, seed=0)
    x = torch.randn(4, 30, 14)
    tap = FeatureTap(model)
    with pytest.raises(RuntimeError, match=r"head\(s\) \['rul_head', 'health_head'\] have not "
                                           "run"):
        _ = tap.features
    model(x)
    (z,) = tap.features
    torch.testing.assert_close(z, model.features(x), rtol=0, atol=0)
    tap.clear()
    with pytest.raises(RuntimeError, match="have not run"):
        _ = tap.features
    wrapped = nn.Sequential()  # not a model with heads
    with pytest.raises(ValueError, match="no module of the model is named 'rul_head'"):
        FeatureTap(wrapped)
    with pytest.raises(TypeError, match="heads must be a sequence of strings"):
        FeatureTap(model, heads="rul_head")
    with pytest.raises(ValueError, match="at least one head"):
        FeatureTap(model, heads=())
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        FeatureTap(object())
    tap.remove()
    model(x)
    with pytest.raises(RuntimeError, match="have not run"):
        _ = tap.features  # the hooks are gone


# ----------------------------------------------------------------- GabaBalancer: the options


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(sensor="rep"), ValueError, r"sensor must be one of \['exact', 'representation'\]"),
        (dict(sensor=None), TypeError, "sensor must be one of"),
        (dict(measure_every=0), ValueError, "measure_every must be >= 1"),
        (dict(measure_every=4.0), TypeError, "measure_every must be an integer"),
        (dict(weight_rule="gaba"), ValueError, r"rule must be one of \['inverse', 'complement'\]"),
        (dict(weight_rule=2), TypeError, "rule must be one of"),
        (dict(representation_norm="frobenius"), ValueError,
         "representation_norm is only used by sensor='representation'"),
        (dict(sensor="representation", representation_norm="sum"), ValueError,
         r"representation_norm must be one of \['batch_sum', 'frobenius'\]"),
    ],
)
def test_constructor_validates_the_new_options(options, error, message) -> None:
    with pytest.raises(error, match=message):
        GabaBalancer.from_model(TinyDualHead(seed=0), **options)


def test_weight_rule_is_used_for_three_tasks_and_changes_nothing_for_two() -> None:
    batch = _batch(0)
    x, y, c = batch
    results = {}
    for rule in ("inverse", "complement"):
        model = TinyDualHead(seed=0).double()
        balancer = GabaBalancer.from_model(model, weight_rule=rule)
        results[rule] = (balancer.step(_parts(model, batch)[0]), _grads(model))
    assert results["inverse"][0] == results["complement"][0]  # every field, bit for bit
    for g, h in zip(results["inverse"][1], results["complement"][1]):
        assert torch.equal(g, h)
    for rule in ("inverse", "complement"):
        model = ExtraHead(DualTaskModel(**SMALL_DUAL, seed=0)).double()
        rul, logits, extra = model(torch.randn(4, 30, 14, dtype=torch.float64))
        losses = [F.mse_loss(rul, y[:4]), F.cross_entropy(logits, c[:4]),
                  F.smooth_l1_loss(extra, y[:4] / 125)]
        balancer = GabaBalancer.from_model(model, ("rul_head", "health_head", "extra_head"),
                                           weight_rule=rule, ema=None, floor=0.0)
        result = balancer.step(losses)
        np.testing.assert_array_equal(result.weights, gaba_weights(result.norms, rule=rule))
        pulls = np.array(result.weights) * np.array(result.norms)
        if rule == "inverse":
            np.testing.assert_allclose(pulls, pulls[0], rtol=1e-12)
        else:
            assert pulls.max() / pulls.min() > 1.5


def test_gaba_backward_takes_the_weight_rule() -> None:
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    pulls = (1.0, 10.0, 100.0)
    for rule in ("inverse", "complement"):
        w.grad = None
        result = gaba_backward([g * w[i] for i, g in enumerate(pulls)], [w], weight_rule=rule,
                               floor=0.0)
        np.testing.assert_array_equal(result.weights, gaba_weights(pulls, rule=rule))
        np.testing.assert_allclose(w.grad.tolist(), np.array(result.weights) * pulls,
                                   rtol=1e-15)
    with pytest.raises(ValueError, match="rule must be one of"):
        gaba_backward([w[0], w[1]], [w], weight_rule="x")


def test_features_are_refused_by_the_exact_sensor_and_required_by_the_other() -> None:
    model = TinyDualHead(seed=0).double()
    losses, z = _parts(model, _batch(0))
    with pytest.raises(ValueError, match="features is only read by sensor='representation'"):
        GabaBalancer.from_model(model).step(losses, features=z)
    balancer = GabaBalancer.from_model(model, sensor="representation")
    with pytest.raises(ValueError, match=r"needs the shared features.*features=z"):
        balancer.step(losses)
    with pytest.raises(ValueError, match="does not require grad"):
        balancer.step(losses, features=z.detach())
    with pytest.raises(TypeError, match="features must be a torch.Tensor"):
        balancer.step(losses, features=1.0)
    lonely = model.health_head(torch.randn(8, 16, dtype=torch.float64, requires_grad=True) * 1)
    with pytest.raises(ValueError, match=r"losses\[1\] does not depend on the features"):
        balancer.step([losses[0], lonely.sum()], features=z)
    assert all(p.grad is None for p in model.parameters()) and balancer.n_steps == 0
    result = balancer.step(losses, features=z)  # the graph survived the refusals
    assert result.sensor == "representation" and result.fresh


# --------------------------------------------------------------------------- held weights


def _train(measure_every: int, steps: int, *, ema=None, floor=0.0, sensor="exact"):
    """SGD on TinyDualHead (float64) with a balancer; returns the results and parameters."""
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, ema=ema, floor=floor, sensor=sensor,
                                       measure_every=measure_every)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    results = []
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        losses, z = _parts(model, _batch(step))
        results.append(balancer.step(losses, features=z if sensor != "exact" else None))
        optimizer.step()
    return results, _params(model), balancer


def _reference_train(measure_every: int, steps: int, *, ema=None, floor=0.0,
                     sensor="exact"):
    """The same loop written out by hand: measure, hold, one weighted backward each step."""
    model = TinyDualHead(seed=0).double()
    shared = shared_parameters(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    state, weights, log = None, None, []
    for step in range(steps):
        optimizer.zero_grad(set_to_none=True)
        losses, z = _parts(model, _batch(step))
        if step % measure_every == 0:
            if sensor == "exact":
                norms = task_grad_norms(losses, shared, retain_graph=True)
            else:  # the batch-summed norm: ||sum_b dL/dz_b||
                norms = [float(torch.autograd.grad(loss, z, retain_graph=True)[0].sum(0).norm())
                         for loss in losses]
            update = stabilised_weights(norms, state, ema=ema, floor=floor)
            state, weights = update.norms, update.weights
        log.append(tuple(float(w) for w in weights))
        sum(float(w) * loss for w, loss in zip(weights, losses)).backward()
        optimizer.step()
    return log, _params(model)


@pytest.mark.parametrize("sensor", ["exact", "representation"])
@pytest.mark.parametrize("measure_every, ema, floor", [(1, None, 0.0), (3, None, 0.0),
                                                       (4, 0.5, 0.2)])
def test_training_equals_the_loop_written_by_hand(sensor, measure_every, ema, floor) -> None:
    steps = 9
    results, params, balancer = _train(measure_every, steps, ema=ema, floor=floor,
                                       sensor=sensor)
    weights, ref_params = _reference_train(measure_every, steps, ema=ema, floor=floor,
                                           sensor=sensor)
    assert [r.fresh for r in results] == [s % measure_every == 0 for s in range(steps)]
    assert [r.age for r in results] == [s % measure_every for s in range(steps)]
    assert all(r.sensor == sensor and not r.skipped for r in results)
    np.testing.assert_allclose([r.weights for r in results], weights, rtol=1e-9)
    torch.testing.assert_close(params, ref_params, rtol=1e-9, atol=1e-12)
    for r in results:
        assert all(math.isnan(g) for g in r.norms) == (not r.fresh)
        assert math.isnan(r.ratio) == (not r.fresh)
    assert balancer.held_weights == results[-1].weights and balancer.n_steps == steps


def test_measuring_every_step_is_todays_step() -> None:
    ours = _train(1, 4)
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, ema=None, floor=0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for step, mine in enumerate(ours[0]):
        optimizer.zero_grad(set_to_none=True)
        assert balancer.step(_parts(model, _batch(step))[0]) == mine
        optimizer.step()
    assert torch.equal(_params(model), ours[1])


def test_a_held_step_writes_the_weighted_backward_of_the_held_weights() -> None:
    model = DualTaskModel(**SMALL_DUAL, dropout=0.0, seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=2)
    assert balancer.measurement_due and balancer.held_weights is None
    x = torch.randn(6, 30, 14, dtype=torch.float64)
    y, c = torch.rand(6, dtype=torch.float64) * 100, torch.arange(6) % 3

    def losses():
        rul, logits = model(x)
        return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]

    first = balancer.step(losses())
    assert first.fresh and not balancer.measurement_due
    model.zero_grad(set_to_none=True)
    held = balancer.step(losses())
    assert not held.fresh and held.weights == first.weights and held.age == 1
    assert held.smoothed_norms == first.smoothed_norms and balancer.measurement_due
    ours = _grads(model)
    model.zero_grad(set_to_none=True)
    sum(w * loss for w, loss in zip(first.weights, losses())).backward()
    for g, h in zip(ours, _grads(model)):
        assert torch.equal(g, h)  # the same backward, the same floats


def test_skipped_steps_do_not_count_and_a_skipped_measurement_is_retried() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=3, on_nonfinite="skip")
    batch = _batch(0)
    ages = []
    for step in range(7):
        model.zero_grad(set_to_none=True)
        losses = _parts(model, batch)[0]
        if step in (0, 2):  # the first measurement and a held step are non-finite
            losses[0] = losses[0] * math.inf
        result = balancer.step(losses)
        ages.append((result.fresh, result.age, result.skipped))
        if result.skipped:
            assert all(p.grad is None for p in model.parameters())
            assert all(math.isnan(w) for w in result.weights)
    assert ages == [(True, 0, True), (True, 0, False), (False, 1, True), (False, 1, False),
                    (False, 2, False), (True, 0, False), (False, 1, False)]
    assert balancer.n_skipped == 2 and balancer.n_steps == 7


def _nan_gradient(model, losses):
    """losses[1] plus a term whose value is 0 but whose gradient is NaN."""
    w = model.trunk[0].weight
    return [losses[0], losses[1] + torch.sqrt(((w - w.detach()).sum()) ** 2)]


def test_a_nonfinite_gradient_on_a_held_step_is_found_after_the_backward() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=2, on_nonfinite="skip")
    balancer.step(_parts(model, _batch(0))[0])
    model.zero_grad(set_to_none=True)
    result = balancer.step(_nan_gradient(model, _parts(model, _batch(1))[0]))
    assert result.skipped and "weighted gradient in .grad is not finite" in result.reason
    assert all(p.grad is None for p in model.parameters())  # as they were before the step
    assert balancer.measurement_due is False  # the held step is retried
    raising = GabaBalancer.from_model(model, measure_every=2)
    raising.step(_parts(model, _batch(0))[0])
    model.zero_grad(set_to_none=True)
    with pytest.raises(ValueError, match=r"not finite.*the step was not applied.*skip"):
        raising.step(_nan_gradient(model, _parts(model, _batch(1))[0]))
    assert all(p.grad is None for p in model.parameters()) and raising.n_steps == 1
    with pytest.raises(ValueError, match=r"losses\[0\] is not finite \(inf\)"):
        losses = _parts(model, _batch(1))[0]
        raising.step([losses[0] * math.inf, losses[1]])


def test_held_steps_accumulate_micro_batches_into_the_big_batch() -> None:
    x, y, c = _batch(3, n=12)
    grads = {}
    for name in ("big", "micro"):
        model = TinyDualHead(seed=0).double()
        balancer = GabaBalancer.from_model(model, measure_every=2)
        balancer.step(_parts(model, (x, y, c))[0])
        model.zero_grad(set_to_none=True)
        if name == "big":
            result = balancer.step(_parts(model, (x, y, c))[0])
        else:
            for part in (slice(0, 4), slice(4, 12)):
                losses = _parts(model, (x[part], y[part], c[part]))[0]
                share = (part.stop - part.start) / 12
                balancer.accumulate([loss * share for loss in losses])
            assert balancer.pending_micro_batches == 2
            result = balancer.apply()
        assert not result.fresh and result.micro_batches == (1 if name == "big" else 2)
        grads[name] = _grads(model)
    for g, h in zip(grads["big"], grads["micro"]):
        torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-14)


def test_discard_on_a_held_step_clears_the_gradients_it_wrote() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=2)
    balancer.step(_parts(model, _batch(0))[0])
    model.zero_grad(set_to_none=True)
    balancer.accumulate(_parts(model, _batch(1))[0])
    assert all(p.grad is not None for p in model.parameters())
    balancer.discard()
    assert all(p.grad is None for p in model.parameters())
    assert balancer.pending_micro_batches == 0 and not balancer.measurement_due
    with pytest.raises(ValueError, match="apply\\(\\) found no accumulated micro-batch"):
        balancer.apply()


def test_the_scaler_on_held_and_representation_steps() -> None:
    scale = 2.0**10
    for sensor, measure_every in (("exact", 2), ("representation", 1)):
        ref_model, model = TinyDualHead(seed=0).double(), TinyDualHead(seed=0).double()
        ref = GabaBalancer.from_model(ref_model, sensor=sensor, measure_every=measure_every)
        ours = GabaBalancer.from_model(model, sensor=sensor, measure_every=measure_every)
        scaler = torch.amp.GradScaler("cpu", init_scale=scale)
        for step in range(2):
            ref_model.zero_grad(set_to_none=True)
            model.zero_grad(set_to_none=True)
            losses, z = _parts(ref_model, _batch(step))
            a = ref.step(losses, features=z if sensor != "exact" else None)
            losses, z = _parts(model, _batch(step))
            b = ours.step(losses, scaler=scaler, features=z if sensor != "exact" else None)
            assert b.norms == a.norms or all(math.isnan(g) for g in a.norms + b.norms)
            assert b.weights == a.weights and b.scale == scale and not b.overflow
            for p, q in zip(model.parameters(), ref_model.parameters()):
                assert torch.equal(p.grad, q.grad * scale)  # a power of two: exact
        # an overflow on a held (or representation) step is handed to the scaler
        model.zero_grad(set_to_none=True)
        if sensor == "exact":
            ours.step(_parts(model, _batch(5))[0], scaler=scaler)
            model.zero_grad(set_to_none=True)
        losses, z = _parts(model, _batch(6))
        held_before = ours.held_weights
        result = ours.step([losses[0] * math.inf, losses[1]], scaler=scaler,
                           features=z if sensor != "exact" else None)
        assert result.overflow and not result.skipped and ours.n_overflows == 1
        assert ours.held_weights == held_before
        assert any(not torch.isfinite(p.grad).all() for p in model.parameters()
                   if p.grad is not None)
        with pytest.raises(ValueError, match="scaler must be given to every accumulate"):
            ours.accumulate(losses, features=z if sensor != "exact" else None,
                            retain_graph=True)
            ours.accumulate(losses, scaler=scaler,
                            features=z if sensor != "exact" else None)
        ours.discard()


def test_state_dict_round_trips_mid_period() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=4, ema=0.5)
    for step in range(6):
        model.zero_grad(set_to_none=True)
        balancer.step(_parts(model, _batch(step))[0])
    state = balancer.state_dict()
    assert state["held_age"] == 1 and state["sensor"] == "exact"
    assert state["held_weights"] == list(balancer.held_weights)
    twin = GabaBalancer.from_model(model, measure_every=4, ema=0.5)
    twin.load_state_dict(state)
    assert twin.state_dict() == state
    for step in range(6, 10):
        batch = _batch(step)
        assert twin.step(_parts(model, batch)[0]) == balancer.step(_parts(model, batch)[0])
    # an older state (no held entries) loads with nothing held: the next step measures
    old = GabaBalancer.from_model(model, measure_every=4)
    old.load_state_dict({"ema_norms": None, "n_steps": 3, "n_skipped": 0, "n_overflows": 0})
    assert old.measurement_due and old.held_weights is None
    balancer.reset()
    assert balancer.measurement_due and balancer.smoothed_norms is None


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(held_weights=[0.5, 0.6]), r"held_weights'\] must hold 2 weights >= 0 that sum"),
        (dict(held_weights=[0.5]), r"held_weights'\] must hold 2 weights"),
        (dict(held_weights=[1.5, -0.5]), r"held_weights'\] must hold 2 weights"),
        (dict(held_norms=[1.0, math.nan]), r"held_norms'\] must hold 2 finite norms"),
        (dict(held_norms=None), "must both be given or both be None"),
        (dict(held_age=-1), r"state\['held_age'\] must be >= 0"),
        (dict(sensor="representation"), r"saved by a balancer with \(sensor, "
                                        r"representation_norm\) = \('representation'"),
    ],
)
def test_load_state_dict_checks_the_held_state(change, message) -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, measure_every=2)
    balancer.step(_parts(model, _batch(0))[0])
    state = {**balancer.state_dict(), **change}
    with pytest.raises((ValueError, TypeError), match=message):
        GabaBalancer.from_model(model, measure_every=2).load_state_dict(state)


# ---------------------------------------------------------------- the representation sensor


def test_representation_step_measures_on_the_features_and_writes_the_weighted_gradient() -> None:
    model = DualTaskModel(**SMALL_DUAL, dropout=0.0, seed=0).double()
    x = torch.randn(6, 30, 14, dtype=torch.float64)
    y, c = torch.rand(6, dtype=torch.float64) * 100, torch.arange(6) % 3
    with FeatureTap(model) as tap:
        rul, logits = model(x)
        losses = [F.mse_loss(rul, y), F.cross_entropy(logits, c)]
        grads = [torch.autograd.grad(loss, tap.features[0], retain_graph=True)[0]
                 for loss in losses]
        expected = [float(torch.linalg.vector_norm(g.sum(0))) for g in grads]
        frobenius = [float(torch.linalg.vector_norm(g)) for g in grads]
        np.testing.assert_allclose(GabaBalancer.from_model(
            model, sensor="representation", representation_norm="frobenius").step(
            losses, features=tap.features, retain_graph=True).norms, frobenius, rtol=1e-12)
        model.zero_grad(set_to_none=True)
        result = GabaBalancer.from_model(model, sensor="representation").step(
            losses, features=tap.features)
    np.testing.assert_allclose(result.norms, expected, rtol=1e-12)
    # the first step: no EMA state yet, so the weights are the closed form, floored
    np.testing.assert_array_equal(result.weights,
                                  stabilised_weights(result.norms, floor=DEFAULT_FLOOR).weights)
    assert result.local_norms == result.norms and result.ratio == pytest.approx(
        expected[0] / expected[1], rel=1e-12)
    ours = _grads(model)
    model.zero_grad(set_to_none=True)
    rul, logits = model(x)
    sum(w * loss for w, loss in zip(result.weights, [F.mse_loss(rul, y),
                                                     F.cross_entropy(logits, c)])).backward()
    for g, h in zip(ours, _grads(model)):
        torch.testing.assert_close(g, h, rtol=1e-12, atol=1e-15)


def test_representation_sensor_with_three_tasks_and_a_list_of_features() -> None:
    model = ExtraHead(TinyDualHead(seed=0)).double()
    x, y, c = _batch(4)
    z = model.base.features(x)
    zz = z * 1.0  # the extra head reads its own tensor
    losses = [F.mse_loss(model.base.rul_head(z).squeeze(-1), y),
              F.cross_entropy(model.base.health_head(z), c),
              F.smooth_l1_loss(model.extra_head(zz).squeeze(-1), y / 125)]
    balancer = GabaBalancer.from_model(model, ("rul_head", "health_head", "extra_head"),
                                       sensor="representation")
    expected = [math.sqrt(sum(float(g.sum(0).norm()) ** 2 for g in torch.autograd.grad(
        loss, [z, zz], retain_graph=True, allow_unused=True) if g is not None))
        for loss in losses]
    result = balancer.step(losses, features=[z, zz])
    np.testing.assert_allclose(result.norms, expected, rtol=1e-12)
    pulls = np.array(result.weights) * np.array(result.norms)
    np.testing.assert_allclose(pulls, pulls[0], rtol=1e-12)  # the inverse rule


def test_representation_measures_one_micro_batch_per_step() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, sensor="representation", measure_every=2)
    losses, z = _parts(model, _batch(0))
    balancer.accumulate(losses, features=z)
    losses, z = _parts(model, _batch(1))
    with pytest.raises(ValueError, match="measures on one micro-batch per step"):
        balancer.accumulate(losses, features=z)
    assert balancer.pending_micro_batches == 1
    assert balancer.apply().micro_batches == 1
    # a held step of the same balancer accumulates freely, with or without features
    model.zero_grad(set_to_none=True)
    balancer.accumulate([loss / 2 for loss in _parts(model, _batch(2))[0]])
    losses, z = _parts(model, _batch(3))
    result = balancer.step([loss / 2 for loss in losses], features=z)
    assert not result.fresh and result.micro_batches == 2 and result.sensor == "representation"


def test_nonfinite_feature_gradients_skip_before_the_backward() -> None:
    model = TinyDualHead(seed=0).double()
    balancer = GabaBalancer.from_model(model, sensor="representation", on_nonfinite="skip",
                                       ema=0.5)
    losses, z = _parts(model, _batch(0))
    balancer.step(losses, features=z)
    state = balancer.state_dict()
    model.zero_grad(set_to_none=True)
    losses, z = _parts(model, _batch(1))
    poisoned = losses[1] + torch.sqrt((z - z.detach()).sum() ** 2)  # value 0, gradient NaN
    result = balancer.step([losses[0], poisoned], features=z)
    assert result.skipped and result.reason.startswith(
        "losses[1]: the gradient on the features is not finite")
    assert all(p.grad is None for p in model.parameters())
    assert balancer.state_dict() == {**state, "n_steps": 2, "n_skipped": 1}


def test_representation_and_exact_sensors_give_similar_ratios_on_this_model() -> None:
    """Not a law: a check that the cheap sensor sees the same imbalance here, loosely."""
    model = TinyDualHead(seed=0).double()
    losses, z = _parts(model, _batch(0, n=32))
    exact = task_grad_norms(losses, shared_parameters(model), retain_graph=True)
    rep = feature_norms(representation_gradients(losses, [z]))
    assert exact[0] / exact[1] > 1 and rep[0] / rep[1] > 1


def test_the_two_representation_norms_differ_where_samples_disagree() -> None:
    """One window twice: the RUL rows agree and add up, the health rows (labels 0 and 1) do not."""
    model = TinyDualHead(seed=0).double()
    x = torch.randn(1, 14, dtype=torch.float64).repeat(2, 1)
    z = model.features(x)
    losses = [F.mse_loss(model.rul_head(z).squeeze(-1),
                         torch.tensor([50.0, 50.0], dtype=torch.float64)),
              F.cross_entropy(model.health_head(z), torch.tensor([0, 1]))]
    grads = representation_gradients(losses, [z])
    fro = feature_norms(grads, reduce="frobenius")
    summed = feature_norms(grads)
    assert summed[0] == pytest.approx(fro[0] * math.sqrt(2), rel=1e-12)  # equal rows add up
    assert summed[1] < 0.9 * fro[1] * math.sqrt(2)  # opposite pulls cancel in part
