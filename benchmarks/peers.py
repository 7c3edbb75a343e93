"""One GABA training step against the same step with peer libraries, on the course's model.

Variants, each a full training step (``zero_grad`` to ``optimizer.step()``) of its own copy of
``DualTaskModel(seed=0)`` (default sizes, 3.4M parameters) with its own Adam optimiser, on
the simulated-fleet batch of ``gaba_step.py`` (``--batch-size``, 32), one torch thread
(``--threads``, 1):

* ``a_plain``          forward, ``(L_rul + L_health).backward()``, step: the baseline;
* ``b_floor``          forward, ``L_rul.backward(retain_graph=True)``, ``L_health.backward()``,
  step: one forward and two backward passes with nothing else, the floor of any method that
  needs one gradient per task;
* ``c_gabalab``        forward, :meth:`gabalab.gaba.GabaBalancer.step` with the package
  defaults (``GabaBalancer.from_model(model)``), step;
* ``d_torchjd_imtlg``  forward through ``model.features`` and the heads, TorchJD 0.18.0's
  ``torchjd.autojac.mtl_backward(losses, features=z)`` (each head's gradient into ``.grad``,
  the Jacobian of both losses on the shared parameters into ``.jac``, through ``torch.vmap``
  by default), ``jac_to_grad(shared, IMTLG())``, step;
* ``e_torchjd_upgrad`` the same with ``UPGrad()`` (a quadratic program per step, solved by
  ``quadprog`` through ``qpsolvers``);
* ``f_libmtl_imtl``    forward, LibMTL 1.1.5's ``IMTL`` weighting used as its ``Trainer`` uses
  it: the losses stacked in one tensor (``Trainer._compute_loss`` fills a ``torch.zeros(K)``:
  the same values), then ``IMTL.backward(losses)``, which scales them by its learnable
  ``exp(s_k)``, ``- s_k`` (IMTL-L), runs one ``backward(retain_graph=True)`` per task and
  copies each task's shared gradient into a flat vector (``AbsWeighting._compute_grad``,
  ``mode='backward'``), computes IMTL-G's weights and writes the combination into the
  shared ``.grad`` (``AbsWeighting._reset_grad``); its ``loss_scale`` parameter is in the
  optimiser, as in the ``Trainer`` (whose model class mixes the weighting in).

How LibMTL is used outside its ``Trainer``. The class ``IMTL`` itself runs, subclassed (as
the ``Trainer``'s ``MTLmodel`` subclasses it) with what the ``Trainer``'s architecture
supplies: ``task_num``, ``device``, ``rep_grad=False``, ``get_share_params()`` (the shared
parameters) and ``zero_grad_share_params()``. The last zeroes the shared gradients in place:
LibMTL's own (``AbsArchitecture.zero_grad_share_params``) calls ``encoder.zero_grad()``, which
zeroed in place in the torch 1.x that LibMTL 1.1.5 was written for, but sets ``.grad`` to
``None`` since torch 2.0, where ``_reset_grad`` then fails on ``None.data``. The package's
``__init__`` imports its whole trainer stack, whose ``LibMTL/model/resnet.py`` imports
``torchvision``; the script (and the snippet below) loads ``LibMTL/weighting/IMTL.py`` and
``abstract_weighting.py`` alone (they import only torch and numpy), under stand-in parent
packages, so that torchvision, which would pull another torch, is not needed.

Agreement, checked before timing on one forward of a dropout-free copy of the model (batch
32), and stored in the JSON (``agreement``): at K = 2, IMTL-G's weights are GABA's closed
form, ``lambda_1 = g_2 / (g_1 + g_2)`` (for unit vectors ``u_k`` and norms ``g_k``, IMTL-G's
``alpha_2 = g_1 . (u_1 - u_2) / ((g_1 - g_2) . (u_1 - u_2)) = g_1 / (g_1 + g_2)``), so the
shared gradients written by ``c_gabalab``, ``d_torchjd_imtlg`` and ``f_libmtl_imtl`` agree
to float32 rounding; each peer's weights, its largest relative difference over the shared
parameters and over all of them together are reported (UPGrad is a different aggregator and
is reported, not expected to agree). TorchJD and LibMTL compute the weights in float32 from
the flattened gradients (a Gramian, dot products over 3.4M entries), GABA from per-tensor
norms combined in float64: LibMTL's formula run in float64 on the same gradients gives GABA's
weights (``task_gradients`` in the JSON shows both), so its larger difference (about 3e-5)
is float32 rounding of its weights. GABA's defaults (EMA 0.9, floor 1e-4) change nothing on
a first step: the EMA starts at the first norms, and the floor binds only far beyond this
imbalance. LibMTL's IMTL-L scales are 1 on a first step (``s = 0``).

The one difference that is a choice: the peers leave each head's gradient as its own task
gave it (unweighted), while gabalab scales each head's gradient by its task's weight. The
JSON shows it: per head, the ratio of gabalab's head gradient to the peer's (it equals the
task's weight) and the peer's head gradient against the unweighted per-task gradient of
``b_floor``.

Timing (``harness.py``, shared with the other timing benchmarks): every repetition runs each
variant once, in orders from balanced Latin squares shuffled from ``--seed``; the first
``--warmup`` repetitions are discarded; per variant the median and quartiles of wall and
process CPU time, the page faults, and the ratio of medians and the paired ratio to
``a_plain`` (wall and CPU). Memory: the harness's probe, a fresh process per variant that
reads its resident set size once model, batch and Adam state exist and its peak after
``--memory-steps`` steps. Lines of user code: :data:`SNIPPETS` holds, per variant, the
smallest plain training loop that does the step (imports, setup before the loop, the loop),
and :func:`lines_of_code` counts their lines (neither blank nor comment) and the lines added
and removed against ``a_plain``'s loop (``difflib``); ``tests/test_benchmark_peers.py`` runs
the snippets.

The peers are an optional extra, never needed by the package or its tests::

    pip install -e ".[peers]"                  # torchjd 0.18.0, quadprog, qpsolvers
    pip install --no-deps LibMTL==1.1.5        # else torchvision, and another torch

A variant whose package is missing (or, for torchjd and LibMTL, not the pinned version) ends
the script at once with one line naming it; ``--variants`` runs a subset (``a_plain`` is required).

Run from the repository root, on an otherwise idle machine (about 3 minutes on 2 cores,
estimated from a quick check)::

    .venv/bin/python benchmarks/peers.py --out results/benchmarks/peers.json
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import math
import sys
import time
import types
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness
import torch
import torch.nn.functional as F
from gaba_step import rounded, simulated_batch
from torch import nn

from gabalab.experiments.provenance import OneLineErrorParser, check_out
from gabalab.gaba import GabaBalancer
from gabalab.models import HEADS, DualTaskModel, parameter_counts
from gabalab.norms import shared_named_parameters

VARIANTS = ("a_plain", "b_floor", "c_gabalab", "d_torchjd_imtlg", "e_torchjd_upgrad",
            "f_libmtl_imtl")
PEERS = ("d_torchjd_imtlg", "e_torchjd_upgrad", "f_libmtl_imtl")
DESCRIPTIONS = {
    "a_plain": "forward, (L_rul + L_health).backward(), step",
    "b_floor": "forward, L_rul.backward(retain_graph=True), L_health.backward(), step",
    "c_gabalab": "forward, GabaBalancer.from_model(model) (package defaults) .step(losses), "
                 "step",
    "d_torchjd_imtlg": "z = model.features(x), heads on z, torchjd.autojac.mtl_backward("
                       "losses, features=z), jac_to_grad(shared, IMTLG()), step",
    "e_torchjd_upgrad": "z = model.features(x), heads on z, torchjd.autojac.mtl_backward("
                        "losses, features=z), jac_to_grad(shared, UPGrad()), step",
    "f_libmtl_imtl": "forward, torch.stack(losses), LibMTL IMTL"
                     ".backward(losses): exp(s)L - s, K backward(retain_graph=True) copied "
                     "into flat vectors, IMTL-G weights, shared .grad reset; step (Adam on "
                     "the model and the loss scales s)",
}

#: Per variant, what it imports: (module, distribution, pinned version or None).
REQUIREMENTS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "d_torchjd_imtlg": (("torchjd", "torchjd", "0.18.0"),),
    "e_torchjd_upgrad": (("torchjd", "torchjd", "0.18.0"), ("quadprog", "quadprog", None),
                         ("qpsolvers", "qpsolvers", None)),
    "f_libmtl_imtl": (("LibMTL", "LibMTL", "1.1.5"),),
}
INSTALL_HINTS = {"torchjd": 'pip install -e ".[peers]"', "quadprog": 'pip install -e ".[peers]"',
                 "qpsolvers": 'pip install -e ".[peers]"',
                 "LibMTL": "pip install --no-deps LibMTL==1.1.5"}
#: Distributions whose versions the provenance records when installed.
PEER_DISTRIBUTIONS = ("torchjd", "quadprog", "qpsolvers", "scipy", "LibMTL")

#: A shared parameter whose gradient is below this fraction of the whole shared gradient's
#: norm is left out of the largest per-parameter difference (only rounding is left there:
#: the attention score bias, whose exact gradient is 0 since a softmax ignores a shift).
NEAR_ZERO = 1e-6
#: Largest relative difference of the shared gradients (each parameter) for "matches":
#: float32 agreement (a peer computing its weights from float32 dot products over the 3.4M
#: shared entries, as LibMTL does, differs from GABA's by about 3e-5 of the smaller weight).
TOLERANCE = 1e-4

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


# ------------------------------------------------------------------------------ the peers

def find_spec(name: str) -> Any:
    """:func:`importlib.util.find_spec`, ``None`` for a missing module (or a blocked one)."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def missing_requirement(variants: Sequence[str]) -> str | None:
    """The one-line complaint about the first peer package the variants lack, else ``None``."""
    for variant in variants:
        for module, dist, pinned in REQUIREMENTS.get(variant, ()):
            hint = INSTALL_HINTS[module]
            if find_spec(module) is None:
                return (f"--variants {variant} needs {dist}"
                        f"{'==' + pinned if pinned else ''}, which is not installed "
                        f"({hint}; see benchmarks/README.md)")
            if pinned is not None:
                try:
                    found = importlib.metadata.version(dist)
                except importlib.metadata.PackageNotFoundError:
                    found = "unknown"
                if found != pinned:
                    return (f"--variants {variant} needs {dist}=={pinned}, found {dist} "
                            f"{found} ({hint})")
    return None


