"""Does balancing help? The naive sum, a fixed weight and GABA on the same model and data.

Usage::

    python -m gabalab.experiments.balancing --out runs/balancing.json
    python -m gabalab.experiments.balancing --simulated --epochs 2 \\
        --out runs/balancing.json

For every seed, one :class:`~gabalab.models.DualTaskModel` initialised from that seed is copied
three times and trained with Adam on the same batches (a loader seeded with the seed), with
the two task losses combined by

* ``sum``: the naive sum ``L_mse + L_ce``;
* ``fixed``: ``L_mse + w L_ce`` with ``w`` chosen at initialisation so that the two tasks'
  gradient norms on the shared parameters start equal (median over the first
  ``--fixed-batches`` batches, :func:`gabalab.methods.weights_balanced_at`);
* ``gaba``: :class:`~gabalab.gaba.GabaBalancer` with the package's defaults.

The three runs of a seed advance one epoch at a time in turn, each with its own dropout
random state, so a slow spell of the machine affects all three alike and every run is the
one it would be alone. After every epoch each run is scored on the test set (RMSE in cycles,
the C-MAPSS score, health accuracy and per-class recall), with the tasks' gradient norms and
the weighted-norm ratio ``w_rul ||g_rul|| / (w_hs ||g_hs||)`` over the epoch (measured every
step by GABA; every ``--measure-every`` steps for the others, outside the timed step) and the
wall time of its training steps. After the last epoch the linear probe
(:func:`gabalab.probe.probe_report`) is fitted on each run's frozen shared features. Means
and spreads across seeds are in ``summary``.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gabalab._checks import (
    as_array,
    as_list,
    check_bool,
    check_int,
    check_real,
    check_task_targets,
    check_tensor,
)
from gabalab.data import PreparedData, make_loader
from gabalab.experiments.provenance import (
    LoadedData,
    base_parser,
    build_model,
    require_int,
    run,
)
from gabalab.gaba import GabaBalancer
from gabalab.methods import FixedWeights, GabaMethod, Method, SummedLoss, weights_balanced_at
from gabalab.norms import shared_parameters
from gabalab.probe import probe_report
from gabalab.training import evaluate, train_epoch, train_multitask
from gabalab.weighting import check_ema, check_floor

__all__ = [
    "main",
    "check_args",
    "compare",
    "summarise_runs",
    "contrast",
    "results_table",
    "train_gaba_variant",
    "variant_summary",
    "task_losses",
    "METHODS",
    "DEFAULT_EPOCHS",
    "DEFAULT_SEEDS",
]

NAME = "balancing"

#: The methods compared, in the order they are reported.
METHODS: tuple[str, ...] = ("sum", "fixed", "gaba")

#: Default epochs and seeds: three methods x three seeds fit about an hour on 2 CPU cores.
DEFAULT_EPOCHS: int = 4
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)

#: Test metrics summarised across seeds, per epoch.
METRICS: tuple[str, ...] = ("rmse", "score", "accuracy")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None
    if not values or min(values) < 0 or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError("expected distinct non-negative integers")
    return values


def _option(kind: str) -> Any:
    """An argparse type that refuses a value out of range with the reason: ``count`` (an
    integer >= 1), ``every`` (an integer >= 0), ``rate`` (a finite real > 0), ``ema`` (an
    EMA factor in [0, 1)) or ``floor`` (a weight floor for two tasks, in [0, 1/2])."""
    def parse(text: str) -> Any:
        try:
            number: float = int(text) if kind in ("count", "every") else float(text)
        except ValueError:
            what = "an integer" if kind in ("count", "every") else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            if kind in ("count", "every"):
                return check_int("the value", number, minimum=1 if kind == "count" else 0)
            value = check_real("the value", number, positive=kind == "rate")
            if kind == "ema":
                check_ema(value)
            elif kind == "floor":
                check_floor(value, 2)
            return value
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    parse.__name__ = kind  # argparse names the type in its messages
    return parse


def _method_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in METHODS]
    if not values or unknown or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct names from {','.join(METHODS)}, got {text!r}")
    return values


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The experiment's own argument checks, run before any data is read or model built.

    ``--epochs`` >= 1 (the other options are checked as they are parsed). A bad value ends
    the script with one line naming the option (exit status 2).
    """
    require_int(parser, "--epochs", args.epochs, minimum=1)


