"""Every public function refuses malformed arguments with an error that names the argument.

A property-based suite: for each public callable and each of its arguments, hypothesis throws
malformed values (see :mod:`tests.bad_values`) at that argument while the others are valid,
and the call must raise :class:`TypeError` or :class:`ValueError` whose message names the
argument. A call that succeeds is a silent outcome, any other exception (deep inside NumPy or
torch) an unclear one; both fail. Besides the generic malformed values, each family of cases
that used to pass silently and give a wrong result has its own values here: targets of shape
``(B, 1)`` against predictions of shape ``(B,)``, labels out of range, a 2-D array of norms,
parameters that do not belong to the model, NaN through the normaliser, a windowing that
leaves no training window, inconsistent balancer state, inputs of the wrong rank or dtype.

The last section throws the kinds of mistake that look right at first sight: empty
collections and zero-length axes, a NaN or inf anywhere in a valid input, a class where an
instance is expected, a state dict where parameters are, mismatched pairs (a balancer built
for another model, the features of another forward pass), losses whose graph was freed, and
keywords as variable names. A case whose fix belongs to a module this suite cannot change is
marked ``xfail(strict=True)`` with the check it needs; it fails the run once the fix is in, so
that the marker is removed then.

The file formats have their own suite, ``tests/data/test_bad_files.py``.
``test_every_public_callable_is_covered`` keeps the list complete: a public name of a module
must have cases here or be listed, with the reason, in ``EXEMPT``.

Set ``GABALAB_BAD_INPUT_COUNTS`` to a file name to get the number of inputs tried per module.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import altair as alt
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from gabalab import (
    amp,
    blocks,
    distributed,
    files,
    gaba,
    ledger,
    linear_reference,
    loss_recipes,
    losses,
    measure,
    memory,
    methods,
    models,
    norms,
    notebook,
    probe,
    progress,
    prose,
    scoped,
    sensor_comparison,
    sensors,
    site,
    toy,
    training,
    weighting,
)
from gabalab import data as gdata
from gabalab.charts import balancing as chart_balancing
from gabalab.charts import derivative_bound as chart_bound
from gabalab.charts import epochs as chart_epochs
from gabalab.charts import norm_scaling as chart_scaling
from gabalab.charts import render
from gabalab.charts import selection as chart_selection
from gabalab.charts import sphinx as chart_sphinx
from gabalab.charts import toy_bias as chart_toy
from gabalab.experiments import balancing as exp_balancing
from gabalab.experiments import provenance
from gabalab.plots import balancing as plot_balancing
from gabalab.plots import derivative_bound as plot_bound
from gabalab.plots import epochs as plot_epochs
from gabalab.plots import norm_scaling as plot_scaling
from gabalab.plots import selection as plot_selection
from gabalab.plots import sensors as plot_sensors
from gabalab.plots import toy_bias as plot_toy
from gabalab.widgets import live as live_widget
from gabalab.widgets import retraining as retrain_widget
from tests import bad_values as bad

#: Examples per (function, argument); derandomised, so every run tries the same inputs.
EXAMPLES = 12
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))
COUNTS: Counter[str] = Counter()


@dataclass(frozen=True)
class Case:
    """One argument of one public callable, and the malformed values thrown at it."""

    module: str
    target: str
    arg: str
    values: st.SearchStrategy[Any]
    call: Callable[[Any], object]
    label: str
    #: Why the case is expected to fail until a module outside this suite's reach is fixed.
    xfail: str = ""

    @property
    def id(self) -> str:
        return f"{self.module.removeprefix('gabalab.')}.{self.target}:{self.arg}"


CASES: list[Case] = []


def cases(
    module: Any,
    target: str,
    fn: Callable[..., object],
    valid: Callable[[], dict[str, Any]],
    values: dict[str, st.SearchStrategy[Any]],
    labels: dict[str, str] | None = None,
    *,
    xfail: str = "",
) -> None:
    """Register one case per argument of ``values``; ``valid()`` gives the other arguments.

    ``xfail`` says which check, in a module this suite does not change, the cases wait for.
    """
    name = module if isinstance(module, str) else module.__name__
    for arg, strategy in values.items():
        def call(value: Any, arg: str = arg) -> object:
            return fn(**{**valid(), arg: value})

        CASES.append(Case(name, target, arg, strategy, call, (labels or {}).get(arg, arg),
                          xfail))


def none() -> dict[str, Any]:
    return {}


# ------------------------------------------------------------------------------ fixtures

def tiny() -> models.TinyDualHead:
    return models.TinyDualHead(seed=0)


SMALL = dict(conv_channels=(4,), lstm_hidden=4, lstm_layers=1, attention_hidden=2,
             funnel=(8,), feature_dim=8, head_hidden=(4,))


def small_dual() -> models.DualTaskModel:
    return models.DualTaskModel(**SMALL, seed=0)


def batch(n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 5, 14, generator=gen)
    y = torch.randint(0, 126, (n,), generator=gen).float()
    c = torch.randint(0, 3, (n,), generator=gen)
    return x, y, c


def tiny_losses(model: nn.Module) -> list[torch.Tensor]:
    x, y, c = batch()
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


def window_dataset(n: int = 6) -> gdata.WindowDataset:
    x, y, _ = batch(n)
    return gdata.WindowDataset(x.numpy(), y.numpy())


FLEET = gdata.simulated_fleet(3, 2, seed=0, min_life=35, max_life=45)


def table() -> gdata.CmapssTable:
    return FLEET.train


def block_rows() -> dict[str, dict[str, float]]:
    return {"trunk": {"n_params": 2, "rul": 900.0, "health": 1.0},
            "rul_head": {"n_params": 1, "rul": 1600.0, "health": 0.0}}


def summary() -> dict[str, Any]:
    return toy.toy_bias_summary(10.0, "sgd", lr=0.1, n_steps=20)


# ------------------------------------------------------------------------------ data

cases(gdata.cmapss, "CmapssTable", gdata.CmapssTable,
      lambda: {"values": FLEET.train.values},
      {"values": bad.arrays([np.zeros(26), np.zeros((2, 25))])},
      {"values": "values"})
cases(gdata.cmapss, "CmapssTable.select", lambda names: table().select(names), none,
      {"names": bad.lists([[], ["s2", "nope"], [3]])},
      {"names": "name"})
cases(gdata.cmapss, "subset_file_names", gdata.subset_file_names, none,
      {"subset": bad.choices(gdata.SUBSETS, ignore_case=True)})
cases(gdata.cmapss, "read_cmapss_table", gdata.read_cmapss_table, none,
      {"path": bad.paths()})
cases(gdata.cmapss, "read_rul_file", gdata.read_rul_file, none, {"path": bad.paths()})
cases(gdata.cmapss, "resolve_data_dir", gdata.resolve_data_dir,
      lambda: {"data_dir": None, "environ": {}},
      {"data_dir": bad.paths().filter(lambda v: v is not None),
       "subset": bad.choices(gdata.SUBSETS, ignore_case=True),
       "environ": bad.mappings().filter(lambda v: v is not None)})
cases(gdata.cmapss, "load_cmapss", gdata.load_cmapss, none,
      {"subset": bad.choices(gdata.SUBSETS, ignore_case=True),
       "data_dir": bad.paths().filter(lambda v: v is not None)})

cases(gdata.targets, "health_labels", gdata.health_labels, lambda: {"rul": [1.0, 80.0]},
      {"rul": bad.arrays([[-1.0, 3.0]]),
       "thresholds": bad.lists([(25.0,), (75.0, 25.0), (25.0, "x"), (-1.0, 5.0)])})
cases(gdata.targets, "capped_rul", gdata.capped_rul, lambda: {"rul": [1.0, 200.0]},
      {"rul": bad.arrays([[-1.0]]), "cap": bad.reals(positive=True)})
cases(gdata.targets, "train_rows_rul", gdata.train_rows_rul, none,
      {"table": bad.arrays([np.zeros((2, 26))])})
cases(gdata.targets, "rows_rul_from_end", gdata.rows_rul_from_end,
      lambda: {"table": FLEET.test, "rul_at_end": FLEET.rul},
      {"table": bad.arrays([np.zeros((2, 26))]),
       "rul_at_end": bad.arrays([[1.0], [[1.0, 2.0]], [-1.0, 2.0], [1.0, 2.0, 3.0]])})

cases(gdata.windows, "MinMaxNormaliser", gdata.MinMaxNormaliser,
      lambda: {"minimum": np.zeros(2), "span": np.ones(2)},
      {"minimum": bad.arrays([np.zeros((2, 1)), []]),
       "span": bad.arrays([np.zeros(2), np.ones(3), -np.ones(2)])})
cases(gdata.windows, "MinMaxNormaliser.transform",
      lambda x: gdata.fit_minmax(np.array([[0.0, 1.0], [2.0, 3.0]])).transform(x), none,
      {"x": bad.arrays([np.array([[np.nan, 1.0]]), np.zeros((2, 3)), 3.0])})
cases(gdata.windows, "fit_minmax", gdata.fit_minmax, none,
      {"x": bad.arrays([np.zeros(3), np.zeros((0, 2)), np.array([[np.nan, 1.0]])])})
cases(gdata.windows, "count_windows", gdata.count_windows, lambda: {"lengths": [30, 40]},
      {"lengths": bad.arrays([[30.5, 40.0], [-1, 30], [[30, 40]]], finite=False),
       "window_length": bad.ints(minimum=1)})
for _name in ("sliding_windows", "last_windows"):
    cases(gdata.windows, _name, getattr(gdata, _name),
          lambda: {"features": np.zeros((6, 2)), "bounds": [(0, 3), (3, 6)],
                   "window_length": 2},
          {"features": bad.arrays([np.zeros(6)]),
           "bounds": bad.lists([[(0, 7)], [(3, 1)], [(0,)], [("a", 2)], [(0.5, 2)], [None]]),
           "window_length": bad.ints(minimum=1)})
#: Not float32 or float64 (a dtype or its name).
_DTYPES = bad.just(None, "float16", "double", torch.float16, torch.int64, np.float64, 3)
cases(gdata.windows, "WindowDataset", gdata.WindowDataset,
      lambda: {"x": np.zeros((2, 3, 14)), "y_rul": [10.0, 100.0]},
      {"x": bad.arrays([np.zeros((2, 14)), np.zeros((0, 3, 14))]),
       "y_rul": bad.arrays([[10.0], [[10.0], [100.0]], [-1.0, 3.0]]),
       "y_health": bad.arrays([[0, 3], [-1, 0], [0.0, 1.0], [0], [[0, 1]]],
                              finite=False).filter(lambda v: v is not None),
       "dtype": _DTYPES})
cases(gdata.windows, "WindowDataset.to", lambda dtype: window_dataset().to(dtype), none,
      {"dtype": _DTYPES})
cases(gdata.windows, "PreparedData.to", lambda dtype: PREPARED.to(dtype), none,
      {"dtype": _DTYPES})
cases(gdata.windows, "make_loader", gdata.make_loader, lambda: {"dataset": window_dataset()},
      {"dataset": bad.arrays([[1, 2, 3]]),
       "batch_size": bad.ints(minimum=1), "seed": bad.ints(minimum=0),
       "shuffle": bad.bools(), "drop_last": bad.bools()})
cases(gdata.windows, "prepare_cmapss", gdata.prepare_cmapss, lambda: {"data": FLEET},
      {"data": bad.arrays([FLEET.train]),
       "window_length": bad.ints(minimum=1) | st.integers(min_value=46, max_value=10**6),
       "rul_cap": bad.reals(positive=True),
       "sensors": bad.lists([[], ["nope"], ["s2", "s2"], [3]])})

cases(gdata.fleet, "write_cmapss_table", gdata.write_cmapss_table,
      lambda: {"path": WRITTEN, "values": FLEET.train.values[:3]},
      {"path": bad.paths(),
       "values": bad.arrays([np.zeros((2, 25)), FLEET.train.values[[0, 2]],
                             FLEET.train.values[::-1], np.zeros((0, 26))])})
cases(gdata.fleet, "write_rul_file", gdata.write_rul_file,
      lambda: {"path": WRITTEN, "rul": [3, 4]},
      {"path": bad.paths(), "rul": bad.arrays([[[3, 4]], [-1], [2.5], []])})
#: A folder no call here may create: every case raises before writing.
NEVER_WRITTEN = os.path.join(tempfile.gettempdir(), "gabalab-never-written")
_SIM_ARGS = {"n_train_units": bad.ints(minimum=1), "n_test_units": bad.ints(minimum=1),
             "seed": bad.ints(minimum=0), "subset": bad.choices(gdata.SUBSETS, ignore_case=True),
             "min_life": bad.ints(minimum=2), "max_life": bad.ints(minimum=2, extra=[1]),
             "min_test_cycles": bad.ints(minimum=1), "noise": bad.reals(nonnegative=True)}
cases(gdata.fleet, "simulated_fleet", gdata.simulated_fleet,
      lambda: {"n_train_units": 1, "n_test_units": 1, "min_life": 5, "max_life": 8}, _SIM_ARGS)
cases(gdata.fleet, "simulate_fleet", gdata.simulate_fleet,
      lambda: {"out_dir": NEVER_WRITTEN, "n_train_units": 1, "n_test_units": 1,
               "min_life": 5, "max_life": 8},
      {"out_dir": bad.paths(), **_SIM_ARGS})


def _enter_fleet_files(**kwargs: Any) -> None:
    with gdata.simulated_fleet_files(**kwargs):
        pass  # pragma: no cover - never reached with a bad argument


cases(gdata.fleet, "simulated_fleet_files", _enter_fleet_files,
      lambda: {"n_train_units": 1, "n_test_units": 1, "min_life": 5, "max_life": 8},
      {"parent": bad.paths().filter(lambda v: v is not None),
       **{k: v for k, v in _SIM_ARGS.items() if k != "subset"}})

# ------------------------------------------------------------------------------ norms, blocks

#: Not a norm order (``math.inf`` is one).
NORM_ORDERS = bad.reals(positive=True, below=1.0).filter(
    lambda v: not (isinstance(v, float) and v == math.inf))

cases(norms, "shared_named_parameters", norms.shared_named_parameters,
      lambda: {"model": tiny()},
      {"model": bad.modules(), "heads": bad.lists([[], ["nope"], [3], ["trunk", "rul_head",
                                                                        "health_head"]])})
cases(norms, "shared_parameters", norms.shared_parameters, lambda: {"model": tiny()},
      {"model": bad.modules(), "heads": bad.lists([[], ["nope"], [3]])})
cases(norms, "vector_norm", norms.vector_norm, lambda: {"vectors": [np.ones(2)]},
      {"vectors": bad.lists([[], ["12"], [None], [np.array([np.nan])]]),
       "p": NORM_ORDERS})
cases(norms, "grads_norm", norms.grads_norm, lambda: {"grads": [torch.ones(2)]},
      {"grads": bad.lists([[1.0], ["g"], [torch.tensor([np.nan])]]),
       "p": NORM_ORDERS})


def _norm_setup() -> dict[str, Any]:
    model = tiny()
    return {"model": model, "losses": tiny_losses(model),
            "params": norms.shared_parameters(model)}


def _one_loss() -> dict[str, Any]:
    setup = _norm_setup()
    return {"loss": setup["losses"][0], "params": setup["params"]}


cases(norms, "task_grad_norm", norms.task_grad_norm, _one_loss,
      {"loss": bad.just(None, 3.0, "l", torch.ones(2, requires_grad=True), torch.tensor(1.0)),
       "params": bad.tensor_lists(), "p": NORM_ORDERS})
cases(norms, "task_grad_norms", norms.task_grad_norms,
      lambda: {k: v for k, v in _norm_setup().items() if k != "model"},
      {"losses": bad.loss_lists(), "params": bad.tensor_lists(),
       "p": NORM_ORDERS})
cases(norms, "task_grad_norms_backward", norms.task_grad_norms_backward, _norm_setup,
      {"model": bad.modules(), "losses": bad.loss_lists(),
       # parameters of another model: model.zero_grad would not clear them between tasks
       "params": bad.tensor_lists([list(tiny().parameters())]),
       "p": NORM_ORDERS})
for _name in ("random_task_gradients", "norm_scaling"):
    cases(norms, _name, getattr(norms, _name),
          lambda: {"n_params": 10, "scale_rul": 1.0, "scale_hs": 0.1, "seed": 0},
          {"n_params": bad.ints(minimum=1, maximum=norms.MAX_PARAMS),
           "scale_rul": bad.reals(positive=True), "scale_hs": bad.reals(positive=True),
           "seed": bad.ints(minimum=0)})
cases(norms, "layer_type_selection", norms.layer_type_selection, lambda: {"model": tiny()},
      {"model": bad.modules(), "layer_type": bad.just(None, "Linear", int, nn.Linear(2, 2), 3),
       "heads": bad.lists([[], ["nope"], [3]])})
cases(norms, "norm_scaling_sweep", norms.norm_scaling_sweep,
      lambda: {"n_values": [10, 20], "scale_rul": 1.0, "scale_hs": 0.1},
      {"n_values": bad.lists([[], [0], [2.5], ["10"]]), "scale_rul": bad.reals(positive=True),
       "scale_hs": bad.reals(positive=True), "seed": bad.ints(minimum=0)})

cases(blocks, "layer_types", blocks.layer_types, none, {"model": bad.modules([nn.ReLU()])})
cases(blocks, "block_name", blocks.block_name, lambda: {"name": "module.lstm.weight"},
      {"name": bad.strings(["", "..."]), "wrappers": bad.lists()})


def _block_args() -> dict[str, Any]:
    model = tiny()
    named = list(model.named_parameters())
    return {"named_params": named, "grads": {"rul": [torch.zeros_like(p) for _, p in named]}}


cases(blocks, "block_table", blocks.block_table, _block_args,
      {"named_params": bad.lists([[], [("w",)], [torch.zeros(2)], [(3, torch.zeros(2))]]),
       "grads": bad.mappings([{}, {"rul": [None]}, {"rul": None}, {"n_params": []},
                              {3: []}, {"rul": ["g"] * 6}])})
for _name in ("selection_readout", "selection_text"):
    cases(blocks, _name, getattr(blocks, _name),
          lambda: {"table": block_rows(), "selected": ["trunk"]},
          {"table": bad.mappings([{}, {"trunk": 3}, {"trunk": {"rul": 1.0}},
                                  {"trunk": {"n_params": 1, "rul": -1.0}},
                                  {"a": {"n_params": 1, "x": 1.0},
                                   "b": {"n_params": 1, "y": 1.0}}]),
           "selected": bad.lists([[], ["nope"], [3]])})

# ------------------------------------------------------------------------------ weighting

#: Floors above 1/2 are refused for two tasks (a rounding margin of 1e-12 is allowed).
BAD_FLOOR = 0.5 + 1e-9
#: Not an EMA factor in [0, 1) (``None`` is one: no smoothing).
BAD_EMA = bad.reals(nonnegative=True, at_least=1.0).filter(lambda v: v is not None)

cases(weighting, "gaba_weights", weighting.gaba_weights, lambda: {"norms": [3.0, 1.0, 2.0]},
      {"norms": bad.arrays([[1.0], [1.0, -1.0], [[300.0, 1.0], [2.0, 4.0]]]),
       "rule": bad.choices(weighting.WEIGHT_RULES)})
cases(weighting, "check_rule", weighting.check_rule, none,
      {"rule": bad.choices(weighting.WEIGHT_RULES)})
cases(weighting, "weighted_norm_spread", weighting.weighted_norm_spread,
      lambda: {"norms": [3.0, 1.0, 2.0]},
      {"norms": bad.arrays([[1.0], [1.0, 0.0], [1.0, -1.0], [[3.0, 1.0]]]),
       "rule": bad.choices(weighting.WEIGHT_RULES)})
cases(weighting, "rule_spreads", weighting.rule_spreads, none,
      {"ks": bad.lists([[], [1, 3], [3, 2], [2.5], ["a"]]), "low": bad.reals(positive=True),
       "high": bad.reals(positive=True, extra=[0.5])})
cases(weighting, "imtl_g_weights", weighting.imtl_g_weights, none,
      {"grads": bad.lists([[np.ones(2)], [np.ones(2), np.ones(3)], [np.ones(2), "ab"],
                           [np.zeros(2), np.ones(2)], [np.ones(2), 2 * np.ones(2)]])})
cases(weighting, "smooth_norms", weighting.smooth_norms,
      lambda: {"state": [1.0, 2.0], "norms": [2.0, 3.0], "ema": 0.9},
      {"state": bad.arrays([[1.0], [[1.0, 2.0]], [-1.0, 2.0]]).filter(lambda v: v is not None),
       "norms": bad.arrays([[1.0], [[1.0, 2.0]], [-1.0, 2.0]]),
       "ema": BAD_EMA})
cases(weighting, "floor_weights", weighting.floor_weights,
      lambda: {"weights": [0.2, 0.8], "floor": 0.1},
      {"weights": bad.arrays([[1.0], [0.0, 0.0], [-0.2, 1.2], [[0.2, 0.8]]]),
       "floor": bad.reals(nonnegative=True, above=BAD_FLOOR)})
cases(weighting, "check_ema", weighting.check_ema, none,
      {"ema": BAD_EMA})
cases(weighting, "check_floor", weighting.check_floor, lambda: {"floor": 0.1, "n_tasks": 2},
      {"floor": bad.reals(nonnegative=True, above=BAD_FLOOR), "n_tasks": bad.ints(minimum=1)})
cases(weighting, "stabilised_weights", weighting.stabilised_weights,
      lambda: {"norms": [3.0, 1.0], "state": [2.0, 1.0], "ema": 0.5, "floor": 0.1},
      {"norms": bad.arrays([[1.0], [[3.0, 1.0]]]),
       "state": bad.arrays([[1.0]]).filter(lambda v: v is not None),
       "ema": BAD_EMA, "floor": bad.reals(nonnegative=True, above=BAD_FLOOR),
       "rule": bad.choices(weighting.WEIGHT_RULES)})

# ------------------------------------------------------------------------------ gaba


def _balancer_parts() -> dict[str, Any]:
    model = tiny()
    named = norms.shared_named_parameters(model)
    ids = {id(p) for _, p in named}
    heads = [(n, p) for n, p in model.named_parameters() if id(p) not in ids]
    return {"shared": named, "heads": heads}


_OPTIONS = {"n_tasks": bad.ints(minimum=2), "ema": BAD_EMA,
    "floor": bad.reals(nonnegative=True, above=BAD_FLOOR),
    "on_nonfinite": bad.choices(("raise", "skip")),
    "process_group": bad.just(3, "world", object()),
    "bucket_cap_mb": bad.reals(positive=True),
    "weight_rule": bad.choices(weighting.WEIGHT_RULES),
    "sensor": bad.choices(sensors.SENSORS),
    "measure_every": bad.ints(minimum=1),
    # with the exact sensor any representation norm is refused, None is the valid default
    "representation_norm": bad.choices(sensors.REPRESENTATION_NORMS, extra=["batch_sum"])
    .filter(lambda v: v is not None)}
cases(gaba, "GabaBalancer", gaba.GabaBalancer, _balancer_parts,
      {"shared": bad.tensor_lists(), "heads": bad.tensor_lists([[torch.zeros(2)]])
       .filter(lambda v: not (isinstance(v, list) and v == [])), **_OPTIONS})
cases(gaba, "GabaBalancer.from_model", gaba.GabaBalancer.from_model, lambda: {"model": tiny()},
      {"model": bad.modules(), "heads": bad.lists([[], ["nope"], [3]]),
       "n_tasks": bad.ints(minimum=2).filter(lambda v: v is not None),
       "floor": bad.reals(nonnegative=True, above=BAD_FLOOR)})


_VALID = object()


def _step(method: str) -> Callable[..., object]:
    def run(losses: Any = _VALID, **kwargs: Any) -> object:
        model = tiny()
        balancer = gaba.GabaBalancer.from_model(model)
        if losses is _VALID:
            losses = tiny_losses(model)
        elif isinstance(losses, str) and losses == "twice":
            # the same losses a second time, after the first step freed their graph
            losses = tiny_losses(model)
            balancer.step(losses)
        return getattr(balancer, method)(losses, **kwargs)
    return run


for _method in ("step", "accumulate"):
    cases(gaba, f"GabaBalancer.{_method}", _step(_method), none,
          {"losses": bad.loss_lists([[torch.tensor(1.0, requires_grad=True)] * 3, "twice"]),
           "scaler": bad.just(3, "scaler", object()), "retain_graph": bad.bools(),
           # the exact sensor reads no features: anything given is refused
           "features": bad.just(3, "z", object(), torch.zeros(2, requires_grad=True))})


def _representation_step(method: str) -> Callable[..., object]:
    """A representation balancer's step or accumulate, the features being what is thrown."""
    def run(features: Any) -> object:
        model = tiny()
        balancer = gaba.GabaBalancer.from_model(model, sensor="representation")
        if isinstance(features, str) and features in ("detached", "input", "other"):
            x, y, c = batch()
            z = model.features(x)
            losses = [F.mse_loss(model.rul_head(z).squeeze(-1), y),
                      F.cross_entropy(model.health_head(z), c)]
            features = {"detached": z.detach(), "input": x.requires_grad_(),
                        "other": torch.ones(3, requires_grad=True) * 2}[features]
        else:
            losses = tiny_losses(model)
        return getattr(balancer, method)(losses, features=features)
    return run


