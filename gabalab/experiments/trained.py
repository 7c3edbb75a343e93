"""Does balancing change the outcome? Four methods trained properly, on the same seeds.

Usage::

    python -m gabalab.experiments.trained --out results/fd001/trained
    python -m gabalab.experiments.trained --simulated --epoch-cap 3 --seeds 0 \\
        --out runs/trained --checkpoints runs/trained-checkpoints

One protocol for every method (:class:`Protocol`), stated in every result file:

* **Split.** A seeded fifth of the *training* units is held out for validation
  (:func:`gabalab.data.split.choose_validation_units`); the scaling is fitted on the rest. The
  test units are never looked at until a model has been chosen.
* **Training.** The course's :class:`~gabalab.models.DualTaskModel`, Adam, mini-batches of
  the remaining training windows (a loader seeded with the seed), the MSE and cross-entropy
  losses combined by the method. After each epoch the validation RMSE decides everything:
  the learning rate is multiplied by ``lr_gamma`` (0.9) after every epoch, training stops
  when the validation RMSE has not improved for ``patience`` (10) epochs or at ``epoch_cap``
  (40), and the model kept is the one of the best validation epoch. (A pilot on the sum,
  ``results/fd001/trained-pilot``, chose this schedule over halving the rate on a plateau:
  the model overfits the training units after 5-10 epochs either way, and the exponential
  schedule reached the lower validation RMSE.)
* **Methods.** ``sum`` (``L_mse + L_ce``), ``fixed`` (``L_mse + w L_ce`` with ``w``
  equalising the two gradient norms at initialisation, :func:`gabalab.methods.weights_balanced_at`),
  ``gaba`` (:class:`~gabalab.gaba.GabaBalancer` with the package's defaults) and
  ``uncertainty`` (:class:`~gabalab.methods.UncertaintyWeighting`, its log-variances trained
  by the same Adam).
* **Pairing.** Seed ``s`` gives every method the same initial weights, the same batches in
  the same order and the same dropout stream, so the methods are compared seed by seed.

Each (method, seed) run is its own result file, ``<method>-seed<s>.json`` in ``--out``
(:class:`~gabalab.experiments.records.RunRecord`, with provenance). A run checkpoints after
every epoch (atomically, in ``--checkpoints``); run the same command again and it goes on
where it stopped, with the same numbers as an uninterrupted run. Finished runs are skipped.
``--worker i/n`` takes every n-th run still to do, so that n processes can share a list.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gabalab._checks import as_array, as_list, check_int, check_path, check_real
from gabalab.data import (
    SplitData,
    WindowDataset,
    choose_validation_units,
    make_loader,
    prepare_with_validation,
)
from gabalab.experiments import provenance as _provenance
from gabalab.experiments.balancing import task_losses
from gabalab.experiments.provenance import (
    argument_check,
    base_parser,
    check_args,
    check_data_files,
)
from gabalab.experiments.records import (
    EpochRecord,
    Metrics,
    Quantiles,
    RunRecord,
    UnitPredictions,
    write_run,
)
from gabalab.files import atomic_torch_save, check_writable
from gabalab.gaba import GabaBalancer
from gabalab.methods import (
    FixedWeights,
    GabaMethod,
    Method,
    SummedLoss,
    UncertaintyWeighting,
    weights_balanced_at,
)
from gabalab.models import DualTaskModel
from gabalab.norms import shared_parameters
from gabalab.probe import probe_report
from gabalab.scoped import training_mode
from gabalab.training import evaluate, train_epoch

__all__ = [
    "METHODS",
    "Protocol",
    "make_method",
    "ratio_quantiles",
    "unit_predictions",
    "train_run",
    "check_command",
    "main",
]

NAME = "trained"

#: The methods compared, in the order they are reported.
METHODS: tuple[str, ...] = ("sum", "fixed", "gaba", "uncertainty")


@dataclass(frozen=True)
class Protocol:
    """The training protocol every method follows (one per experiment).

    Attributes
    ----------
    lr : float
        Adam's starting learning rate.
    batch_size : int
    epoch_cap : int
        Most epochs a run trains.
    patience : int
        Epochs without a better validation RMSE before a run stops.
    schedule : {"plateau", "exponential"}
        ``"plateau"``: the learning rate is multiplied by ``lr_factor`` after
        ``lr_patience`` epochs without a better validation RMSE (``ReduceLROnPlateau``).
        ``"exponential"``: it is multiplied by ``lr_gamma`` after every epoch.
    lr_patience : int
        Epochs without a better validation RMSE before the learning rate is lowered
        (``"plateau"``).
    lr_factor : float
        What the learning rate is multiplied by then (``"plateau"``).
    lr_gamma : float
        What the learning rate is multiplied by after each epoch (``"exponential"``).
    min_lr : float
        The learning rate is not lowered below this.
    validation_fraction : float
        Share of the training units held out.
    split_seed : int
        Seed of the validation units' draw (the same split for every run).
    measure_every : int
        Steps between two gradient-norm measurements for the methods that do not measure
        them (the measurement is left out of the step time).
    fixed_batches : int
        Batches at initialisation that choose the fixed weight.
    dtype : str
        ``"float32"`` or ``"float64"``.
    model_kwargs : dict
        :class:`~gabalab.models.DualTaskModel` options (empty: the course's model).
    """

    lr: float = 1e-3
    batch_size: int = 32
    epoch_cap: int = 40
    patience: int = 10
    schedule: str = "exponential"
    lr_patience: int = 3
    lr_factor: float = 0.5
    lr_gamma: float = 0.9
    min_lr: float = 1e-5
    validation_fraction: float = 0.2
    split_seed: int = 0
    measure_every: int = 20
    fixed_batches: int = 20
    dtype: str = "float32"
    model_kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        check_real("lr", self.lr, positive=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("epoch_cap", self.epoch_cap, minimum=1)
        check_int("patience", self.patience, minimum=1)
        check_int("lr_patience", self.lr_patience, minimum=0)
        if self.schedule not in ("plateau", "exponential"):
            raise ValueError(f"schedule must be 'plateau' or 'exponential', got "
                             f"{self.schedule!r}")
        for name in ("lr_factor", "lr_gamma"):
            factor = check_real(name, getattr(self, name), positive=True)
            if factor >= 1.0:
                raise ValueError(f"{name} must be < 1, got {factor}")
        check_real("min_lr", self.min_lr, nonnegative=True)
        fraction = check_real("validation_fraction", self.validation_fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got "
                             f"{fraction}")
        check_int("split_seed", self.split_seed, minimum=0)
        check_int("measure_every", self.measure_every, minimum=1)
        check_int("fixed_batches", self.fixed_batches, minimum=1)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``model_kwargs`` as a dict)."""
        out = asdict(self)
        out["model_kwargs"] = dict(self.model_kwargs)
        out["optimizer"] = "Adam"
        if self.schedule == "plateau":
            out["schedule_text"] = (f"ReduceLROnPlateau on the validation RMSE: "
                                    f"x{self.lr_factor} after {self.lr_patience} epochs without "
                                    f"improvement, down to {self.min_lr:g}")
        else:
            out["schedule_text"] = (f"x{self.lr_gamma} after every epoch, down to "
                                    f"{self.min_lr:g}")
        out["selection"] = (f"the epoch of the lowest validation RMSE; stop after "
                            f"{self.patience} epochs without improvement or at "
                            f"{self.epoch_cap}")
        out["losses"] = ("mse_loss(rul, y_rul) and cross_entropy(logits, y_health), "
                         "mean-reduced, combined by the method")
        return out

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Protocol:
        """Rebuild from :meth:`to_dict` (the descriptive keys are ignored)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in value.items() if k in names}
        kwargs["model_kwargs"] = tuple(sorted(dict(kwargs.get("model_kwargs", {})).items()))
        return cls(**kwargs)


def make_method(name: str, model: nn.Module, split: SplitData, protocol: Protocol,
                seed: int) -> tuple[Method, dict[str, Any]]:
    """The method ``name`` for ``model``, and what it fixed at the start (for the record).

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`METHODS`.
    """
    if name == "sum":
        return SummedLoss(), {}
    if name == "fixed":
        loader = make_loader(split.prepared.train, protocol.batch_size, seed=seed + 10_000)
        weights = weights_balanced_at(model, loader, shared_parameters(model), task_losses,
                                      n_batches=protocol.fixed_batches, seed=seed)
        return FixedWeights(weights), {"fixed_weights": list(weights)}
    if name == "gaba":
        balancer = GabaBalancer.from_model(model)
        return GabaMethod(balancer), {"ema": balancer.ema, "floor": balancer.floor,
                                      "weight_rule": balancer.weight_rule}
    if name == "uncertainty":
        method = UncertaintyWeighting()
        return method, {"kinds": list(method.kinds), "init": 0.0}
    raise ValueError(f"name must be one of {list(METHODS)}, got {name!r}")


def _method_state(method: Method) -> Any:
    if isinstance(method, GabaMethod):
        return method.balancer.state_dict()
    if isinstance(method, UncertaintyWeighting):
        return method.state_dict()
    return None


def _load_method_state(method: Method, state: Any) -> None:
    if isinstance(method, GabaMethod):
        method.balancer.load_state_dict(state)
    elif isinstance(method, UncertaintyWeighting):
        method.load_state_dict(state)


def ratio_quantiles(steps: Sequence[dict[str, Any]], weighted: bool) -> Quantiles | None:
    """Quantiles of ``g_1 / g_2`` (or ``w_1 g_1 / (w_2 g_2)``) over measured steps.

    Parameters
    ----------
    steps : sequence of dict
        ``{"norms", "weights"}`` per measured step (``train_epoch(record_steps=True)``).
    weighted : bool
        Weighted ratio instead of the raw one.

    Returns
    -------
    Quantiles or None
        ``None`` when no step has a finite ratio.

    Examples
    --------
    >>> step = {"norms": [4.0, 2.0], "weights": [1.0, 1.0]}
    >>> q = ratio_quantiles([step] * 3, False)
    >>> q.q50, q.n_steps
    (2.0, 3)
    """
    rows = as_list("steps", steps)
    values = []
    for i, step in enumerate(rows):
        if not isinstance(step, dict) or "norms" not in step or "weights" not in step:
            raise TypeError(f"steps[{i}] must be a dict with 'norms' and 'weights', got "
                            f"{type(step).__name__}")
        norms = as_array(f"steps[{i}]['norms']", step["norms"], ndim=1, finite=False)
        weights = as_array(f"steps[{i}]['weights']", step["weights"], ndim=1)
        if norms.size != 2 or weights.size != 2:
            raise ValueError(f"steps[{i}] must hold two norms and two weights (two tasks)")
        (g1, g2), (w1, w2) = norms.tolist(), weights.tolist()
        top, bottom = (w1 * g1, w2 * g2) if weighted else (g1, g2)
        if bottom > 0 and math.isfinite(top / bottom):
            values.append(top / bottom)
    if not values:
        return None
    q = np.quantile(np.asarray(values), [0.1, 0.25, 0.5, 0.75, 0.9])
    return Quantiles(q10=float(q[0]), q25=float(q[1]), q50=float(q[2]), q75=float(q[3]),
                     q90=float(q[4]), n_steps=len(values))


def unit_predictions(model: nn.Module, dataset: Any) -> UnitPredictions:
    """The model's RUL and health-class prediction for every window of ``dataset``.

    Raises
    ------
    TypeError
        If ``model`` is not a module or ``dataset`` not a
        :class:`~gabalab.data.windows.WindowDataset`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(dataset, WindowDataset):
        raise TypeError(f"dataset must be a WindowDataset, got {type(dataset).__name__}")
    with training_mode(model, False), torch.no_grad():
        rul, logits = model(dataset.x)
    return UnitPredictions(
        rul_true=tuple(float(v) for v in dataset.y_rul.double().tolist()),
        rul_pred=tuple(float(v) for v in rul.double().tolist()),
        health_true=tuple(int(v) for v in dataset.y_health.tolist()),
        health_pred=tuple(int(v) for v in logits.argmax(dim=1).tolist()),
    )


def _metrics(report: dict[str, Any]) -> Metrics:
    return Metrics.from_dict({k: report[k] for k in
                              ("rmse", "mae", "score", "accuracy", "per_class_recall",
                               "support", "n")})


def _build(name: str, seed: int, split: SplitData,
           protocol: Protocol) -> tuple[DualTaskModel, Method, dict[str, Any], Any, Any, Any]:
    model = DualTaskModel(**dict(protocol.model_kwargs), seed=seed).to(
        getattr(torch, protocol.dtype))
    method, detail = make_method(name, model, split, protocol, seed)
    params = list(model.parameters())
    if isinstance(method, nn.Module):
        method.to(getattr(torch, protocol.dtype))
        params += list(method.parameters())
    optimizer = torch.optim.Adam(params, lr=protocol.lr)
    scheduler: Any
    if protocol.schedule == "plateau":
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=protocol.lr_factor, patience=protocol.lr_patience,
            min_lr=protocol.min_lr)
    else:
        floor = protocol.min_lr / protocol.lr
        gamma = protocol.lr_gamma
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: max(gamma ** epoch, floor))
    loader = make_loader(split.prepared.train, protocol.batch_size, shuffle=True, seed=seed)
    return model, method, detail, optimizer, scheduler, loader