def task_losses(model: nn.Module, batch: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The two task losses of a batch ``(x, y_rul, y_health)``: MSE and cross-entropy.

    Parameters
    ----------
    model : torch.nn.Module
        Dual-task model returning ``(rul, logits)``.
    batch : tuple of torch.Tensor
        ``(x, y_rul, y_health)``: inputs, RUL targets of the predictions' shape, integer
        class labels.

    Returns
    -------
    list of torch.Tensor
        ``[mse_loss(rul, y_rul), cross_entropy(logits, y_health)]``, mean-reduced.

    Raises
    ------
    TypeError, ValueError
        If ``model`` is not a module, ``batch`` is not three tensors, ``y_rul`` does not
        have the predictions' shape (MSE would broadcast ``(B, 1)`` against ``(B,)``), or
        the labels are not integers in range.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(batch, (tuple, list)) or len(batch) != 3:
        raise TypeError(f"batch must be (x, y_rul, y_health), got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list))
                           else ""))
    x, y_rul, y_health = batch
    check_tensor("batch: x", x)
    rul, logits = model(x)
    check_task_targets(rul, logits, y_rul, y_health, "batch: ")
    return [F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_health)]


class _Run:
    """One method on one seed: its model copy, optimiser, loader and dropout random state."""

    def __init__(self, name: str, model: nn.Module, method: Method, args: argparse.Namespace,
                 train: Any, seed: int) -> None:
        self.name = name
        self.model = model
        self.method = method
        self.optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
        self.loader = make_loader(train, args.batch_size, shuffle=True, seed=seed)
        self.shared = shared_parameters(model)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.rng_state = torch.get_rng_state()
        self.epochs: list[dict[str, Any]] = []

    def epoch(self, epoch: int, args: argparse.Namespace, test: Any) -> dict[str, Any]:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.rng_state)
            stats = train_epoch(self.model, self.loader, self.optimizer, method=self.method,
                                shared=self.shared, measure_every=args.measure_every,
                                max_batches=args.max_batches, progress=not args.no_progress,
                                desc=f"{self.name} {epoch}/{args.epochs}")
            self.rng_state = torch.get_rng_state()
        entry = {"epoch": epoch, "train": stats, "test": evaluate(self.model, test)}
        self.epochs.append(entry)
        return entry


def _fixed_weights(base: nn.Module, args: argparse.Namespace, train: Any,
                   seed: int) -> tuple[float, ...]:
    """Weights that equalise the two pulls at initialisation (batches of a separate loader)."""
    loader = make_loader(train, args.batch_size, shuffle=True, seed=seed + 10_000)
    return weights_balanced_at(base, loader, shared_parameters(base), task_losses,
                               n_batches=args.fixed_batches, seed=seed)


def _method(name: str, model: nn.Module, args: argparse.Namespace,
            fixed: tuple[float, ...] | None) -> Method:
    if name == "sum":
        return SummedLoss()
    if name == "fixed":
        assert fixed is not None
        return FixedWeights(fixed)
    options: dict[str, Any] = {}
    if args.gaba_ema is not None:
        options["ema"] = args.gaba_ema
    if args.gaba_floor is not None:
        options["floor"] = args.gaba_floor
    return GabaMethod(GabaBalancer.from_model(model, **options))