def torchjd_api() -> types.SimpleNamespace:
    """``mtl_backward``, ``jac_to_grad``, ``IMTLG`` and ``UPGrad`` of TorchJD."""
    autojac = importlib.import_module("torchjd.autojac")
    aggregation = importlib.import_module("torchjd.aggregation")
    return types.SimpleNamespace(mtl_backward=autojac.mtl_backward,
                                 jac_to_grad=autojac.jac_to_grad, IMTLG=aggregation.IMTLG,
                                 UPGrad=aggregation.UPGrad)


def libmtl_imtl_class() -> Any:
    """LibMTL 1.1.5's ``IMTL`` class, loaded without running the package's ``__init__``.

    ``LibMTL/__init__.py`` imports the trainer, the architectures and the ResNet models,
    and ``LibMTL/model/resnet.py`` imports torchvision. ``LibMTL`` and ``LibMTL.weighting``
    are put in ``sys.modules`` as plain packages over the installed folders, so that only
    ``weighting/abstract_weighting.py`` and ``weighting/IMTL.py`` run (torch and numpy).
    """
    if "LibMTL.weighting.IMTL" not in sys.modules:
        spec = find_spec("LibMTL")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("LibMTL is not installed (pip install --no-deps LibMTL==1.1.5)")
        root = Path(list(spec.submodule_search_locations)[0])
        for name, path in (("LibMTL", root), ("LibMTL.weighting", root / "weighting")):
            if name not in sys.modules:
                package = types.ModuleType(name)
                package.__path__ = [str(path)]
                package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
                package.__spec__.submodule_search_locations = [str(path)]
                sys.modules[name] = package
    return importlib.import_module("LibMTL.weighting.IMTL").IMTL