def train_run(
    name: str,
    seed: int,
    split: SplitData,
    protocol: Protocol,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    max_batches: int | None = None,
    probe: bool = True,
    progress: bool = False,
    provenance: dict[str, Any] | None = None,
) -> RunRecord:
    """Train one method on one seed under ``protocol``; resume from ``checkpoint`` if present.

    Parameters
    ----------
    name : str
        One of :data:`METHODS`.
    seed : int
        Initial weights, batch order and dropout.
    split : SplitData
        From :func:`gabalab.data.split.prepare_with_validation`, in the protocol's dtype.
    protocol : Protocol
    checkpoint : path or None
        Written after every epoch (atomically); read first if it exists, and the run goes on
        from there. ``None``: no checkpoint.
    max_batches : int or None
        Cap the batches of every epoch (smoke tests).
    probe : bool
        Fit the linear probe on the selected model's frozen features.
    progress : bool
        Progress bars on standard error.
    provenance : dict or None
        Stored in the record.

    Returns
    -------
    RunRecord

    Raises
    ------
    ValueError
        If ``name`` is unknown, or the checkpoint was written by another run or protocol.
    """
    seed = check_int("seed", seed, minimum=0)
    if not isinstance(protocol, Protocol):
        raise TypeError(f"protocol must be a Protocol, got {type(protocol).__name__}")
    if not isinstance(split, SplitData):
        raise TypeError(f"split must be a SplitData, got {type(split).__name__}")
    if name not in METHODS:
        raise ValueError(f"name must be one of {list(METHODS)}, got {name!r}")
    path = None if checkpoint is None else check_path("checkpoint", checkpoint)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    model, method, detail, optimizer, scheduler, loader = _build(name, seed, split, protocol)
    identity = {"method": name, "seed": seed, "protocol": protocol.to_dict(),
                "validation_units": list(split.validation_units), "max_batches": max_batches}
    epochs: list[EpochRecord] = []
    best_state: dict[str, torch.Tensor] = copy.deepcopy(model.state_dict())
    best_rmse, since_best, spent = math.inf, 0, {"wall_s": 0.0, "cpu_s": 0.0}
    torch.manual_seed(seed)
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if saved.get("identity") != identity:
            raise ValueError(f"checkpoint {str(path)!r} belongs to another run or protocol "
                             f"({saved.get('identity')}); remove it or use another folder")
        model.load_state_dict(saved["model"])
        best_state = saved["best_model"]
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        _load_method_state(method, saved["method"])
        loader.generator.set_state(saved["loader_generator"])
        torch.set_rng_state(saved["rng"])
        epochs = [EpochRecord.from_dict(e) for e in saved["epochs"]]
        best_rmse, since_best = saved["best_rmse"], saved["since_best"]
        detail, spent = saved["detail"], saved["spent"]
    shared = shared_parameters(model)
    split_train, validation, test = split.prepared.train, split.validation, split.prepared.test
    while len(epochs) < protocol.epoch_cap and since_best < protocol.patience:
        number = len(epochs) + 1
        lr = float(optimizer.param_groups[0]["lr"])
        stats = train_epoch(model, loader, optimizer, method=method, shared=shared,
                            measure_every=protocol.measure_every, record_steps=True,
                            max_batches=max_batches, progress=progress,
                            desc=f"{name} seed {seed} epoch {number}")
        val = _metrics(evaluate(model, validation))
        record = EpochRecord(
            epoch=number, lr=lr, train_mse=stats["mse"], train_ce=stats["ce"],
            step_s=stats["step_s"], n_batches=stats["n_batches"], validation=val,
            test=_metrics(evaluate(model, test)),
            ratio=ratio_quantiles(stats["steps"], weighted=False),
            weighted_ratio=ratio_quantiles(stats["steps"], weighted=True),
            weights=tuple(float(w) for w in (stats["pulls"]["weights_median"] or ())),
        )
        epochs.append(record)
        if protocol.schedule == "plateau":
            scheduler.step(val.rmse)
        else:
            scheduler.step()
        if val.rmse < best_rmse:
            best_rmse, since_best = val.rmse, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if isinstance(method, UncertaintyWeighting):
            detail = {**detail, "log_variances": method.log_variances.detach().tolist()}
        spent = {"wall_s": spent["wall_s"] + time.perf_counter() - start_wall,
                 "cpu_s": spent["cpu_s"] + time.process_time() - start_cpu}
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        if path is not None:
            atomic_torch_save({
                "identity": identity, "model": model.state_dict(), "best_model": best_state,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "method": _method_state(method), "loader_generator": loader.generator.get_state(),
                "rng": torch.get_rng_state(), "epochs": [e.to_dict() for e in epochs],
                "best_rmse": best_rmse, "since_best": since_best, "detail": detail,
                "spent": spent}, path, name="checkpoint")
    stopped = "patience" if since_best >= protocol.patience else "cap"
    model.load_state_dict(best_state)
    selected = 1 + int(np.argmin([e.validation.rmse for e in epochs]))
    probe_result = probe_report(model, split_train, test) if probe else None
    step_s = sum(e.step_s for e in epochs)
    windows = sum(e.n_batches for e in epochs) * protocol.batch_size
    spent = {"wall_s": spent["wall_s"] + time.perf_counter() - start_wall,
             "cpu_s": spent["cpu_s"] + time.process_time() - start_cpu}
    compute = {**{k: round(v, 3) for k, v in spent.items()}, "train_step_s": round(step_s, 3),
               "samples_per_s": round(windows / step_s, 2) if step_s > 0 else None,
               "torch_num_threads": torch.get_num_threads(), "max_batches": max_batches}
    return RunRecord(
        method=name, seed=seed, protocol=protocol.to_dict(),
        validation_units=split.validation_units, epochs=tuple(epochs),
        selected_epoch=selected, stopped=stopped,
        selected_test=_metrics(evaluate(model, test)),
        predictions=unit_predictions(model, test), method_detail=detail,
        probe=None if probe_result is None else json.loads(json.dumps(probe_result)),
        compute=compute, provenance=dict(provenance or {}),
    )