for _method in ("step", "accumulate"):
    cases(gaba, f"GabaBalancer.{_method}", _representation_step(_method), none,
          {"features": bad.just(None, 3, "z", [], [3.0], "detached", "input", "other",
                                (v for v in [1.0]))})


def _load(state: Any) -> None:
    model = tiny()
    balancer = gaba.GabaBalancer.from_model(model, ema=0.5, on_nonfinite="skip")
    balancer.step(tiny_losses(model))
    before = balancer.state_dict()
    try:
        balancer.load_state_dict(state)
    finally:
        assert balancer.state_dict() == before, "a failed load changed the state"


_GOOD_STATE = {"ema_norms": [1.0, 2.0], "n_steps": 3, "n_skipped": 1, "n_overflows": 0}
cases(gaba, "GabaBalancer.load_state_dict", _load, none,
      {"state": bad.mappings([{}, {**_GOOD_STATE, "n_step": 3},
                              {k: v for k, v in _GOOD_STATE.items() if k != "n_skipped"},
                              {**_GOOD_STATE, "n_skipped": 4},
                              {**_GOOD_STATE, "n_overflows": 3},
                              {**_GOOD_STATE, "n_steps": -1},
                              {**_GOOD_STATE, "n_steps": 2.0},
                              {**_GOOD_STATE, "ema_norms": [1.0]},
                              {**_GOOD_STATE, "ema_norms": [1.0, float("nan")]},
                              {**_GOOD_STATE, "ema_norms": "12"}])})
cases(gaba, "GabaResult.as_dict",
      lambda prefix: gaba.GabaResult((3.0, 1.0), (3.0, 1.0), (0.25, 0.75), 3.0).as_dict(prefix),
      none, {"prefix": bad.strings()})


def _gaba_backward(**kwargs: Any) -> object:
    model = tiny()
    shared = [p for _, p in norms.shared_named_parameters(model)]
    args = {"losses": tiny_losses(model), "shared": shared,
            "heads": list(model.rul_head.parameters()) + list(model.health_head.parameters())}
    return gaba.gaba_backward(**{**args, **kwargs})


cases(gaba, "gaba_backward", _gaba_backward, none,
      {"losses": bad.loss_lists([[torch.tensor(1.0, requires_grad=True)]]),
       "shared": bad.tensor_lists(), "floor": bad.reals(nonnegative=True, above=BAD_FLOOR),
       "on_nonfinite": bad.choices(("raise", "skip")), "retain_graph": bad.bools(),
       "weight_rule": bad.choices(weighting.WEIGHT_RULES)})

# ------------------------------------------------------------------------------ distributed, amp

cases(distributed, "check_timeout", distributed.check_timeout, none,
      {"timeout_s": bad.reals(positive=True).filter(lambda v: v is not None)})
cases(distributed, "uses_static_graph", distributed.uses_static_graph, none,
      {"model": bad.modules()})
cases(distributed, "norm_spread", distributed.norm_spread, none,
      {"gradients": bad.arrays([[1.0, 2.0], np.zeros((0, 3)), [[np.nan]]])})
cases(distributed, "shard_gradients", distributed.shard_gradients,
      lambda: {"model": tiny(), "x": batch(4)[0][:, 0], "y_rul": batch(4)[1],
               "y_health": batch(4)[2], "n_shards": 2},
      {"model": bad.modules(), "x": bad.just(None, 3, "x", np.zeros((4, 14))),
       "y_rul": bad.just(None, torch.zeros(3)), "y_health": bad.just(None, torch.zeros(4)),
       "n_shards": bad.ints(minimum=1, extra=[3])})
cases(distributed, "scale_costs", distributed.scale_costs, none,
      {"benchmark": bad.mappings([{}, {"setup": {}}, {"setup": 3}])})
cases(distributed, "check_process_group", distributed.check_process_group, none,
      {"process_group": bad.just(3, "world", object(), [None])})
cases(distributed, "active_group", distributed.active_group, none,
      {"process_group": bad.just(3, "world", object())})
cases(distributed, "check_replicated_parameters", distributed.check_replicated_parameters,
      none, {"named": bad.lists([[torch.zeros(2)], [("w",)], [(3, torch.zeros(2))]])})
cases(distributed, "unwrap_model", distributed.unwrap_model, none, {"model": bad.modules()})
cases(distributed, "broadcast_parameters", distributed.broadcast_parameters,
      lambda: {"params": [torch.zeros(2)]},
      {"params": bad.lists([["w"], [None]]), "src": bad.ints(minimum=0),
       "process_group": bad.just(3, "world", object())})
cases(distributed, "spawn_local", distributed.spawn_local, lambda: {"fn": print},
      {"fn": bad.callables(), "world_size": bad.ints(minimum=1),
       "args": bad.lists(["ab"]), "timeout_s": bad.reals(positive=True),
       "threads": bad.ints(minimum=1), "backend": bad.choices(("gloo", "nccl"))})
cases(amp, "check_scaler", amp.check_scaler, none,
      {"scaler": bad.just(3, "scaler", object(), torch.optim.SGD)})
cases(amp, "loss_scale", amp.loss_scale, none, {"scaler": bad.just(3, "scaler", object())},
      {"scaler": "scaler"})
cases(amp, "flag_overflow", amp.flag_overflow, none,
      {"params": bad.lists([[], ["w"], [torch.zeros(2, dtype=torch.long)]])})

# ------------------------------------------------------------------------------ toy

_RHO = {"rho": bad.reals(positive=True)}
for _name in ("fixed_point", "sgd_stability_bound"):
    cases(toy, _name, getattr(toy, _name), none, _RHO)
cases(toy, "losses_at", toy.losses_at, lambda: {"theta": 0.0, "rho": 2.0},
      {"theta": bad.arrays([float("nan"), float("inf"), True]), **_RHO})
cases(toy, "Trajectory", toy.Trajectory,
      lambda: {"theta": [0.0, 0.5], "loss_loud": [1.0, 0.2], "loss_quiet": [0.5, 1.0],
               "rho": 3.0, "lr": 0.1},
      {"theta": bad.arrays([[], [[0.0, 0.5]], [0.0], [0.0, np.nan]], finite=False),
       "loss_loud": bad.arrays([[1.0]], finite=False),
       "loss_quiet": bad.arrays([[0.5, 1.0, 2.0]], finite=False),
       "rho": bad.reals(positive=True), "lr": bad.reals(positive=True),
       "optimizer": bad.strings()})
for _method, _arg in (("converged", "tol"), ("steps_to", "tol"), ("diverged", "threshold")):
    cases(toy, f"Trajectory.{_method}",
          lambda _m=_method, **kw: getattr(toy.simulate_sgd(3.0, 0.1, 5), _m)(**kw), none,
          {_arg: bad.reals(positive=True)})
cases(toy, "TwoTaskToy", toy.TwoTaskToy, lambda: {"rho": 2.0},
      {**_RHO, "theta0": bad.reals(), "dtype": bad.just(torch.int64, "float64", np.float64,
                                                        None)})
cases(toy, "simulate_sgd", toy.simulate_sgd, lambda: {"rho": 2.0, "lr": 0.1, "n_steps": 3},
      {**_RHO, "lr": bad.reals(positive=True), "n_steps": bad.ints(minimum=1),
       "theta0": bad.reals()})
cases(toy, "train_toy", toy.train_toy, lambda: {"rho": 2.0, "lr": 0.1, "n_steps": 3},
      {**_RHO, "optimizer": bad.choices(("sgd", "adam"), ignore_case=True,
                                        extra=[torch.optim.SGD([torch.zeros(1,
                                                                requires_grad=True)])]),
       "lr": bad.reals(positive=True), "n_steps": bad.ints(minimum=1),
       "theta0": bad.reals()})
for _name in ("toy_bias_run", "toy_bias_summary", "toy_bias_readout"):
    cases(toy, _name, getattr(toy, _name), lambda: {"rho": 2.0, "n_steps": 3},
          {**_RHO, "optimizer": bad.choices(toy.TOY_OPTIMIZERS, ignore_case=True),
           "lr": bad.reals(positive=True), "n_steps": bad.ints(minimum=1),
           **({"tol": bad.reals(positive=True)} if _name != "toy_bias_run" else
              {"theta0": bad.reals()})})
cases(toy, "format_toy_summary", toy.format_toy_summary, lambda: {"s": summary(), "tol": 1e-6},
      {"s": bad.mappings([{}, {**summary(), "trajectory": 3}]),
       "tol": bad.reals(positive=True)})
cases(toy, "fixed_point_cost", toy.fixed_point_cost, none, _RHO)
cases(toy, "FixedPointCost.quotes", lambda **kw: toy.fixed_point_cost(2.0).quotes(**kw), none,
      {"suffix": bad.strings()})
cases(ledger, "distance_verdict", ledger.distance_verdict,
      lambda: {"distance": 0.5, "holds_below": 1.0, "contradicted_above": 3.0},
      {"distance": bad.reals(), "holds_below": bad.reals(positive=True, above=3.0),
       "contradicted_above": bad.reals(positive=True, below=1.0)})
_ACC = {"probe": (0.9, 0.88), "head": (0.8, 0.84), "majority": (0.57, 0.57)}
cases(probe, "trained_probes", probe.trained_probes,
      lambda: {"accuracies": {"sum": _ACC}, "n_test": 100, "reference": 0.91},
      # seeds that differ in number, a percentage, a missing column, an empty method
      {"accuracies": bad.mappings([{}, {"sum": 3}, {"": _ACC}, {3: _ACC},
                                   {"sum": {**_ACC, "head": (0.8,)}},
                                   {"sum": {**_ACC, "probe": (91.0, 88.0)}},
                                   {"sum": {"probe": (0.9,), "head": (0.8,)}},
                                   {"sum": {**_ACC, "majority": ()}},
                                   {"sum": {**_ACC, "probe": ("0.9", 0.8)}}]),
       "n_test": bad.ints(minimum=1), "reference": bad.reals(below=0.0, above=1.0)})
cases(probe, "probe_outcome", probe.probe_outcome,
      lambda: dict(zip(("sweep", "probe"), probe._example_results())),
      {"sweep": bad.mappings([{}, {"model_file": {"sha256": "ab12"}, "epochs": []},
                              {**probe._example_results()[0], "epochs": [{"epoch": 0}]}]),
       "probe": bad.mappings([{}, {**probe._example_results()[1], "probe": {}},
                              {**probe._example_results()[1], "model_source": "ab12"}])})

