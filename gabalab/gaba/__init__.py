"""GABA in a training loop: per-task gradients, closed-form weights, one combined ``.grad``.

A GABA step replaces ``loss.backward()`` in a multi-task training loop. The caller runs one
forward pass and computes the K scalar task losses; the step then

1. takes one gradient per task with :func:`torch.autograd.grad` on every trainable parameter
   involved (shared trunk and task heads), keeping the graph between tasks;
2. measures each task's L2 gradient norm on the *shared* parameters only;
3. turns the norms into the closed-form weights of :func:`gabalab.weighting.gaba_weights`
   (by default proportional to the inverse norms; GABA's published rule by name),
   optionally after smoothing the norms with an exponential moving average (EMA) and
   flooring the weights;
4. adds ``sum_i w_i * grad_i`` to each parameter's ``.grad``, built from the per-task
   gradients it already holds, so there is no third backward pass.

The caller then calls ``optimizer.step()`` as usual; the step never does. Each head receives
its own task's gradient times that task's weight: exactly what ``(sum_i w_i L_i).backward()``
would give with the weights held constant, at the cost of one forward plus K gradient calls.

``.grad`` semantics
    The weighted gradient is *accumulated* into ``.grad``, as ``backward()`` does: a
    parameter whose ``.grad`` is ``None`` receives the weighted gradient, one that already
    has a gradient gets it added. Call ``optimizer.zero_grad()`` before the step, as before
    a backward pass (or leave gradients in place on purpose to accumulate micro-batches).

Failure policy
    Non-finite losses or gradients raise :class:`ValueError` by default
    (``on_nonfinite="raise"``). With ``on_nonfinite="skip"`` the step returns a result
    flagged ``skipped`` with the reason, and leaves ``.grad`` and the EMA state exactly as
    they were; the caller should then not call ``optimizer.step()``. When every norm is
    zero the weights are uniform. Parameters a task does not reach (a "shared" parameter
    one task never touches, or a head parameter no task touches) count as zero in that
    task's norm; they are reported by name in a warning, once per balancer, and are listed
    on every result and in :attr:`GabaBalancer.unreached`.

Use :class:`GabaBalancer` in a loop (it keeps the EMA state and validates the parameter
lists once); :func:`gaba_backward` is the one-call form without state.

Cheaper sensors
    ``measure_every=N`` measures on one step in N and holds the weights in between (those
    steps run one ordinary ``backward()`` of the weighted loss); ``sensor="representation"``
    measures the norms on the shared features the heads read, passed as
    ``step(losses, features=z)``, instead of on the shared parameters. See
    :mod:`gabalab.sensors` and the class notes.

Scaling out
    Under a process group with more than one rank (a model wrapped in
    ``DistributedDataParallel`` or not), each task's gradients are averaged over the ranks
    before any norm is taken, so that the norms are those of the gradient the optimiser
    applies and the weights are the same on every rank (:mod:`gabalab.distributed`).
    Micro-batches are accumulated with :meth:`GabaBalancer.accumulate` and weighted once by
    :meth:`GabaBalancer.apply`; a ``GradScaler`` is passed as ``scaler=`` and its scale is
    kept out of the norms and the EMA (:mod:`gabalab.amp`).

The stages of a step are plain functions, each testable alone, in
:mod:`gabalab.gaba_stages` (steps 1, 2 and 4) and :mod:`gabalab.weighting` (step 3,
:func:`~gabalab.weighting.stabilised_weights`);
:func:`gabalab.distributed.average_task_gradients` sits between steps 1 and 2 on more than
one rank.
"""

from __future__ import annotations

from gabalab.gaba._agreement import HEADER_FIELDS as _FIELDS
from gabalab.gaba._backward import gaba_backward
from gabalab.gaba._balancer import GabaBalancer
from gabalab.gaba._result import GabaResult

#: The numbers every rank sends in each agreement all-reduce of a step, in this order. The
#: message has the same length on every rank, whatever its settings, so ranks that were
#: built or loaded differently can still compare before anything else is sent. The first
#: fifteen describe the balancer: its options, its parameters and its state (step count, EMA
#: and held weights, as fingerprints of their exact bits); the next five this step; the last
#: three the outcome (which rank failed or saw a non-finite value, and the norm of ``.grad``
#: after a one-backward step).
HEADER_FIELDS: tuple[str, ...] = _FIELDS

__all__ = [
    "GabaResult",
    "GabaBalancer",
    "gaba_backward",
    "HEADER_FIELDS",
]

# The examples of the public names, for doctest.testmod(gabalab.gaba): their code lives in
# the private modules, whose objects the doctest finder does not count as this module's.
__test__ = {
    "GabaResult.as_dict": GabaResult.as_dict,
    "GabaBalancer": GabaBalancer,
    "GabaBalancer.accumulate": GabaBalancer.accumulate,
    "gaba_backward": gaba_backward,
}
