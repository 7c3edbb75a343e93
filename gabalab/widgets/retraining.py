"""Explorer of section 18.2: retrain the small GABA model with another EMA and floor.

A chart in the page can recompute a formula; it cannot train a network. This explorer
needs a Python kernel: :func:`retrain` trains section 18.2's small dual-task model on its
simulated fleet with GABA, the EMA factor and the weight floor chosen by the reader, and
:func:`retrain_explorer` puts the two knobs, the number of epochs and a *Train* button in
front of it. Each run draws the RUL weight at every step beside the run with the package's
defaults, and prints what the run ends with (:meth:`RetrainRun.readout`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gabalab import data, models, training
from gabalab._checks import check_int, check_real
from gabalab.gaba import GabaBalancer
from gabalab.plots.balancing import plot_weight_trace

__all__ = [
    "NOTE",
    "EMA_CHOICES",
    "EPOCH_CHOICES",
    "FLOOR_CHOICES",
    "RetrainRun",
    "SMALL_MODEL",
    "retrain",
    "retrain_explorer",
]

#: The small dual-task model of section 18.2 (arguments of ``DualTaskModel``).
SMALL_MODEL: dict[str, Any] = {
    "conv_channels": (16,), "lstm_hidden": 16, "lstm_layers": 1,
    "attention_hidden": 8, "funnel": (32,),
}
#: EMA factors the explorer offers (0: each step's own norms, no smoothing).
EMA_CHOICES: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99)
#: Weight floors the explorer offers (all below 1/2, the largest a two-task floor can be).
FLOOR_CHOICES: tuple[float, ...] = (1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3)
#: Epoch counts the explorer offers (one epoch is 42 steps of 32 windows).
EPOCH_CHOICES: tuple[int, ...] = (1, 2, 5, 10)

#: What the explorer shows, for the page that cannot run it
#: (see :func:`gabalab.widgets.live.lab_only`).
#:
#: :meta hide-value:
NOTE: str = (
    "*Explorer (in JupyterLab).* Run this notebook in JupyterLab to choose the EMA factor "
    "$\\beta$, the floor $\\lambda_{\\min}$ and a number of epochs, and press *Train*: "
    "the small model of this section is retrained on its simulated fleet with that "
    "setting, its RUL weight drawn at every step beside the run with the package's "
    "defaults, and the test RMSE, accuracy and per-class recall of both runs printed."
)

#: The simulated fleet of section 18.2: training and test units.
_FLEET_UNITS = (10, 20)
_BATCH_SIZE = 32
_LR = 1e-3


@dataclass(frozen=True)
class RetrainRun:
    """What one retraining run ends with.

    Attributes
    ----------
    ema, floor : float
        The EMA factor (0: none) and the weight floor the run used.
    epochs, seed : int
    rul_weights : tuple of float
        The RUL weight :math:`\\lambda_{\\mathrm{rul}}` applied at every step.
    floor_share : float
        Share of the steps on which a weight sat at the floor.
    test_rmse : float
        RUL error on the fleet's test units (cycles).
    test_accuracy : float
        Health-state accuracy on the test units.
    recall : tuple of float
        Recall of each health class (healthy, degrading, critical).
    """

    ema: float
    floor: float
    epochs: int
    seed: int
    rul_weights: tuple[float, ...]
    floor_share: float
    test_rmse: float
    test_accuracy: float
    recall: tuple[float, ...]

    def readout(self) -> str:
        """Three lines: the setting, the RUL weight's range, the test metrics.

        Examples
        --------
        >>> run = RetrainRun(0.9, 1e-4, 1, 0, (0.002, 0.004), 0.0,
        ...                  70.25, 0.45, (1.0, 0.0, 0.0))
        >>> print(run.readout())
        β = 0.9, λ_min = 0.0001, 1 epoch (2 steps)
        λ_rul from 0.002 to 0.004; at the floor on 0.0% of steps
        test RMSE 70.2 cycles, accuracy 0.45, recall 1.00/0.00/0.00
        """
        n = len(self.rul_weights)
        epochs = f"{self.epochs} epoch" + ("s" if self.epochs != 1 else "")
        recall = "/".join(f"{r:.2f}" for r in self.recall)
        return "\n".join([
            f"β = {self.ema:g}, λ_min = {self.floor:g}, {epochs} ({n} steps)",
            f"λ_rul from {min(self.rul_weights):.3g} to {max(self.rul_weights):.3g}; "
            f"at the floor on {self.floor_share:.1%} of steps",
            f"test RMSE {self.test_rmse:.1f} cycles, accuracy {self.test_accuracy:.2f}, "
            f"recall {recall}",
        ])


@functools.lru_cache(maxsize=2)
def _fleet(seed: int) -> Any:
    fleet = data.simulated_fleet(n_train_units=_FLEET_UNITS[0], n_test_units=_FLEET_UNITS[1],
                                 seed=seed)
    return data.prepare_cmapss(fleet).to(torch.float64)


def retrain(ema: float = 0.9, floor: float = 1e-4, *, epochs: int = 5,
            seed: int = 0) -> RetrainRun:
    """Train section 18.2's small model with GABA, the given EMA and floor, and test it.

    The model (:data:`SMALL_MODEL`, float64) and the simulated fleet (10 training units,
    20 test units) are the section's, built from ``seed``; Adam with learning rate 1e-3,
    batches of 32 shuffled with ``seed``. The same arguments give the same run.

    Parameters
    ----------
    ema : float
        EMA factor in [0, 1); 0 weighs each step by its own norms.
    floor : float
        Weight floor in [0, 1/2).
    epochs : int
        At least 1.
    seed : int
        Non-negative; seeds the fleet, the model and the batch order.

    Returns
    -------
    RetrainRun

    Raises
    ------
    TypeError, ValueError
        If an argument is not a number of its kind or is out of its range.

    Examples
    --------
    >>> run = retrain(ema=0.0, floor=0.01, epochs=1)
    >>> len(run.rul_weights), min(run.rul_weights) >= 0.01
    (42, True)
    """
    ema = check_real("ema", ema, nonnegative=True)
    if ema >= 1:
        raise ValueError(f"ema must be below 1, got {ema}")
    floor = check_real("floor", floor, nonnegative=True)
    if floor >= 0.5:
        raise ValueError(f"floor must be below 1/2 (two tasks), got {floor}")
    epochs = check_int("epochs", epochs, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    prepared = _fleet(seed)
    model = models.DualTaskModel(**SMALL_MODEL, seed=seed).double()
    balancer = GabaBalancer.from_model(model, ema=ema or None, floor=floor)
    weights: list[tuple[float, ...]] = []
    training.train_balanced(model, prepared.train, balancer, epochs=epochs, lr=_LR,
                            batch_size=_BATCH_SIZE, seed=seed, progress=False,
                            after_step=lambda _step, result: weights.append(result.weights))
    metrics = training.evaluate(model, prepared.test)
    at_floor = [min(w) <= floor * (1 + 1e-9) for w in weights]
    return RetrainRun(
        ema=ema, floor=floor, epochs=epochs, seed=seed,
        rul_weights=tuple(float(w[0]) for w in weights),
        floor_share=float(np.mean(at_floor)) if at_floor else math.nan,
        test_rmse=float(metrics["rmse"]), test_accuracy=float(metrics["accuracy"]),
        recall=tuple(float(r) for r in metrics["per_class_recall"]),
    )


def _label(value: float) -> str:
    return "0 (none)" if value == 0 else f"{value:g}"


def retrain_explorer(*, seed: int = 0,
                     compare_with: Sequence[float] = (0.9, 1e-4)) -> Any:
    """The EMA, the floor and the epochs as menus, a *Train* button, the run drawn and read.

    Each click retrains (a second or two per epoch) and draws the RUL weight at every step
    next to the run with ``compare_with`` (the package's defaults), the floor as a dotted
    line, with :meth:`RetrainRun.readout` of both runs. Runs already made are kept.

    Parameters
    ----------
    seed : int
        As in :func:`retrain`.
    compare_with : (float, float)
        The EMA and floor of the reference run.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook (it is the value of the cell).

    Raises
    ------
    TypeError, ValueError
        If ``seed`` or ``compare_with`` is not as :func:`retrain` accepts.
    """
    import ipywidgets as w  # optional dependency (the "widgets" extra)
    import matplotlib.pyplot as plt

    seed = check_int("seed", seed, minimum=0)
    if isinstance(compare_with, str) or not isinstance(compare_with, Sequence) \
            or len(compare_with) != 2:
        raise TypeError("compare_with must be a pair (ema, floor)")
    ref_ema = check_real("compare_with[0]", compare_with[0], nonnegative=True)
    ref_floor = check_real("compare_with[1]", compare_with[1], nonnegative=True)
    if ref_ema >= 1 or ref_floor >= 0.5:
        raise ValueError("compare_with: ema must be below 1 and floor below 1/2")
    runs: dict[tuple[float, float, int], RetrainRun] = {}

    def run(ema: float, floor: float, epochs: int) -> RetrainRun:
        key = (ema, floor, epochs)
        if key not in runs:
            runs[key] = retrain(ema, floor, epochs=epochs, seed=seed)
        return runs[key]

    ema = w.Dropdown(options=[(_label(v), v) for v in EMA_CHOICES], value=0.0,
                     description="EMA β")
    floor = w.Dropdown(options=[(f"{v:g}", v) for v in FLOOR_CHOICES], value=0.05,
                       description="floor λ_min")
    epochs = w.Dropdown(options=list(EPOCH_CHOICES), value=2, description="epochs")
    button = w.Button(description="Train", button_style="primary")
    readout = w.Output()
    figure = w.Output()

    def train(_: Any = None) -> None:
        button.disabled = True
        readout.clear_output()
        figure.clear_output()
        with readout:
            print("training ...")
        try:
            chosen = run(ema.value, floor.value, epochs.value)
            reference = run(ref_ema, ref_floor, epochs.value)
        except Exception as error:  # shown where the reader looks, not in a log
            readout.clear_output()
            with readout:
                print(f"{type(error).__name__}: {error}")
            return
        finally:
            button.disabled = False
        readout.clear_output()
        with readout:
            print("chosen\n" + chosen.readout())
            print("\ndefaults\n" + reference.readout())
        with figure:
            traces = {f"β = {chosen.ema:g}, λ_min = {chosen.floor:g}": chosen.rul_weights,
                      f"β = {reference.ema:g}, λ_min = {reference.floor:g} (defaults)":
                          reference.rul_weights}
            plot_weight_trace(traces, floor=chosen.floor)
            plt.show()

    button.on_click(train)
    controls = w.HBox([ema, floor, epochs, button],
                      layout=w.Layout(flex_flow="row wrap", grid_gap="0.5em 1.5em"))
    return w.VBox([controls, readout, figure])