# ------------------------------------------------------------------------------ measure

cases(measure, "summarise", measure.summarise, none,
      {"values": bad.arrays([[], [[1.0, 2.0]]])})
cases(measure, "EpochMeasurement", measure.EpochMeasurement,
      lambda: {"rul_norms": [4.0], "health_norms": [2.0], "ratios": [2.0],
               "batch_sizes": [8], "n_batches": 1},
      {"rul_norms": bad.arrays([[4.0, 5.0]]), "ratios": bad.arrays([[[2.0]]]),
       "batch_sizes": bad.arrays([[0], [8.5]], finite=False),
       "n_batches": bad.ints(minimum=1, extra=[2])})
cases(measure, "format_value", measure.format_value, none,
      {"value": bad.reals(extra=["3"])})
_SUMMARY = measure.summarise([1.0, 2.0])
cases(measure, "quantile_table", measure.quantile_table, lambda: {"summaries": {"A": _SUMMARY}},
      {"summaries": bad.mappings([{}, {"A": 3}, {"A": {}}]),
       "statistics": bad.lists([[], [("median",)], [(1, 2)], ["median"]]),
       "markdown": bad.bools()})
cases(measure, "check_ratios_by_epoch", measure.check_ratios_by_epoch, none,
      {"ratios_by_epoch": bad.mappings([{}, {0: []}, {0: [-1.0]}, {"a": [1.0]},
                                        {0: ["1"]}, {0: [[1.0, 2.0]]}, {-1: [1.0]}])})
cases(measure, "epoch_readout", measure.epoch_readout,
      lambda: {"ratios_by_epoch": {0: [1.0, 2.0]}, "epoch": 0},
      {"ratios_by_epoch": bad.mappings([{}, {0: [0.0]}]),
       "epoch": bad.ints(minimum=0, extra=[1, 5])})


def _measure_args() -> dict[str, Any]:
    model = tiny()
    return {"model": model, "loader": [batch()], "shared_params": norms.shared_parameters(model),
            "progress": False}


def _loader_of(*batches: Any) -> list[Any]:
    return list(batches)


x4, y4, c4 = batch()
cases(measure, "measure_epoch", measure.measure_epoch, _measure_args,
      {"model": bad.modules(),
       "loader": bad.lists([[], [(x4, y4)], [3], [(x4.numpy(), y4, c4)],
                            # silent cases: (B, 1) targets, labels out of range, float labels
                            [(x4, y4[:, None], c4)], [(x4, y4, c4 + 3)], [(x4, y4, c4.float())],
                            [(x4, y4, c4[:2])]]),
       # parameters of another model would count as zero in both norms
       "shared_params": bad.tensor_lists([list(tiny().trunk.parameters())]),
       "rul_loss": bad.callables(), "health_loss": bad.callables(),
       "progress": bad.bools(), "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None),
       "train_mode": bad.bools(), "seed": bad.ints(minimum=0).filter(lambda v: v is not None),
       "desc": bad.strings()},
      {"loader": "batch"})
cases(measure, "output_side_proxy", measure.output_side_proxy,
      lambda: {"batches": [(np.array([3.0, 4.0]), np.array([0, 1]))]},
      {"batches": bad.lists([[], [(np.array([3.0]),)], [3], [([3.0, 4.0], [0, 3])],
                             [([3.0, 4.0], [0.0, 1.0])], [([3.0, np.nan], [0, 1])],
                             [([[3.0], [4.0]], [0, 1])], [([3.0], [0, 1])]]),
       "n_classes": bad.ints(minimum=2)})
cases(measure, "synthetic_batches", measure.synthetic_batches,
      lambda: {"n_batches": 1, "batch_size": 2, "seed": 0},
      {"n_batches": bad.ints(minimum=1), "batch_size": bad.ints(minimum=1),
       "seed": bad.ints(minimum=0), "rul_cap": bad.reals(nonnegative=True)})
_PAYLOAD = {"rul_norms": [4.0], "health_norms": [2.0], "ratios": [2.0], "batch_sizes": [8],
            "n_batches": 1}
cases(measure, "EpochMeasurement.from_dict", measure.EpochMeasurement.from_dict, none,
      {"payload": bad.mappings([{}, {**_PAYLOAD, "ratios": [3.0]}, {**_PAYLOAD, "n_batches": 2},
                                {**_PAYLOAD, "health_norms": [0.0]}])})
cases(ledger, "claim_verdict",
      lambda parts, reproducible=True: ledger.claim_verdict(*parts, reproducible=reproducible),
      lambda: {"parts": [True]},
      {"parts": bad.just([], ["yes"], [1], [None], [True, 0.0]), "reproducible": bad.bools()})
cases(measure, "proxy_ceiling", measure.proxy_ceiling, none,
      {"n_classes": bad.ints(minimum=2), "rul_cap": bad.reals(positive=True)})
cases(measure, "proxy_max_verdict", measure.proxy_max_verdict,
      lambda: {"source_max": 2104.5, "measured_max": 216.0},
      {"source_max": bad.reals(positive=True), "measured_max": bad.reals(positive=True),
       "n_classes": bad.ints(minimum=2), "rul_cap": bad.reals(positive=True),
       "rel_tol": bad.reals(positive=True)})
cases(measure, "summed_output_ratio", measure.summed_output_ratio,
      lambda: {"residuals": [-3.0, -1.0], "probabilities": [[0.5, 0.5], [0.5, 0.5]],
               "labels": [0, 0]},
      {"residuals": bad.arrays([[], [[1.0, 2.0]], [1.0]]),
       "probabilities": bad.arrays([[0.5, 0.5], [[0.5, 0.5]], [[1.0], [1.0]]]),
       # labels out of range, the wrong count, floats; and a zero summed health gradient
       "labels": bad.arrays([[0, 2], [0], [0.0, 0.0], [0, 1]])})
