"""What one call of a balancer runs with: its options and its parameters, read-only.

The balancer keeps its options as plain attributes; each call of a step takes a
:class:`Settings` of them and hands it to the path that does the work, which reads nothing
else of the balancer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

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