def _out_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}.json"


def _list(kind: str) -> Any:
    """An argparse type for comma-separated distinct method names or seeds."""
    def parse(text: str) -> list[Any]:
        items = [v.strip() for v in text.split(",") if v.strip()]
        if kind == "seeds":
            try:
                values: list[Any] = [int(v) for v in items]
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated integers, got {text!r}") from None
            bad = not values or min(values) < 0
        else:
            values = items
            bad = not values or any(v not in METHODS for v in values)
        if bad or len(set(values)) != len(values):
            what = ("distinct integers >= 0" if kind == "seeds"
                    else f"distinct names from {','.join(METHODS)}")
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return values
    return parse


def _worker(text: str) -> tuple[int, int]:
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/n, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"expected i/n with 0 <= i < n, got {text!r}")
    return index, count


def _parser() -> argparse.ArgumentParser:
    parser = base_parser(NAME, (__doc__ or "").splitlines()[0])
    parser.description = ("Train sum, fixed, gaba and uncertainty under one protocol, one "
                          "result file per method and seed in the folder --out (--seed is "
                          "not used; see --seeds).")
    defaults = Protocol()
    option = parser.add_argument
    option("--methods", type=_list("methods"), default=list(METHODS),
           help=f"comma-separated methods (default {','.join(METHODS)})")
    option("--seeds", type=_list("seeds"), default=[0, 1, 2, 3, 4],
           help="comma-separated seeds, each shared by every method (default 0,1,2,3,4)")
    option("--checkpoints", default=None,
           help="folder of the per-epoch checkpoints (default: <out>-checkpoints)")
    option("--worker", type=_worker, default=(0, 1),
           help="i/n: take every n-th run still to do, from the i-th (default 0/1)")
    option("--lr", type=float, default=defaults.lr, help=f"Adam's learning rate ({defaults.lr})")
    option("--epoch-cap", type=int, default=defaults.epoch_cap,
           help=f"most epochs per run ({defaults.epoch_cap})")
    option("--patience", type=int, default=defaults.patience,
           help=f"epochs without a better validation RMSE before stopping ({defaults.patience})")
    option("--lr-patience", type=int, default=defaults.lr_patience,
           help=f"... before the learning rate is lowered ({defaults.lr_patience})")
    option("--lr-factor", type=float, default=defaults.lr_factor,
           help=f"factor of each lowering ({defaults.lr_factor})")
    option("--schedule", choices=("plateau", "exponential"), default=defaults.schedule,
           help=f"learning-rate schedule ({defaults.schedule})")
    option("--lr-gamma", type=float, default=defaults.lr_gamma,
           help=f"factor per epoch of the exponential schedule ({defaults.lr_gamma})")
    option("--min-lr", type=float, default=defaults.min_lr,
           help=f"lowest learning rate ({defaults.min_lr:g})")
    option("--validation-fraction", type=float, default=defaults.validation_fraction,
           help=f"share of the training units held out ({defaults.validation_fraction})")
    option("--split-seed", type=int, default=defaults.split_seed,
           help=f"seed of the validation units ({defaults.split_seed})")
    option("--measure-every", type=int, default=defaults.measure_every,
           help="steps between gradient-norm measurements of the methods that do not "
                f"measure ({defaults.measure_every})")
    option("--fixed-batches", type=int, default=defaults.fixed_batches,
           help=f"batches that choose the fixed weight ({defaults.fixed_batches})")
    option("--no-probe", action="store_true", help="skip the linear probes")
    return parser