cases(measure, "summed_output_ratios", measure.summed_output_ratios,
      lambda: {"model": tiny(), "loader": [batch()]},
      {"model": bad.modules(),
       "loader": bad.lists([[], [(x4, y4)], [3], [(x4, y4[:, None], c4)], [(x4, y4, c4 + 3)],
                            [(x4, y4, c4.float())]]),
       "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None)},
      {"loader": "batch"})
_M2 = measure.EpochMeasurement([4.0, 6.0], [2.0, 2.0], [2.0, 3.0], [8, 8], 2)
_M1 = measure.EpochMeasurement([8.0], [2.0], [4.0], [4], 1)
cases(measure, "compare_with_proxy", measure.compare_with_proxy,
      lambda: {"model": _M2, "proxy": [1.0, 3.0], "summed": [4.0, 8.0]},
      {"model": bad.arrays([[2.0], [1.0, 2.0, 3.0], [-1.0, 2.0]]),
       "proxy": bad.arrays([[1.0], [0.0, 1.0]]) | bad.just(
           measure.EpochMeasurement([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [8, 4], 2)),
       "summed": bad.arrays([[4.0], [[4.0, 8.0]]])})
cases(measure, "training_trend", measure.training_trend, none,
      {"measurements": bad.mappings([{}, {0: _M2}, {0: _M2, "1": _M2}, {0: _M2, -1: _M2},
                                     {0: _M2, 1: [4.0]}, {0: _M2, 1: {"rul_norms": [1.0]}},
                                     {0: _M2, 1: {"rul_norms": [1.0], "health_norms": [0.0]}},
                                     {0: _M2, 1: {"rul_norms": [1.0, 2.0],
                                                  "health_norms": [1.0]}}])})
cases(measure, "compare_measurements", measure.compare_measurements,
      lambda: {"base": _M2, "other": measure.EpochMeasurement([8.0], [2.0], [4.0], [8], 1)},
      {"base": bad.just(None, [4.0, 6.0], _M1), "other": bad.just(None, {"ratios": [1.0]}, _M1)})
cases(measure, "running_median", measure.running_median, lambda: {"ratios": [1.0, 2.0]},
      {"ratios": bad.arrays([[], [0.0, 1.0], [[1.0, 2.0]]]),
       "sizes": bad.lists([[0], [2.5], ["1"]])})
cases(measure, "spread_table", measure.spread_table, none,
      {"ratios_by_run": bad.mappings([{}, {"a": []}, {"a": [-1.0]}, {3: [1.0]}, {"a": ["1"]}])})
_ROW_1 = {"epoch": 1, "q10": 1.0, "q25": 2.0, "q50": 3.0, "q75": 4.0, "q90": 5.0,
          "n_steps": 22}
_THROUGH = {0: [_ROW_1, {**_ROW_1, "epoch": 2, "q50": 3.5}]}
cases(measure, "trained_ratio_trend", measure.trained_ratio_trend,
      lambda: {"through_training": _THROUGH, "selected_epochs": {0: 2}},
      # a gap, a decreasing quantile, a missing quantile, rows that stop before the
      # selected epoch, a row that is not a mapping, a non-integer epoch
      {"through_training": bad.mappings([
          {}, {0: []}, {"0": _THROUGH[0]}, {-1: _THROUGH[0]},
          {0: [_ROW_1, {**_ROW_1, "epoch": 3}]}, {0: [{**_ROW_1, "q25": 9.0}, _ROW_1]},
          {0: [{k: v for k, v in _ROW_1.items() if k != "q90"}, _ROW_1]}, {0: [_ROW_1]},
          {0: [3.0, 4.0]}, {0: [{**_ROW_1, "epoch": 1.0}, {**_ROW_1, "epoch": 2}]},
          {0: [{**_ROW_1, "q10": np.nan}, {**_ROW_1, "epoch": 2}]}]),
       "selected_epochs": bad.mappings([{}, {1: 2}, {0: 1}, {0: 3}, {0: 2.0}, {0: None}])})
_TREND = measure.trained_ratio_trend(_THROUGH, {0: 2})
cases(measure, "TrainedRatioTrend.readout", _TREND.readout, lambda: {"seed": 0, "epoch": 1},
      {"seed": bad.ints(minimum=0, extra=[1, 7]), "epoch": bad.ints(minimum=1)})
cases(measure, "TrainedRatioTrend.milestones", _TREND.milestones, lambda: {"seed": 0},
      {"seed": bad.ints(minimum=0, extra=[3]), "n_between": bad.ints(minimum=0)})
cases(measure, "TrainedRatioTrend.table", _TREND.table, none,
      {"n_between": bad.ints(minimum=0)})
cases(measure, "TrainedRatioTrend.no_balance_verdict", _TREND.no_balance_verdict, none,
      {"factor": bad.reals(below=1.0, extra=[1.0])})
cases(measure, "RatioPath.row", _TREND.runs[0].row, none,
      {"epoch": bad.ints(minimum=1, extra=[3, 10])})

# ------------------------------------------------------------------------------ models

_SIZE_ARGS = {"n_features": bad.ints(minimum=1), "kernel_size": bad.ints(minimum=1, extra=[2]),
              "conv_channels": bad.lists([[0], [2.5], ["a"]]), "lstm_hidden": bad.ints(minimum=1),
              "lstm_layers": bad.ints(minimum=1), "attention_hidden": bad.ints(minimum=1),
              "funnel": bad.lists([[0]]), "feature_dim": bad.ints(minimum=1),
              "head_hidden": bad.lists([[-1]]), "n_classes": bad.ints(minimum=2),
              "dropout": bad.reals(nonnegative=True, at_least=1.0),
              "seed": bad.ints(minimum=0).filter(lambda v: v is not None)}
cases(models, "DualTaskModel", models.DualTaskModel, lambda: dict(SMALL), _SIZE_ARGS)
cases(models, "TinyDualHead", models.TinyDualHead, none,
      {"n_features": bad.ints(minimum=1), "hidden": bad.lists([[], [0], [2.5]]),
       "n_classes": bad.ints(minimum=2), "seed": bad.ints(minimum=0).filter(
           lambda v: v is not None)})
cases(models, "AttentionPooling", models.AttentionPooling,
      lambda: {"n_features": 4, "n_hidden": 2},
      {"n_features": bad.ints(minimum=1), "n_hidden": bad.ints(minimum=1)})

_INPUTS = [None, "x", [[0.0] * 14], np.zeros((2, 5, 14), dtype=np.float32)]
cases(models, "DualTaskModel.forward", lambda x: small_dual()(x), none,
      {"x": bad.just(*_INPUTS, torch.zeros(2, 14), torch.zeros(5, 14, 2, 1),
                     torch.zeros(2, 5, 13), torch.zeros(2, 5, 14, dtype=torch.float64),
                     torch.zeros(2, 5, 14, dtype=torch.long))})
cases(models, "TinyDualHead.forward", lambda x: tiny()(x), none,
      {"x": bad.just(*_INPUTS, torch.zeros(14), torch.zeros(2, 3, 4, 14), torch.zeros(2, 13),
                     torch.zeros(2, 14, dtype=torch.float64))})
cases(models, "AttentionPooling.forward", lambda h: models.AttentionPooling(4, 2)(h), none,
      {"h": bad.just(None, np.zeros((2, 5, 4)), torch.zeros(2, 4), torch.zeros(2, 5, 3),
                     torch.zeros(2, 5, 4, dtype=torch.float64))})
cases(models, "redraw_default_init", models.redraw_default_init, none,
      {"module": bad.modules([nn.Linear(2, 2).double(), nn.Sequential(nn.BatchNorm1d(3)),
                              nn.Embedding(4, 2)])})
cases(models, "parameter_counts", models.parameter_counts, lambda: {"model": tiny()},
      {"model": bad.modules(), "heads": bad.lists([["nope"], [3]])})

# ------------------------------------------------------------------------------ losses

_PAIR = {"y_hat": np.zeros(3), "y": np.ones(3)}
for _name in ("mse_loss", "mse_grad", "mse_grad_torch"):
    cases(losses, _name, getattr(losses, _name), lambda: dict(_PAIR),
          {"y_hat": bad.arrays([np.zeros(2), np.zeros((3, 1)), np.zeros(0)]),
           "y": bad.arrays([np.ones(4), np.ones((3, 1))])})
for _name in ("log_softmax", "softmax"):
    cases(losses, _name, getattr(losses, _name), none,
          {"logits": bad.arrays([np.zeros(3), np.zeros((0, 3))])})
_LOGITS = {"logits": np.zeros((2, 3)), "labels": np.array([0, 2])}
for _name in ("cross_entropy", "cross_entropy_grad", "cross_entropy_grad_torch"):
    cases(losses, _name, getattr(losses, _name), lambda: dict(_LOGITS),
          {"logits": bad.arrays([np.zeros((2, 1)), np.zeros(2)]),
           "labels": bad.arrays([np.array([0, 3]), np.array([-1, 0]), np.array([0.0, 1.0]),
                                 np.array([0]), np.array([[0, 1]])], finite=False)})
cases(losses, "gradient_magnitudes", losses.gradient_magnitudes,
      lambda: {"residual": -60.0, "p_true": 0.3, "batch_size": 32, "n_classes": 3},
      {"residual": bad.reals(), "p_true": bad.reals(nonnegative=True, above=1.0),
       "batch_size": bad.ints(minimum=1), "n_classes": bad.ints(minimum=2)})
cases(losses, "batch_size_effect", losses.batch_size_effect, lambda: {"n_batches": 2},
      {"batch_sizes": bad.lists([[32], [32, 0], [32, "64"], [32, 64.0]]),
       "residual": bad.reals(), "p_true": bad.reals(nonnegative=True, at_least=1.0),
       "n_batches": bad.ints(minimum=1), "seed": bad.ints(minimum=0)})
cases(losses, "BatchSizeEffect.verdict",
      lambda claimed: losses.BatchSizeEffect((32, 64), (1.0, 1.0), (1.0, 1.0)).verdict(claimed),
      none, {"claimed": bad.reals(positive=True)})

# ------------------------------------------------------------------------------ linear reference

LR = linear_reference
WEIGHTS = LR.init_linear_weights(4, 3, 3, seed=0)
X, Y_RUL, Y_HS = LR.random_rul_batch(5, 4, seed=1)
cases(LR, "LinearWeights", LR.LinearWeights,
      lambda: {"W": WEIGHTS.W, "w_rul": WEIGHTS.w_rul, "W_hs": WEIGHTS.W_hs},
      {"W": bad.arrays([np.zeros(3), torch.zeros(3, 4)]),
       "w_rul": bad.arrays([np.zeros(4)]), "W_hs": bad.arrays([np.zeros((1, 3))])})
cases(LR, "init_linear_weights", LR.init_linear_weights, lambda: {"seed": 0},
      {"d_in": bad.ints(minimum=1), "d_shared": bad.ints(minimum=1),
       "n_classes": bad.ints(minimum=2), "scale": bad.reals(positive=True),
       "seed": bad.ints(minimum=0)})
cases(LR, "random_rul_batch", LR.random_rul_batch,
      lambda: {"batch_size": 2, "n_features": 3, "seed": 0},
      {"batch_size": bad.ints(minimum=1), "n_features": bad.ints(minimum=1),
       "seed": bad.ints(minimum=0), "rul_cap": bad.reals(nonnegative=True)})
_LIN = {"weights": bad.arrays([WEIGHTS.W]),
        "x": bad.arrays([np.zeros((5, 3)), np.zeros(4), torch.zeros(5, 4)])}
cases(LR, "linear_forward", LR.linear_forward, lambda: {"weights": WEIGHTS, "x": X}, _LIN)
_LIN_TARGETS = {**_LIN, "y_rul": bad.arrays([Y_RUL[:2], Y_RUL[:, None]]),
                "y_hs": bad.arrays([Y_HS + 3, Y_HS.astype(float), Y_HS[:2]], finite=False)}
for _name in ("linear_losses", "linear_task_gradients", "linear_task_gradients_torch"):
    cases(LR, _name, getattr(LR, _name),
          lambda: {"weights": WEIGHTS, "x": X, "y_rul": Y_RUL, "y_hs": Y_HS}, _LIN_TARGETS)
cases(LR, "finite_difference_shared_grad", LR.finite_difference_shared_grad,
      lambda: {"weights": WEIGHTS, "x": X, "y_rul": Y_RUL, "y_hs": Y_HS, "task": "rul"},
      {**_LIN_TARGETS, "task": bad.choices(("rul", "hs")), "eps": bad.reals(positive=True)})
cases(LR, "ratio_spread", LR.ratio_spread,
      lambda: {"weights": WEIGHTS, "batch_size": 4, "seeds": [1, 2]},
      {"weights": bad.just(None, WEIGHTS.W, LR.init_linear_weights(4, 3, 2, seed=0)),
       "batch_size": bad.ints(minimum=1), "seeds": bad.lists([[], [-1], [1.5], ["1"]])})
cases(LR, "RatioSpread.verdict",
      lambda claimed: LR.RatioSpread((1,), (40.0,)).verdict(claimed), none,
      {"claimed": bad.reals(positive=True)})
cases(LR, "LinearDualHead", LR.LinearDualHead, lambda: {"d_in": 4, "d_shared": 3},
      {"d_in": bad.ints(minimum=1), "d_shared": bad.ints(minimum=1),
       "n_classes": bad.ints(minimum=2), "dtype": bad.just(torch.long, "float64", None)})
cases(LR, "LinearDualHead.from_weights", LR.LinearDualHead.from_weights,
      lambda: {"weights": WEIGHTS},
      {"weights": bad.arrays([WEIGHTS.W]), "dtype": bad.just(torch.long, None)})
cases(LR, "LinearDualHead.forward", lambda x: LR.LinearDualHead(4, 3)(x), none,
      {"x": bad.just(None, X, torch.zeros(5, 3, dtype=torch.float64), torch.zeros(5, 4),
                     torch.zeros(5, 2, 4, dtype=torch.float64))})

# ------------------------------------------------------------------------------ recipes, training


def _recipe_terms(**kwargs: Any) -> object:
    rul, logits = tiny()(x4)
    args = {"rul_pred": rul, "y_rul": y4, "logits": logits, "y_health": c4}
    return loss_recipes.LossRecipe("r").terms(**{**args, **kwargs})


cases(loss_recipes, "LossRecipe", loss_recipes.LossRecipe, lambda: {"name": "r"},
      {"name": bad.strings(), "rul_loss": bad.choices(("mse", "huber", "l1")),
       "target_scale": bad.reals(positive=True), "health_weight": bad.reals(positive=True),
       "huber_delta": bad.reals(positive=True)})
cases(loss_recipes, "LossRecipe.terms", _recipe_terms, none,
      {"y_rul": bad.just(None, y4[:, None], y4[:2], y4.numpy()),
       "y_health": bad.just(None, c4 + 3, c4.float(), c4[:2], c4[:, None]),
       "rul_pred": bad.just(None, "r"), "logits": bad.just(None, np.zeros((4, 3)))})
_TRAIN = (x4, y4, c4)
cases(loss_recipes, "train_with_recipe", loss_recipes.train_with_recipe,
      lambda: {"recipe": loss_recipes.LossRecipe("r"), "model": tiny(), "train": _TRAIN,
               "test": _TRAIN, "epochs": 1},
      {"recipe": bad.just(None, "mse", 3), "model": bad.modules(),
       "train": bad.lists([(x4, y4), (x4, y4, c4[:2]), (x4, y4[:, None], c4), (x4, y4, c4 + 3)]),
       "test": bad.lists([(x4, y4[:, None], c4), (x4, y4, c4.float())]),
       "epochs": bad.ints(minimum=1), "batch_size": bad.ints(minimum=1),
       "lr": bad.reals(positive=True), "seed": bad.ints(minimum=0)},
      {"train": "train", "test": "test"})


def _recipe_run(recipe: Any, steps: Any = (300.0, 2.0), medians: Any = (250.0, 3.0)) -> Any:
    n = len(medians) + 1
    return loss_recipes.RecipeRun(recipe, np.asarray(steps), list(medians), [1.0] * n,
                                  [0.5] * n)


_RUNS = {"baseline": _recipe_run(loss_recipes.LossRecipe("m")),
         "scaled": _recipe_run(loss_recipes.LossRecipe("s", target_scale=125.0)),
         "weighted": _recipe_run(loss_recipes.LossRecipe("w", health_weight=300.0)),
         "huber": _recipe_run(loss_recipes.LossRecipe("h", rul_loss="huber"))}
_BAD_RUNS = [None, "run", loss_recipes.RecipeRun, loss_recipes.LossRecipe("m"),
             _recipe_run(loss_recipes.LossRecipe("m"), steps=()),
             _recipe_run(loss_recipes.LossRecipe("m"), medians=()),
             _recipe_run(loss_recipes.LossRecipe("m"), steps=(math.inf, 1.0)),
             _recipe_run(loss_recipes.LossRecipe("m"), medians=(0.0, 1.0)),
             _recipe_run(loss_recipes.LossRecipe("m"), steps=("a", "b"))]
cases(loss_recipes, "RecipeComparison", loss_recipes.RecipeComparison, lambda: dict(_RUNS),
      {"baseline": bad.just(*_BAD_RUNS, _RUNS["scaled"], _RUNS["huber"]),
       "scaled": bad.just(*_BAD_RUNS, _recipe_run(loss_recipes.LossRecipe("s",
                                                                          target_scale=125.0),
                                                  medians=(1.0,))),
       "weighted": bad.just(*_BAD_RUNS, _RUNS["scaled"]),
       "huber": bad.just(*_BAD_RUNS, _RUNS["weighted"])})
cases(loss_recipes, "RecipeComparison.table",
      lambda epochs: loss_recipes.RecipeComparison(**_RUNS).table(epochs), none,
      {"epochs": bad.lists([[], [0], [3], ["1"], [1.0]])})
cases(loss_recipes, "RecipeComparison.balanced_throughout",
      lambda factor: loss_recipes.RecipeComparison(**_RUNS).balanced_throughout(factor), none,
      {"factor": bad.reals(below=1.0, extra=[1.0])})


def _train_epoch_args() -> dict[str, Any]:
    model = tiny()
    return {"model": model, "loader": gdata.make_loader(window_dataset(), 3, seed=0),
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.0), "progress": False}


#: Stands for a GABA method over the trunk of the very model being trained (its heads would
#: get no gradient); :func:`_resolve` builds it from the call's model.
TRUNK_ONLY = "a GABA method whose balancer leaves the model's heads out"


class _NoRecord:
    """A method that writes the gradient but does not say what it applied."""

    n_tasks = 2

    def backward(self, losses: list[torch.Tensor]) -> None:
        sum(losses).backward()


#: Not a method for the dual-task model: a name, the class instead of an instance, three
#: tasks, a balancer of another model or of the trunk only.
BAD_METHODS = ["sum", 3, object(), methods.SummedLoss, methods.SummedLoss(3),
               methods.FixedWeights([1.0, 2.0, 3.0]),
               methods.GabaMethod(gaba.GabaBalancer.from_model(tiny())), TRUNK_ONLY]


def _resolve(fn: Callable[..., object]) -> Callable[..., object]:
    def call(**kwargs: Any) -> object:
        if isinstance(kwargs.get("method"), str) and kwargs["method"] == TRUNK_ONLY:
            trunk = norms.shared_named_parameters(kwargs["model"])
            kwargs["method"] = methods.GabaMethod(gaba.GabaBalancer(trunk))
        return fn(**kwargs)
    return call


def _measured(args: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``args`` with the norms measured on every batch, on the model's shared parameters."""
    def valid() -> dict[str, Any]:
        out = args()
        return {**out, "shared": norms.shared_parameters(out["model"]), "measure_every": 1}
    return valid


#: Not the model's shared parameters (those of another model count as zero in the norms).
BAD_SHARED = bad.tensor_lists([list(tiny().parameters())])

cases(training, "train_epoch", _resolve(training.train_epoch), _train_epoch_args,
      {"model": bad.modules(), "loader": bad.lists([[batch()]]),
       "optimizer": bad.just(None, "adam", torch.optim.SGD),
       # a method that returns no StepRecord shows only once it steps
       "method": bad.just(*BAD_METHODS, _NoRecord()), "record_steps": bad.bools(),
       "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None),
       "progress": bad.bools(), "desc": bad.strings()})
cases(training, "train_epoch", training.train_epoch, _measured(_train_epoch_args),
      {"shared": BAD_SHARED, "measure_every": bad.ints(minimum=0)})
cases(training, "summarise_pulls", training.summarise_pulls, none,
      {"pulls": bad.lists([[3], [None], [(1.0, 2.0)], [((1.0,), (1.0,), False)],
                           [((1.0, 2.0), (1.0, 2.0, 3.0), False)],
                           [((1.0, "a"), (1.0, 1.0), False)], [((1.0, 2.0), (1.0, 1.0), "no")],
                           [((-1.0, 2.0), (1.0, 1.0), False)],
                           [((1.0, 2.0), (1.0, -1.0), False)],
                           [((np.nan, 2.0), (1.0, 1.0), False)],
                           [((1.0, 2.0), (1.0, 1.0), False),
                            ((1.0, 2.0, 3.0), (1.0, 1.0, 1.0), False)]])})
cases(training, "cmapss_score", training.cmapss_score,
      lambda: {"predicted": [10.0, 30.0], "true": [20.0, 20.0]},
      {"predicted": bad.arrays([[], [10.0], [[10.0, 30.0]], 5.0]),
       "true": bad.arrays([[20.0], [20.0, 20.0, 20.0], [[20.0], [20.0]]])})


def _multitask_args() -> dict[str, Any]:
    return {"model": tiny(), "dataset": window_dataset(), "epochs": 0, "lr": 1e-3,
            "batch_size": 3, "seed": 0, "progress": False}


# epochs=0: every option is checked before the first epoch, so nothing trains here
cases(training, "train_multitask", _resolve(training.train_multitask), _multitask_args,
      {"model": bad.modules(), "dataset": bad.lists([[1, 2]]), "epochs": bad.ints(minimum=0),
       "lr": bad.reals(positive=True), "batch_size": bad.ints(minimum=1),
       "seed": bad.ints(minimum=0), "method": bad.just(*BAD_METHODS),
       "record_steps": bad.bools(),
       "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None),
       "progress": bad.bools(), "on_epoch": bad.callables()})
cases(training, "train_multitask", training.train_multitask, _measured(_multitask_args),
      {"shared": BAD_SHARED, "measure_every": bad.ints(minimum=0)})
cases(training, "evaluate", training.evaluate, lambda: {"model": tiny(),
                                                        "dataset": window_dataset()},
      {"model": bad.modules(), "dataset": bad.lists([[1, 2]]),
       "batch_size": bad.ints(minimum=1)})
cases(training, "classification_report", training.classification_report,
      lambda: {"predicted": [0, 1], "labels": [0, 2]},
      {"predicted": bad.arrays([[0.0, 1.0], [0, 3], [0]], finite=False),
       "labels": bad.arrays([[-1, 0], [[0, 1]]], finite=False), "n_classes": bad.ints(minimum=2)})
cases(training, "train_summed_loss", training.train_summed_loss,
      lambda: {"model": tiny(), "dataset": window_dataset(), "epochs": 0, "lr": 1e-3,
               "batch_size": 3, "seed": 0, "progress": False},
      {"model": bad.modules(), "dataset": bad.lists([[1, 2]]), "epochs": bad.ints(minimum=0),
       "lr": bad.reals(positive=True), "batch_size": bad.ints(minimum=1),
       "seed": bad.ints(minimum=0), "on_epoch": bad.callables(),
       "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None),
       "progress": bad.bools()})


def _balanced_args() -> dict[str, Any]:
    model = small_dual()
    return {"model": model, "dataset": window_dataset(), "balancer":
            gaba.GabaBalancer.from_model(model), "epochs": 0, "lr": 1e-3, "batch_size": 3,
            "seed": 0, "progress": False}


cases(training, "train_balanced", training.train_balanced, _balanced_args,
      {"model": bad.modules([nn.Linear(2, 2)]), "dataset": bad.lists([[1, 2]]),
       "balancer": bad.just(None, "gaba", 3,
                            gaba.GabaBalancer.from_model(small_dual(), n_tasks=3)),
       "epochs": bad.ints(minimum=0), "lr": bad.reals(positive=True),
       "batch_size": bad.ints(minimum=1), "seed": bad.ints(minimum=0),
       "max_batches": bad.ints(minimum=1).filter(lambda v: v is not None),
       "progress": bad.bools(), "before_step": bad.callables(),
       "after_step": bad.callables(), "on_epoch": bad.callables()})
cases(training, "save_checkpoint", training.save_checkpoint,
      lambda: {"model": small_dual(), "path": WRITTEN},
      {"model": bad.modules(), "path": bad.paths()})
cases(training, "load_checkpoint", training.load_checkpoint, none, {"path": bad.paths()})
cases(training, "read_checkpoint", training.read_checkpoint, none, {"path": bad.paths()})

cases(probe, "extract_features", probe.extract_features,
      lambda: {"model": tiny(), "dataset": window_dataset()},
      {"model": bad.modules(), "dataset": bad.lists([[1, 2]]),
       "batch_size": bad.ints(minimum=1)})
_FEATURES = np.array([[0.0], [1.0], [2.0], [3.0]])
cases(probe, "fit_softmax_probe", probe.fit_softmax_probe,
      lambda: {"features": _FEATURES, "labels": np.array([0, 0, 1, 1]), "n_classes": 2},
      {"features": bad.arrays([np.zeros(4), np.zeros((3, 1)), np.zeros((4, 0))]),
       "labels": bad.arrays([np.array([0, 0, 1, 2]), np.array([0.0, 0.0, 1.0, 1.0])],
                            finite=False),
       "n_classes": bad.ints(minimum=2), "l2": bad.reals(nonnegative=True),
       "max_iter": bad.ints(minimum=1)})
_PROBE = probe.fit_softmax_probe(_FEATURES, np.array([0, 0, 1, 1]), n_classes=2)
for _method in ("logits", "predict"):
    cases(probe, f"SoftmaxProbe.{_method}", getattr(_PROBE, _method), none,
          {"features": bad.arrays([np.zeros(4), np.zeros((4, 2))])})
cases(probe, "probe_report", probe.probe_report,
      lambda: {"model": tiny(), "train": window_dataset(), "test": window_dataset()},
      {"model": bad.modules(), "train": bad.lists([[1, 2]]), "test": bad.lists([[1, 2]]),
       "n_classes": bad.ints(minimum=2), "l2": bad.reals(nonnegative=True)})

# ------------------------------------------------------------------------------ methods

cases(methods, "FixedWeights", methods.FixedWeights, lambda: {"weights": [1.0, 2.0]},
      {"weights": bad.lists([[], [1.0], [1.0, -1.0], [0.0, 0.0], [1.0, "a"], [1.0, None],
                             [1.0, float("nan")], [True, 1.0]]),
       "name": bad.strings([""])})
cases(methods, "SummedLoss", methods.SummedLoss, none, {"n_tasks": bad.ints(minimum=2)})
cases(methods, "GabaMethod", methods.GabaMethod,
      lambda: {"balancer": gaba.GabaBalancer.from_model(tiny())},
      {"balancer": bad.just(None, "gaba", 3, gaba.GabaBalancer, methods.SummedLoss(), tiny()),
       "name": bad.strings([""])})
_THREE = [torch.tensor(1.0, requires_grad=True)] * 3
cases(methods, "FixedWeights.backward", methods.FixedWeights([1.0, 2.0]).backward, none,
      {"losses": bad.loss_lists([_THREE])})
cases(methods, "SummedLoss.backward", methods.SummedLoss().backward, none,
      {"losses": bad.loss_lists([_THREE])})
cases(methods, "GabaMethod.backward",
      lambda losses: methods.GabaMethod(gaba.GabaBalancer.from_model(tiny())).backward(losses),
      none, {"losses": bad.loss_lists([_THREE])})


def _balanced_args() -> dict[str, Any]:
    model = tiny()
    return {"model": model, "batches": [batch(), batch(seed=1)],
            "shared": norms.shared_parameters(model), "losses_of": exp_balancing.task_losses,
            "n_batches": 2}


cases(methods, "weights_balanced_at", methods.weights_balanced_at, _balanced_args,
      {"model": bad.modules([tiny()]),  # another model: the shared parameters are not its own
       "batches": bad.lists([[], torch.zeros(3, 2)]),
       "shared": BAD_SHARED,
       "losses_of": bad.callables([lambda m, b: 3, lambda m, b: [1.0, 2.0],
                                   lambda m, b: exp_balancing.task_losses(m, b)[:1]]),
       "n_batches": bad.ints(minimum=1),
       "seed": bad.ints(minimum=0).filter(lambda v: v is not None)})

# ------------------------------------------------------------------------------ utilities

cases(memory, "measure_allocations", memory.measure_allocations, lambda: {"fn": print},
      {"fn": bad.callables(), "quiet": bad.bools()})
cases(memory, "count_saved_tensors", memory.count_saved_tensors, none,
      {"fn": bad.callables()})
for _name in ("count_graph_nodes", "tensor_bytes"):
    cases(memory, _name, getattr(memory, _name), none,
          {"tensors": bad.lists([[3], ["t"], [np.zeros(2)]])})
cases(memory, "measure_grad_call", memory.measure_grad_call, _one_loss,
      {"loss": bad.just(None, 3.0, "l", torch.ones(2, requires_grad=True), torch.tensor(1.0)),
       "params": bad.tensor_lists(), "create_graph": bad.bools()})
_CALL = memory.GradCall(8, 4, 0, 0, 4)
cases(memory, "grad_call_table", memory.grad_call_table, none,
      {"calls": bad.mappings([{}, {"x": 3}, {3: _CALL}, {"a" * 21: _CALL}])})
cases(memory, "doubling_verdict", memory.doubling_verdict, none,
      {"ratio": bad.reals(positive=True)})


def _enter(manager: Callable[..., Any], **kwargs: Any) -> None:
    with manager(**kwargs):
        pass  # pragma: no cover - never reached with a bad argument


cases(scoped, "seeded", lambda seed: _enter(scoped.seeded, seed=seed), none,
      {"seed": bad.ints(minimum=0).filter(lambda v: v is not None)})
cases(scoped, "training_mode", lambda **kw: _enter(scoped.training_mode, **kw),
      lambda: {"model": tiny(), "train": True}, {"model": bad.modules(), "train": bad.bools()})
cases(progress, "show_timing", progress.show_timing, none, {"enabled": bad.bools()})
cases(progress, "progress_bar", progress.progress_bar,
      lambda: {"iterable": [1, 2], "total": 2, "desc": "d"},
      {"iterable": bad.just(None, 3, "ab", object()), "total": bad.ints(minimum=0).filter(
          lambda v: v is not None), "desc": bad.strings().filter(lambda v: v is not None),
       "enabled": bad.bools()})
cases(notebook, "setup", notebook.setup, none,
      {"seed": bad.ints(minimum=0).filter(lambda v: v is not None)})
cases(site, "name_toggles", site.name_toggles, lambda: {"html": "<summary></summary>"},
      {"html": bad.just(None, b"<summary></summary>", 3)})
cases(notebook, "error_message", notebook.error_message,
      lambda: {"error": ValueError("x"), "width": 40},
      {"error": bad.just(None, "ValueError: x", 3, ValueError), "width": bad.ints(minimum=20)})

# ------------------------------------------------------------------------------ plots, widgets

cases(plot_bound, "plot_derivative_bound", plot_bound.plot_derivative_bound,
      lambda: {"residuals": [0.0, 10.0], "p_trues": (0.5,)},
      {"residuals": bad.arrays([[[0.0]]]).filter(lambda v: v is not None),
       "p_trues": bad.lists([[1.5], ["a"]]), "batch_size": bad.ints(minimum=1),
       "n_classes": bad.ints(minimum=2)}, {"p_trues": "p_true"})
cases(plot_epochs, "log_bins", plot_epochs.log_bins, lambda: {"values": [1.0, 10.0]},
      {"values": bad.arrays([[], [0.0], [-1.0], [[1.0]]]), "n_bins": bad.ints(minimum=1),
       "pad": bad.reals(below=1.0)})
cases(plot_epochs, "plot_ratio_histogram", plot_epochs.plot_ratio_histogram,
      lambda: {"ratios": [1.0, 10.0], "bins": 3},
      {"ratios": bad.arrays([[], [0.0], [[1.0]]]),
       "bins": bad.just(None, "3", [5.0], [5.0, 1.0], [0.0, 1.0], True, 0),
       "mark_quartiles": bad.bools()})
cases(plot_epochs, "plot_epoch_distributions", plot_epochs.plot_epoch_distributions,
      lambda: {"ratios_by_epoch": {0: [1.0, 2.0]}},
      {"ratios_by_epoch": bad.mappings([{}, {0: []}, {0: [-1.0]}]),
       "epochs": bad.lists([[], [5]]).filter(lambda v: v is not None),
       "n_bins": bad.ints(minimum=1)})
cases(plot_epochs, "plot_trained_ratios", plot_epochs.plot_trained_ratios,
      lambda: {"trend": _TREND},
      {"trend": bad.just(None, {}, [1.0], _TREND.runs[0]), "title": bad.just(3, b"x", ["a"])})
cases(plot_epochs, "plot_proxy_vs_model", plot_epochs.plot_proxy_vs_model,
      lambda: {"proxy_ratios": [1.0, 2.0], "model_ratios": [3.0, 4.0]},
      {"proxy_ratios": bad.arrays([[1.0], [0.0, 1.0]]),
       "model_ratios": bad.arrays([[3.0, 4.0, 5.0]])})
cases(plot_scaling, "plot_norm_scaling", plot_scaling.plot_norm_scaling,
      lambda: {"n_values": [10, 20], "scale_hs_values": (0.1,)},
      {"n_values": bad.arrays([[10.5, 20.0], [0, 10]], finite=False).filter(
          lambda v: v is not None),
       "scale_rul": bad.reals(positive=True),
       "scale_hs_values": bad.lists([[], [0.0], ["a"]]), "seed": bad.ints(minimum=0)})
cases(plot_selection, "plot_selection", plot_selection.plot_selection,
      lambda: {"table": block_rows(), "selections": {"trunk": ["trunk"]}},
      {"table": bad.mappings([{}]), "selections": bad.mappings([{}, {"a": ["nope"]},
                                                                {"a": None}])},
      {"selections": "select"})
cases(plot_toy, "plot_fixed_point_costs", plot_toy.plot_fixed_point_costs, none,
      {"rhos": bad.arrays([[], [0.0], [[1.0]]]).filter(lambda v: v is not None)})
cases(plot_toy, "plot_toy_trajectories", plot_toy.plot_toy_trajectories,
      lambda: {"trajectories": [toy.simulate_sgd(3.0, 0.1, 5)]},
      {"trajectories": bad.lists([[], [3]]),
       "labels": bad.lists([["a", "b"], [3]]).filter(lambda v: v is not None),
       "theta_limits": bad.arrays([(1.0, -1.0), (0.0,), (0.0, np.inf)], finite=False),
       "divergence_threshold": bad.reals(positive=True)})
cases(live_widget, "lab_only", live_widget.lab_only,
      lambda: {"build": lambda: None, "note": "Retrains the model."},
      {"build": bad.just(None, "explorer", 3), "note": bad.just(None, "", "  ", 3)})
cases(retrain_widget, "retrain", retrain_widget.retrain,
      lambda: {"ema": 0.9, "floor": 1e-4, "epochs": 1},
      {"ema": bad.just(None, "0.9", True, -0.1, 1.0, float("nan")),
       "floor": bad.just(None, "0", -0.01, 0.5, float("inf")),
       "epochs": bad.ints(minimum=1), "seed": bad.ints(minimum=0)})
cases(retrain_widget, "retrain_explorer", retrain_widget.retrain_explorer, none,
      {"seed": bad.ints(minimum=0),
       "compare_with": bad.just(None, "ab", (0.9,), (0.9, "x"), (1.0, 1e-4), (0.9, 0.5))})


def spread(*values: float) -> dict[str, Any]:
    """A spread across seeds, as :func:`gabalab.experiments.balancing.summarise_runs` writes."""
    a = np.asarray(values)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "values": [float(v) for v in a]}


SPREAD = spread(19.0, 20.0, 21.0)
#: ``summary["per_epoch"]`` of one method and one epoch.
PER_EPOCH = {"sum": {m: [SPREAD] for m in ("rmse", "score", "accuracy", "weighted_ratio",
                                          "ratio", "step_s")}}


def _per_epoch_with(**spreads: Any) -> dict[str, Any]:
    return {"sum": {**PER_EPOCH["sum"], **spreads}}


cases(plot_balancing, "plot_method_curves", plot_balancing.plot_method_curves,
      lambda: {"per_epoch": PER_EPOCH},
      {"per_epoch": bad.mappings([{}, {"sum": 3}, {"sum": {}}, _per_epoch_with(rmse=3),
                                  _per_epoch_with(rmse=[]), _per_epoch_with(rmse=[3]),
                                  _per_epoch_with(rmse=[{"mean": 1.0}]),
                                  _per_epoch_with(rmse=[{**SPREAD, "mean": "20"}]),
                                  _per_epoch_with(rmse=[{**SPREAD, "values": ["a"]}])]),
       "metrics": bad.lists([[], ["nope"], [3]]), "log_metrics": bad.lists([[3]])})
_TRAINED_SPREAD = {"mean": 20.0, "std": 0.0, "values": [20.0], "seeds": (0,)}
_TRAINED = {"sum": {m: [_TRAINED_SPREAD] for m in ("val_rmse", "rmse", "weighted_ratio")}}
cases(plot_balancing, "plot_trained_runs", plot_balancing.plot_trained_runs,
      lambda: {"spreads": _TRAINED, "selected": {"sum": {0: 1}}},
      {"spreads": bad.mappings([{}, {"sum": 3}, {"sum": {}},
                                {"sum": {**_TRAINED["sum"], "rmse": [{"mean": 1.0,
                                                                      "values": [1.0]}]}}]),
       "selected": bad.just(None, [1], {}, {"sum": {}}, {"sum": {1: 1}}),
       "metrics": bad.lists([[], ["nope"], [3]])})
cases(plot_balancing, "plot_weight_trace", plot_balancing.plot_weight_trace,
      lambda: {"traces": {"a": [0.5, 0.4]}},
      {"traces": bad.mappings([{}, {"a": []}, {"a": [0.0]}, {"a": ["x"]}, {"a": None},
                               {"a": [[0.5], [0.4]]}, {"a": [np.nan, 0.5]}, {"a": [-0.1, 0.5]}]),
       "floor": bad.reals(nonnegative=True, above=0.5).filter(lambda v: v is not None),
       "ylabel": bad.strings().filter(lambda v: v is not None)})

# ------------------------------------------------------------------------------ prose, charts

cases(prose, "glue", prose.glue, lambda: {"name": "s0_value", "value": "1"},
      {"name": bad.strings(["", "1a", "a-b"]),
       "value": bad.just(None, True, np.float64(1.0), np.int64(3), [1], {"a": 1}, object(),
                         float("nan"), float("inf")),
       "display": bad.bools()})
cases(prose, "glue_all", prose.glue_all, lambda: {"values": {"value": "1"}, "prefix": "s0_"},
      {"values": bad.just(None, [("a", 1)], "a", {"a": None}, {"a": np.float64(1.0)},
                          {"a b": 1}, {1: 1}),
       "prefix": bad.just(None, 3, b"s0_", "_", "1")})

_SPEC = {"mark": "point"}
_NAMES = bad.strings(["", "Upper", "a b", "x" * 65, "-lead"])
#: Not a chart: other types, and an Altair chart that is not valid Vega-Lite (no mark).
_NOT_CHARTS = [None, 3, "chart", [1], object(),
               alt.Chart(alt.Data(values=[{"x": 1}])).encode(x="x:Q")]
#: Specifications that JSON cannot write into the page.
_NOT_JSON = [{"mark": object()}, {"mark": "point", "width": float("nan")}, {1: "a", "b": 2}]
cases(render, "chart_id", render.chart_id, none, {"name": _NAMES})
cases(render, "chart_spec", render.chart_spec, none, {"chart": bad.just(*_NOT_CHARTS)})
cases(render, "chart_html", render.chart_html, lambda: {"chart": _SPEC, "name": "demo"},
      {"chart": bad.just(*_NOT_CHARTS, *_NOT_JSON), "name": _NAMES,
       "embed_options": bad.mappings([{"a": object()}, {"a": float("nan")}, {3: True}])
       .filter(lambda v: v is not None)})
cases(render, "show", render.show, lambda: {"chart": _SPEC, "name": "demo", "mode": "static"},
      {"chart": bad.just(*_NOT_CHARTS, *_NOT_JSON), "name": _NAMES,
       "mode": bad.choices(("static", "inline")).filter(lambda v: v is not None)})
cases(render, "ChartOutput", render.ChartOutput, lambda: {"html_text": "<p></p>", "title": "t"},
      {"html_text": bad.strings(), "title": bad.strings()})
cases(chart_sphinx, "page_scripts", chart_sphinx.page_scripts, none, {"body": bad.strings()})

#: Widths of a chart in pixels: integers from 100 to 2000.
WIDTHS = bad.ints(minimum=100, maximum=2000)
for _module, _name in ((chart_bound, "derivative_bound_chart"), (chart_toy, "toy_bias_chart")):
    cases(_module, _name, getattr(_module, _name), none, {"width": WIDTHS})

cases(chart_scaling, "norm_grid", chart_scaling.norm_grid, lambda: {"log10_n": [1.0]},
      {"seed": bad.ints(minimum=0),
       "log10_n": bad.lists([[], [-1.0], [7.5], [100.0], [1e308], ["a"], [np.nan], [[1.0]]])
       .filter(lambda v: v is not None)})
#: One row per slider value (the unit-scale norms need not be measured to be valid).
GRID = [{"log10_n": v, "n": round(10 ** v), "z_rul": 1.0, "z_hs": 1.0}
        for v in chart_scaling.grid_values()]
cases(chart_scaling, "norm_scaling_chart", chart_scaling.norm_scaling_chart,
      lambda: {"grid": GRID},
      {"grid": bad.lists([[], GRID[:-1], [3, *GRID[1:]], [{"log10_n": 1.0}, *GRID[1:]],
                          [{**GRID[0], "z_rul": "1"}, *GRID[1:]],
                          [{**GRID[0], "z_hs": 0.0}, *GRID[1:]]]),
       "width": WIDTHS})

#: Not a TrainedRatioTrend: what the trend is built from, or one of its runs.
_BAD_TRENDS = bad.just(None, {}, {0: [{"epoch": 1, "q50": 2.0}]}, [1.0],
                       _TREND.runs[0], _TREND.runs)
cases(chart_epochs, "epoch_rows", chart_epochs.epoch_rows, none, {"trend": _BAD_TRENDS})
cases(chart_epochs, "epoch_chart", chart_epochs.epoch_chart, lambda: {"trend": _TREND},
      {"trend": _BAD_TRENDS, "width": WIDTHS})

_ROW = {"n_params": 2, "rul": 900.0, "health": 1.0}
_BAD_TABLES = [{}, {"trunk": 3}, {"trunk": {"rul": 1.0}}, {3: _ROW}, {"it's": _ROW},
               {"trunk": {**_ROW, "n_params": "2"}}, {"trunk": {**_ROW, "n_params": 2.5}},
               {"trunk": {**_ROW, "rul": True}}, {"trunk": {**_ROW, "rul": "x"}},
               {"trunk": {**_ROW, "rul": -1.0}}, {"trunk": {**_ROW, "health": np.nan}}]
cases(chart_selection, "block_rows", chart_selection.block_rows, none,
      {"table": bad.mappings(_BAD_TABLES)})
cases(chart_selection, "selection_chart", chart_selection.selection_chart,
      lambda: {"table": {"trunk": _ROW, "rul_head": _ROW, "health_head": _ROW}},
      {"table": bad.mappings(_BAD_TABLES[:6]),
       "heads": bad.lists([[3], ["nope"]]).filter(lambda v: v is not None), "width": WIDTHS})

_RESULTS = {m: [SPREAD] for m in chart_balancing.RESULT_METRICS}


def _results_with(value: Any) -> dict[str, Any]:
    return {"sum": {m: value for m in chart_balancing.RESULT_METRICS}}


_BAD_RESULTS = [{}, {"sum": 3}, {"sum": {}}, {"it's": _RESULTS}, {3: _RESULTS},
                _results_with(3), _results_with([3]), _results_with([None]),
                _results_with([{"mean": 1.0}]), _results_with([{**SPREAD, "mean": "20"}]),
                _results_with([{**SPREAD, "mean": np.nan}]),
                _results_with([{**SPREAD, "std": -1.0}])]
cases(chart_balancing, "result_rows", chart_balancing.result_rows, none,
      {"per_epoch": bad.mappings(_BAD_RESULTS)})
cases(chart_balancing, "result_readout", chart_balancing.result_readout, none,
      {"methods": bad.lists([[], [3], ["it's"], [""]])})
cases(chart_balancing, "balancing_chart", chart_balancing.balancing_chart,
      lambda: {"per_epoch": {"sum": _RESULTS}, "floor": 0.01},
      {"per_epoch": bad.mappings(_BAD_RESULTS[:4]),
       "floor": bad.reals(nonnegative=True, above=0.05),
       "ratio": bad.reals(positive=True, below=1.0, above=1e4), "width": WIDTHS})

# ------------------------------------------------------------------------------ experiments

cases(provenance, "sha256_file", provenance.sha256_file, none, {"path": bad.paths()})
cases(provenance, "parse_model_kwargs", provenance.parse_model_kwargs, none,
      {"text": bad.strings(["{", "[1]", '{"seed": 1}'])},
      {"text": "model-kwargs"})
cases(provenance, "check_model_kwargs", provenance.check_model_kwargs, none,
      {"kwargs": bad.mappings([{"lstm_hidden": 0}, {"nope": 1}])},
      {"kwargs": "model-kwargs"})
cases(provenance, "build_model", provenance.build_model,
      lambda: {"model_kwargs": dict(SMALL), "seed": 0},
      {"model_kwargs": bad.mappings([{"lstm_hidden": 0}, {"nope": 1}]),
       "seed": bad.ints(minimum=0), "dtype": _DTYPES}, {"model_kwargs": "model_kwargs"})
cases(provenance, "write_json", provenance.write_json,
      lambda: {"path": WRITTEN, "payload": {"a": 1}},
      {"path": bad.paths(), "payload": bad.mappings([{"a": object()}])})


# ------------------------------------------------------------------------------ sensors


def _feature_grads() -> list[tuple[torch.Tensor, ...]]:
    return [(torch.ones(2, 3),), (torch.zeros(2, 3),)]


def _z() -> torch.Tensor:
    return torch.ones(2, 3, requires_grad=True) * 2


cases(sensors, "check_sensor", sensors.check_sensor, none,
      {"sensor": bad.choices(sensors.SENSORS)})
cases(sensors, "check_representation_norm", sensors.check_representation_norm, none,
      {"name": bad.choices(sensors.REPRESENTATION_NORMS)}, {"name": "representation_norm"})
cases(sensors, "check_measure_every", sensors.check_measure_every, none,
      {"measure_every": bad.ints(minimum=1)})
cases(sensors, "check_features", sensors.check_features, none,
      {"features": bad.just(None, 3, "z", [], [3.0], torch.ones(2), torch.ones(2).requires_grad_(),
                            (v for v in [1.0]))})
cases(sensors, "compile_hint", sensors.compile_hint, none,
      {"err": bad.just(None, "donated buffer", 3)})
cases(sensors, "FeatureTap", sensors.FeatureTap, lambda: {"model": tiny()},
      {"model": bad.modules([nn.Linear(2, 2)]), "heads": bad.lists([[], ["nope"], [3]])})


def _rep_losses(**kwargs: Any) -> object:
    z = _z()
    args = {"losses": [z.sum(), (z * z).sum()], "features": [z]}
    return sensors.representation_gradients(**{**args, **kwargs})


cases(sensors, "representation_gradients", _rep_losses, none,
      {"losses": bad.loss_lists([[torch.tensor(1.0, requires_grad=True)]]),
       "features": bad.just(None, 3, "z", [], [3.0], [torch.ones(2)])})
cases(sensors, "batch_sums", sensors.batch_sums, none,
      {"grads": bad.lists([[], [(torch.tensor(1.0),)], [(1.0,)], [[torch.ones(2, 2)], ["a"]],
                           [(torch.ones(2, 2),), (torch.ones(3, 2),)]])})
cases(sensors, "feature_norms", sensors.feature_norms, lambda: {"grads": _feature_grads()},
      {"grads": bad.lists([[(torch.tensor(1.0),)], [(1.0,)], [[torch.ones(2, 2)], ["a"]]]),
       "scale": bad.reals(positive=True).filter(lambda v: v is not None),
       "reduce": bad.choices(sensors.REPRESENTATION_NORMS)})


def _weighted(fn: Callable[..., object]) -> Callable[..., object]:
    def run(**kwargs: Any) -> object:
        w = torch.ones(2, requires_grad=True)
        return fn(**{"losses": [w.sum(), (2 * w).sum()], "weights": [0.5, 0.5], **kwargs})
    return run


cases(sensors, "weighted_loss", _weighted(sensors.weighted_loss), none,
      {"losses": bad.loss_lists(), "weights": bad.arrays([[0.5], [0.5, 0.5, 0.5]])})
cases(sensors, "weighted_backward", _weighted(sensors.weighted_backward), none,
      {"losses": bad.loss_lists(), "weights": bad.arrays([[0.5], [0.5, 0.5, 0.5]]),
       "scaler": bad.just(3, "scaler", object()), "retain_graph": bad.bools()})
cases(sensors, "grad_norm", sensors.grad_norm, none,
      {"params": bad.tensor_lists([[torch.zeros(2)]])})
cases(sensors, "HeldWeights.due", lambda measure_every: sensors.HeldWeights(
      (0.5, 0.5), (1.0, 1.0)).due(measure_every), none,
      {"measure_every": bad.ints(minimum=1)})

_PAIRS = [[3.0, 1.0], [2.0, 1.0]]
cases(sensor_comparison, "summary", sensor_comparison.summary, none,
      {"values": bad.arrays([[]], finite=True)})
cases(sensor_comparison, "compare_weights", sensor_comparison.compare_weights,
      lambda: {"cheap": [0.2, 0.3], "exact": [0.25, 0.3], "exact_norms": _PAIRS},
      {"cheap": bad.arrays([[0.2], [1.0, 0.3], [0.0, 0.3], [[0.2, 0.3]]]),
       "exact": bad.arrays([[0.2], [1.0, 0.3]]),
       "exact_norms": bad.arrays([[[3.0, 1.0]], [[3.0, 0.0], [2.0, 1.0]],
                                  [[3.0, 1.0, 1.0], [2.0, 1.0, 1.0]]])})
cases(sensor_comparison, "ShadowSensors", sensor_comparison.ShadowSensors, none,
      {"periods": bad.lists([[1], [2.5], ["4"], [4, 0]]), "ema": BAD_EMA,
       "floor": bad.reals(nonnegative=True, above=BAD_FLOOR),
       "rule": bad.choices(weighting.WEIGHT_RULES)})


def _shadow_before(**kwargs: Any) -> object:
    z = _z()
    args = {"step": 0, "losses": [z.sum(), (z * z).sum()], "z": z}
    return sensor_comparison.ShadowSensors([2]).before_step(**{**args, **kwargs})


cases(sensor_comparison, "ShadowSensors.before_step", _shadow_before, none,
      {"step": bad.ints(minimum=0), "losses": bad.loss_lists(),
       "z": bad.just(None, 3, "z", torch.ones(2))})


def _shadow_after(**kwargs: Any) -> object:
    model = tiny()
    z = model.features(batch()[0])
    losses = [model.rul_head(z).sum(), model.health_head(z).sum()]
    shadow = sensor_comparison.ShadowSensors([2])
    shadow.before_step(0, losses, z)
    good = gaba.GabaBalancer.from_model(model).step(losses)
    return shadow.after_step(**{"step": 0, "result": good, **kwargs})


cases(sensor_comparison, "ShadowSensors.after_step", _shadow_after, none,
      {"step": bad.ints(minimum=0), "result": bad.just(None, 3, "result")})

_GAP_ROW = {"rel_diff": {"median": 0.1, "q90": 0.2}, "pearson_log": 0.9,
        "imbalance": {"median": 1.5}, "n_steps": 4}
_GAP_ROWS = {k: _GAP_ROW for k in ("exact", "exact_lag_1", "representation",
                               "representation_frobenius", "periodic_4")}
_RATIOS = {k: {"median": 0.5} for k in ("exact", "representation_over_exact",
                                        "representation_frobenius_over_exact")}
_BAD_GAP_ROWS = [{}, {"exact": 3}, {"exact": {}},
                 {"exact": {**_GAP_ROW, "rel_diff": {"median": "a"}}}]
cases(sensor_comparison, "comparison_table", sensor_comparison.comparison_table,
      lambda: {"comparisons": _GAP_ROWS},
      {"comparisons": bad.mappings(_BAD_GAP_ROWS),
       "norm_ratios": bad.mappings([{}, {**_RATIOS, "exact": {"median": math.nan}}]).filter(
           lambda v: v is not None)})
cases(sensor_comparison, "sensor_gap", sensor_comparison.sensor_gap,
      lambda: {"comparisons": _GAP_ROWS, "norm_ratios": _RATIOS},
      {"comparisons": bad.mappings(_BAD_GAP_ROWS + [{k: _GAP_ROW for k in _GAP_ROWS
                                                 if k != "periodic_4"}]),
       "norm_ratios": bad.mappings([{}, {**_RATIOS, "exact": {"median": -1.0}}])})
_COST = {"median_ms": 10.0, "paired_ratio_to_plain": 1.0}
_BENCH = {"summary": [{"batch_size": 32, "c_exact_over_e_floor_paired": 1.0,
                       **{k: _COST for k in ("a_plain", "c_exact", "e_floor",
                                             "h_representation")}}],
          "runs": [{"batch_size": 32, "warmup": 1, "repeats": 2}]}
cases(sensor_comparison, "sensor_costs", sensor_comparison.sensor_costs,
      lambda: {"benchmark": _BENCH},
      {"benchmark": bad.mappings([{}, {"summary": 3, "runs": []},
                                  {"summary": [{"batch_size": 32}], "runs": []}]),
       "batch_size": bad.ints(minimum=1, extra=[7])})
cases(sensor_comparison, "run_header", sensor_comparison.run_header,
      lambda: {"provenance": {"command": "python x.py --out a.json", "date_utc": "2026"}},
      {"provenance": bad.mappings([{}, {"command": 3, "date_utc": "2026"},
                                   {"command": "python x.py", "date_utc": None}]),
       "out": bad.strings().filter(lambda v: v is not None)})

_SERIES = {"exact_w": [0.1, 0.2], "rep_w": [0.2, 0.2]}
cases(plot_sensors, "plot_sensor_weights", plot_sensors.plot_sensor_weights,
      lambda: {"series": _SERIES},
      {"series": bad.mappings([{}, {"exact_w": [0.1]}, {"exact_w": [0.1], "rep_w": [0.0]},
                               {"exact_w": [0.1, 0.2], "rep_w": [0.1]},
                               {"exact_w": ["a"], "rep_w": [0.1]}]),
       "reference": bad.strings(["rep", ""])})
def _run_record(method: str, seed: int, rmse: float) -> dict[str, Any]:
    """One run of :func:`gabalab.experiments.balancing.compare`, one epoch, the keys read."""
    test = {"rmse": rmse, "score": 10.0 * rmse, "accuracy": 0.5,
            "per_class_recall": [0.5, None, 1.0]}
    train = {"pulls": training.summarise_pulls([((300.0, 1.0), (1.0, 1.0), False)]),
             "step_s": 0.1}
    return {"method": method, "seed": seed, "epochs": [{"epoch": 1, "train": train,
                                                        "test": test}],
            "probe": {"probe_test": {"accuracy": 0.6}}}


def runs(**edits: Any) -> dict[str, Any]:
    """Two methods on two seeds; ``edits`` replace entries of the run ``sum/0``, a key like
    ``epochs__0__test__rmse`` naming the path to the entry."""
    out = {f"{m}/{s}": _run_record(m, s, 20.0 + s + (m == "gaba")) for m in ("sum", "gaba")
           for s in (0, 1)}
    for path, value in edits.items():
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split("__")]
        node: Any = out["sum/0"]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return out


