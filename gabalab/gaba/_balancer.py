"""The coordinator: :class:`GabaBalancer` checks its options, then hands each call to a path.

Each call of a step takes the balancer's options as ``Settings`` and hands them, with its
state, to the exact path (``_exact``) or to the held and representation path
(``_one_backward``), chosen when the step's first micro-batch arrives. The one-call form,
:func:`gaba_backward`, is in ``_backward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from gabalab import distributed
from gabalab.gaba._exact import accumulate_exact, apply_exact, apply_exact_distributed
from gabalab.gaba._one_backward import accumulate_one_backward, apply_one_backward, restore_grads
from gabalab.gaba._params import ParamList, named_lists, split_model
from gabalab.gaba._result import GabaResult
from gabalab.gaba._settings import Settings, check_options
from gabalab.gaba._state import BalancerState, Pending, StateCounter
from gabalab.norms import DEFAULT_HEADS
from gabalab.weighting import DEFAULT_EMA, DEFAULT_FLOOR, DEFAULT_RULE


class GabaBalancer:
    """GABA loss balancing as a replacement for ``loss.backward()``.

    Build it once with the shared and head parameters, then call :meth:`step` with the K
    task losses of each batch instead of ``backward()``; it writes the GABA-weighted gradient
    into ``.grad`` and returns a :class:`GabaResult` for logging. It never calls
    ``optimizer.step()``.

    Parameters
    ----------
    shared : iterable of torch.Tensor or of (str, torch.Tensor)
        The shared (trunk) parameters, on which the per-task norms are measured. Names, when
        given as pairs (e.g. from :func:`gabalab.norms.shared_named_parameters`), are used in
        messages.
    heads : iterable of torch.Tensor or of (str, torch.Tensor)
        The task-head parameters: they receive their task's weighted gradient but do not
        enter the norms. May be empty.
    n_tasks : int
        Number of tasks K, ``>= 2``; :meth:`step` expects exactly K losses.
    ema : float or None
        Smoothing factor ``beta`` in ``[0, 1)`` of an exponential moving average of the
        norms, ``m <- beta * m + (1 - beta) * g``, started at the first finite norms.
        Default :data:`gabalab.weighting.DEFAULT_EMA` (0.9: about ten steps of memory);
        ``None`` or 0 uses each step's norms as they are.
    floor : float
        Smallest weight, ``0 <= floor <= 1 / n_tasks``
        (see :func:`gabalab.weighting.floor_weights`). Default
        :data:`gabalab.weighting.DEFAULT_FLOOR` (0.0001, a safety net that binds only when
        one norm is about ten thousand times the other); 0 for no floor.
    on_nonfinite : {"raise", "skip"}
        What to do when a loss or gradient holds NaN or inf: raise :class:`ValueError`
        (default), or skip the step, leaving ``.grad`` and the EMA state untouched. With a
        ``GradScaler`` passed to the step, non-finite values are an overflow instead: see
        :meth:`step`.
    process_group : torch.distributed.ProcessGroup or None
        The ranks to average over. ``None`` (default) uses the default group whenever
        :mod:`torch.distributed` is initialised with more than one rank; in a single process
        nothing changes.
    bucket_cap_mb : float
        Largest all-reduce bucket, in MiB (> 0; default 25, as DDP's). Only used with more
        than one rank.
    weight_rule : {"inverse", "complement"}
        How norms become weights (:func:`gabalab.weighting.gaba_weights`). ``"inverse"``
        (default): ``w_i`` proportional to ``1 / g_i``, which makes every weighted norm
        ``w_i g_i`` equal for any number of tasks. ``"complement"``: GABA's published form
        ``(S - g_i) / ((K - 1) S)``, which does so only for two tasks and leaves the weighted
        norms far apart beyond (tens of times apart at K = 10 for norms spread over two
        orders of magnitude). For two tasks both give the same weights, bit for bit.
    sensor : {"exact", "representation"}
        What is measured. ``"exact"`` (default): each task's gradient norm on the shared
        parameters, one gradient call per task through the whole trunk. ``"representation"``:
        each task's gradient norm on the shared features the heads read, passed to every
        step as ``step(losses, features=z)``; K backward passes through the heads only, then
        one ordinary ``backward()`` of the weighted loss (see Notes).
    measure_every : int
        Measure on one step in ``measure_every`` (>= 1; default 1, every step). The steps in
        between hold the last measurement's weights (after EMA and floor) and run one
        ordinary ``backward()`` of ``sum_i w_i L_i``; skipped and overflowed steps do not
        count, and a measurement that was skipped is retried at the next step.
    representation_norm : {"batch_sum", "frobenius"} or None
        With ``sensor="representation"``: the norm of each task's feature gradient summed
        over the batch (``"batch_sum"``, the default: samples cancel as they do in the
        parameter gradient), or its Frobenius norm over every sample (see
        :mod:`gabalab.sensors`). Must be ``None`` with the exact sensor.
    timeout_s : float or None
        On more than one rank: the longest a collective of the step waits for the other
        ranks, in seconds, before it raises
        :class:`gabalab.distributed.CollectiveTimeoutError` naming the collective. ``None``
        (default) leaves it to the process group's own timeout (30 minutes for gloo by
        default). The wait is bounded through ``Work.wait(timeout)``, which gloo honours.

    Attributes
    ----------
    n_tasks : int
    ema : float or None
    floor : float
    on_nonfinite : str
    bucket_cap_mb : float
    weight_rule : str
    sensor : str
    measure_every : int
    representation_norm : str
        ``"batch_sum"`` unless set (read only with the representation sensor).
    timeout_s : float or None

    Raises
    ------
    TypeError
        If a parameter list is not a list of tensors, an option has the wrong type, or a
        parameter is sharded by FSDP (a DTensor or flattened parameter), where exact norms
        are out of reach.
    ValueError
        If ``shared`` is empty, a tensor is listed twice or in both lists, a tensor is
        frozen or not a leaf, ``n_tasks < 2``, ``ema`` is outside ``[0, 1)``, ``floor`` is
        negative or larger than ``1 / n_tasks``, ``on_nonfinite``, ``weight_rule`` or
        ``sensor`` is unknown, ``bucket_cap_mb`` is not positive, or ``measure_every < 1``.

    See Also
    --------
    gaba_backward : the same step as one call, without EMA state.
    gabalab.weighting.gaba_weights : the closed-form weights.
    gabalab.distributed : the averaging over ranks.

    Notes
    -----
    On more than one rank, each step first compares, in one small all-reduce of the same
    length on every rank (:data:`HEADER_FIELDS`), everything that shapes the messages that
    follow and what every rank is about to do: the options (tasks, sensor, period, EMA,
    floor, rule, policy, buckets), the parameter layout, the state (step count, EMA and held
    weights), a checksum of the parameters, the scaler's scale, local errors and non-finite
    values. A rank that differs makes every rank raise the same ``ValueError``, naming the
    setting and each rank's value, before any gradient is sent or written; otherwise every
    rank reaches the same outcome: all step, all skip, or all raise (the failing rank its
    own error, the others :class:`gabalab.distributed.RemoteRankError`). Errors found in
    :meth:`accumulate` are held until that point. Then each task's gradients are averaged
    over the ranks (:func:`gabalab.distributed.average_task_gradients`) and the step goes on
    as in a single process, identically on every rank. The replicas must start equal (DDP
    broadcasts them; see :func:`gabalab.distributed.broadcast_parameters` otherwise), and a
    rank whose parameters differ makes every rank raise.

    Cheaper sensors. A held step (``measure_every > 1``) and a representation step write
    ``.grad`` through one ordinary ``backward()`` of ``sum_i w_i L_i``
    (:mod:`gabalab.sensors`), so they combine with the rest as any loss does:

    * *Several processes*: that backward must go through ``DistributedDataParallel``, whose
      hooks average ``.grad``; the weights are the same on every rank (held from an exact,
      agreed measurement, or computed from the representation norms summed over the ranks:
      ``||dL/dz||^2 = sum_r ||dL_r/dz_r||^2 / R^2`` for the batch split by rank, so exact for
      that sensor). Before the backward the ranks agree (one small all-reduce) so that a
      failure on one rank stops every rank before DDP's collectives; after it, every rank
      checks that ``.grad`` and the parameters are the same on all ranks, and raises if not
      (a model not wrapped in DDP: use the exact sensor with ``measure_every=1`` there).
      DDP's ``static_graph=True`` is refused by :meth:`from_model` (its first all-reduce
      would fire at the end of the balancer's own gradient call);
      ``find_unused_parameters=True`` works.
    * *Micro-batches*: on a held step each :meth:`accumulate` runs its backward at once (use
      ``ddp.no_sync()`` on all but the last, as for any accumulation) and :meth:`apply`
      checks the sum; the weights are fixed, so the sum is the big batch's weighted
      gradient. The representation sensor measures one micro-batch per step (its weights
      must be known before the backward through the trunk, and weights from one
      micro-batch's norms would be biased): a second :meth:`accumulate` on a measuring step
      raises.
    * *GradScaler*: the backward is ``scaler.scale(loss).backward()``; the representation
      norms are divided by the scale. A non-finite value is an overflow for the scaler as on
      exact steps.
    * *Non-finite values*: losses (and representation norms) are checked before the
      backward, which is then not run; a non-finite gradient is found after it, by one norm
      of ``.grad``. Skipping or raising then resets to ``None`` every ``.grad`` that was
      ``None`` when the step began; a gradient accumulated in ``.grad`` before the step
      cannot be restored (it can with the exact sensor, which writes only after checking).
    * *torch.compile*: the backward is the compiled graph's ordinary backward; the
      representation sensor's gradient calls on the heads need the setting named by
      :func:`gabalab.sensors.compile_hint` if the heads are compiled with donated buffers.

    Examples
    --------
    >>> import torch
    >>> from gabalab.models import TinyDualHead
    >>> model = TinyDualHead(seed=0)
    >>> balancer = GabaBalancer.from_model(model)
    >>> rul, logits = model(torch.ones(8, 14))
    >>> labels = torch.zeros(8, dtype=torch.long)
    >>> losses = [((rul - 100.0) ** 2).mean(),
    ...           torch.nn.functional.cross_entropy(logits, labels)]
    >>> result = balancer.step(losses)
    >>> (round(sum(result.weights), 12),
    ...  result.norms[0] > result.norms[1])
    (1.0, True)
    >>> model.rul_head.weight.grad is not None
    True
    """

    def __init__(
        self,
        shared: ParamList,
        heads: ParamList = (),
        *,
        n_tasks: int = 2,
        ema: float | None = DEFAULT_EMA,
        floor: float = DEFAULT_FLOOR,
        on_nonfinite: Literal["raise", "skip"] = "raise",
        process_group: Any = None,
        bucket_cap_mb: float = distributed.DEFAULT_BUCKET_CAP_MB,
        weight_rule: str = DEFAULT_RULE,
        sensor: str = "exact",
        measure_every: int = 1,
        representation_norm: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        shared_named, head_named = named_lists(shared, heads)
        (self.n_tasks, self.ema, self.floor, self.on_nonfinite, self._process_group,
         self.bucket_cap_mb, self.weight_rule, self.sensor, self.measure_every,
         self.representation_norm, self.timeout_s) = check_options(
            n_tasks, ema, floor, on_nonfinite, process_group, bucket_cap_mb, weight_rule,
            sensor, measure_every, representation_norm, timeout_s)
        named = shared_named + head_named
        distributed.check_replicated_parameters(named)
        self._names = [n for n, _ in named]
        self._params = [t for _, t in named]
        self._n_shared = len(shared_named)
        self._state = BalancerState()

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        heads: Sequence[str] = DEFAULT_HEADS,
        *,
        n_tasks: int | None = None,
        **options: Any,
    ) -> GabaBalancer:
        """Build a balancer from a model whose heads are named modules.

        Shared parameters are selected with :func:`gabalab.norms.shared_named_parameters`;
        every other trainable parameter of the model is a head parameter. A model wrapped
        in ``DistributedDataParallel`` or ``torch.compile`` is looked through (names are
        the wrapped module's), and a DDP wrapper's process group is used unless
        ``process_group`` is given (see :func:`gabalab.distributed.unwrap_model`).

        Parameters
        ----------
        model : torch.nn.Module
            The multi-task model, wrapped or not.
        heads : sequence of str
            Name fragments of the head modules (default ``("rul_head", "health_head")``).
        n_tasks : int or None
            Number of tasks; ``None`` (default) takes ``len(heads)``.
        **options
            ``ema``, ``floor``, ``on_nonfinite``, ``process_group``, ``bucket_cap_mb``,
            ``weight_rule``, ``sensor``, ``measure_every``, ``representation_norm``,
            ``timeout_s`` as in :class:`GabaBalancer`.

        Returns
        -------
        GabaBalancer

        Raises
        ------
        TypeError, ValueError
            As :func:`gabalab.norms.shared_named_parameters`,
            :func:`gabalab.distributed.unwrap_model` (FSDP) and :class:`GabaBalancer`; also
            ``ValueError`` for a ``DistributedDataParallel(static_graph=True)`` model with
            ``measure_every > 1`` or ``sensor="representation"``.
        """
        if n_tasks is None and isinstance(heads, (list, tuple)) and len(heads) < 2:
            raise ValueError(f"heads must name one head module per task (at least 2), got "
                             f"{list(heads)}; or pass n_tasks")
        shared, head_params, group = split_model(model, heads, options)
        if group is not None:
            options.setdefault("process_group", group)
        return cls(shared, head_params, n_tasks=len(heads) if n_tasks is None else n_tasks,
                   **options)

    @property
    def params(self) -> tuple[torch.Tensor, ...]:
        """The tensors whose ``.grad`` the balancer writes: the shared ones, then the heads."""
        return tuple(self._params)

    @property
    def shared_names(self) -> tuple[str, ...]:
        """Names of the shared parameters, in order."""
        return tuple(self._names[: self._n_shared])

    @property
    def head_names(self) -> tuple[str, ...]:
        """Names of the head parameters, in order."""
        return tuple(self._names[self._n_shared :])

    @property
    def smoothed_norms(self) -> tuple[float, ...] | None:
        """Current EMA of the norms (``None`` before the first step or without EMA)."""
        ema_norms = self._state.ema_norms
        return None if ema_norms is None else tuple(float(g) for g in ema_norms)

    @property
    def unreached(self) -> tuple[tuple[int, str], ...]:
        """Every ``(task, name)`` pair seen so far where a task does not reach a parameter."""
        return tuple(sorted(self._state.unreached))

    @property
    def pending_micro_batches(self) -> int:
        """Micro-batches accumulated since the last step (0 when none is waiting)."""
        pending = self._state.pending
        return 0 if pending is None else pending.count

    @property
    def held_weights(self) -> tuple[float, ...] | None:
        """The weights of the last measurement (``None`` before the first one)."""
        held = self._state.held
        return None if held is None else held.weights

    @property
    def measurement_due(self) -> bool:
        """Whether the next step measures (always, with ``measure_every=1``)."""
        return self._mode() != "held"

    # The counters live in the state, with the rest of what the steps change.
    n_steps = StateCounter("int: steps that returned (:meth:`step` or :meth:`apply`), "
                           "skipped and overflowed ones included.")
    n_skipped = StateCounter("int: steps skipped because of non-finite values.")
    n_overflows = StateCounter("int: steps with a scaler whose values were not finite "
                               "(handed to the scaler).")

    def _mode(self) -> str:
        """What the next step does: ``"held"``, or measure with the balancer's sensor."""
        held = self._state.held
        if self.measure_every > 1 and held is not None and not held.due(self.measure_every):
            return "held"
        return self.sensor

    def _settings(self) -> Settings:
        """The options and parameters this call runs with."""
        return Settings(self.n_tasks, self.ema, self.floor, self.on_nonfinite,
                        self.bucket_cap_mb, self.weight_rule, self.sensor, self.measure_every,
                        self.representation_norm, self.timeout_s, self._process_group,
                        self._names, self._params, self._n_shared)

    def reset(self) -> None:
        """Forget the EMA state and the held weights (the next step measures afresh)."""
        self._state.reset()

    def discard(self) -> None:
        """Drop the micro-batches accumulated since the last step, without applying them.

        On a held or representation step their gradients are already in ``.grad``: every
        ``.grad`` that was ``None`` when the step began is set back to ``None``.
        """
        pending, self._state.pending = self._state.pending, None
        if pending is not None and pending.mode != "exact":
            restore_grads(self._params, pending)

    def state_dict(self) -> dict[str, Any]:
        """The mutable state, for checkpoints: EMA norms, held weights and step counters.

        Micro-batches accumulated but not yet applied are not part of it.

        Returns
        -------
        dict
            ``{"ema_norms": list of float or None, "n_steps": int, "n_skipped": int,
            "n_overflows": int, "sensor": str, "representation_norm": str,
            "held_weights": list of float or None, "held_norms": list of float or None,
            "held_age": int}``: the sensor the norms were measured with, and the weights of
            the last measurement with the norms they came from and the steps applied since.
        """
        return self._state.as_dict(self.sensor, self.representation_norm)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; on any error nothing changes.

        Parameters
        ----------
        state : dict
            From :meth:`state_dict`: the keys ``ema_norms``, ``n_steps``, ``n_skipped`` and
            ``n_overflows``, and those of the sensors (``sensor``, ``representation_norm``,
            ``held_weights``, ``held_norms``, ``held_age``), which may be absent.

        Raises
        ------
        TypeError
            If ``state`` is not a dict, a counter or the held age is not an integer, or the
            sensor names are not strings.
        ValueError
            If a key is missing or unknown (a misspelling would otherwise reset a counter),
            a counter is negative, the skipped and overflowed steps outnumber ``n_steps``,
            the EMA norms or the held norms do not hold one finite, non-negative value per
            task, the EMA norms are set while this balancer has no EMA, the held weights are
            not K non-negative values that sum to one, the held age is negative, or the state
            was saved with another sensor while it holds norms (the two sensors' norms are on
            different scales). The held entries may be absent (a state from an older
            version): nothing is then held, and the next step measures. The balancer's state
            is left exactly as it was.
        """
        self._state.load(state, n_tasks=self.n_tasks, ema=self.ema, sensor=self.sensor,
                         representation_norm=self.representation_norm)

    # ----------------------------------------------------------------------------- the step

    def step(
        self,
        losses: Sequence[torch.Tensor],
        *,
        scaler: Any = None,
        retain_graph: bool = False,
        features: Any = None,
    ) -> GabaResult:
        """Write the GABA-weighted gradient of ``losses`` into ``.grad``.

        The step chains the stages of :mod:`gabalab.gaba_stages`:
        :func:`~gabalab.gaba_stages.task_gradients`, then
        :func:`~gabalab.gaba_stages.tensor_norms`, :func:`~gabalab.gaba_stages.shared_norms`
        and :func:`~gabalab.gaba_stages.nonfinite_reason`, then
        :func:`gabalab.weighting.stabilised_weights` (EMA, closed form, floor), then
        :func:`~gabalab.gaba_stages.write_weighted_grad`. It is :meth:`accumulate` of these
        losses followed by :meth:`apply`: micro-batches accumulated before are part of the
        step. A held step (``measure_every > 1``) and a representation step replace these
        stages by those of :mod:`gabalab.sensors` (class notes, "Cheaper sensors").

        Parameters
        ----------
        losses : sequence of torch.Tensor
            The K scalar task losses, from one forward pass.
        scaler : torch.amp.GradScaler or None
            A mixed-precision scaler. When given (and enabled) the step differentiates
            ``scaler.scale(loss)`` itself (do not scale the losses yourself), divides the
            norms by the scale (the norms, the EMA and the weights are those of the true
            gradients) and writes the *scaled* weighted gradient into ``.grad``. Follow it
            with ``scaler.unscale_(optimizer)``, clipping if any, ``scaler.step(optimizer)``
            and ``scaler.update()``. A non-finite value is then an overflow, whatever
            ``on_nonfinite`` says: the result has ``overflow=True``, the EMA is not updated,
            and ``.grad`` is flagged (:func:`gabalab.amp.flag_overflow`) so that
            ``scaler.step`` skips the optimiser step and ``scaler.update`` lowers the scale.
        retain_graph : bool
            Keep the autograd graph after the last gradient call (default False: it is
            freed, as after ``backward()``).
        features : torch.Tensor, sequence of torch.Tensor, or None
            With ``sensor="representation"``: the shared features of this forward pass, the
            trunk's output that the heads read (``z = model.features(x)``, then the heads on
            ``z``); required on measuring steps, ignored on held ones. Must be ``None`` with
            ``sensor="exact"``.

        Returns
        -------
        GabaResult
            Norms, weights and flags of this step.

        Raises
        ------
        TypeError
            If ``losses`` is not a sequence of tensors, ``scaler`` is not a scaler or
            ``features`` is not a tensor or a sequence of tensors.
        ValueError
            If the number of losses is not ``n_tasks``, a loss is not a scalar or does not
            require grad, a loss reaches none of the shared parameters (or, with the
            representation sensor, does not depend on ``features``), ``features`` is missing
            with the representation sensor or given with the exact one, or (with
            ``on_nonfinite="raise"`` and no scaler) a loss or gradient is not finite; on
            more than one rank also if the ranks disagree on the tasks, the parameters or
            the scale, or their parameters differ, or (held and representation steps) their
            ``.grad`` differ after the backward pass.
        gabalab.distributed.RemoteRankError
            On more than one rank, when another rank's part of the step failed.
        """
        self.accumulate(losses, scaler=scaler, retain_graph=retain_graph, features=features)
        return self.apply()

    def accumulate(
        self,
        losses: Sequence[torch.Tensor],
        *,
        scaler: Any = None,
        retain_graph: bool = False,
        features: Any = None,
    ) -> None:
        """Add one micro-batch's per-task gradients to the step being gathered; write nothing.

        Call it once per micro-batch, then :meth:`apply` (or :meth:`step` with the last
        micro-batch) once at the optimiser step: the weights are computed once, from the
        accumulated gradients, exactly as for one step on the concatenated batch. Scale the
        losses as for ``backward()`` accumulation: with mean-reduced losses over M equal
        micro-batches, pass ``loss / M`` (in general ``loss * b_m / B`` for a micro-batch
        of ``b_m`` of the ``B`` samples); the accumulated gradient is then the big batch's
        gradient. On more than one rank nothing is communicated here; errors are held and
        raised by the next :meth:`apply`, on every rank.

        Parameters
        ----------
        losses : sequence of torch.Tensor
            The K scalar task losses of this micro-batch.
        scaler : torch.amp.GradScaler or None
            As in :meth:`step`; give it to every micro-batch of a step or to none.
        retain_graph : bool
            Keep the autograd graph after the last gradient call.
        features : torch.Tensor, sequence of torch.Tensor, or None
            As in :meth:`step`.

        Raises
        ------
        TypeError, ValueError
            As :meth:`step`; also if the scaler is given to some micro-batches of a step
            only, or its scale changed between them (``scaler.update()`` belongs after
            :meth:`apply`), or a second micro-batch is given to a representation
            measurement. On more than one rank they are raised by :meth:`apply` on exact
            steps, and here, on every rank, on held and representation steps.

        Examples
        --------
        >>> import torch
        >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> balancer = GabaBalancer([w])
        >>> for x in (1.0, 3.0):  # two micro-batches, losses scaled by 1/2
        ...     balancer.accumulate([(x * w).sum() / 2, w.sum() / 2])
        >>> balancer.pending_micro_batches
        2
        >>> result = balancer.apply()
        >>> [round(x, 4) for x in result.weights], result.micro_batches
        ([0.3333, 0.6667], 2)
        """
        group = distributed.active_group(self._process_group)
        state = self._state
        if state.pending is None:
            state.pending = Pending(mode=self._mode())
        accumulate = (accumulate_exact if state.pending.mode == "exact"
                      else accumulate_one_backward)
        accumulate(self._settings(), state, state.pending, losses, scaler, retain_graph,
                   features, group)

    def apply(self) -> GabaResult:
        """Weight the accumulated micro-batches once and write the result into ``.grad``.

        On more than one rank this is where the ranks communicate: they agree on the
        outcome, average each task's gradients, and every rank then writes the same
        weighted gradient (see the class notes).

        Returns
        -------
        GabaResult
            As :meth:`step`, with ``micro_batches`` set.

        Raises
        ------
        ValueError
            If nothing was accumulated, and as :meth:`step`.
        gabalab.distributed.RemoteRankError
            On more than one rank, when another rank's part of the step failed.
        """
        state = self._state
        pending, state.pending = state.pending, None
        group = distributed.active_group(self._process_group)
        settings = self._settings()
        if pending is not None and pending.mode != "exact":
            return apply_one_backward(settings, state, pending, group)
        if group is not None:
            return apply_exact_distributed(settings, state, pending, group)
        return apply_exact(settings, state, pending)