def _protocol(args: argparse.Namespace) -> Protocol:
    return Protocol(
        lr=args.lr, batch_size=args.batch_size, epoch_cap=args.epoch_cap,
        patience=args.patience, schedule=args.schedule, lr_patience=args.lr_patience,
        lr_factor=args.lr_factor, lr_gamma=args.lr_gamma,
        min_lr=args.min_lr, validation_fraction=args.validation_fraction,
        split_seed=args.split_seed, measure_every=args.measure_every,
        fixed_batches=args.fixed_batches, dtype=args.dtype,
        model_kwargs=tuple(sorted(args.model_kwargs.items())))


_OPTIONS = {f.name: "--" + f.name.replace("_", "-") for f in fields(Protocol)}


def check_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Protocol:
    """Check every option before any data is read; return the protocol they describe.

    A bad option ends the script with one line naming it (exit status 2).
    """
    check_args(args, parser)
    try:
        protocol = _protocol(args)
    except (TypeError, ValueError) as err:
        text = str(err)
        field = text.split(" ", 1)[0]
        parser.error(f"{_OPTIONS.get(field, field)}{text[len(field):]}")
    folders = [(option, Path(folder)) for option, folder in
               (("--out", args.out), ("--checkpoints", args.checkpoints)) if folder]
    for option, path in folders:
        for place in (path, *path.parents):
            if place.exists():
                if not place.is_dir():
                    parser.error(f"{option} {str(path)!r} cannot be a folder: {str(place)!r} "
                                 "is a file")
                break
    check_data_files(args, parser)
    for option, path in folders:  # made only once everything else is known to be right
        argument_check(parser, check_writable, path / "probe.json", option)
    return protocol


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Command-line entry point: train every (method, seed) run still to do.

    Parameters
    ----------
    argv : sequence of str or None
        Arguments (``None``: ``sys.argv[1:]``); see ``--help``.

    Returns
    -------
    list of pathlib.Path
        The result files written by this call.
    """
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    protocol = check_command(args, parser)
    out = Path(args.out)
    checkpoints = Path(args.checkpoints) if args.checkpoints else Path(f"{args.out}-checkpoints")
    todo = [(m, s) for s in args.seeds for m in args.methods
            if not (out / _out_name(m, s)).is_file()]
    index, count = args.worker
    mine = todo[index::count]
    if not mine:
        if not args.no_progress:
            print(f"nothing to do: {len(args.seeds) * len(args.methods) - len(todo)} runs "
                  f"are in {out}", file=sys.stderr)
        return []
    subset, description = _provenance.load_subset(args)
    units = choose_validation_units(subset, fraction=protocol.validation_fraction,
                                    seed=protocol.split_seed)
    split = prepare_with_validation(subset, units).to(protocol.dtype)
    description.update(split.summary())
    written = []
    for method, seed in mine:
        start = time.perf_counter()
        record = train_run(method, seed, split, protocol,
                           checkpoint=checkpoints / f"{method}-seed{seed}.pt",
                           max_batches=args.max_batches, probe=not args.no_probe,
                           progress=not args.no_progress)
        wall = time.perf_counter() - start
        record = replace(record, provenance={
            **_provenance.provenance(NAME, argv, seed, description, wall), "data": description})
        path = write_run(out / _out_name(method, seed), record)
        (checkpoints / f"{method}-seed{seed}.pt").unlink(missing_ok=True)
        written.append(path)
        if not args.no_progress:
            print(f"wrote {path} ({wall:.1f} s)", file=sys.stderr)
    return written


if __name__ == "__main__":
    main()