cases(exp_balancing, "task_losses", exp_balancing.task_losses,
      lambda: {"model": tiny(), "batch": batch()},
      {"model": bad.modules(),
       # silent cases: (B, 1) targets, labels out of range, float labels, too few labels
       "batch": bad.lists([(x4, y4), (x4.numpy(), y4, c4), (x4, y4.numpy(), c4),
                           (x4, y4[:, None], c4), (x4, y4, c4 + 3), (x4, y4, c4.float()),
                           (x4, y4, c4[:2])])})
cases(exp_balancing, "summarise_runs", exp_balancing.summarise_runs,
      lambda: {"runs": runs(), "methods": ["sum", "gaba"], "epochs": 1},
      {"runs": bad.mappings([{}, {"sum/0": 3}, {"sum/0": {"method": "sum"}}, runs(epochs=3),
                             runs(epochs=[]), runs(epochs__0=3), runs(epochs__0__test=None),
                             runs(epochs__0__test__rmse="20"),
                             runs(epochs__0__test__per_class_recall=[0.5]),
                             runs(epochs__0__test__per_class_recall=None),
                             runs(epochs__0__train__pulls=None),
                             runs(epochs__0__train__pulls__ratio={"q25": 1.0}),
                             runs(epochs__0__train__step_s="0.1"), runs(probe=3),
                             runs(probe={"probe_test": {"accuracy": "0.6"}})]),
       "methods": bad.lists([[], ["nope"], [3], ["sum", "sum"]]),
       "epochs": bad.ints(minimum=1, extra=[2])})
