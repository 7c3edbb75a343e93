"""The trained-model runs as typed records: one schema, written once, read by everything.

Each finished run of :mod:`gabalab.experiments.trained` (one method, one seed) is one JSON
file holding a :class:`RunRecord`: the protocol it followed, the validation split, one
:class:`EpochRecord` per epoch, the epoch that validation selected, the test metrics and
the per-unit test predictions there (for a bootstrap over units), and its provenance. The
notebook, the plots and the charts read runs through :func:`load_runs` only, so the checks
on a result file live here, once.

Examples
--------
>>> m = Metrics(rmse=13.0, mae=9.5, score=300.0, accuracy=0.9,
...             per_class_recall=(0.95, 0.8, None),
...             support=(57, 24, 0), n=81)
>>> Metrics.from_dict(m.to_dict()) == m
True
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from gabalab._checks import check_path
from gabalab.files import atomic_write_text

__all__ = [
    "SCHEMA",
    "Metrics",
    "Quantiles",
    "EpochRecord",
    "UnitPredictions",
    "RunRecord",
    "load_run",
    "load_runs",
    "write_run",
]

#: Name and version of the result-file schema; a file with another is refused.
SCHEMA: str = "gabalab.trained-run/1"


def _where(where: str, key: str) -> str:
    return f"{where}[{key!r}]"


def _mapping(where: str, value: Any, keys: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{where} lacks {missing}")
    return value


def _number(where: str, value: Any, *, allow_none: bool = False, minimum: float | None = None,
            integer: bool = False) -> Any:
    if value is None and allow_none:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{where} must be {'an integer' if integer else 'a number'}"
                        f"{' or None' if allow_none else ''}, got {type(value).__name__}")
    if not integer and not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where} must be >= {minimum}, got {value}")
    return int(value) if integer else float(value)


def _numbers(where: str, value: Any, **options: Any) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{where} must be a list, got {type(value).__name__}")
    return tuple(_number(f"{where}[{i}]", v, **options) for i, v in enumerate(value))


@dataclass(frozen=True)
class Metrics:
    """Scores of one model on one set of windows (see :func:`gabalab.training.evaluate`).

    ``per_class_recall`` holds ``None`` for a class with no window in the set.
    """

    rmse: float
    mae: float
    score: float
    accuracy: float
    per_class_recall: tuple[float | None, ...]
    support: tuple[int, ...]
    n: int

    @classmethod
    def from_dict(cls, value: Any, where: str = "value") -> Metrics:
        """Check and convert ``value`` (a mapping of the fields); errors name ``where``."""
        keys = tuple(f.name for f in fields(cls))
        data = _mapping(where, value, keys)
        recall = _numbers(_where(where, "per_class_recall"), data["per_class_recall"],
                          allow_none=True, minimum=0.0)
        support = _numbers(_where(where, "support"), data["support"], integer=True,
                           minimum=0)
        if len(recall) != len(support):
            raise ValueError(f"{where}: per_class_recall and support must hold one value per "
                             f"class, got {len(recall)} and {len(support)}")
        return cls(
            rmse=_number(_where(where, "rmse"), data["rmse"], minimum=0.0),
            mae=_number(_where(where, "mae"), data["mae"], minimum=0.0),
            score=_number(_where(where, "score"), data["score"], minimum=0.0),
            accuracy=_number(_where(where, "accuracy"), data["accuracy"], minimum=0.0),
            per_class_recall=recall,
            support=support,
            n=_number(_where(where, "n"), data["n"], integer=True, minimum=1),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        out = asdict(self)
        out["per_class_recall"] = list(self.per_class_recall)
        out["support"] = list(self.support)
        return out


@dataclass(frozen=True)
class Quantiles:
    """Quantiles (10, 25, 50, 75, 90 %) of a ratio over the measured steps of an epoch."""

    q10: float
    q25: float
    q50: float
    q75: float
    q90: float
    n_steps: int

    @classmethod
    def from_dict(cls, value: Any, where: str = "value") -> Quantiles:
        """Check and convert ``value``; errors name ``where``."""
        keys = tuple(f.name for f in fields(cls))
        data = _mapping(where, value, keys)
        qs = [_number(_where(where, k), data[k], minimum=0.0) for k in keys[:5]]
        if any(a > b for a, b in zip(qs, qs[1:])):
            raise ValueError(f"{where}: quantiles must not decrease, got {qs}")
        return cls(q10=qs[0], q25=qs[1], q50=qs[2], q75=qs[3], q90=qs[4],
                   n_steps=_number(_where(where, "n_steps"), data["n_steps"], integer=True,
                                   minimum=1))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of one run.

    Attributes
    ----------
    epoch : int
        1-based.
    lr : float
        Learning rate during the epoch.
    train_mse, train_ce : float
        Mean training losses over the epoch.
    step_s : float
        Wall time of the epoch's training steps (measurements excluded).
    n_batches : int
    validation, test : Metrics
        After the epoch. Only ``validation`` chooses anything; ``test`` draws the curves.
    ratio, weighted_ratio : Quantiles or None
        ``g_rul / g_hs`` and ``w_rul g_rul / (w_hs g_hs)`` over the measured steps.
    weights : tuple of float
        Median weight of each task over the measured steps (or the fixed ones).
    """

    epoch: int
    lr: float
    train_mse: float
    train_ce: float
    step_s: float
    n_batches: int
    validation: Metrics
    test: Metrics
    ratio: Quantiles | None
    weighted_ratio: Quantiles | None
    weights: tuple[float, ...]

    @classmethod
    def from_dict(cls, value: Any, where: str = "value") -> EpochRecord:
        """Check and convert ``value``; errors name ``where``."""
        keys = tuple(f.name for f in fields(cls))
        data = _mapping(where, value, keys)

        def quantiles(key: str) -> Quantiles | None:
            item = data[key]
            return None if item is None else Quantiles.from_dict(item, _where(where, key))

        return cls(
            epoch=_number(_where(where, "epoch"), data["epoch"], integer=True, minimum=1),
            lr=_number(_where(where, "lr"), data["lr"], minimum=0.0),
            train_mse=_number(_where(where, "train_mse"), data["train_mse"], minimum=0.0),
            train_ce=_number(_where(where, "train_ce"), data["train_ce"], minimum=0.0),
            step_s=_number(_where(where, "step_s"), data["step_s"], minimum=0.0),
            n_batches=_number(_where(where, "n_batches"), data["n_batches"], integer=True,
                              minimum=1),
            validation=Metrics.from_dict(data["validation"], _where(where, "validation")),
            test=Metrics.from_dict(data["test"], _where(where, "test")),
            ratio=quantiles("ratio"),
            weighted_ratio=quantiles("weighted_ratio"),
            weights=_numbers(_where(where, "weights"), data["weights"], minimum=0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            "epoch": self.epoch, "lr": self.lr, "train_mse": self.train_mse,
            "train_ce": self.train_ce, "step_s": self.step_s, "n_batches": self.n_batches,
            "validation": self.validation.to_dict(), "test": self.test.to_dict(),
            "ratio": None if self.ratio is None else self.ratio.to_dict(),
            "weighted_ratio": (None if self.weighted_ratio is None
                               else self.weighted_ratio.to_dict()),
            "weights": list(self.weights),
        }


@dataclass(frozen=True)
class UnitPredictions:
    """Each test unit's truth and prediction at the selected epoch (for the bootstrap)."""

    rul_true: tuple[float, ...]
    rul_pred: tuple[float, ...]
    health_true: tuple[int, ...]
    health_pred: tuple[int, ...]

    @classmethod
    def from_dict(cls, value: Any, where: str = "value") -> UnitPredictions:
        """Check and convert ``value``; errors name ``where``."""
        keys = tuple(f.name for f in fields(cls))
        data = _mapping(where, value, keys)
        out = cls(
            rul_true=_numbers(_where(where, "rul_true"), data["rul_true"], minimum=0.0),
            rul_pred=_numbers(_where(where, "rul_pred"), data["rul_pred"]),
            health_true=_numbers(_where(where, "health_true"), data["health_true"],
                                 integer=True, minimum=0),
            health_pred=_numbers(_where(where, "health_pred"), data["health_pred"],
                                 integer=True, minimum=0),
        )
        sizes = {len(out.rul_true), len(out.rul_pred), len(out.health_true),
                 len(out.health_pred)}
        if len(sizes) != 1 or 0 in sizes:
            raise ValueError(f"{where} must hold one value per test unit in every list")
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {k: list(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RunRecord:
    """One finished run: a method, a seed, its epochs and its selected model's scores.

    Attributes
    ----------
    method : str
    seed : int
    protocol : dict
        The settings every method shares (optimiser, learning rate and schedule, batch size,
        epoch cap, patience, split seed and fraction, dtype, threads).
    validation_units : tuple of int
    epochs : tuple of EpochRecord
    selected_epoch : int
        The epoch with the lowest validation RMSE (the first of equals).
    stopped : str
        ``"patience"`` or ``"cap"``.
    selected_test : Metrics
        Test metrics of the selected epoch's weights.
    predictions : UnitPredictions
        Per test unit, at the selected epoch.
    method_detail : dict
        What the method learned or fixed (fixed weights, final log-variances, ...).
    probe : dict or None
        The linear probe on the selected model's frozen features.
    compute : dict
        Wall and CPU seconds, samples per second.
    provenance : dict
        From :func:`gabalab.experiments.provenance.provenance`.
    """

    method: str
    seed: int
    protocol: dict[str, Any]
    validation_units: tuple[int, ...]
    epochs: tuple[EpochRecord, ...]
    selected_epoch: int
    stopped: str
    selected_test: Metrics
    predictions: UnitPredictions
    method_detail: dict[str, Any]
    probe: dict[str, Any] | None
    compute: dict[str, Any]
    provenance: dict[str, Any]

    @classmethod
    def from_dict(cls, value: Any, where: str = "value") -> RunRecord:
        """Check and convert ``value`` (a result file's content); errors name ``where``."""
        keys = ("schema",) + tuple(f.name for f in fields(cls))
        data = _mapping(where, value, keys)
        if data["schema"] != SCHEMA:
            raise ValueError(f"{where} has schema {data['schema']!r}, expected {SCHEMA!r}")
        method = data["method"]
        if not isinstance(method, str) or not method:
            raise TypeError(f"{_where(where, 'method')} must be a non-empty string")
        entries = data["epochs"]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{_where(where, 'epochs')} must be a non-empty list")
        epochs = tuple(EpochRecord.from_dict(e, f"{where}['epochs'][{i}]")
                       for i, e in enumerate(entries))
        if [e.epoch for e in epochs] != list(range(1, len(epochs) + 1)):
            raise ValueError(f"{_where(where, 'epochs')} must number the epochs 1, 2, ...")
        selected = _number(_where(where, "selected_epoch"), data["selected_epoch"],
                           integer=True, minimum=1)
        if selected > len(epochs):
            raise ValueError(f"{_where(where, 'selected_epoch')} = {selected} is past the "
                             f"last epoch {len(epochs)}")
        best = min(e.validation.rmse for e in epochs)
        if epochs[selected - 1].validation.rmse != best:
            raise ValueError(f"{_where(where, 'selected_epoch')} = {selected} is not the "
                             "epoch with the lowest validation RMSE")
        if data["stopped"] not in ("patience", "cap"):
            raise ValueError(f"{_where(where, 'stopped')} must be 'patience' or 'cap'")
        for key in ("protocol", "method_detail", "compute", "provenance"):
            _mapping(_where(where, key), data[key], ())
        if data["probe"] is not None:
            _mapping(_where(where, "probe"), data["probe"], ())
        predictions = UnitPredictions.from_dict(data["predictions"],
                                                _where(where, "predictions"))
        return cls(
            method=method,
            seed=_number(_where(where, "seed"), data["seed"], integer=True, minimum=0),
            protocol=dict(data["protocol"]),
            validation_units=_numbers(_where(where, "validation_units"),
                                      data["validation_units"], integer=True, minimum=0),
            epochs=epochs,
            selected_epoch=selected,
            stopped=str(data["stopped"]),
            selected_test=Metrics.from_dict(data["selected_test"],
                                            _where(where, "selected_test")),
            predictions=predictions,
            method_detail=dict(data["method_detail"]),
            probe=None if data["probe"] is None else dict(data["probe"]),
            compute=dict(data["compute"]),
            provenance=dict(data["provenance"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, ``schema`` first."""
        return {
            "schema": SCHEMA, "method": self.method, "seed": self.seed,
            "protocol": self.protocol, "validation_units": list(self.validation_units),
            "epochs": [e.to_dict() for e in self.epochs],
            "selected_epoch": self.selected_epoch, "stopped": self.stopped,
            "selected_test": self.selected_test.to_dict(),
            "predictions": self.predictions.to_dict(), "method_detail": self.method_detail,
            "probe": self.probe, "compute": self.compute, "provenance": self.provenance,
        }

    @property
    def selected(self) -> EpochRecord:
        """The record of the selected epoch."""
        return self.epochs[self.selected_epoch - 1]


def write_run(path: str | os.PathLike[str], record: RunRecord) -> Path:
    """Write ``record`` as JSON, atomically; return the path.

    Raises
    ------
    TypeError
        If ``record`` is not a :class:`RunRecord` or ``path`` not a path.
    ValueError
        If the record does not survive its own check (written values are read back first).
    """
    if not isinstance(record, RunRecord):
        raise TypeError(f"record must be a RunRecord, got {type(record).__name__}")
    payload = record.to_dict()
    RunRecord.from_dict(json.loads(json.dumps(payload)), "record")
    text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def load_run(path: str | os.PathLike[str]) -> RunRecord:
    """Read and check one result file.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        If it is not JSON or not a run of this schema (the message names the file and the
        field).
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"path {str(path)!r} is not JSON: {err}") from None
    try:
        return RunRecord.from_dict(data, path.name)
    except TypeError as err:
        raise ValueError(str(err)) from None


def load_runs(folder: str | os.PathLike[str]) -> dict[tuple[str, int], RunRecord]:
    """Every run in ``folder`` (``*.json``), keyed ``(method, seed)``.

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder.
    ValueError
        If a file is not a valid run, two files hold the same method and seed, or the runs
        do not share one protocol and one validation split.
    """
    folder = check_path("folder", folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} is not a folder")
    runs: dict[tuple[str, int], RunRecord] = {}
    for path in sorted(folder.glob("*.json")):
        record = load_run(path)
        key = (record.method, record.seed)
        if key in runs:
            raise ValueError(f"folder holds two runs of method {key[0]!r}, seed {key[1]}")
        runs[key] = record
    if runs:
        first = next(iter(runs.values()))
        for key, record in runs.items():
            if record.protocol != first.protocol:
                raise ValueError(f"run {key} followed another protocol than run "
                                 f"{(first.method, first.seed)}")
            if record.validation_units != first.validation_units:
                raise ValueError(f"run {key} used another validation split")
    return runs