def compare(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Train every method on every seed; return the per-run records and the summary."""
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    train, test = data.prepared.train, data.prepared.test
    runs: dict[str, dict[str, Any]] = {}
    model_info: dict[str, Any] = {}
    gaba_settings: dict[str, Any] = {}
    for seed in args.seeds:
        base, model_info = build_model(args.model_kwargs, seed, args.dtype)
        fixed = _fixed_weights(base, args, train, seed) if "fixed" in args.methods else None
        per_seed = []
        for name in args.methods:
            model = copy.deepcopy(base)
            method = _method(name, model, args, fixed)
            if isinstance(method, GabaMethod):
                b = method.balancer
                gaba_settings = {"ema": b.ema, "floor": b.floor, "on_nonfinite": b.on_nonfinite}
            per_seed.append(_Run(name, model, method, args, train, seed))
        initial = {r.name: evaluate(r.model, test) for r in per_seed}
        for epoch in range(1, args.epochs + 1):
            for r in per_seed:
                r.epoch(epoch, args, test)
        for r in per_seed:
            start = time.perf_counter()
            probe = None if args.no_probe else probe_report(r.model, train, test)
            runs[f"{r.name}/{seed}"] = {
                "method": r.name,
                "seed": seed,
                "method_repr": repr(r.method),
                "fixed_weights": list(fixed) if r.name == "fixed" and fixed else None,
                "initial_test": initial[r.name],
                "epochs": r.epochs,
                "probe": probe,
                "probe_wall_s": round(time.perf_counter() - start, 3),
            }
    return {
        "settings": {
            "methods": list(args.methods),
            "seeds": list(args.seeds),
            "epochs": args.epochs,
            "optimizer": "Adam",
            "lr": args.lr,
            "batch_size": args.batch_size,
            "max_batches": args.max_batches,
            "measure_every": args.measure_every,
            "fixed_batches": args.fixed_batches,
            "gaba": gaba_settings,
            "losses": "mse_loss(rul, y_rul) and cross_entropy(logits, y_health), mean-reduced",
            "schedule": "the runs of a seed advance one epoch at a time in turn; each keeps "
                        "its own dropout random state and a loader seeded with the seed",
            "budget_note": f"defaults epochs={DEFAULT_EPOCHS}, seeds="
                           f"{','.join(map(str, DEFAULT_SEEDS))} chosen to fit about an hour "
                           "on 2 CPU cores for FD001",
        },
        "n_train_windows": len(train),
        "n_test_windows": len(test),
        "n_batches_per_epoch": len(make_loader(train, args.batch_size, seed=0)),
        "model": model_info,
        "runs": runs,
        "summary": summarise_runs(runs, args.methods, args.epochs),
    }


def _spread(values: Sequence[float | None]) -> dict[str, Any] | None:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None
    a = np.asarray(finite)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()), "values": finite}


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _mapping(name: str, value: Any, keys: Sequence[str]) -> Mapping[str, Any]:
    """``value`` as a mapping holding ``keys``; errors name ``name``."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping, got {_kind(value)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{name} lacks {missing}")
    return value