_SPREADS = bad.mappings([{}, {**SPREAD, "values": []}, {**SPREAD, "mean": "20"},
                         {**SPREAD, "std": -1.0}, {**SPREAD, "max": np.nan},
                         {k: v for k, v in SPREAD.items() if k != "min"}]).filter(
    lambda v: v is not None)
cases(exp_balancing, "contrast", exp_balancing.contrast,
      lambda: {"a": SPREAD, "b": spread(14.0, 15.0)}, {"a": _SPREADS, "b": _SPREADS})
_FINAL = {"sum": {m: SPREAD for m in ("rmse", "score", "accuracy", "weighted_ratio")}}
cases(exp_balancing, "results_table", exp_balancing.results_table,
      lambda: {"final": _FINAL, "probe": {"sum": SPREAD}},
      {"final": bad.mappings([{}, {"sum": 3}, {"sum": {"rmse": SPREAD}},
                              {"sum": {**_FINAL["sum"], "rmse": {"mean": 1.0}}},
                              {"sum": {**_FINAL["sum"], "score": {"mean": "1", "std": 0.0}}}]),
       "probe": bad.mappings([{"sum": 3}, {"sum": {"mean": np.nan, "std": 0.0}}]).filter(
           lambda v: v is not None)})
PREPARED = gdata.prepare_cmapss(FLEET)
# every bad value is refused before training; a silent one trains one batch of one epoch
cases(exp_balancing, "train_gaba_variant", exp_balancing.train_gaba_variant,
      lambda: {"prepared": PREPARED, "model_kwargs": dict(SMALL), "seed": 0, "epochs": 1,
               "batch_size": 64},
      {"prepared": bad.just(None, 3, "data", FLEET, PREPARED.train),
       "model_kwargs": bad.mappings([{"lstm_hidden": 0}, {"nope": 1}]),
       "seed": bad.ints(minimum=0), "epochs": bad.ints(minimum=1),
       "lr": bad.reals(positive=True), "batch_size": bad.ints(minimum=1),
       "heads_in_norms": bad.bools(), "ema": BAD_EMA,
       "floor": bad.reals(nonnegative=True, above=BAD_FLOOR)})


def _variant_run(test: Any = None, steps: Any = None) -> dict[str, Any]:
    step = {"norms": [300.0, 1.0], "weights": [0.003, 0.997]}
    return {"test": {"rmse": 20.0, "accuracy": 0.5} if test is None else test,
            "steps": [step, step] if steps is None else steps}


cases(exp_balancing, "variant_summary", exp_balancing.variant_summary,
      lambda: {"run": _variant_run()},
      {"run": bad.mappings([{"steps": []}, _variant_run(steps=[]),
                            _variant_run(steps="ab"), _variant_run(test={"rmse": 1.0}),
                            _variant_run(test={"rmse": "1", "accuracy": 0.5}),
                            _variant_run(test={"rmse": True, "accuracy": 0.5}),
                            _variant_run(steps=[{"norms": [1.0, 2.0]}]),
                            _variant_run(steps=[{"norms": [1.0], "weights": [0.5, 0.5]}]),
                            _variant_run(steps=[{"norms": [1.0, 0.0], "weights": [0.5, 0.5]}]),
                            _variant_run(steps=[{"norms": [1.0, 2.0],
                                                 "weights": [float("nan"), 0.5]}]),
                            _variant_run(steps=[{"norms": "ab", "weights": [0.5, 0.5]}]),
                            _variant_run(steps=[None])])})


# ------------------------------------------------------------------------------ files

#: A file the cases of :mod:`gabalab.files` name as their destination; every bad value is
#: refused before it is written (a failed write removes its temporary file).
WRITTEN = os.path.join(tempfile.gettempdir(), "gabalab-bad-input-never-written.txt")


def _atomic_write(**kwargs: Any) -> None:
    with files.atomic_write(**{"path": WRITTEN, **kwargs}) as handle:
        handle.write(b"x" if kwargs.get("mode") == "wb" else "x")  # pragma: no cover


cases(files, "atomic_write", _atomic_write, none,
      {"path": bad.paths([tempfile.gettempdir()]), "mode": bad.choices(("w", "wb")),
       "name": bad.strings([""])})
cases(files, "atomic_write_text", files.atomic_write_text, lambda: {"path": WRITTEN, "text": "x"},
      {"path": bad.paths(), "text": bad.strings([b"x", 3.0]), "name": bad.strings([""])})
cases(files, "atomic_write_bytes", files.atomic_write_bytes,
      lambda: {"path": WRITTEN, "data": b"x"},
      {"path": bad.paths(), "data": bad.just(None, "x", 3, [1], object()),
       "name": bad.strings([""])})
cases(files, "atomic_torch_save", files.atomic_torch_save, lambda: {"obj": {"a": 1},
                                                                   "path": WRITTEN},
      {"path": bad.paths(), "name": bad.strings([""])})
cases(files, "check_writable", files.check_writable, lambda: {"path": WRITTEN},
      {"path": bad.paths([tempfile.gettempdir(), os.path.join(os.devnull, "x")]),
       "name": bad.strings([""])})

# A newline or encoding of the wrong type is refused by os.fdopen, naming it.
cases(files, "atomic_write", _atomic_write, none,
      {"newline": bad.just("x", 3, "\n\n"), "encoding": bad.just(3, b"utf-8")})
# An unknown encoding is refused before the temporary file is made.
cases(files, "atomic_write", _atomic_write, none,
      {"encoding": bad.just("no-such-codec", "utf-9")})
cases(files, "atomic_write_text", files.atomic_write_text,
      lambda: {"path": WRITTEN, "text": "x"}, {"encoding": bad.just("no-such-codec", "utf-9")})
# A character the encoding cannot write is refused before anything is written, naming text.
cases(files, "atomic_write_text",
      lambda text: files.atomic_write_text(WRITTEN, text, encoding="ascii"), none,
      {"text": bad.just("café", "\u2603")})
# save must be a function; an obj torch.save cannot pickle is refused naming obj.
cases(files, "atomic_torch_save", files.atomic_torch_save,
      lambda: {"obj": {"a": 1}, "path": WRITTEN},
      {"save": bad.just(3, "save", object(), torch.nn.Module),
       "obj": bad.built(lambda: (lambda: 1), lambda: (v for v in [1]))})
cases(files, "check_writable", files.check_writable, lambda: {"path": WRITTEN},
      {"create_parent": bad.bools()})

# ------------------------------------------------------------------------------ comparison

from gabalab import comparison  # noqa: E402
from gabalab.data import split as data_split  # noqa: E402

_PAIRED = {"a": [1.0, 2.0, 3.0], "b": [0.5, 1.5, 2.0]}
cases(comparison, "t_cdf", comparison.t_cdf, lambda: {"t": 1.0, "df": 3},
      {"t": bad.just(None, "1", [1.0], math.nan, True), "df": bad.reals(positive=True)})
cases(comparison, "t_quantile", comparison.t_quantile, lambda: {"p": 0.9, "df": 3},
      {"p": bad.reals(extra=[0.0, 1.0, -0.5, 1.5]), "df": bad.reals(positive=True)})
