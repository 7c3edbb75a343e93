"""Train with GABA on several processes: DistributedDataParallel, exact per-task norms.

Launch two processes on one machine (CPU, gloo)::

    torchrun --standalone --nproc-per-node 2 book/examples/ddp_train.py --out runs/ddp

Every rank builds the same simulated fleet and the same shuffled loader of global batches
and keeps its own slice of each batch (a ``DistributedSampler`` does that job in a real
run). The model is wrapped in ``DistributedDataParallel`` as usual; the balancer takes the
place of ``backward()`` and averages each task's gradient over the ranks itself, so the norms,
the weights and the replicas are the same on every rank. Each rank saves its final
parameters and its log to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from gabalab.data import make_loader, prepare_cmapss, simulated_fleet
from gabalab.files import atomic_torch_save
from gabalab.gaba import GabaBalancer
from gabalab.models import DualTaskModel

SMALL = {"conv_channels": (16,), "lstm_hidden": 16, "lstm_layers": 1, "attention_hidden": 8,
         "funnel": (32,), "dropout": 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--global-batch", type=int, default=32)
    args = parser.parse_args()

    dist.init_process_group("gloo")  # "nccl" with one GPU per process
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(1)
    fleet = simulated_fleet(n_train_units=4, n_test_units=2, seed=0)
    train = prepare_cmapss(fleet).train
    loader = make_loader(train, batch_size=args.global_batch, seed=0,
                         drop_last=True)
    model = DDP(DualTaskModel(**SMALL, seed=0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    # The process group comes from the DDP wrapper; nothing else changes.
    # A rank that stops answering fails the step after timeout_s seconds,
    # naming the collective that waited.
    balancer = GabaBalancer.from_model(model, ema=0.9, floor=0.01,
                                       on_nonfinite="skip", timeout_s=300.0)

    per_rank = args.global_batch // world
    log = []
    for step, batch in enumerate(loader):
        if step == args.steps:
            break
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        x, y_rul, y_health = (t[mine] for t in batch)
        optimizer.zero_grad(set_to_none=True)
        rul, logits = model(x)
        losses = [F.mse_loss(rul, y_rul), F.cross_entropy(logits, y_health)]
        result = balancer.step(losses)
        if not result.skipped:  # every rank skips together
            optimizer.step()
        log.append(result)
        if rank == 0:
            (g_rul, g_hs), (w_rul, w_hs) = result.norms, result.weights
            print(f"step {step}  norms {g_rul:8.4g} {g_hs:8.4g}  "
                  f"weights {w_rul:.4f} {w_hs:.4f}  "
                  f"{result.all_reduce_bytes:,} bytes in "
                  f"{result.all_reduce_calls} all-reduces")

    params = [p.detach() for p in model.module.parameters()]
    atomic_torch_save({"params": params, "log": log, "world_size": world},
                      args.out / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