def libmtl_weighting(model: nn.Module, shared: list[nn.Parameter]) -> nn.Module:
    """LibMTL's ``IMTL`` with what its ``Trainer``'s architecture gives it (see the notes)."""
    imtl = libmtl_imtl_class()

    class Weighting(imtl):  # type: ignore[misc,valid-type]
        """``IMTL`` mixed with the part of ``AbsArchitecture`` it calls (``MTLmodel``)."""

        def __init__(self) -> None:
            super().__init__()
            self.task_num = len(HEADS)
            self.device = shared[0].device
            self.rep_grad = False
            self.shared = shared
            self.init_param()  # as MTLmodel.__init__ does: loss_scale = zeros(task_num)

        def get_share_params(self) -> list[nn.Parameter]:
            return self.shared

        def zero_grad_share_params(self) -> None:
            # encoder.zero_grad() as torch 1.x ran it: in place (torch >= 2 sets None)
            for p in self.shared:
                if p.grad is not None:
                    p.grad.zero_()

    weighting: nn.Module = Weighting()
    return weighting


# ----------------------------------------------------------------------------- the steps

def task_losses(model: nn.Module, batch: Batch) -> list[torch.Tensor]:
    """The two task losses of the model's own forward (``mse_loss``, ``cross_entropy``)."""
    x, y, c = batch
    rul, logits = model(x)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)]