cases(comparison, "paired_comparison", comparison.paired_comparison, lambda: dict(_PAIRED),
      {"a": bad.arrays([[1.0], [1.0, 2.0], [[1.0, 2.0, 3.0]], [1.0, math.nan, 2.0], []]),
       "b": bad.arrays([[1.0] * 4, [math.inf, 0.0, 1.0]]),
       "confidence": bad.reals(extra=[0.0, 1.0, 95])})
cases(comparison, "holm", comparison.holm, none,
      {"p_values": bad.arrays([[], [1.5], [-0.1], [[0.1, 0.2]]])})
cases(comparison, "bootstrap_units", comparison.bootstrap_units,
      lambda: {"statistic": lambda i: float(len(i)), "n_units": 5, "n_resamples": 100},
      {"statistic": bad.callables([3.0, "mean", lambda i: "x", lambda i: math.nan]),
       "n_units": bad.ints(minimum=2), "n_resamples": bad.ints(minimum=100),
       "confidence": bad.reals(extra=[0.0, 1.0]), "seed": bad.ints(minimum=0)})

# ------------------------------------------------------------------------------ uncertainty

cases(methods, "UncertaintyWeighting", methods.UncertaintyWeighting, none,
      {"kinds": bad.lists([[], ["regression"], ["regression", "ranking"], [1, 2]]),
       "init": bad.reals(), "name": bad.strings([""])})
cases(methods, "UncertaintyWeighting.backward", methods.UncertaintyWeighting().backward, none,
      {"losses": bad.loss_lists()})

# ------------------------------------------------------------------------------ data.split

_SPLIT_FLEET = gdata.simulated_fleet(n_train_units=5, n_test_units=2, seed=0)
cases(data_split, "choose_validation_units", data_split.choose_validation_units,
      lambda: {"data": _SPLIT_FLEET},
      {"data": bad.just(None, "FD001", _SPLIT_FLEET.train),
       "fraction": bad.reals(extra=[0.0, 1.0, 20]), "seed": bad.ints(minimum=0)})
cases(data_split, "split_units", data_split.split_units,
      lambda: {"data": _SPLIT_FLEET, "validation_units": [1]},
      {"data": bad.just(None, _SPLIT_FLEET.train),
       "validation_units": bad.lists([[], [1, 1], [9], [1, 2, 3, 4, 5], [1.5], [-1]])})
cases(data_split, "prepare_with_validation", data_split.prepare_with_validation,
      lambda: {"data": _SPLIT_FLEET, "validation_units": [1]},
      {"validation_units": bad.lists([[], [0], [1, 1]]),
       "window_length": bad.ints(minimum=1, extra=[10_000]),
       "rul_cap": bad.reals(positive=True)})
cases(data_split, "SplitData.to",
      data_split.prepare_with_validation(_SPLIT_FLEET, [1]).to, none,
      {"dtype": bad.just(None, "float16", torch.int64, "x")})

# ------------------------------------------------------------------------------ trained runs

from gabalab.experiments import records as exp_records  # noqa: E402
from gabalab.experiments import trained as exp_trained  # noqa: E402

# (a path that is not there is a FileNotFoundError, as for open(); tests/experiments)
cases(exp_records, "load_run", exp_records.load_run, none, {"path": bad.paths()})
cases(exp_records, "load_runs", exp_records.load_runs, none, {"folder": bad.paths()})
cases(exp_records, "write_run", exp_records.write_run, lambda: {"path": WRITTEN},
      {"record": bad.just(None, {}, "run", 3)})
cases(exp_records, "Metrics.from_dict", exp_records.Metrics.from_dict, none,
      {"value": bad.just(None, {}, [1.0], {"rmse": 1.0})})
cases(exp_records, "RunRecord.from_dict", exp_records.RunRecord.from_dict, none,
      {"value": bad.just(None, {}, {"schema": "x"}, "run")})
cases(exp_trained, "Protocol", exp_trained.Protocol, none,
      {"lr": bad.reals(positive=True), "batch_size": bad.ints(minimum=1),
       "epoch_cap": bad.ints(minimum=1), "patience": bad.ints(minimum=1),
       "lr_factor": bad.reals(positive=True, at_least=1.0),
       "validation_fraction": bad.reals(extra=[0.0, 1.0]), "dtype": bad.just("float16", 3)})
cases(exp_trained, "ratio_quantiles", exp_trained.ratio_quantiles, lambda: {"weighted": False},
      {"steps": bad.just(None, 3, [{"norms": [1.0]}], [{"weights": [1.0, 1.0]}])})
cases(exp_trained, "unit_predictions", exp_trained.unit_predictions,
      lambda: {"model": tiny()}, {"dataset": bad.just(None, 3, "windows")})
_TRAINED_FLEET = gdata.simulated_fleet(n_train_units=4, n_test_units=2, seed=0)
_TRAINED_SPLIT = gdata.prepare_with_validation(_TRAINED_FLEET, [1])
cases(exp_trained, "make_method", exp_trained.make_method,
      lambda: {"model": models.DualTaskModel(seed=0), "split": _TRAINED_SPLIT,
               "protocol": exp_trained.Protocol(), "seed": 0},
      {"name": bad.just("pcgrad", "", None, "SUM")})
cases(exp_trained, "train_run", exp_trained.train_run,
      lambda: {"name": "sum", "seed": 0, "split": _TRAINED_SPLIT,
               "protocol": exp_trained.Protocol(epoch_cap=1), "max_batches": 1,
               "probe": False},
      {"name": bad.just("pcgrad", None), "seed": bad.ints(minimum=0),
       "split": bad.just(None, _TRAINED_FLEET, "split"),
       "protocol": bad.just(None, {}, "Protocol")})

# ------------------------------------------------------------------------------ verdicts

from gabalab.experiments import verdicts as exp_verdicts  # noqa: E402

_UNITS = {"rul_true": [10.0, 50.0], "rul_pred": [12.0, 45.0], "health_true": [2, 0],
          "health_pred": [2, 1]}
cases(exp_verdicts, "unit_metric", exp_verdicts.unit_metric,
      lambda: {"metric": "rmse", **_UNITS},
      {"metric": bad.just("mae", None, "RMSE", "recall_3"),
       "rul_true": bad.arrays([[1.0], [], [[1.0, 2.0]]]),
       "rul_pred": bad.arrays([[1.0, 2.0, 3.0]]),
       "health_true": bad.arrays([[0]]), "health_pred": bad.arrays([[0, 1, 2]])})
for _name in ("method_scores", "paired_contrasts", "unit_interval", "ratio_through_training",
              "probe_accuracies", "per_epoch_spreads", "selected_pulls", "validation_wander",
              "paired_runs"):
    _fn = getattr(exp_verdicts, _name)
    _valid: dict[str, Any] = {"methods": ["sum"]} if _name in (
        "method_scores", "probe_accuracies", "per_epoch_spreads", "selected_pulls",
        "paired_runs") else {} if _name in ("ratio_through_training", "validation_wander") else (
        {"methods": ["gaba"], "baseline": "sum"} if _name == "paired_contrasts"
        else {"method": "gaba", "baseline": "sum"})
    cases(exp_verdicts, _name, _fn, lambda _valid=_valid: dict(_valid),
          {"runs": bad.just(None, {}, [1], {("sum", 0): "run"})})
_CONTRAST = exp_verdicts.Contrast(
    "gaba", "sum", "rmse",
    comparison.paired_comparison([1.0, 2.0, 3.0], [2.0, 2.5, 4.0]), 0.5, 0.5)
cases(exp_verdicts, "verdict", exp_verdicts.verdict,
      lambda: {"contrast": _CONTRAST, "units": None, "alpha": 0.05},
      {"contrast": bad.just(None, "gaba", {}), "units": bad.just("x", 3, (0.0, 1.0)),
       "alpha": bad.just(0.0, 1.0, -0.1, "0.05", True, math.nan)})
_SCORES = exp_verdicts.MethodScores("sum", (0,), {m: (1.0,) for m in exp_verdicts.METRICS},
                                    (3,), (5,))
cases(exp_verdicts, "scores_table", exp_verdicts.scores_table,
      lambda: {"scores": [_SCORES], "metrics": ["rmse"]},
      {"scores": bad.just(None, [], [1], "sum", _SCORES),
       "metrics": bad.just("rmse", [], ["mae"], [1], None)})
from tests.experiments.test_verdicts import RUNS as _VERDICT_RUNS  # noqa: E402

_COMPARE = {"runs": _VERDICT_RUNS, "methods": ["sum", "gaba"], "baseline": "sum",
            "metrics": ["rmse"], "n_resamples": 100}
cases(exp_verdicts, "compare_methods", exp_verdicts.compare_methods, lambda: dict(_COMPARE),
      {"runs": bad.just(None, {}, [1], {("sum", 0): "run"}),
       "methods": bad.just(None, "sum", [1], ["gaba"]), "baseline": bad.just("uncertainty"),
       "metrics": bad.just("rmse", [], ["mae"]), "alpha": bad.just(0.0, 1.5, "0.05", True)})
_COMPARED = exp_verdicts.compare_methods(**_COMPARE)
cases(exp_verdicts, "MethodComparison.score", _COMPARED.score, none,
      {"method": bad.just("fixed", None, 3)})
cases(exp_verdicts, "MethodComparison.contrast", _COMPARED.contrast,
      lambda: {"metric": "rmse"}, {"method": bad.just("sum", None)})
cases(exp_verdicts, "contrasts_table", exp_verdicts.contrasts_table,
      lambda: {"contrasts": [_CONTRAST], "units": {}},
      {"contrasts": bad.just(None, [], [1], _CONTRAST), "units": bad.just(None, [1], "x")})

# ------------------------------------------------------------------------------ plausible mistakes
# Values that look right at first sight. Each case here failed before its fix: accepted
# silently, or refused by NumPy or torch with a message that did not name the argument.

# --- empty collections and zero-length axes

cases(norms, "grads_norm", norms.grads_norm, none,
      {"grads": bad.empty([[torch.zeros(0)], [torch.zeros(2, 0), torch.zeros(0)]])})
cases(norms, "vector_norm", norms.vector_norm, none,
      {"vectors": bad.empty([[np.zeros(0)], [[]], [np.zeros((2, 0)), np.zeros(0)]])})
cases(models, "parameter_counts", models.parameter_counts, lambda: {"model": tiny()},
      {"heads": bad.empty()})
cases(weighting, "smooth_norms", weighting.smooth_norms, lambda: {"state": None, "ema": 0.9},
      {"norms": bad.empty()})
for _name in ("log_softmax", "softmax"):
    cases(losses, _name, getattr(losses, _name), none,
          {"logits": bad.zero_axes((2, 3), axes=(1,))})
cases(models, "DualTaskModel.forward", lambda x: small_dual()(x), none,
      {"x": bad.zero_axes((2, 5, 14), axes=(1,), tensor=True)})
cases(models, "TinyDualHead.forward", lambda x: tiny()(x), none,
      {"x": bad.zero_axes((2, 5, 14), axes=(1,), tensor=True)})
cases(models, "AttentionPooling.forward", lambda h: models.AttentionPooling(4, 2)(h), none,
      {"h": bad.zero_axes((2, 5, 4), axes=(1,), tensor=True)})
cases(gdata.windows, "WindowDataset", gdata.WindowDataset,
      lambda: {"x": np.zeros((2, 3, 14)), "y_rul": [10.0, 100.0]},
      {"x": bad.zero_axes((2, 3, 14), axes=(1, 2))})
for _name in ("sliding_windows", "last_windows"):
    cases(gdata.windows, _name, getattr(gdata, _name),
          lambda: {"features": np.zeros((6, 2)), "bounds": [(0, 3), (3, 6)],
                   "window_length": 2},
          {"features": bad.zero_axes((6, 2), axes=(1,)), "bounds": bad.empty()})
cases(gdata.cmapss, "CmapssTable", gdata.CmapssTable, lambda: {"values": FLEET.train.values},
      {"values": bad.zero_axes(FLEET.train.values.shape, axes=(0,))})
for _name in ("batch_sums", "feature_norms"):
    cases(sensors, _name, getattr(sensors, _name), none,
          {"grads": bad.zero_axes((4, 3), tensor=True).map(lambda g: [(g,), (g.clone(),)])})
cases(plot_bound, "plot_derivative_bound", plot_bound.plot_derivative_bound, none,
      {"residuals": bad.empty(), "p_trues": bad.empty()}, {"p_trues": "p_true"})
cases(amp, "flag_overflow", amp.flag_overflow, none,
      {"params": bad.built(lambda: [torch.zeros(0, requires_grad=True)],
                           lambda: [torch.zeros((2, 0), requires_grad=True)])})


def _terms_like(y_rul: Any) -> object:
    """:meth:`LossRecipe.terms` on predictions and labels of ``y_rul``'s batch size."""
    n = len(y_rul) if isinstance(y_rul, torch.Tensor) and y_rul.dim() else 4
    return loss_recipes.LossRecipe("r").terms(torch.zeros(n), y_rul, torch.zeros(n, 3),
                                              torch.zeros(n, dtype=torch.long))


cases(loss_recipes, "LossRecipe.terms", _terms_like, none,
      {"y_rul": bad.zero_axes((4,), tensor=True) | bad.nonfinite(y4)})

# --- NaN and inf anywhere in a valid input

_VALUES = FLEET.train.values
cases(gdata.cmapss, "CmapssTable", gdata.CmapssTable, lambda: {"values": _VALUES},
      {"values": bad.nonfinite(_VALUES)})
cases(gdata.cmapss, "CmapssSubset", gdata.CmapssSubset,
      lambda: {"name": "FD001", "train": FLEET.train, "test": FLEET.test, "rul": FLEET.rul},
      {"rul": bad.nonfinite(FLEET.rul) | bad.empty() | bad.arrays(
          [FLEET.rul[:1], np.r_[FLEET.rul, 3.0], FLEET.rul[:, None], -FLEET.rul - 1]),
       "train": bad.just(None, "train", _VALUES, gdata.CmapssTable),
       "test": bad.just(None, FLEET.test.values, gdata.CmapssTable),
       "name": bad.strings(), "files": bad.just(None, 3, [("train", "x")])})
cases(blocks, "block_table", blocks.block_table,
      lambda: {"named_params": [("trunk.w", torch.zeros(2, 3))],
               "grads": {"rul": [torch.ones(2, 3)]}},
      {"grads": bad.nonfinite(torch.ones(2, 3)).map(lambda g: {"rul": [g]})
       | bad.just({"rul": [torch.full((2, 3), 1e200, dtype=torch.float64)]})})
cases(measure, "quantile_table", measure.quantile_table, none,
      {"summaries": bad.just({"A": {**_SUMMARY, "median": math.nan}},
                             {"A": {**_SUMMARY, "q25": -math.inf}},
                             {"A": {**_SUMMARY, "median": "2"}})})
cases(methods, "weights_balanced_at", methods.weights_balanced_at, _balanced_args,
      # NaN or inf where the tiny model reads (the last time step): a NaN gradient
      {"batches": bad.nonfinite(x4[:, -1:]).map(lambda last: [(torch.cat([x4[:, :-1], last], 1),
                                                               y4, c4)])})
cases(loss_recipes, "train_with_recipe", loss_recipes.train_with_recipe,
      lambda: {"recipe": loss_recipes.LossRecipe("r"), "model": tiny(), "train": _TRAIN,
               "test": _TRAIN, "epochs": 1},
      {"train": bad.nonfinite(x4).map(lambda x: (x, y4, c4)),
       "test": bad.nonfinite(y4).map(lambda y: (x4, y, c4))})
cases(probe, "extract_features", probe.extract_features,
      lambda: {"model": tiny(), "dataset": window_dataset()},
      {"dataset": bad.nonfinite(x4).map(lambda x: torch.utils.data.TensorDataset(x, y4, c4))})

# --- a class where an instance is expected, a state dict where parameters are

_SCALER_CLASSES = bad.classes(torch.amp.GradScaler)
cases(amp, "check_scaler", amp.check_scaler, none, {"scaler": _SCALER_CLASSES})
cases(amp, "loss_scale", amp.loss_scale, none, {"scaler": _SCALER_CLASSES})
cases(sensors, "weighted_backward", _weighted(sensors.weighted_backward), none,
      {"scaler": _SCALER_CLASSES})
for _method in ("step", "accumulate"):
    cases(gaba, f"GabaBalancer.{_method}", _step(_method), none, {"scaler": _SCALER_CLASSES})
_CHART_CLASSES = bad.classes(alt.Chart, alt.LayerChart)
cases(render, "chart_spec", render.chart_spec, none, {"chart": _CHART_CLASSES})
cases(render, "chart_html", render.chart_html, lambda: {"name": "demo"},
      {"chart": _CHART_CLASSES})
cases(render, "show", render.show, lambda: {"name": "demo", "mode": "static"},
      {"chart": _CHART_CLASSES})
cases(toy, "train_toy", toy.train_toy, lambda: {"rho": 2.0, "lr": 0.1, "n_steps": 3},
      {"optimizer": bad.classes(nn.Linear, torch.Tensor)})
cases(methods, "weights_balanced_at", methods.weights_balanced_at, _balanced_args,
      {"losses_of": bad.classes(nn.Linear, nn.MSELoss)})
cases(gdata.cmapss, "CmapssTable", gdata.CmapssTable, lambda: {"values": _VALUES},
      {"values": bad.built(lambda: _VALUES.astype(bool), lambda: _VALUES.astype(complex),
                           lambda: _VALUES.astype(object), lambda: _VALUES.astype(str),
                           # rows out of the format's order: reversed, a cycle missing
                           lambda: _VALUES[::-1].copy(), lambda: np.delete(_VALUES, 5, 0)),
       "columns": bad.just(None, "abcdefghijklmnopqrstuvwxyz", tuple(range(26)),
                           ("unit",) * 26),
       "source": bad.strings()})
