"""Train on the naive summed loss and follow the gradient-norm ratio through training.

``DualTaskModel(seed=--seed)`` is trained with Adam (``--lr``, default 1e-3) on
``L_mse + L_ce`` for ``--epochs`` epochs (default 8).  At each epoch listed in ``--measure-at``
(default ``0,1,2,4,8``; 0 = before training) the ratio ``||g_rul|| / ||g_health||`` on the
shared trunk is measured over one full epoch of the training windows with
:func:`gabalab.measure.measure_epoch` (same loader order and dropout seed as
:mod:`~gabalab.experiments.epoch_at_init`, so epoch 0 repeats that experiment).  After every
epoch the test set (last window of each test unit) is scored: RUL RMSE in cycles, health
accuracy and per-class recall.  At the end the linear probe of
:mod:`~gabalab.experiments.linear_probe` runs on the trained model, and the model's state_dict
is saved next to the JSON (``<out stem>_model.pt``) when it is under 20 MB.

The defaults were chosen from the cost of a few FD001 batches on 2 otherwise idle CPU cores
(about 0.12 s per training batch and 0.2 s per measurement batch, i.e. about 1 minute per
training epoch of 555 batches of 32 and a little under 2 minutes per measurement epoch), so
that the whole run needs about 20 minutes there; on a machine shared with other jobs it takes
proportionally longer.

Example::

    python -m gabalab.experiments.training_sweep \\
        --out results/fd001/training_sweep.json
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gabalab.data import make_loader
from gabalab.experiments.provenance import (
    LoadedData,
    base_parser,
    build_model,
    require_int,
    require_real,
    run,
    sha256_file,
)
from gabalab.measure import measure_epoch
from gabalab.norms import shared_parameters
from gabalab.probe import probe_report
from gabalab.training import evaluate, save_checkpoint, train_summed_loss

__all__ = ["main", "sweep", "check_args", "DEFAULT_EPOCHS", "DEFAULT_MEASURE_AT",
           "add_training_options", "check_training_options"]

NAME = "training_sweep"

#: Default number of training epochs (fits the ~25 minute budget on 2 CPU cores for FD001).
DEFAULT_EPOCHS: int = 8

#: Default epochs at which the ratio distribution is measured (0 = before training).
DEFAULT_MEASURE_AT: tuple[int, ...] = (0, 1, 2, 4, 8)


def _epoch_list(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or values[0] < 0:
        raise argparse.ArgumentTypeError("epochs must be non-negative integers")
    return values


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--epochs`` and ``--lr`` (shared with the linear probe)."""
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help=f"training epochs (default {DEFAULT_EPOCHS})")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (1e-3)")


def check_training_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Check ``--epochs`` (>= 0; 0 leaves the model as initialised) and ``--lr`` (finite, > 0).

    A bad value ends the script with one line naming the option (exit status 2).
    """
    require_int(parser, "--epochs", args.epochs, minimum=0)
    require_real(parser, "--lr", args.lr, positive=True)


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The sweep's own argument checks, run before any data is read or model built.

    ``--epochs`` and ``--lr`` (:func:`check_training_options`), and every epoch of
    ``--measure-at`` within ``--epochs``. A bad value ends the script with one line naming
    the option (exit status 2).
    """
    check_training_options(args, parser)
    beyond = [e for e in args.measure_at if e > args.epochs]
    if beyond:
        parser.error(f"--measure-at {','.join(map(str, args.measure_at))} lists epoch(s) "
                     f"{','.join(map(str, beyond))} beyond --epochs {args.epochs} (omit them "
                     "or raise --epochs)")


def sweep(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Run the sweep for parsed arguments and loaded data; return the result fields."""
    if args.epochs < 0:
        raise ValueError(f"--epochs must be >= 0, got {args.epochs}")
    measure_at = [e for e in args.measure_at if e <= args.epochs]
    if len(measure_at) != len(args.measure_at):
        raise ValueError(
            f"--measure-at {args.measure_at} lists epochs beyond --epochs {args.epochs}"
        )
    progress = not args.no_progress
    train, test = data.prepared.train, data.prepared.test
    model, model_info = build_model(args.model_kwargs, args.seed, args.dtype)
    params = shared_parameters(model)
    epochs: list[dict[str, Any]] = []
    measurements: dict[str, Any] = {}

    def on_epoch(epoch: int, stats: dict[str, Any] | None) -> None:
        entry: dict[str, Any] = {"epoch": epoch, "train": stats}
        if epoch in measure_at:
            start = time.perf_counter()
            loader = make_loader(train, args.batch_size, shuffle=True, seed=args.seed)
            m = measure_epoch(model, loader, params, progress=progress,
                              max_batches=args.max_batches, seed=args.seed,
                              desc=f"measure at epoch {epoch}")
            wall = round(time.perf_counter() - start, 3)
            measurements[str(epoch)] = {**m.to_dict(), "wall_s": wall}
            entry["ratio_summary"] = m.summary()
        entry["test"] = evaluate(model, test)
        epochs.append(entry)

    train_summed_loss(model, train, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                      seed=args.seed, max_batches=args.max_batches, progress=progress,
                      on_epoch=on_epoch)

    model_file: dict[str, Any] | None = None
    if not args.no_save_model:
        path = save_checkpoint(model, Path(args.out).with_name(Path(args.out).stem + "_model.pt"))
        if path is not None:
            model_file = {"name": path.name, "sha256": sha256_file(path),
                          "bytes": path.stat().st_size}
    probe = None if args.no_probe else probe_report(model, train, test)
    return {
        "settings": {
            "optimizer": "Adam",
            "lr": args.lr,
            "loss": "mse_loss(rul, y_rul) + cross_entropy(logits, y_health) (naive sum)",
            "epochs": args.epochs,
            "measure_at": measure_at,
            "batch_size": args.batch_size,
            "max_batches": args.max_batches,
            "measurement": "train mode, loader and dropout seeded with --seed each time, "
                           "no optimizer step",
            "budget_note": f"defaults epochs={DEFAULT_EPOCHS}, measure_at="
                           f"{','.join(map(str, DEFAULT_MEASURE_AT))} chosen to fit about 25 "
                           "minutes on 2 CPU cores for FD001",
        },
        "n_train_windows": len(train),
        "n_test_windows": len(test),
        "n_batches_per_epoch": len(make_loader(train, args.batch_size, seed=args.seed)),
        "model": model_info,
        "epochs": epochs,
        "measurements": measurements,
        "final_test": epochs[-1]["test"],
        "probe": probe,
        "model_file": model_file,
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
    add_training_options(parser)
    parser.add_argument(
        "--measure-at", type=_epoch_list, default=list(DEFAULT_MEASURE_AT),
        help="comma-separated epochs at which to measure the ratio (0 = before training; "
             f"default {','.join(map(str, DEFAULT_MEASURE_AT))})",
    )
    parser.add_argument("--no-probe", action="store_true", help="skip the linear probe")
    parser.add_argument("--no-save-model", action="store_true",
                        help="do not write the final state_dict next to the JSON")
    return run(NAME, parser, argv, sweep, check_args)


if __name__ == "__main__":
    main()