def task_losses_via_features(model: Any, batch: Batch
                             ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The same losses through ``z = model.features(x)`` and the heads, and ``z``."""
    x, y, c = batch
    z = model.features(x)
    rul, logits = model.rul_head(z).squeeze(-1), model.health_head(z)
    return [F.mse_loss(rul, y), F.cross_entropy(logits, c)], z


class Variant:
    """One model copy, its optimiser and the step of one variant."""

    def __init__(self, name: str, model: nn.Module) -> None:
        self.name = name
        self.model = model
        self.shared = [p for _, p in shared_named_parameters(model)]
        extra: list[nn.Parameter] = []
        if name == "c_gabalab":
            self.balancer = GabaBalancer.from_model(model)
        elif name in ("d_torchjd_imtlg", "e_torchjd_upgrad"):
            self.torchjd = torchjd_api()
            self.aggregator = (self.torchjd.IMTLG() if name == "d_torchjd_imtlg"
                               else self.torchjd.UPGrad())
        elif name == "f_libmtl_imtl":
            self.weighting: Any = libmtl_weighting(model, self.shared)
            extra = list(self.weighting.parameters())  # loss_scale, trained as in Trainer
        self.params = [*model.parameters(), *extra]
        self.optimizer = torch.optim.Adam(self.params, lr=1e-3)
        self.fill: Callable[[Batch], list[float] | None] = getattr(self, name[2:])

    def prime_optimizer(self) -> None:
        """Create the Adam state with a zero-gradient step (the parameters do not move)."""
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def run(self, batch: Batch) -> None:
        """One full training step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.fill(batch)
        self.optimizer.step()

    # Each writes .grad from one forward of the batch and returns the task weights, if any.
    def plain(self, batch: Batch) -> list[float] | None:
        l_rul, l_health = task_losses(self.model, batch)
        (l_rul + l_health).backward()
        return None

    def floor(self, batch: Batch) -> list[float] | None:
        l_rul, l_health = task_losses(self.model, batch)
        l_rul.backward(retain_graph=True)
        l_health.backward()
        return None

    def gabalab(self, batch: Batch) -> list[float] | None:
        self.result = self.balancer.step(task_losses(self.model, batch))
        return list(self.result.weights)

    def torchjd_step(self, batch: Batch) -> list[float] | None:
        losses, z = task_losses_via_features(self.model, batch)
        self.torchjd.mtl_backward(losses, features=z)
        weights = self.torchjd.jac_to_grad(self.shared, self.aggregator)
        return [float(w) for w in weights]

    torchjd_imtlg = torchjd_step
    torchjd_upgrad = torchjd_step

    def libmtl_imtl(self, batch: Batch) -> list[float] | None:
        # one tensor of the K losses (LibMTL's Trainer fills a torch.zeros(K): same values)
        losses = torch.stack(task_losses(self.model, batch))
        return [float(w) for w in self.weighting.backward(losses)]


# ------------------------------------------------------------------------------ agreement

def _norm(tensors: Sequence[torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.double().norm()) ** 2 for t in tensors))