cases(amp, "flag_overflow", amp.flag_overflow, none,
      {"params": bad.built(lambda: [torch.zeros(2)],  # frozen
                           lambda: [torch.ones(2, requires_grad=True) * 2])})  # not a leaf
# the state dict of another model: its entries do not line up with the gradients
cases(blocks, "block_table", blocks.block_table, _block_args,
      {"named_params": bad.built(lambda: list(small_dual().state_dict().items()))})

# --- mismatched pairs


def _measure_with(loader: Any) -> object:
    return measure.measure_epoch(**{**_measure_args(), "loader": loader})


#: Windows the tiny model does not read: 13 features, float64.
_FOREIGN_WINDOWS = (lambda: gdata.WindowDataset(np.zeros((4, 3, 13)), [1.0, 2.0, 3.0, 4.0]),
                    lambda: window_dataset().to(torch.float64))

cases(measure, "measure_epoch", _measure_with, none,
      {"loader": bad.built(lambda: [(x4[..., :13], y4, c4)], lambda: [(x4.double(), y4, c4)])},
      {"loader": "batch"})
cases(probe, "extract_features", probe.extract_features, lambda: {"model": tiny()},
      {"dataset": bad.built(*_FOREIGN_WINDOWS)})
cases(probe, "probe_report", probe.probe_report,
      lambda: {"model": tiny(), "train": window_dataset(), "test": window_dataset()},
      {"train": bad.built(*_FOREIGN_WINDOWS), "test": bad.built(*_FOREIGN_WINDOWS)})
cases(loss_recipes, "train_with_recipe", loss_recipes.train_with_recipe,
      lambda: {"recipe": loss_recipes.LossRecipe("r"), "model": tiny(), "train": _TRAIN,
               "test": _TRAIN, "epochs": 1},
      {"train": bad.built(lambda: (x4[..., :13], y4, c4)),
       "test": bad.built(lambda: (x4[..., :13], y4, c4))})
cases(methods, "weights_balanced_at", methods.weights_balanced_at, _balanced_args,
      # the losses of another model reach none of the shared parameters
      {"losses_of": bad.built(lambda: lambda m, b: exp_balancing.task_losses(tiny(), b))})
cases(sensor_comparison, "ShadowSensors.before_step", _shadow_before, none,
      {"z": bad.built(_z)})  # features of another forward pass, which the losses do not read
cases(sensor_comparison, "ShadowSensors.after_step", _shadow_after, none,
      {"result": bad.just(gaba.GabaResult((3.0, 1.0, 1.0), (3.0, 1.0, 1.0), (0.2, 0.4, 0.4),
                                          3.0))})
cases(gdata.windows, "prepare_cmapss", gdata.prepare_cmapss, lambda: {"data": FLEET},
      {"data": bad.built(lambda: gdata.CmapssSubset(
          "FD001", gdata.CmapssTable(_VALUES[:, :20], gdata.COLUMNS[:20]), FLEET.test,
          FLEET.rul))})
cases(gdata.cmapss, "CmapssSubset", gdata.CmapssSubset,
      lambda: {"name": "FD001", "train": FLEET.train, "test": FLEET.test, "rul": FLEET.rul},
      # the test units of another fleet: one RUL too many or too few
      {"test": bad.built(lambda: gdata.simulated_fleet(3, 3, seed=1, min_life=35,
                                                       max_life=45).test,
                         lambda: gdata.simulated_fleet(3, 1, seed=1, min_life=35,
                                                       max_life=45).test)})

def _train_balanced_args() -> dict[str, Any]:
    model = small_dual()
    return {"model": model, "dataset": window_dataset(), "balancer":
            gaba.GabaBalancer.from_model(model), "epochs": 0, "lr": 1e-3, "batch_size": 3,
            "seed": 0, "progress": False}


# A balancer built for another model is refused before training starts (even for 0 epochs).
cases(training, "train_balanced", training.train_balanced, _train_balanced_args,
      {"balancer": bad.built(lambda: gaba.GabaBalancer.from_model(small_dual()))})
# Windows the model does not accept are refused naming dataset.
cases(training, "evaluate", training.evaluate, lambda: {"model": tiny()},
      {"dataset": bad.built(*_FOREIGN_WINDOWS)})
# Heads none of which any loss reaches (another model's) are refused before .grad is written.
cases(gaba, "gaba_backward", _gaba_backward, none,
      {"heads": bad.built(lambda: list(tiny().rul_head.parameters())
                          + list(tiny().health_head.parameters()))})
# One head is refused naming heads (not n_tasks, which the caller did not pass).
cases(gaba, "GabaBalancer.from_model", gaba.GabaBalancer.from_model, lambda: {"model": tiny()},
      {"heads": bad.just(["rul_head"], ("health_head",))})
# Shared tensors without any entry are refused: there is no norm to balance.
cases(gaba, "GabaBalancer", gaba.GabaBalancer, _balancer_parts,
      {"shared": bad.built(lambda: [("w", torch.zeros(0, requires_grad=True))],
                           lambda: [torch.zeros((3, 0), requires_grad=True)])})

# --- losses whose graph an earlier backward freed

#: The model whose losses are freed; each draw runs a new forward pass on it.
FREED_MODEL = tiny()
_FREED = bad.freed_losses(lambda: tiny_losses(FREED_MODEL))
_FREED_PARAMS = norms.shared_parameters(FREED_MODEL)
cases(norms, "task_grad_norms", norms.task_grad_norms, lambda: {"params": _FREED_PARAMS},
      {"losses": _FREED})
cases(norms, "task_grad_norm", norms.task_grad_norm, lambda: {"params": _FREED_PARAMS},
      {"loss": _FREED.map(lambda losses: losses[0])})
cases(norms, "task_grad_norms_backward", norms.task_grad_norms_backward,
      lambda: {"model": FREED_MODEL, "params": _FREED_PARAMS}, {"losses": _FREED})
cases(methods, "FixedWeights.backward", methods.FixedWeights([1.0, 2.0]).backward, none,
      {"losses": _FREED})
cases(methods, "SummedLoss.backward", methods.SummedLoss().backward, none, {"losses": _FREED})
cases(sensors, "weighted_backward", _weighted(sensors.weighted_backward), none,
      {"losses": _FREED})
#: The features of the latest freed losses of :func:`_freed_on_z`.
_FREED_Z: dict[str, torch.Tensor] = {}


def _freed_on_z() -> list[torch.Tensor]:
    z = _z()
    _FREED_Z["z"] = z
    return [z.sum(), (z * z).sum()]


_FREED_ON_Z = bad.freed_losses(_freed_on_z)
cases(sensors, "representation_gradients",
      lambda losses: sensors.representation_gradients(losses, [_FREED_Z["z"]]), none,
      {"losses": _FREED_ON_Z})
cases(sensor_comparison, "ShadowSensors.before_step",
      lambda losses: sensor_comparison.ShadowSensors([2]).before_step(0, losses,
                                                                      _FREED_Z["z"]),
      none, {"losses": _FREED_ON_Z})

# --- Python keywords and the kernel's own names as glue names

cases(prose, "glue", prose.glue, lambda: {"value": "1"}, {"name": bad.reserved_names()})


# ------------------------------------------------------------------------------ the tests


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    out = os.environ.get("GABALAB_BAD_INPUT_COUNTS")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(COUNTS.items())), handle, indent=1)


def _fix_labels(case: Case, message: str) -> bool:
    """The message names the argument (``case.label``), or a part of it (``values row 3``)."""
    return case.label in message


def _param(case: Case) -> Any:
    if not case.xfail:
        return case
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=case.xfail))


@pytest.mark.parametrize("case", [_param(c) for c in CASES], ids=[c.id for c in CASES])
def test_bad_argument_is_refused_naming_it(case: Case) -> None:
    @SETTINGS
    @given(value=case.values)
    def check(value: Any) -> None:
        COUNTS[case.module] += 1
        with pytest.raises((TypeError, ValueError)) as info:
            case.call(value)
        message = str(info.value)
        assert _fix_labels(case, message), (
            f"{case.id}: the message does not name {case.label!r}: {message!r} "
            f"(value {value!r})")

    check()


#: Public callables without cases here, and why.
EXEMPT: dict[str, str] = {
    "gabalab.data.windows.PreparedData": "a record built by prepare_cmapss",
    "gabalab.gaba.GabaResult": "a record built by the balancer (as_dict is covered)",
    "gabalab.gaba_stages.TaskGrads": "a type alias, not a function",
    "gabalab.gaba_stages.task_gradients": "a stage of GabaBalancer.step, which validates first",
    "gabalab.gaba_stages.add_task_gradients": "a stage of GabaBalancer.accumulate",
    "gabalab.gaba_stages.tensor_norms": "a stage of GabaBalancer.step",
    "gabalab.gaba_stages.shared_norms": "a stage of GabaBalancer.step",
    "gabalab.gaba_stages.nonfinite_reason": "a stage of GabaBalancer.step",
    "gabalab.gaba_stages.write_weighted_grad": "a stage of GabaBalancer.step",
    "gabalab.distributed.RemoteRankError": "an exception class",
    "gabalab.distributed.CollectiveTimeoutError": "an exception class",
    "gabalab.distributed.CommStats": "a record of the collectives",
    "gabalab.distributed.NormSpread": "a record built by norm_spread",
    "gabalab.distributed.ScaleCosts": "a record built by scale_costs",
    "gabalab.sensor_comparison.SensorGap": "a record built by sensor_gap",
    "gabalab.sensor_comparison.SensorCosts": "a record built by sensor_costs",
    "gabalab.comparison.PairedComparison": "a record built by paired_comparison",
    "gabalab.comparison.BootstrapInterval": "a record built by bootstrap_units",
    "gabalab.distributed.agree": "needs a process group of several ranks (tests/test_distributed)",
    "gabalab.distributed.gather_messages": "needs a process group of several ranks",
    "gabalab.distributed.average_task_gradients": "needs a process group of several ranks",
    "gabalab.distributed.sum_over_ranks": "needs a process group of several ranks",
    "gabalab.distributed.mean_over_ranks": "needs a process group of several ranks",
    "gabalab.sensors.HeldWeights": "a record built by the balancer (its method is covered)",
    "gabalab.weighting.WeightUpdate": "a record built by stabilised_weights",
    "gabalab.linear_reference.TaskGradients": "a record built by linear_task_gradients",
    "gabalab.loss_recipes.RecipeRun": "a record built by train_with_recipe",
    "gabalab.memory.AllocationReport": "a record built by measure_allocations",
    "gabalab.measure.ProxyComparison": "a record built by compare_with_proxy",
    "gabalab.measure.TrainingTrend": "a record built by training_trend",
    "gabalab.measure.MeasurementShift": "a record built by compare_measurements",
    "gabalab.measure.RunningMedian": "a record built by running_median",
    "gabalab.probe.TrainedProbes": "a record built by trained_probes, which checks the "
                                   "accuracies (its methods take no argument)",
    "gabalab.memory.SavedTensorReport": "a record built by count_saved_tensors",
    "gabalab.memory.GradCall": "a record built by measure_grad_call",
    "gabalab.norms.TypeSelection": "a record built by layer_type_selection",
    "gabalab.weighting.RuleSpreads": "a record built by rule_spreads",
    "gabalab.probe.SoftmaxProbe": "a record built by fit_softmax_probe (its methods are covered)",
    "gabalab.toy.FixedPointCost": "a record built by fixed_point_cost (its quotes are covered)",
    "gabalab.probe.ProbeOutcome": "a record built by probe_outcome, which checks both results",
    "gabalab.progress.timing_shown": "takes no argument",
    "gabalab.plots.style.use_book_style": "takes no argument",
    "gabalab.widgets.retraining.RetrainRun": "a record built by retrain (its readout is covered)",
    "gabalab.experiments.provenance.base_parser": "builds the command line; argparse names "
                                                  "every bad option",
    "gabalab.experiments.provenance.LoadedData": "a record built by load_data",
    "gabalab.experiments.provenance.load_data": "takes the parsed command line",
    "gabalab.experiments.provenance.load_subset": "takes the parsed command line",
    "gabalab.experiments.trained.check_command": "takes the parsed command line",
    "gabalab.experiments.trained.main": "a command line (tests/experiments/test_command_lines)",
    "gabalab.experiments.records.Metrics": "a record, checked by its from_dict (covered)",
    "gabalab.experiments.records.Quantiles": "a record, checked by its from_dict (covered)",
    "gabalab.experiments.records.EpochRecord": "a record, checked by its from_dict (covered)",
    "gabalab.experiments.records.UnitPredictions": "a record, checked by its from_dict",
    "gabalab.experiments.records.RunRecord": "a record, checked by its from_dict (covered)",
    "gabalab.experiments.verdicts.MethodComparison": "a result built by compare_methods "
    "(covered); its lookups score and contrast are covered",
    "gabalab.experiments.verdicts.MethodScores": "a record built by method_scores",
    "gabalab.experiments.verdicts.Contrast": "a record built by paired_contrasts",
    "gabalab.experiments.provenance.package_version": "takes no argument",
    "gabalab.experiments.provenance.provenance": "takes the parsed command line",
    "gabalab.experiments.provenance.to_jsonable": "accepts any value (others pass through)",
    "gabalab.experiments.provenance.run": "takes the parsed command line",
    "gabalab.experiments.provenance.OneLineErrorParser": "an argparse parser class",
    **{f"gabalab.experiments.provenance.{name}": "reports through parser.error (exit status "
       "2, naming the option), the command line's way"
       for name in ("argument_check", "require_int", "require_real", "check_args",
                    "check_data_files", "check_out")},
    "gabalab.experiments.balancing.check_args": "reports through parser.error, naming the "
                                                "option",
    "gabalab.experiments.balancing.main": "the command line; argparse names every bad option",
    "gabalab.experiments.balancing.compare": "takes main's parsed command line",
    "gabalab.methods.StepRecord": "a record built by the methods' backward",
    "gabalab.methods.Method": "a protocol (its implementations are covered)",
    "gabalab.prose.setup": "a Sphinx hook; takes the Sphinx app",
    "gabalab.site.setup": "a Sphinx hook; takes the Sphinx app",
    "gabalab.site.mathjax_only_with_math": "a Sphinx event handler (tests/test_site.py)",
    "gabalab.site.named_sidebar_toggles": "a Sphinx event handler (tests/test_site.py)",
    "gabalab.site.bibliography_as_list": "a Sphinx event handler (tests/test_site.py)",
    "gabalab.notebook.shows_error": "a context manager: its arguments are checked on entering "
                                    "the block (tests/test_notebook.py)",
    "gabalab.charts.sphinx.setup": "a Sphinx hook; takes the Sphinx app",
    "gabalab.charts.render.output_mode": "takes no argument (reads the environment)",
    "gabalab.charts.render.vega_scripts": "takes no argument",
    "gabalab.charts.render.load_vega": "takes no argument",
}

#: The modules whose ``__all__`` the completeness check walks.
MODULES = [
    "gabalab.data.cmapss", "gabalab.data.targets", "gabalab.data.windows", "gabalab.data.fleet",
    "gabalab.norms", "gabalab.blocks", "gabalab.weighting", "gabalab.gaba",
    "gabalab.gaba_stages",
    "gabalab.distributed", "gabalab.amp", "gabalab.toy", "gabalab.measure", "gabalab.models",
    "gabalab.losses", "gabalab.linear_reference", "gabalab.loss_recipes", "gabalab.training",
    "gabalab.probe", "gabalab.memory", "gabalab.scoped", "gabalab.progress", "gabalab.notebook",
    "gabalab.plots.derivative_bound", "gabalab.plots.epochs", "gabalab.plots.norm_scaling",
    "gabalab.plots.selection", "gabalab.plots.toy_bias", "gabalab.plots.style",
    "gabalab.widgets.live", "gabalab.widgets.retraining", "gabalab.experiments.provenance",
    "gabalab.sensors", "gabalab.sensor_comparison", "gabalab.plots.sensors",
    "gabalab.methods", "gabalab.experiments.balancing", "gabalab.plots.balancing",
    "gabalab.prose", "gabalab.site", "gabalab.charts.render", "gabalab.charts.sphinx",
    "gabalab.charts.norm_scaling", "gabalab.charts.derivative_bound", "gabalab.charts.epochs",
    "gabalab.charts.toy_bias", "gabalab.charts.selection", "gabalab.charts.balancing",
    "gabalab.files", "gabalab.comparison", "gabalab.ledger", "gabalab.data.split",
    "gabalab.experiments.records", "gabalab.experiments.trained",
    "gabalab.experiments.verdicts",
]


def test_every_public_callable_is_covered() -> None:
    covered = {f"{c.module}.{c.target.split('.')[0]}" for c in CASES}
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        for public in module.__all__:
            if not callable(getattr(module, public)):
                continue
            key = f"{name}.{public}"
            if key not in covered and key not in EXEMPT:
                missing.append(key)
    assert not missing, f"public callables without bad-input cases: {missing}"


def test_every_listed_value_is_refused_with_a_named_error() -> None:
    """Besides the draws above, each explicitly listed bad value of every case, once (the
    ``xfail`` cases, which wait for a fix elsewhere, are left to the test above)."""
    trouble = []
    tried = 0
    for case in CASES:
        if case.xfail:
            continue
        for value in bad.listed_values(case.values):
            tried += 1
            try:
                case.call(value)
            except (TypeError, ValueError) as err:
                if case.label not in str(err):
                    trouble.append(f"unnamed {case.id}: {value!r:.60} -> {err}")
            except Exception as err:  # any other error is an unclear outcome
                trouble.append(f"unclear {case.id}: {value!r:.60} -> {type(err).__name__}")
            else:
                trouble.append(f"silent {case.id}: {value!r:.60}")
            finally:
                plt.close("all")  # some cases draw figures
    assert tried > 1000
    assert not trouble, f"{len(trouble)} of {tried} listed values: {trouble[:10]}"
