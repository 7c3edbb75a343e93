"""What one call of a balancer runs with: its options and its parameters, read-only.

:func:`check_options` validates a balancer's options once, when it is built. The balancer
keeps them as plain attributes; each call of a step takes a :class:`Settings` of them and
hands it to the path that does the work, which reads nothing else of the balancer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gabalab import distributed, sensors
from gabalab._checks import check_choice, check_int, check_real
from gabalab.weighting import check_ema, check_floor, check_rule

#: The failure policies, in the order their codes are sent between ranks.
POLICIES = ("raise", "skip")


@dataclass(frozen=True)
class Settings:
    """A balancer's options and parameter lists, as one call of its step reads them.

    Attributes
    ----------
    n_tasks, ema, floor, on_nonfinite, bucket_cap_mb, weight_rule, sensor, measure_every,
    representation_norm, timeout_s
        The options of :class:`gabalab.gaba.GabaBalancer`, validated.
    process_group : torch.distributed.ProcessGroup or None
        The group given to the balancer (``None``: the default one, if any).
    names : sequence of str
        Every parameter's name: the shared ones, then the heads.
    params : sequence of torch.Tensor
        The parameters, in the order of ``names``.
    n_shared : int
        How many of ``params`` are shared (they come first).
    """

    n_tasks: int
    ema: float | None
    floor: float
    on_nonfinite: str
    bucket_cap_mb: float
    weight_rule: str
    sensor: str
    measure_every: int
    representation_norm: str
    timeout_s: float | None
    process_group: Any
    names: Sequence[str]
    params: Sequence[torch.Tensor]
    n_shared: int

    @property
    def device(self) -> torch.device:
        """Where the parameters are, and so where the agreement between ranks runs."""
        return self.params[0].device

    @property
    def nan(self) -> tuple[float, ...]:
        """One NaN per task: the norms or weights of a step that has none."""
        return (math.nan,) * self.n_tasks


#: The options of a balancer, in the order :func:`check_options` returns them.
OPTION_NAMES = ("n_tasks", "ema", "floor", "on_nonfinite", "process_group", "bucket_cap_mb",
                "weight_rule", "sensor", "measure_every", "representation_norm", "timeout_s")


def check_options(n_tasks: Any, ema: Any, floor: Any, on_nonfinite: Any, process_group: Any,
                  bucket_cap_mb: Any, weight_rule: Any, sensor: Any, measure_every: Any,
                  representation_norm: Any, timeout_s: Any) -> tuple[Any, ...]:
    """Every option of a balancer, validated, in the order of :data:`OPTION_NAMES`.

    Raises
    ------
    TypeError, ValueError
        Naming the option that is wrong, as :class:`gabalab.gaba.GabaBalancer` documents.
    """
    n_tasks = check_int("n_tasks", n_tasks, minimum=2)
    ema = check_ema(ema)
    floor = check_floor(floor, n_tasks)
    on_nonfinite = check_choice("on_nonfinite", on_nonfinite, POLICIES)
    process_group = distributed.check_process_group(process_group)
    bucket_cap_mb = check_real("bucket_cap_mb", bucket_cap_mb, positive=True)
    weight_rule = check_rule(weight_rule, "weight_rule")
    sensor = sensors.check_sensor(sensor)
    measure_every = sensors.check_measure_every(measure_every)
    if sensor != "representation" and representation_norm is not None:
        raise ValueError("representation_norm is only used by sensor='representation'; "
                         f"this balancer has sensor={sensor!r}")
    representation_norm = sensors.check_representation_norm(
        "batch_sum" if representation_norm is None else representation_norm)
    return (n_tasks, ema, floor, on_nonfinite, process_group, bucket_cap_mb, weight_rule,
            sensor, measure_every, representation_norm, distributed.check_timeout(timeout_s))
