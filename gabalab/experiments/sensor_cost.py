"""What the cheaper GABA sensors give up against the exact one, on one model and one data set.

Part 1, one training run with the exact sensor: ``DualTaskModel(seed=--seed)`` is trained for
``--epochs`` epochs with Adam (``--lr``) and a :class:`~gabalab.gaba.GabaBalancer` measuring
every step (``--ema``, ``--floor``, ``--weight-rule``; by default the balancer's own defaults,
an EMA of 0.9 and a floor of 1e-4). At every step, on the same
forward pass and without changing the training, the script also computes what each cheaper
sensor would have applied:

* the representation sensor: each task's gradient norm on the shared features ``z`` (two
  backward passes through the heads only), summed over the batch (the default) and, for
  comparison, in the Frobenius norm over every sample, each turned into weights by the same
  EMA, rule and floor (with its own EMA state);
* periodic measurement every N steps (``--periods``, default 4 and 16): the exact weights of
  the last step whose index is a multiple of N, as a balancer with ``measure_every=N``
  would hold them (its EMA, if any, running over those measurements only).

Per step it stores the RUL weight of each (the health weight is one minus it), and both sets
of norms; the summary compares each cheap sensor with the exact one over the run: the
absolute and relative differences of the RUL weight, the correlation of the weight series
(Pearson on the weights and on their logarithms, Spearman), and how far from balanced the
cheap weights leave the exact norms (``w_rul g_rul / (w_health g_health)``: one under the
exact weights without EMA and floor; with them, the exact weights' own row is the baseline).
For scale, the same comparison of the exact weights with those
of the step before (``exact_lag_1``) says how much the weights move from one batch to the
next anyway.

Part 2, unless ``--no-outcome-runs``: separate runs of the same length, seed and data order,
each training with one cheap sensor (``measure_every=N`` for each period, and
``sensor="representation"``), for the training outcome: test RMSE (cycles) and health
accuracy after every epoch, next to the exact run's. The weights of a run differ from the
shadow weights of part 1 once the trajectories part; part 1 isolates the sensor, part 2 shows
what reaches the result.

The defaults (4 epochs, periods 4 and 16, the balancer's EMA and floor, outcome runs on)
were sized from the step costs of ``benchmarks/gaba_step.py`` (about 0.15 s per plain step of
32 windows on 2 idle CPU cores,
1.54 times that with the exact sensor) and 555 batches per FD001 epoch: about 2 minutes per
epoch of the exact run and 1.4 minutes per epoch of each cheap run, about 25 minutes in all.
A short run on the same machine under a load of 5 to 6 (other jobs) took 0.5 to 0.7 s per
step.

Example::

    python -m gabalab.experiments.sensor_cost \\
        --out results/fd001/sensor_cost.json
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from gabalab.experiments.provenance import (
    LoadedData,
    base_parser,
    build_model,
    require_int,
    require_real,
    run,
)
from gabalab.gaba import GabaBalancer, GabaResult
from gabalab.sensor_comparison import ShadowSensors
from gabalab.training import evaluate, train_balanced
from gabalab.weighting import DEFAULT_EMA, DEFAULT_FLOOR, WEIGHT_RULES, check_ema, check_floor

__all__ = ["main", "experiment", "shadow_run", "outcome_run", "check_args", "DEFAULT_EPOCHS",
           "DEFAULT_PERIODS"]

NAME = "sensor_cost"

#: Default epochs of every run (fits about 30 minutes on 2 CPU cores for FD001).
DEFAULT_EPOCHS: int = 4

#: Default measurement periods of the periodic sensor.
DEFAULT_PERIODS: tuple[int, ...] = (4, 16)


def _period_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 2:
        raise argparse.ArgumentTypeError("periods must be integers >= 2")
    return values


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The experiment's own argument checks, run before any data is read or model built.

    ``--epochs`` >= 1, ``--lr`` finite and > 0, ``--ema`` in [0, 1) and ``--floor`` in
    [0, 1/2] (the balancer's own checks, :func:`gabalab.weighting.check_ema` and
    :func:`~gabalab.weighting.check_floor` for two tasks). A bad value ends the script with
    one line naming the option (exit status 2).
    """
    require_int(parser, "--epochs", args.epochs, minimum=1)
    require_real(parser, "--lr", args.lr, positive=True)
    try:
        check_ema(args.ema)
    except (TypeError, ValueError) as err:
        parser.error(f"argument --ema: {err}")
    try:
        check_floor(args.floor, 2)
    except (TypeError, ValueError) as err:
        parser.error(f"argument --floor: {err}")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"ema": args.ema, "floor": args.floor, "weight_rule": args.weight_rule}


