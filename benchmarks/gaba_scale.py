"""Cost of an exact GABA step under DistributedDataParallel, with accumulation and AMP.

Every rank holds one copy per variant of ``DualTaskModel(seed=0)``, each wrapped in
``DistributedDataParallel`` with its own Adam optimiser, and feeds it its own shard of one
simulated-fleet batch (``--batch-size`` windows per rank). The variants, each a full
training step (``zero_grad`` to ``optimizer.step()``):

* ``plain``        forward through DDP, ``(L_rul + L_health).backward()`` (DDP all-reduces
  every gradient once, overlapped with the backward pass), step;
* ``gaba``         forward through DDP, :meth:`gabalab.gaba.GabaBalancer.step` (two gradient
  calls, each task's gradient averaged over the ranks, weights, ``.grad``), step;
* ``gaba_local``   the same with the balancer on a one-rank group: no averaging, each rank
  its own weights and gradient. Wrong for training (the replicas drift); a timing
  reference only, so that ``gaba / gaba_local`` is the price of the exact averaging;
* ``plain_accum``  ``--micro-batches`` M micro-batches of ``batch_size / M`` windows: all but
  the last under ``ddp.no_sync()``, losses divided by M, one step;
* ``gaba_accum``   the same micro-batches through ``balancer.accumulate`` and one
  ``balancer.step``: one all-reduce per optimiser step, as ``plain_accum``;
* ``plain_amp``    mixed precision: on CPU ``torch.autocast("cpu", torch.bfloat16)`` around
  the forward pass; on CUDA float16 autocast with a ``GradScaler`` (``scaler.scale(loss)
  .backward()``, ``unscale_``, ``scaler.step``, ``update``);
* ``gaba_amp``     the same with ``balancer.step(losses, scaler=scaler)`` on CUDA (the
  scaler's scale kept out of the norms), plain ``balancer.step`` under bfloat16 on CPU.

Timing (``harness.py``, shared with the other timing benchmarks): every repetition runs each
variant once, in orders from a balanced Latin square shuffled from ``--seed`` (each variant
sits in each slot equally often and follows each other variant equally often), the same on
every rank; the ranks meet at a barrier before each timed step. A step's wall time is the
slowest rank's (synchronous training waits for it); its process CPU time and its minor and
major page faults are summed over the ranks. The first ``--warmup`` repetitions are
discarded; the JSON holds medians, quartiles, the order of every repetition, and each GABA
variant's ratio of medians to its plain twin and the paired ratio (median over repetitions of
the per-repetition ratio), for wall and for CPU time.

Bytes: before timing, one step of each variant runs on extra DDP copies whose communication
hook counts the buckets DDP all-reduces (plain variants), and the balancer reports the bytes
it hands to its own all-reduces (GABA variants, ``GabaResult.all_reduce_bytes``). They are
compared with the parameter counts: a plain step sends ``P_s + P_h`` values, the exact GABA
step ``K * P_s + P_h`` plus two small messages.

Run from the repository root (2 ranks of 1 thread each on a 2-core CPU, gloo; 5 warm-up
and 50 measured repetitions, about 4 minutes on 2 idle cores)::

    .venv/bin/python benchmarks/gaba_scale.py --out results/benchmarks/gaba_scale.json

On a machine with CUDA, ``--device cuda`` uses nccl, one GPU per rank (the world size is
capped at the number of GPUs), float16 autocast and a ``GradScaler``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import sys
import time
from typing import Any

import harness
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from gabalab.data import make_loader, prepare_cmapss, simulated_fleet
from gabalab.distributed import spawn_local
from gabalab.experiments.provenance import OneLineErrorParser, check_out, require_real
from gabalab.gaba import GabaBalancer, GabaResult
from gabalab.models import DualTaskModel, parameter_counts

VARIANTS = ("plain", "gaba", "gaba_local", "plain_accum", "gaba_accum", "plain_amp",
            "gaba_amp")
PAIRS = (("gaba", "plain"), ("gaba_local", "plain"), ("gaba", "gaba_local"),
         ("gaba_accum", "plain_accum"), ("gaba_amp", "plain_amp"))
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def simulated_shard(batch_size: int, rank: int, world: int, seed: int, device: str) -> Batch:
    """Rank ``rank``'s rows of the first shuffled batch of ``world * batch_size`` windows."""
    prepared = prepare_cmapss(simulated_fleet(n_train_units=20, n_test_units=2, seed=seed))
    x, y, c = next(iter(make_loader(prepared.train, batch_size=world * batch_size, seed=seed)))
    lo, hi = rank * batch_size, (rank + 1) * batch_size
    return x[lo:hi].contiguous().to(device), y[lo:hi].to(device), c[lo:hi].to(device)


def task_losses(model: nn.Module, batch: Batch) -> list[torch.Tensor]:
    x, y, c = batch
    rul, logits = model(x)
    return [F.mse_loss(rul.float(), y), F.cross_entropy(logits.float(), c)]


def counting_hook(state: list[int], bucket: Any) -> Any:
    """DDP communication hook: record each bucket's bytes, then all-reduce as DDP does."""
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    buffer = bucket.buffer()
    state.append(buffer.numel() * buffer.element_size())
    return allreduce_hook(dist.group.WORLD, bucket)  # type: ignore[arg-type]


