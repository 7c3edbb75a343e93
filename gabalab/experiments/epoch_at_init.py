"""Gradient-norm ratio on the shared trunk of a freshly initialised model, over one epoch.

Builds ``DualTaskModel(seed=--seed)``, shuffles the training windows with a loader seeded with
``--seed``, and runs :func:`gabalab.measure.measure_epoch` (training mode, dropout masks seeded
with ``--seed``) over one full epoch: per batch one forward pass and the L2 norm of each task's
gradient on the shared parameters, no optimizer step.  The JSON holds the per-batch
``rul_norms``, ``health_norms`` and ``ratios``, their summary, the window and batch counts and
the parameter counts.

Example::

    python -m gabalab.experiments.epoch_at_init \\
        --out results/fd001/epoch_at_init.json

(with ``GABALAB_CMAPSS_DIR`` set, or ``--data-dir DIR``, or ``--simulated``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from gabalab.data import make_loader
from gabalab.experiments.provenance import LoadedData, base_parser, build_model, run
from gabalab.measure import measure_epoch
from gabalab.norms import shared_parameters

__all__ = ["main", "measure_at_init"]

NAME = "epoch_at_init"


def measure_at_init(args: argparse.Namespace, data: LoadedData) -> dict[str, Any]:
    """Run the measurement for parsed arguments and loaded data; return the result fields."""
    model, model_info = build_model(args.model_kwargs, args.seed, args.dtype)
    loader = make_loader(data.prepared.train, args.batch_size, shuffle=True, seed=args.seed)
    measurement = measure_epoch(
        model, loader, shared_parameters(model), progress=not args.no_progress,
        max_batches=args.max_batches, train_mode=True, seed=args.seed, desc="epoch at init",
    )
    return {
        "protocol": {
            "mode": "train (dropout active), no optimizer step",
            "losses": "mse_loss(rul, y_rul) and cross_entropy(logits, y_health), mean-reduced",
            "norm": "L2 over all shared (non-head) parameters, per task, per batch",
            "ratio": "||g_rul|| / ||g_health||",
            "loader": f"shuffled, torch.Generator seeded with {args.seed}, drop_last=False",
            "dropout_seed": args.seed,
        },
        "batch_size": args.batch_size,
        "max_batches": args.max_batches,
        "n_train_windows": len(data.prepared.train),
        "n_batches_per_epoch": len(loader),
        "model": model_info,
        "measurement": measurement.to_dict(),
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
    return run(NAME, parser, argv, measure_at_init)


if __name__ == "__main__":
    main()