def shadow_run(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Part 1: train with the exact sensor; compute every cheap sensor's weights alongside."""
    model, model_info = build_model(args.model_kwargs, args.seed, args.dtype)
    balancer = GabaBalancer.from_model(model, **_options(args))
    shadow = ShadowSensors(args.periods, ema=args.ema, floor=args.floor, rule=args.weight_rule)
    epochs: list[dict[str, Any]] = []

    def on_epoch(epoch: int, stats: dict[str, Any] | None) -> None:
        epochs.append({"epoch": epoch, "train": stats, "test": evaluate(model, data.prepared.test)})

    train_balanced(model, data.prepared.train, balancer, epochs=args.epochs, lr=args.lr,
                   batch_size=args.batch_size, seed=args.seed, max_batches=args.max_batches,
                   progress=not args.no_progress, before_step=shadow.before_step,
                   after_step=shadow.after_step, on_epoch=on_epoch)
    return {
        "model": model_info,
        "epochs": epochs,
        "comparisons": shadow.comparisons(),
        "norm_ratios": shadow.norm_ratios(),
        "representation_sensor_wall_s": round(shadow.seconds, 3),
        "per_step": {key: _rounded(values) for key, values in shadow.series.items()},
    }


def _rounded(values: list[Any]) -> list[Any]:
    """Seven significant digits: the per-step series stay readable and the file small."""
    out: list[Any] = []
    for v in values:
        out.append([float(f"{x:.7g}") for x in v] if isinstance(v, list) else float(f"{v:.7g}"))
    return out


def outcome_run(args: argparse.Namespace, data: LoadedData, **sensor: Any) -> dict[str, Any]:
    """Part 2: one training run with a cheap sensor; test metrics after every epoch."""
    model, _ = build_model(args.model_kwargs, args.seed, args.dtype)
    balancer = GabaBalancer.from_model(model, **_options(args), **sensor)
    fresh = [0]
    epochs: list[dict[str, Any]] = []

    def after_step(step: int, result: GabaResult) -> None:
        fresh[0] += int(result.fresh)

    def on_epoch(epoch: int, stats: dict[str, Any] | None) -> None:
        epochs.append({"epoch": epoch, "train": stats, "test": evaluate(model, data.prepared.test)})

    start = time.perf_counter()
    train_balanced(model, data.prepared.train, balancer, epochs=args.epochs, lr=args.lr,
                   batch_size=args.batch_size, seed=args.seed, max_batches=args.max_batches,
                   progress=not args.no_progress, after_step=after_step, on_epoch=on_epoch)
    return {"options": {**_options(args), **sensor}, "epochs": epochs,
            "measured_steps": fresh[0], "steps": balancer.n_steps,
            "wall_s": round(time.perf_counter() - start, 3)}


def _outcome_row(epochs: list[dict[str, Any]]) -> dict[str, Any]:
    test = epochs[-1]["test"]
    return {"rmse": test["rmse"], "accuracy": test["accuracy"],
            "per_class_recall": test["per_class_recall"]}


def experiment(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Run both parts for parsed arguments and loaded data; return the result fields."""
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    start = time.perf_counter()
    shadow = shadow_run(args, data)
    shadow["wall_s"] = round(time.perf_counter() - start, 3)
    outcomes: dict[str, Any] = {}
    if not args.no_outcome_runs:
        for n in args.periods:
            outcomes[f"periodic_{n}"] = outcome_run(args, data, measure_every=n)
        outcomes["representation"] = outcome_run(args, data, sensor="representation")
    final = {"exact": _outcome_row(shadow["epochs"])}
    final.update({name: _outcome_row(o["epochs"]) for name, o in outcomes.items()})
    return {
        "settings": {
            "optimizer": "Adam",
            "lr": args.lr,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "max_batches": args.max_batches,
            "balancer": _options(args),
            "periods": args.periods,
            "representation_norms": {"representation": "||sum_b d L_i / d z_b|| (batch_sum, "
                                                       "the default; the outcome run)",
                                     "representation_frobenius": "||d L_i / d z||_F over the "
                                                                 "whole (B, d) batch"},
            "budget_note": f"defaults epochs={DEFAULT_EPOCHS}, periods="
                           f"{','.join(map(str, DEFAULT_PERIODS))}, outcome runs on: sized for "
                           "about 30 minutes on 2 CPU cores for FD001",
        },
        "n_train_windows": len(data.prepared.train),
        "n_test_windows": len(data.prepared.test),
        "shadow": shadow,
        "outcomes": outcomes,
        "final_test": final,
    }


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
    parser = base_parser(NAME, __doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help=f"epochs of every run (default {DEFAULT_EPOCHS})")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")
    parser.add_argument("--periods", type=_period_list, default=list(DEFAULT_PERIODS),
                        help="comma-separated measurement periods N >= 2 (default "
                             f"{','.join(map(str, DEFAULT_PERIODS))})")
    parser.add_argument("--ema", type=float, default=DEFAULT_EMA,
                        help=f"EMA factor of the norms (default {DEFAULT_EMA}, the balancer's; "
                             "0 for none)")
    parser.add_argument("--floor", type=float, default=DEFAULT_FLOOR,
                        help=f"weight floor (default {DEFAULT_FLOOR}, the balancer's; 0 for none)")
    parser.add_argument("--weight-rule", choices=WEIGHT_RULES, default="inverse",
                        help="closed form of the weights (default inverse; the same for 2 tasks)")
    parser.add_argument("--no-outcome-runs", action="store_true",
                        help="skip part 2 (the training runs with the cheap sensors)")
    return run(NAME, parser, argv, experiment, check_args)


if __name__ == "__main__":
    main()