def _number(name: str, value: Any) -> None:
    """A metric: a real number (NaN and inf are left out of the spreads) or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real)):
        raise TypeError(f"{name} must be a number or None, got {_kind(value)}")


def _check_runs(runs: Any, methods: Any, epochs: Any) -> tuple[list[str], int]:
    """The checked ``methods`` and ``epochs`` of :func:`summarise_runs`, after ``runs``."""
    if not isinstance(runs, Mapping):
        raise TypeError(f"runs must be a mapping of run records, got {_kind(runs)}")
    names = as_list("methods", methods)
    if not names:
        raise ValueError("methods must name at least one method")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"methods[{i}] must be a method name, got {_kind(name)}")
    if len(set(names)) != len(names):
        raise ValueError(f"methods must be distinct, got {names}")
    epochs = check_int("epochs", epochs, minimum=1)
    for name in names:
        mine = [key for key, r in runs.items() if isinstance(r, Mapping) and
                r.get("method") == name]
        if not mine:
            raise ValueError(f"methods names {name!r}, but runs has no run of it")
    n_classes: dict[str, int] = {}
    for key, record in runs.items():
        where = f"runs[{key!r}]"
        record = _mapping(where, record, ("method", "epochs", "probe"))
        if record["method"] not in names:
            continue
        entries = record["epochs"]
        if not isinstance(entries, (list, tuple)):
            raise TypeError(f"{where}['epochs'] must be a list, got {_kind(entries)}")
        if len(entries) < epochs:
            raise ValueError(f"{where} has {len(entries)} epoch(s), fewer than epochs={epochs}")
        for e in range(epochs):
            at = f"{where}['epochs'][{e}]"
            entry = _mapping(at, entries[e], ("test", "train"))
            test = _mapping(f"{at}['test']", entry["test"], (*METRICS, "per_class_recall"))
            for metric in METRICS:
                _number(f"{at}['test'][{metric!r}]", test[metric])
            recall = test["per_class_recall"]
            if not isinstance(recall, (list, tuple)):
                raise TypeError(f"{at}['test']['per_class_recall'] must be a list, got "
                                f"{_kind(recall)}")
            for k, value in enumerate(recall):
                _number(f"{at}['test']['per_class_recall'][{k}]", value)
            if n_classes.setdefault(record["method"], len(recall)) != len(recall):
                raise ValueError(f"{at}['test']['per_class_recall'] has {len(recall)} classes, "
                                 f"other runs of {record['method']!r} "
                                 f"{n_classes[record['method']]}")
            train = _mapping(f"{at}['train']", entry["train"], ("pulls", "step_s"))
            _number(f"{at}['train']['step_s']", train["step_s"])
            pulls = _mapping(f"{at}['train']['pulls']", train["pulls"],
                             ("ratio", "weighted_ratio"))
            for part in ("ratio", "weighted_ratio"):
                if pulls[part] is not None:
                    median = _mapping(f"{at}['train']['pulls'][{part!r}]", pulls[part],
                                      ("median",))["median"]
                    _number(f"{at}['train']['pulls'][{part!r}]['median']", median)
        if record["probe"] is not None:
            test = _mapping(f"{where}['probe']", record["probe"], ("probe_test",))["probe_test"]
            accuracy = _mapping(f"{where}['probe']['probe_test']", test,
                                ("accuracy",))["accuracy"]
            _number(f"{where}['probe']['probe_test']['accuracy']", accuracy)
    return names, epochs


def _check_spread(name: str, spread: Any, keys: Sequence[str]) -> None:
    """A spread of :func:`summarise_runs` (or None): finite numbers under ``keys``."""
    if spread is None:
        return
    _mapping(name, spread, keys)
    for key in keys:
        if key == "values":
            as_array(f"{name}['values']", spread["values"], ndim=1, nonempty=True)
        else:
            check_real(f"{name}[{key!r}]", spread[key], nonnegative=key == "std")


_SPREAD_KEYS = ("mean", "std", "min", "max", "values")


def summarise_runs(
    runs: dict[str, dict[str, Any]], methods: Sequence[str], epochs: int
) -> dict[str, Any]:
    """Means, sample standard deviations and ranges across seeds, per method and epoch.

    Parameters
    ----------
    runs : dict
        The ``runs`` block of the result.
    methods : sequence of str
        Methods to summarise.
    epochs : int
        Number of epochs trained.

    Returns
    -------
    dict
        ``per_epoch[method][metric]`` lists (one entry per epoch) of spreads for ``rmse``,
        ``score``, ``accuracy``, ``recall_<class>``, ``weighted_ratio`` (median over the
        epoch's measured steps), ``ratio`` and ``step_s``; ``final[method]`` the last epoch's;
        ``probe[method]`` the probe's test accuracy; ``contrasts["<method>-<first>"]`` each
        method against the first one (:func:`contrast`).

    Raises
    ------
    TypeError, ValueError
        If ``runs`` is not a mapping of run records as :func:`compare` writes them (with at
        least ``epochs`` epochs each, numbers where numbers belong), ``methods`` is not a
        non-empty list of distinct method names that each have a run, or ``epochs`` is not
        an integer ``>= 1``.
    """
    methods, epochs = _check_runs(runs, methods, epochs)
    per_epoch: dict[str, dict[str, list[Any]]] = {}
    final: dict[str, dict[str, Any]] = {}
    probe: dict[str, Any] = {}
    for name in methods:
        mine = [r for r in runs.values() if r["method"] == name]
        table: dict[str, list[Any]] = {}
        for e in range(epochs):
            rows = [r["epochs"][e] for r in mine]
            entry: dict[str, Any] = {m: _spread([row["test"][m] for row in rows]) for m in METRICS}
            n_classes = len(rows[0]["test"]["per_class_recall"])
            for k in range(n_classes):
                entry[f"recall_{k}"] = _spread([row["test"]["per_class_recall"][k]
                                                for row in rows])
            pulls = [row["train"]["pulls"] for row in rows]
            entry["weighted_ratio"] = _spread([p["weighted_ratio"]["median"]
                                               if p["weighted_ratio"] else None for p in pulls])
            entry["ratio"] = _spread([p["ratio"]["median"] if p["ratio"] else None
                                      for p in pulls])
            entry["step_s"] = _spread([row["train"]["step_s"] for row in rows])
            for key, value in entry.items():
                table.setdefault(key, []).append(value)
        per_epoch[name] = table
        final[name] = {key: values[-1] for key, values in table.items()}
        probe[name] = _spread([r["probe"]["probe_test"]["accuracy"] if r["probe"] else None
                               for r in mine])
    contrasts: dict[str, dict[str, Any]] = {}
    for other in methods:
        if other == methods[0]:
            continue
        key = f"{other}-{methods[0]}"
        contrasts[key] = {m: contrast(final[methods[0]][m], final[other][m])
                          for m in ("rmse", "score", "accuracy", "weighted_ratio")}
        contrasts[key]["probe"] = contrast(probe[methods[0]], probe[other])
    return {"per_epoch": per_epoch, "final": final, "probe": probe, "contrasts": contrasts}


def contrast(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """Difference of two methods' seed means, and whether it is inside the seed noise.

    ``difference = mean_b - mean_a``; ``noise = sqrt(s_a^2 / n_a + s_b^2 / n_b)`` from the
    sample standard deviations across seeds. The difference counts as inside the noise when
    ``|difference| <= 2 noise`` or when the two ranges of seed values overlap. This is a
    quick screen, not a test: with three seeds a side (Welch's degrees of freedom 2 to 4)
    two noise units cover only about 82% to 88% of a normal spread, and the seeds' pairing
    is ignored. The verdicts of section 18.2 come from
    :func:`gabalab.experiments.verdicts.verdict` (paired by seed, Holm-adjusted, resampled
    over the test engines).

    Parameters
    ----------
    a, b : dict or None
        Spreads as in :func:`summarise_runs` (``mean``, ``std``, ``min``, ``max``, ``values``).

    Returns
    -------
    dict or None
        ``difference``, ``noise``, ``ranges_overlap``, ``inside_noise``; ``None`` when either
        spread is missing.

    Raises
    ------
    TypeError, ValueError
        If a spread is neither None nor a mapping of finite ``mean``, ``std`` (``>= 0``),
        ``min`` and ``max`` and a non-empty list of ``values``.

    Examples
    --------
    >>> a = {"mean": 20.0, "std": 1.0, "min": 19.0, "max": 21.0,
    ...      "values": [19.0, 20.0, 21.0]}
    >>> b = {"mean": 15.0, "std": 1.0, "min": 14.0, "max": 16.0,
    ...      "values": [14.0, 15.0, 16.0]}
    >>> out = contrast(a, b)
    >>> out["difference"], out["inside_noise"]
    (-5.0, False)
    """
    _check_spread("a", a, _SPREAD_KEYS)
    _check_spread("b", b, _SPREAD_KEYS)
    if a is None or b is None:
        return None
    na, nb = len(a["values"]), len(b["values"])
    noise = float(np.sqrt(a["std"] ** 2 / na + b["std"] ** 2 / nb))
    difference = float(b["mean"] - a["mean"])
    overlap = bool(a["min"] <= b["max"] and b["min"] <= a["max"])
    return {"difference": difference, "noise": noise, "ranges_overlap": overlap,
            "inside_noise": bool(overlap or abs(difference) <= 2 * noise)}


def train_gaba_variant(
    prepared: Any,
    model_kwargs: dict[str, Any],
    *,
    seed: int,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    heads_in_norms: bool = False,
    **balancer_options: Any,
) -> dict[str, Any]:
    """Train one GABA configuration and return its test scores and every step's weights.

    The pitfalls of section 18.2 are such variants: a floor of 0, an EMA factor too large or
    too small, or the heads counted in the norms (``heads_in_norms``: every parameter is
    "shared", so the heads' gradients enter both norms).

    Parameters
    ----------
    prepared : gabalab.data.windows.PreparedData
        Training and test windows; the model is built in their dtype
        (:meth:`~gabalab.data.windows.PreparedData.to`).
    model_kwargs : dict
        :class:`~gabalab.models.DualTaskModel` sizes.
    seed : int
        Seed of the model, the loader and the dropout masks.
    epochs : int
        Training epochs, ``>= 1``.
    lr, batch_size
        Adam's learning rate and the batch size.
    heads_in_norms : bool
        Count the heads' parameters in the norms as well.
    **balancer_options
        ``ema``, ``floor``, ... of :class:`~gabalab.gaba.GabaBalancer`.

    Returns
    -------
    dict
        ``test`` (:func:`gabalab.training.evaluate` after the last epoch), ``log``
        (per-epoch statistics), ``steps`` (every step's norms and weights, in order) and
        ``model``.

    Raises
    ------
    TypeError, ValueError
        If ``prepared`` is not a :class:`~gabalab.data.windows.PreparedData`, an argument
        is not of its type or out of range (``epochs >= 1``), or a balancer option is
        invalid (as :class:`~gabalab.gaba.GabaBalancer`), naming it; all before training.
    """
    if not isinstance(prepared, PreparedData):
        raise TypeError(f"prepared must be a PreparedData (gabalab.data.prepare_cmapss), got "
                        f"{_kind(prepared)}")
    epochs = check_int("epochs", epochs, minimum=1)
    heads_in_norms = check_bool("heads_in_norms", heads_in_norms)
    model, _ = build_model(model_kwargs, seed, prepared.train.dtype)
    if heads_in_norms:
        balancer = GabaBalancer(list(model.named_parameters()), (), n_tasks=2,
                                **balancer_options)
    else:
        balancer = GabaBalancer.from_model(model, **balancer_options)
    log = train_multitask(model, prepared.train, epochs=epochs, lr=lr, batch_size=batch_size,
                          seed=seed, method=GabaMethod(balancer), record_steps=True,
                          progress=False)
    steps = [step for epoch in log for step in epoch["steps"]]
    return {"test": evaluate(model, prepared.test), "log": log, "steps": steps, "model": model}


def variant_summary(run: Mapping[str, Any]) -> dict[str, float]:
    """Summarise a :func:`train_gaba_variant` run: its test scores and what it did to the trunk.

    The weighted-norm ratio of a step is :math:`\\lambda_1 g_1 / (\\lambda_2 g_2)`, the pull
    of the RUL task on the shared parameters relative to the health task's (1 when balanced).

    Parameters
    ----------
    run : mapping
        What :func:`train_gaba_variant` returns: ``test`` with ``rmse`` and ``accuracy``, and
        ``steps``, each with the two tasks' ``norms`` and ``weights``.

    Returns
    -------
    dict
        ``rmse``, ``accuracy``; ``lam_min`` and ``lam_max``, the RUL weight's extremes over the
        steps; ``pull_median``, ``pull_q25``, ``pull_q75``, the weighted-norm ratio's
        quartiles over the steps, and ``pull_spread = pull_q75 / pull_q25``.

    Raises
    ------
    TypeError, ValueError
        If ``run`` is not such a mapping, has no steps, or a step does not hold two finite
        positive norms and two finite positive weights, naming the step.

    Examples
    --------
    >>> run = {"test": {"rmse": 20.0, "accuracy": 0.5}, "steps": [
    ...     {"norms": [300.0, 1.0], "weights": [1 / 301, 300 / 301]},
    ...     {"norms": [200.0, 1.0], "weights": [0.004, 0.996]}]}
    >>> s = variant_summary(run)
    >>> round(s["pull_q25"], 3), round(s["pull_q75"], 3), s["lam_max"]
    (0.852, 0.951, 0.004)
    """
    run = _mapping("run", run, ("test", "steps"))
    test = _mapping("run['test']", run["test"], ("rmse", "accuracy"))
    for key in ("rmse", "accuracy"):
        value = test[key]
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"run['test']['{key}'] must be a number, got {_kind(value)}")
    steps = run["steps"]
    if not isinstance(steps, Sequence) or isinstance(steps, (str, bytes)):
        raise TypeError(f"run['steps'] must be a list of steps, got {_kind(steps)}")
    if not steps:
        raise ValueError("run['steps'] is empty: the run recorded no step")
    pairs = []
    for i, step in enumerate(steps):
        step = _mapping(f"run['steps'][{i}]", step, ("norms", "weights"))
        values = []
        for key in ("norms", "weights"):
            try:
                pair = np.asarray(step[key], dtype=float)
            except (TypeError, ValueError):
                raise TypeError(f"run['steps'][{i}]['{key}'] must be two numbers, got "
                                f"{_kind(step[key])}") from None
            if pair.shape != (2,) or not np.all(np.isfinite(pair)) or np.any(pair <= 0):
                raise ValueError(f"run['steps'][{i}]['{key}'] must be two finite positive "
                                 f"numbers, got {step[key]!r}")
            values.append(pair)
        pairs.append(values)
    g = np.array([norms for norms, _ in pairs])
    w = np.array([weights for _, weights in pairs])
    pull = (w[:, 0] * g[:, 0]) / (w[:, 1] * g[:, 1])
    q25, q50, q75 = (float(q) for q in np.quantile(pull, [0.25, 0.5, 0.75]))
    return {"rmse": float(test["rmse"]), "accuracy": float(test["accuracy"]),
            "lam_min": float(w[:, 0].min()), "lam_max": float(w[:, 0].max()),
            "pull_median": q50, "pull_q25": q25, "pull_q75": q75, "pull_spread": q75 / q25}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the payload written to ``--out``.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments (``None``: ``sys.argv[1:]``); see ``--help``.

    Returns
    -------
    dict
    """
    parser = base_parser(NAME, (__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help=f"training epochs (default {DEFAULT_EPOCHS})")
    parser.add_argument("--lr", type=_option("rate"), default=1e-3,
                        help="Adam learning rate (1e-3)")
    parser.add_argument("--seeds", type=_int_list, default=list(DEFAULT_SEEDS),
                        help="comma-separated seeds (default "
                             f"{','.join(map(str, DEFAULT_SEEDS))}); --seed is not used")
    parser.add_argument("--methods", type=_method_list, default=list(METHODS),
                        help=f"comma-separated methods (default {','.join(METHODS)})")
    parser.add_argument("--measure-every", type=_option("every"), default=10,
                        help="measure the norms of sum/fixed every n steps (default 10)")
    parser.add_argument("--fixed-batches", type=_option("count"), default=20,
                        help="batches at initialisation that choose the fixed weight (20)")
    parser.add_argument("--gaba-ema", type=_option("ema"), default=None,
                        help="override the balancer's EMA factor (default: package default)")
    parser.add_argument("--gaba-floor", type=_option("floor"), default=None,
                        help="override the balancer's weight floor (default: package default)")
    parser.add_argument("--no-probe", action="store_true", help="skip the linear probes")
    return run(NAME, parser, argv, compare, check_args)


if __name__ == "__main__":
    main()


#: The spreads each row of :func:`results_table` shows.
_TABLE_METRICS: tuple[str, ...] = ("rmse", "score", "accuracy", "weighted_ratio")


def _mean_std(spread: dict[str, Any] | None, digits: str) -> str:
    if spread is None:
        return "-"
    return f"{spread['mean']:{digits}} ± {spread['std']:{digits}}"


def results_table(final: dict[str, dict[str, Any]], probe: dict[str, Any] | None = None) -> str:
    """Markdown table of the last epoch: one row per method, mean ± std across seeds.

    Parameters
    ----------
    final : dict
        ``summary["final"]`` of :func:`summarise_runs`.
    probe : dict or None
        ``summary["probe"]``, for a probe column.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        If ``final`` is empty or not a mapping of method to spreads (``rmse``, ``score``,
        ``accuracy`` and ``weighted_ratio``, each None or with finite ``mean`` and ``std``),
        or ``probe`` is neither None nor a mapping of method to such a spread.

    Examples
    --------
    >>> one = {"mean": 2.0, "std": 0.5, "min": 1.5, "max": 2.5,
    ...        "values": [1.5, 2.5]}
    >>> spreads = {"rmse": one, "score": one, "accuracy": one,
    ...            "weighted_ratio": one}
    >>> print(results_table({"sum": spreads}))
    | method | RMSE (cycles) | score | accuracy | weighted-norm ratio |
    | :-- | --: | --: | --: | --: |
    | sum | 2.00 ± 0.50 | 2 ± 0 | 2.000 ± 0.500 | 2 ± 0.5 |
    """
    if not isinstance(final, Mapping):
        raise TypeError(f"final must be a mapping of method to its last-epoch spreads, got "
                        f"{_kind(final)}")
    if not final:
        raise ValueError("final must hold at least one method")
    for method, entry in final.items():
        spreads = _mapping(f"final[{method!r}]", entry, _TABLE_METRICS)
        for metric in _TABLE_METRICS:
            _check_spread(f"final[{method!r}][{metric!r}]", spreads[metric], ("mean", "std"))
    if probe is not None:
        if not isinstance(probe, Mapping):
            raise TypeError(f"probe must be a mapping of method to its spread, or None, got "
                            f"{_kind(probe)}")
        for method, spread in probe.items():
            _check_spread(f"probe[{method!r}]", spread, ("mean", "std"))
    header = ["method", "RMSE (cycles)", "score", "accuracy", "weighted-norm ratio"]
    if probe is not None:
        header.append("probe accuracy")
    lines = ["| " + " | ".join(header) + " |", "| :-- | " + " | ".join(["--:"] * (len(header) - 1))
             + " |"]
    for method, row in final.items():
        cells = [method, _mean_std(row["rmse"], ".2f"), _mean_std(row["score"], ".0f"),
                 _mean_std(row["accuracy"], ".3f"), _mean_std(row["weighted_ratio"], ".3g")]
        if probe is not None:
            cells.append(_mean_std(probe.get(method), ".3f"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
