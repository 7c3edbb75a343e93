"""Linear probe: how much health information do the trained shared features carry?

Takes a :class:`~gabalab.models.DualTaskModel` trained on the naive summed loss - either loaded
from ``--checkpoint`` (the ``*_model.pt`` file written by
:mod:`~gabalab.experiments.training_sweep`) or trained here from ``--seed`` for ``--epochs``
epochs with exactly the sweep's training loop (same seeds, so the same model) - freezes the
trunk, extracts the 32-d shared features of every training and test window (evaluation mode),
and fits a multinomial logistic regression (standardised features, L2 penalty 1e-4, full-batch
L-BFGS from zero, deterministic) on the training features to predict the health label.

Reported on the test set (last window of each test unit): probe accuracy and per-class
recall, the majority-class chance rate (always predicting the most frequent training class),
uniform chance (1/3), and the accuracy of the model's own health head.

Examples::

    python -m gabalab.experiments.linear_probe \\
        --checkpoint results/fd001/training_sweep_model.pt \\
        --out results/fd001/linear_probe.json
    python -m gabalab.experiments.linear_probe --simulated --epochs 2 \\
        --out probe.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from gabalab._checks import FLOAT_DTYPES
from gabalab.experiments.provenance import (
    LoadedData,
    base_parser,
    build_model,
    check_model_kwargs,
    run,
    sha256_file,
)
from gabalab.experiments.training_sweep import add_training_options, check_training_options
from gabalab.models import parameter_counts
from gabalab.probe import probe_report
from gabalab.training import load_checkpoint, read_checkpoint, train_summed_loss

__all__ = ["main", "probe", "check_args"]

NAME = "linear_probe"


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """The probe's own argument checks, run before any data is read or model built.

    ``--epochs`` and ``--lr``; with ``--checkpoint``, that the file exists and holds a
    gabalab checkpoint whose model fits the data (read, not built). A bad value ends the
    script with one line naming the option (exit status 2).
    """
    check_training_options(args, parser)
    if args.checkpoint is None:
        return
    name = f"--checkpoint {args.checkpoint!r}"
    try:
        blob = read_checkpoint(args.checkpoint)
        check_model_kwargs(blob["config"], name)
    except FileNotFoundError:
        parser.error(f"{name}: no such file")
    except (TypeError, ValueError) as err:
        message = str(err)
        parser.error(message if message.startswith(name) else f"--checkpoint: {message}")


def probe(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Train (or load) the model and run the probe; return the result fields."""
    train, test = data.prepared.train, data.prepared.test
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint).to(FLOAT_DTYPES[args.dtype])  # as the data
        source: dict[str, Any] = {
            "from": "checkpoint", "checkpoint": args.checkpoint,
            "checkpoint_sha256": sha256_file(args.checkpoint),
        }
        model_info = {"class": "DualTaskModel", "config": dict(model.config),
                      "parameter_counts": parameter_counts(model)}
    else:
        model, model_info = build_model(args.model_kwargs, args.seed, args.dtype)
        log = train_summed_loss(model, train, epochs=args.epochs, lr=args.lr,
                                batch_size=args.batch_size, seed=args.seed,
                                max_batches=args.max_batches, progress=not args.no_progress)
        source = {"from": "training", "optimizer": "Adam", "lr": args.lr,
                  "epochs": args.epochs, "loss": "mse + cross_entropy (naive sum)",
                  "train_log": log}
    return {"model_source": source, "model": model_info, "probe": probe_report(model, train, test)}


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
    parser.add_argument("--checkpoint", default=None,
                        help="model file from training_sweep; skips training")
    return run(NAME, parser, argv, probe, check_args)


if __name__ == "__main__":
    main()