def _rel(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    """``||a - b|| / ||b||`` over the tensors together (float64)."""
    diff = _norm([x.double() - y.double() for x, y in zip(a, b)])
    size = _norm(b)
    return diff / size if size > 0 else (0.0 if diff == 0 else math.inf)


def _grads_of(variant: Variant, batch: Batch) -> dict[str, Any]:
    """Run one variant's gradient part once; its gradients, weights and warnings."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["weights"] = variant.fill(batch)
        except Exception as err:  # report, do not hide, a variant that does not work
            out["error"] = f"{type(err).__name__}: {str(err)[:500]}"
    out["warnings"] = sorted({str(w.message)[:300] for w in caught})
    if getattr(variant, "result", None) is not None:
        out["norms"] = list(variant.result.norms)
    out["grads"] = {n: p.grad.detach().clone() for n, p in variant.model.named_parameters()
                    if p.grad is not None}
    return out


def libmtl_imtl_formula(grads: torch.Tensor) -> list[float]:
    """IMTL-G's weights as LibMTL's ``IMTL.backward`` computes them, from ``(K, P)`` grads.

    The same four lines, in the dtype of ``grads``: run in float64 and float32 they show how
    much of LibMTL's difference from GABA is float32 rounding of its weights.
    """
    k = grads.shape[0]
    grads_unit = grads / torch.norm(grads, p=2, dim=-1, keepdim=True)
    d = grads[0:1].repeat(k - 1, 1) - grads[1:]
    u = grads_unit[0:1].repeat(k - 1, 1) - grads_unit[1:]
    alpha = torch.matmul(torch.matmul(grads[0], u.t()), torch.inverse(torch.matmul(d, u.t())))
    return [float(v) for v in torch.cat((1 - alpha.sum().unsqueeze(0), alpha), dim=0)]


def task_gradients(base: nn.Module, batch: Batch) -> dict[str, Any]:
    """The two tasks' gradients on the shared parameters: norms, cosine, IMTL-G's weights.

    One forward of a copy of ``base``, one ``torch.autograd.grad`` per task; norms and
    cosine in float64, the weights by :func:`libmtl_imtl_formula` in float64 and float32.
    """
    model = copy.deepcopy(base)
    shared = [p for _, p in shared_named_parameters(model)]
    l_rul, l_health = task_losses(model, batch)
    flat = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        loss, shared, retain_graph=True)]) for loss in (l_rul, l_health)])
    wide = flat.double()
    norms = wide.norm(dim=1)
    return {"norms_float64": [float(v) for v in norms],
            "cosine": float((wide[0] @ wide[1]) / (norms[0] * norms[1])),
            "imtl_weights_float64": libmtl_imtl_formula(wide),
            "imtl_weights_float32": libmtl_imtl_formula(flat)}


def check_agreement(batch: Batch, variants: Sequence[str]) -> dict[str, Any]:
    """The peers' weights and gradients against ``c_gabalab``'s on one dropout-free forward.

    Returns
    -------
    dict
        ``gabalab`` (its weights and norms), ``task_gradients`` (of
        :func:`task_gradients`), and per peer in ``variants``: its ``weights``,
        ``weights_max_abs_diff`` and ``weights_max_rel_diff`` from GABA's,
        ``shared_global_rel_diff`` (all shared gradients together),
        ``shared_max_param_rel_diff`` and the parameter where it is (leaving out those
        whose gradient is below ``NEAR_ZERO`` of the whole, listed in
        ``near_zero_params_left_out`` with their own differences), ``expected_to_match``,
        ``matches``, ``heads`` (per head: gabalab's head gradient over the peer's, GABA's
        weight of that task, and the peer's head gradient against ``b_floor``'s unweighted
        one) and the warnings the peer raised.
    """
    base = DualTaskModel(seed=0, dropout=0.0)
    shared_names = [n for n, _ in shared_named_parameters(base)]
    runs = {name: _grads_of(Variant(name, copy.deepcopy(base)), batch)
            for name in ("b_floor", "c_gabalab", *[v for v in PEERS if v in variants])}
    ref, floor = runs["c_gabalab"], runs["b_floor"]
    gaba_weights = ref["weights"]
    total = _norm([ref["grads"][n] for n in shared_names])
    out: dict[str, Any] = {
        "batch_size": int(batch[0].shape[0]),
        "model": "DualTaskModel(seed=0, dropout=0.0), one forward per variant",
        "reference": "c_gabalab",
        "gabalab": {"weights": gaba_weights, "norms": ref["norms"],
                    "settings": "GabaBalancer.from_model(model): package defaults"},
        "task_gradients": task_gradients(base, batch),
        "near_zero_fraction": NEAR_ZERO,
        "tolerance_max_param_rel_diff": TOLERANCE,
        "peers": {},
    }
    for name in PEERS:
        if name not in runs:
            continue
        run = runs[name]
        entry: dict[str, Any] = {"expected_to_match": name != "e_torchjd_upgrad",
                                 "warnings": run["warnings"]}
        if "error" in run:
            entry["error"] = run["error"]
            out["peers"][name] = entry
            continue
        grads = run["grads"]
        per_param = {n: _rel([grads[n]], [ref["grads"][n]]) for n in shared_names}
        big = {n: d for n, d in per_param.items()
               if float(ref["grads"][n].double().norm()) > NEAR_ZERO * total}
        worst = max(big, key=big.__getitem__)
        entry.update({
            "weights": run["weights"],
            "weights_max_abs_diff": max(abs(a - b) for a, b in zip(run["weights"],
                                                                   gaba_weights)),
            "weights_max_rel_diff": max(abs(a - b) / abs(b) for a, b in zip(run["weights"],
                                                                            gaba_weights)),
            "shared_global_rel_diff": _rel([grads[n] for n in shared_names],
                                           [ref["grads"][n] for n in shared_names]),
            "shared_max_param_rel_diff": big[worst],
            "shared_max_param": worst,
            "near_zero_params_left_out": {n: d for n, d in per_param.items() if n not in big},
        })
        entry["matches"] = bool(entry["shared_max_param_rel_diff"] <= TOLERANCE)
        heads: dict[str, Any] = {}
        for k, head in enumerate(HEADS):
            names = [n for n in grads if n.split(".")[0] == head]
            heads[head] = {
                "gabalab_over_peer": _norm([ref["grads"][n] for n in names])
                / _norm([grads[n] for n in names]),
                "gabalab_weight": gaba_weights[k],
                "peer_vs_unweighted_floor_rel_diff": _rel([grads[n] for n in names],
                                                          [floor["grads"][n] for n in names]),
            }
        entry["heads"] = heads
        out["peers"][name] = entry
    out["gabalab"]["warnings"] = ref["warnings"]
    return out


HEAD_GRADIENTS = (
    "the one difference that is a choice: the peers (TorchJD's mtl_backward, LibMTL's "
    "IMTL) leave each head's gradient as its own task gives it, unweighted; gabalab scales "
    "each head's gradient by its task's weight, so that the whole step is the gradient of "
    "sum_k w_k L_k. In agreement.peers.*.heads: gabalab_over_peer (norm of gabalab's head "
    "gradient over the peer's) equals gabalab_weight, and the peer's head gradient equals "
    "b_floor's unweighted one (peer_vs_unweighted_floor_rel_diff)"
)


# ------------------------------------------------------------------------- lines of code

#: The smallest plain training loop that does each variant's step, in three parts: imports,
#: setup before the loop, the loop. ``model`` (a DualTaskModel) and ``loader`` (batches
#: ``x, y, c``) are given. ``tests/test_benchmark_peers.py`` runs them.
_PLAIN_LOOP = """\
for x, y, c in loader:
    optimizer.zero_grad()
    rul, logits = model(x)
    loss_rul, loss_health = F.mse_loss(rul, y), F.cross_entropy(logits, c)
    (loss_rul + loss_health).backward()
    optimizer.step()
"""
_IMPORTS = "import torch\nimport torch.nn.functional as F\n"
_ADAM = "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)\n"
_SHARED = ('shared = [p for n, p in model.named_parameters() '
           'if not n.startswith(("rul_head.", "health_head."))]\n')
_TORCHJD_LOOP = """\
for x, y, c in loader:
    optimizer.zero_grad()
    features = model.features(x)
    rul, logits = model.rul_head(features).squeeze(-1), model.health_head(features)
    loss_rul, loss_health = F.mse_loss(rul, y), F.cross_entropy(logits, c)
    mtl_backward([loss_rul, loss_health], features=features)
    jac_to_grad(shared, aggregator)
    optimizer.step()
"""
SNIPPETS: dict[str, dict[str, str]] = {
    "a_plain": {"imports": _IMPORTS, "setup": _ADAM, "loop": _PLAIN_LOOP},
    "b_floor": {"imports": _IMPORTS, "setup": _ADAM, "loop": _PLAIN_LOOP.replace(
        "    (loss_rul + loss_health).backward()\n",
        "    loss_rul.backward(retain_graph=True)\n    loss_health.backward()\n")},
    "c_gabalab": {
        "imports": _IMPORTS + "from gabalab.gaba import GabaBalancer\n",
        "setup": _ADAM + "balancer = GabaBalancer.from_model(model)\n",
        "loop": _PLAIN_LOOP.replace("    (loss_rul + loss_health).backward()\n",
                                    "    balancer.step([loss_rul, loss_health])\n")},
    "d_torchjd_imtlg": {
        "imports": _IMPORTS + "from torchjd.aggregation import IMTLG\n"
                              "from torchjd.autojac import jac_to_grad, mtl_backward\n",
        "setup": _ADAM + "aggregator = IMTLG()\n" + _SHARED,
        "loop": _TORCHJD_LOOP},
    "e_torchjd_upgrad": {
        "imports": _IMPORTS + "from torchjd.aggregation import UPGrad\n"
                              "from torchjd.autojac import jac_to_grad, mtl_backward\n",
        "setup": _ADAM + "aggregator = UPGrad()\n" + _SHARED,
        "loop": _TORCHJD_LOOP},
    "f_libmtl_imtl": {
        "imports": """\
import importlib.util
import sys
import types

import torch
import torch.nn.functional as F

# LibMTL's __init__ imports its trainer and torchvision: load its weighting modules alone
root = importlib.util.find_spec("LibMTL").submodule_search_locations[0]
for name, path in (("LibMTL", root), ("LibMTL.weighting", root + "/weighting")):
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = [path]
from LibMTL.weighting.IMTL import IMTL
""",
        "setup": """\
class Weighting(IMTL):  # the part of LibMTL's architecture class that IMTL calls
    def __init__(self, shared):
        super().__init__()
        self.task_num, self.device, self.rep_grad, self.shared = 2, shared[0].device, False, shared
        self.init_param()

    def get_share_params(self):
        return self.shared

    def zero_grad_share_params(self):
        for p in self.shared:
            if p.grad is not None:
                p.grad.zero_()


""" + _SHARED + """\
weighting = Weighting(shared)
optimizer = torch.optim.Adam([*model.parameters(), *weighting.parameters()], lr=1e-3)
""",
        "loop": _PLAIN_LOOP.replace(
            "    loss_rul, loss_health = F.mse_loss(rul, y), F.cross_entropy(logits, c)\n"
            "    (loss_rul + loss_health).backward()\n",
            "    losses = torch.stack([F.mse_loss(rul, y), F.cross_entropy(logits, c)])\n"
            "    weighting.backward(losses)\n")},
}


def code_lines(text: str) -> list[str]:
    """The lines of ``text`` that are code: neither blank nor only a comment.

    Examples
    --------
    >>> code_lines("import torch\\n\\n# a comment\\nx = 1  # counted\\n")
    ['import torch', 'x = 1  # counted']
    """
    return [line.rstrip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def snippet(name: str) -> str:
    """The whole snippet of one variant (imports, setup, loop)."""
    parts = SNIPPETS[name]
    return parts["imports"] + "\n" + parts["setup"] + "\n" + parts["loop"]


def lines_of_code(variants: Sequence[str]) -> dict[str, Any]:
    """Per variant: code lines of its snippet's parts, in all, and added/removed vs a_plain."""
    plain = code_lines(snippet("a_plain"))
    out: dict[str, Any] = {}
    for name in variants:
        lines = code_lines(snippet(name))
        diff = list(difflib.ndiff(plain, lines))
        out[name] = {
            **{part: len(code_lines(text)) for part, text in SNIPPETS[name].items()},
            "total": len(lines),
            "added_or_changed_vs_plain": sum(1 for d in diff if d.startswith("+ ")),
            "removed_or_changed_vs_plain": sum(1 for d in diff if d.startswith("- ")),
        }
    return out


# ------------------------------------------------------------------------- timing, memory

def time_variants(batch_size: int, warmup: int, repeats: int, seed: int,
                  variants: tuple[str, ...], log: Callable[[str], None]) -> dict[str, Any]:
    """Time the variants, interleaved (:func:`harness.run_interleaved`)."""
    batch = simulated_batch(batch_size, seed)
    base = DualTaskModel(seed=0)
    runners = [Variant(name, copy.deepcopy(base)) for name in variants]
    torch.manual_seed(seed)  # dropout masks
    samples = harness.run_interleaved(
        [harness.Step(r.name, functools.partial(r.run, batch)) for r in runners],
        warmup=warmup, repeats=repeats, seed=seed, log=log, label=f"batch {batch_size}: ")
    rows = {name: {"description": DESCRIPTIONS[name],
                   **harness.row_against(samples, name, "a_plain")} for name in variants}
    return {"batch_size": batch_size, "warmup": warmup, "repeats": repeats,
            "timing_wall_s": samples.timing_wall_s, "order": samples.order,
            "slot_counts": harness.slot_counts(samples.measured_order(), variants),
            "variants": rows}


def memory_probe(name: str, batch_size: int, steps: int, seed: int) -> dict[str, float]:
    """Run in a fresh process: :func:`harness.memory_of_steps` of one variant."""
    batch = simulated_batch(batch_size, seed)
    variant = Variant(name, DualTaskModel(seed=0))
    variant.prime_optimizer()
    torch.manual_seed(seed)
    return harness.memory_of_steps(functools.partial(variant.run, batch), steps)


def measure_memory(args: argparse.Namespace, variants: tuple[str, ...],
                   log: Callable[[str], None]) -> dict[str, Any]:
    """Each variant's memory, measured in a fresh process (this script with ``--probe``)."""
    out: dict[str, Any] = {}
    for name in variants:
        out[name] = harness.memory_in_fresh_process(
            Path(__file__).resolve(),
            ["--probe", name, "--batch-size", str(args.batch_size), "--memory-steps",
             str(args.memory_steps), "--seed", str(args.seed), "--threads", str(args.threads)])
        log(f"  memory of {name}: {out[name]}")
    return out


# --------------------------------------------------------------------------- command line

def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse and check the command line; a bad argument ends the script at once.

    Every check runs before the first timing: one line on standard error that names the
    option (or the missing peer package), and exit status 2.
    """
    parser = OneLineErrorParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", default="results/benchmarks/peers.json")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=12, help="discarded repetitions")
    parser.add_argument("--repeats", type=int, default=60, help="measured repetitions")
    parser.add_argument("--memory-steps", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seed", type=int, default=0)
    harness.add_probe_option(parser, VARIANTS)
    args = parser.parse_args(argv)
    harness.check_ints(parser, args, {"--batch-size": 1, "--warmup": 0, "--repeats": 1,
                                      "--memory-steps": 1, "--threads": 1, "--seed": 0})
    if args.probe:
        args.variants = [args.probe]
    else:
        harness.require_variant(parser, args.variants, "a_plain")
    missing = missing_requirement(args.variants)
    if missing is not None:
        parser.error(missing)
    if not args.probe:
        check_out(args, parser)
    return args


def summary(run: dict[str, Any], memory: dict[str, Any],
            lines: dict[str, Any]) -> dict[str, Any]:
    """Per variant: medians, ratios to a_plain (wall and CPU), memory and lines of code."""
    out: dict[str, Any] = {}
    for name, row in run["variants"].items():
        out[name] = {
            "median_ms": rounded(row["median_ms"], 2),
            "paired_ratio_to_plain": rounded(row["paired_ratio_to_plain"], 3),
            "ratio_to_plain": rounded(row["ratio_to_plain"], 3),
            "cpu_median_ms": rounded(row["cpu_median_ms"], 2),
            "cpu_paired_ratio_to_plain": rounded(row["cpu_paired_ratio_to_plain"], 3),
            "cpu_ratio_to_plain": rounded(row["cpu_ratio_to_plain"], 3),
            "peak_rss_mib": memory[name].get("peak_rss_mib"),
            "peak_rss_delta_mib": memory[name].get("peak_rss_delta_mib"),
            "lines_of_code": lines[name]["total"],
            "lines_added_or_changed_vs_plain": lines[name]["added_or_changed_vs_plain"],
        }
    return out


def peer_versions() -> dict[str, str | None]:
    """Installed versions of the peer packages (``None`` where absent)."""
    out: dict[str, str | None] = {}
    for dist in PEER_DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def table(rows: dict[str, Any]) -> list[str]:
    """The summary as text lines, for standard error."""
    head = (f"  {'variant':18s} {'median ms':>9s} {'paired':>7s} {'CPU paired':>10s} "
            f"{'peak MiB':>8s} {'delta MiB':>9s} {'lines':>5s} {'+vs plain':>9s}")
    out = [head]
    for name, row in rows.items():
        out.append(f"  {name:18s} {row['median_ms']:9.1f} "
                   f"{harness.shown(row['paired_ratio_to_plain']):>7s} "
                   f"{harness.shown(row['cpu_paired_ratio_to_plain']):>10s} "
                   f"{_mib(row['peak_rss_mib']):>8s} {_mib(row['peak_rss_delta_mib']):>9s} "
                   f"{row['lines_of_code']:5d} {row['lines_added_or_changed_vs_plain']:9d}")
    return out


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or, with ``--probe``, one memory probe) and write its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.batch_size, args.memory_steps,
                                      args.seed)))
        return {}
    log = harness.log
    started = harness.start()
    variants = tuple(args.variants)
    model = DualTaskModel(seed=0)
    log("agreement check on one batch of 32")
    agreement = check_agreement(simulated_batch(32, args.seed), variants)
    for name, entry in agreement["peers"].items():
        log(f"  {name}: weights {entry.get('weights')} (GABA {agreement['gabalab']['weights']}),"
            f" shared max param rel diff {entry.get('shared_max_param_rel_diff')}"
            f"{' ' + entry['error'] if 'error' in entry else ''}")
    lines = lines_of_code(variants)
    log(f"timing batch size {args.batch_size}: {args.warmup} warm-up + {args.repeats} measured "
        f"repetitions, {args.threads} torch thread(s)")
    if args.repeats < harness.MIN_SAMPLES:
        log(f"  (fewer than {harness.MIN_SAMPLES} samples per variant: a quick check)")
    run = time_variants(args.batch_size, args.warmup, args.repeats, args.seed, variants, log)
    memory = measure_memory(args, variants, log)
    rows = summary(run, memory, lines)
    for line in table(rows):
        log(line)
    payload = {
        "benchmark": "peers",
        "model": {"class": "DualTaskModel", "config": model.config,
                  "parameter_counts": parameter_counts(model)},
        "data": "first shuffled batch of simulated-fleet training windows "
                "(simulated_fleet(n_train_units=20, n_test_units=2, seed=--seed), as in "
                "gaba_step.py), 30 cycles x 14 sensors; losses mse_loss and cross_entropy "
                "(mean)",
        "optimizer": "torch.optim.Adam(lr=1e-3), one per variant (f_libmtl_imtl's also "
                     "holds LibMTL's loss_scale); model in training mode",
        "variants": {name: DESCRIPTIONS[name] for name in variants},
        "protocol": {
            "timing": "one full step (zero_grad ... optimizer.step) per timed sample; "
                      + harness.protocol_text("a_plain")
                      + "; ratio_to_plain and cpu_ratio_to_plain are ratios of medians, "
                        "paired_ratio_to_plain and cpu_paired_ratio_to_plain paired ratios",
            "memory": "fresh process per variant: resident set size (VmRSS in "
                      "/proc/self/status) once model, batch and Adam state exist, then the "
                      "peak (VmHWM) after memory_steps steps; peak_rss_delta_mib = peak - "
                      "before",
            "memory_steps": args.memory_steps,
            "threads": args.threads,
            "min_samples_by_default": harness.MIN_SAMPLES,
            "lines_of_code": "code lines (neither blank nor comment) of the snippets in "
                             "lines_of_code.snippets: the smallest plain training loop doing "
                             "each step, model and loader given; added/removed against "
                             "a_plain's with difflib.ndiff",
        },
        "agreement": agreement,
        "head_gradients": HEAD_GRADIENTS,
        "lines_of_code": {"counts": lines,
                          "snippets": {name: snippet(name) for name in variants}},
        "summary": rows,
        "run": run,
        "memory": memory,
        "provenance": harness.benchmark_provenance(
            "peers", argv, args.seed, started, peer_versions=peer_versions(),
            torch_threads_set=args.threads),
    }
    out = harness.write_result(args.out, payload)
    log(f"wrote {out} ({time.perf_counter() - started.perf:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
