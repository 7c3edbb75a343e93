"""Does balancing help? The naive sum, a fixed weight and GABA on the same model and data.

Usage::

    python -m gabalab.experiments.balancing --out results/fd001/balancing.json
    python -m gabalab.experiments.balancing --simulated --epochs 2 --out /tmp/balancing.json

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
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gabalab.data import make_loader
from gabalab.experiments.provenance import LoadedData, base_parser, build_model, run
from gabalab.gaba import GabaBalancer
from gabalab.methods import FixedWeights, GabaMethod, Method, SummedLoss, weights_balanced_at
from gabalab.norms import shared_parameters
from gabalab.probe import probe_report
from gabalab.training import evaluate, train_epoch, train_multitask

__all__ = [
    "main",
    "compare",
    "summarise_runs",
    "contrast",
    "results_table",
    "train_gaba_variant",
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


def _method_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in METHODS]
    if not values or unknown or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(
            f"expected distinct names from {','.join(METHODS)}, got {text!r}")
    return values


def task_losses(model: nn.Module, batch: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The two task losses of a batch ``(x, y_rul, y_health)``: MSE and cross-entropy."""
    x, y_rul, y_health = batch
    rul, logits = model(x)
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
        base, model_info = build_model(args.model_kwargs, seed)
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
    """
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
    ``|difference| <= 2 noise`` (about a 95% band for a normal spread of seed means) or when
    the two ranges of seed values overlap: with three seeds per method only a difference
    clear of both tests is reported as one.

    Parameters
    ----------
    a, b : dict or None
        Spreads as in :func:`summarise_runs` (``mean``, ``std``, ``min``, ``max``, ``values``).

    Returns
    -------
    dict or None
        ``difference``, ``noise``, ``ranges_overlap``, ``inside_noise``; ``None`` when either
        spread is missing.

    Examples
    --------
    >>> a = {"mean": 20.0, "std": 1.0, "min": 19.0, "max": 21.0, "values": [19.0, 20.0, 21.0]}
    >>> b = {"mean": 15.0, "std": 1.0, "min": 14.0, "max": 16.0, "values": [14.0, 15.0, 16.0]}
    >>> out = contrast(a, b)
    >>> out["difference"], out["inside_noise"]
    (-5.0, False)
    """
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
        Training and test windows.
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
    """
    model, _ = build_model(model_kwargs, seed)
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
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--seeds", type=_int_list, default=list(DEFAULT_SEEDS),
                        help="comma-separated seeds (default "
                             f"{','.join(map(str, DEFAULT_SEEDS))}); --seed is not used")
    parser.add_argument("--methods", type=_method_list, default=list(METHODS),
                        help=f"comma-separated methods (default {','.join(METHODS)})")
    parser.add_argument("--measure-every", type=int, default=10,
                        help="measure the norms of sum/fixed every n steps (default 10)")
    parser.add_argument("--fixed-batches", type=int, default=20,
                        help="batches at initialisation that choose the fixed weight (20)")
    parser.add_argument("--gaba-ema", type=float, default=None,
                        help="override the balancer's EMA factor (default: package default)")
    parser.add_argument("--gaba-floor", type=float, default=None,
                        help="override the balancer's weight floor (default: package default)")
    parser.add_argument("--no-probe", action="store_true", help="skip the linear probes")
    return run(NAME, parser, argv, compare)


if __name__ == "__main__":
    main()


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

    Examples
    --------
    >>> one = {"mean": 2.0, "std": 0.5, "min": 1.5, "max": 2.5, "values": [1.5, 2.5]}
    >>> print(results_table({"sum": {"rmse": one, "score": one, "accuracy": one,
    ...                              "weighted_ratio": one}}))
    | method | RMSE (cycles) | score | accuracy | weighted-norm ratio |
    | :-- | --: | --: | --: | --: |
    | sum | 2.00 ± 0.50 | 2 ± 0 | 2.000 ± 0.500 | 2 ± 0.5 |
    """
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