# DDP checks the hook's annotations against the types themselves; postponed annotations
# (the __future__ import above) would leave strings there, and other types are refused.
counting_hook.__annotations__.update(
    bucket=dist.GradBucket,  # type: ignore[attr-defined]
    **{"return": torch.futures.Future[torch.Tensor]},
)


class Runner:
    """One variant on one rank: a DDP copy of the model, its optimiser, balancer, scaler."""

    def __init__(self, name: str, base: nn.Module, config: dict[str, Any],
                 hook: list[int] | None = None, own_group: Any = None) -> None:
        self.name = name
        self.device = config["device"]
        self.cuda = self.device.startswith("cuda")
        self.micro = config["micro_batches"]
        self.model = copy.deepcopy(base).to(self.device)
        ids = [torch.cuda.current_device()] if self.cuda else None
        self.ddp = DDP(self.model, device_ids=ids)
        if hook is not None:
            self.ddp.register_comm_hook(hook, counting_hook)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        options = {"process_group": own_group} if name == "gaba_local" else {}
        self.balancer = GabaBalancer.from_model(self.ddp, **options)
        amp = name.endswith("_amp")
        self.autocast = (torch.autocast("cuda", dtype=torch.float16) if self.cuda else
                         torch.autocast("cpu", dtype=torch.bfloat16)) if amp else None
        self.scaler = torch.amp.GradScaler("cuda") if amp and self.cuda else None
        self.last: GabaResult | None = None

    def forward(self, batch: Batch) -> list[torch.Tensor]:
        with self.autocast if self.autocast is not None else contextlib.nullcontext():
            return task_losses(self.ddp, batch)

    def finish(self) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def run(self, batch: Batch) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        parts: list[Batch] = [batch]
        if self.name.endswith("accum"):
            x, y, c = (t.chunk(self.micro) for t in batch)
            parts = list(zip(x, y, c))
        m = len(parts)
        for i, part in enumerate(parts):
            last = i == m - 1
            if self.name.startswith("plain"):
                sync = contextlib.nullcontext() if last else self.ddp.no_sync()
                with sync:
                    rul_loss, health_loss = self.forward(part)
                    loss = (rul_loss + health_loss) / m
                    (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
            else:
                losses = [loss / m for loss in self.forward(part)]
                if last:
                    self.last = self.balancer.step(losses, scaler=self.scaler)
                else:
                    self.balancer.accumulate(losses, scaler=self.scaler)
        self.finish()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rank_main(rank: int, world: int, config: dict[str, Any]) -> dict[str, Any]:
    """Body of one rank: bytes per step, then the timed repetitions."""
    device = f"cuda:{rank}" if config["device"] == "cuda" else "cpu"
    config = {**config, "device": device}
    torch.manual_seed(config["seed"] + rank)  # dropout masks differ between ranks
    base = DualTaskModel(seed=0)
    batch = simulated_shard(config["batch_size"], rank, world, config["seed"], device)
    variants = config["variants"]
    own_group = [dist.new_group([r]) for r in range(world)][rank]  # for gaba_local

    # Bytes: one step of each variant on a fresh copy whose DDP reducer is counted.
    traffic = {}
    for name in variants:
        hook: list[int] = []
        runner = Runner(name, base, config, hook, own_group)
        runner.run(batch)
        result = runner.last
        traffic[name] = {
            "ddp_reducer_bytes": int(sum(hook)),
            "ddp_reducer_buckets": len(hook),
            "balancer_bytes": 0 if result is None else result.all_reduce_bytes,
            "balancer_calls": 0 if result is None else result.all_reduce_calls,
            "scale": None if result is None else result.scale,
        }
        del runner

    runners = [Runner(name, base, config, own_group=own_group) for name in variants]

    def before() -> None:
        dist.barrier()
        _sync(device)

    samples = harness.run_interleaved(
        [harness.Step(r.name, functools.partial(r.run, batch)) for r in runners],
        warmup=config["warmup"], repeats=config["repeats"], seed=config["seed"],
        before=before, after=functools.partial(_sync, device),
        log=harness.log if rank == 0 else None)
    skipped = {r.name: (r.balancer.n_skipped, r.balancer.n_overflows) for r in runners}
    return {"rank": rank, "samples": samples.to_dict(), "traffic": traffic,
            "balancer_skips": skipped, "threads": torch.get_num_threads(),
            "timing_wall_s": samples.timing_wall_s}


def summarise(ranks: list[dict[str, Any]], variants: tuple[str, ...]) -> dict[str, Any]:
    """Per variant and GABA/plain pair: medians, quartiles, ratios, CPU time, page faults.

    A step's wall time is the slowest rank's; its CPU time and page faults are summed over
    the ranks (:func:`harness.combine_ranks`).
    """
    samples = harness.combine_ranks([harness.Samples.from_dict(r["samples"]) for r in ranks])
    rows = {}
    for name in variants:
        stats = harness.variant_stats(samples, name)
        rows[name] = {key: value for key, value in stats.items() if key != "n"}
    ratios = {f"{gaba}/{plain}": harness.paired_ratios(samples, gaba, plain)
              for gaba, plain in PAIRS if gaba in variants and plain in variants}
    return {"variants": rows, "ratios": ratios, "order": samples.order,
            "slot_counts": harness.slot_counts(samples.measured_order(), variants),
            "timing_wall_s": samples.timing_wall_s}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad argument ends the script at once.

    Every check runs before any process is started: one line on standard error that names
    the option, and exit status 2.
    """
    parser = OneLineErrorParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="results/benchmarks/gaba_scale.json")
    parser.add_argument("--world-size", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="windows per rank")
    parser.add_argument("--micro-batches", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds before every rank is stopped")
    parser.add_argument("--note", default="", help="free text stored in the provenance")
    args = parser.parse_args(argv)
    harness.check_ints(parser, args, {"--world-size": 1, "--batch-size": 1,
                                      "--micro-batches": 1, "--warmup": 0, "--repeats": 1,
                                      "--threads": 1, "--seed": 0})
    if args.batch_size % args.micro_batches:
        parser.error(f"--micro-batches {args.micro_batches} must divide --batch-size "
                     f"{args.batch_size}")
    require_real(parser, "--timeout", args.timeout, positive=True)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    check_out(args, parser)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark on local ranks and write its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    log = harness.log
    started = harness.start()
    world = args.world_size
    backend = "gloo"
    if args.device == "cuda":
        world, backend = min(world, torch.cuda.device_count()), "nccl"
    variants = tuple(args.variants)
    config = {"device": args.device, "batch_size": args.batch_size,
              "micro_batches": args.micro_batches, "warmup": args.warmup,
              "repeats": args.repeats, "seed": args.seed, "variants": variants}
    log(f"{world} ranks ({backend}, {args.threads} thread(s) each), "
        f"{args.warmup} + {args.repeats} repetitions")
    if args.repeats < harness.MIN_SAMPLES:
        log(f"  (fewer than {harness.MIN_SAMPLES} samples per variant: a quick check)")
    ranks = spawn_local(rank_main, world, args=(config,), timeout_s=args.timeout,
                        threads=args.threads, backend=backend)
    model = DualTaskModel(seed=0)
    counts = parameter_counts(model)
    k = 2
    summary = summarise(ranks, variants)
    traffic = ranks[0]["traffic"]
    bytes_per_value = 4
    expected = {"plain_values": counts["shared"] + counts["heads"],
                "gaba_values": k * counts["shared"] + counts["heads"],
                "predicted_ratio": (k * counts["shared"] + counts["heads"])
                / (counts["shared"] + counts["heads"])}
    if "plain" in traffic and "gaba" in traffic and traffic["plain"]["ddp_reducer_bytes"]:
        expected["measured_ratio"] = (traffic["gaba"]["balancer_bytes"]
                                      / traffic["plain"]["ddp_reducer_bytes"])
    for name, row in summary["variants"].items():
        log(f"  {name:12s} median {row['median_ms']:9.1f} ms")
    for name, row in summary["ratios"].items():
        log(f"  {name:24s} x{harness.shown(row['ratio_of_medians'], 3)} "
            f"(paired x{harness.shown(row['paired_ratio'], 3)}, CPU time paired "
            f"x{harness.shown(row['cpu_paired_ratio'], 3)})")
    payload = {
        "benchmark": "gaba_scale",
        "model": {"class": "DualTaskModel", "config": model.config, "parameter_counts": counts},
        "setup": {"world_size": world, "backend": backend, "device": args.device,
                  "batch_size_per_rank": args.batch_size, "micro_batches": args.micro_batches,
                  "threads_per_rank": args.threads, "warmup": args.warmup,
                  "repeats": args.repeats,
                  "amp": ("float16 autocast + GradScaler" if args.device == "cuda" else
                          "bfloat16 autocast, no scaler"),
                  "optimizer": "Adam(lr=1e-3), one per variant; DDP defaults"},
        "protocol": "one full step (zero_grad ... optimizer.step) per timed sample, the same "
                    "orders on every rank and a barrier before each step; a step's wall time "
                    "is the slowest rank's, its CPU time and page faults the sum over the "
                    "ranks; " + harness.protocol_text("its plain twin")
                    + "; ratios per GABA/plain pair: ratio_of_medians, paired_ratio, "
                      "mean_paired_ratio, cpu_ratio_of_medians, cpu_paired_ratio",
        "bytes_per_step": {"per_variant": traffic, "bytes_per_value": bytes_per_value,
                           **expected},
        "summary": summary,
        "balancer_skips_and_overflows": ranks[0]["balancer_skips"],
        "provenance": harness.benchmark_provenance(
            "gaba_scale", argv, args.seed, started,
            torch_num_threads=ranks[0]["threads"], torch_threads_per_rank=ranks[0]["threads"],
            cuda=torch.cuda.get_device_name(0) if args.device == "cuda" else None,
            note=args.note),
    }
    out = harness.write_result(args.out, payload)
    log(f"wrote {out} ({time.perf_counter() - started.perf:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
