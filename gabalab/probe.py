"""The linear probe: how much health information the frozen shared features carry.

:func:`extract_features` computes the shared feature vector of every window with the trunk
frozen; :func:`fit_softmax_probe` fits a multinomial logistic regression on them (full-batch
L-BFGS, deterministic); :func:`probe_report` scores it on the test windows next to the chance
rates and the model's own health head. :func:`probe_outcome` reads the FD001 training run
and the probe on its shared features (their JSON results, section 12.4) into a
:class:`ProbeOutcome`; :func:`trained_probes` reads the same probe on the trained runs'
selected models, per method over its seeds, into a :class:`TrainedProbes`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import (
    as_array,
    as_list,
    check_int,
    check_labels,
    check_real,
    with_context,
)
from gabalab.constants import HEALTH_CLASSES, N_HEALTH_CLASSES
from gabalab.ledger import distance_verdict
from gabalab.scoped import training_mode
from gabalab.training import classification_report, evaluate

__all__ = ["extract_features", "SoftmaxProbe", "fit_softmax_probe", "probe_report",
           "ProbeOutcome", "probe_outcome", "TrainedProbes", "trained_probes"]


@torch.no_grad()
def extract_features(
    model: nn.Module, dataset: Dataset[Any], *, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Shared feature vectors (``model.features``, evaluation mode) and health labels.

    Returns
    -------
    features : numpy.ndarray
        ``(n, feature_dim)`` float64.
    labels : numpy.ndarray
        ``(n,)`` int64.

    Raises
    ------
    TypeError
        If ``model`` is not a module with a ``features`` method or ``dataset`` is not a
        Dataset (or its windows do not fit the model: the model's message, after
        ``dataset:``).
    ValueError
        If ``batch_size`` < 1, ``dataset`` is empty, its windows do not fit the model, or
        they hold NaN or inf (the features would too).
    """
    return _extract(model, dataset, batch_size, "dataset")


@torch.no_grad()
def _extract(
    model: nn.Module, dataset: Dataset[Any], batch_size: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`extract_features`, its messages naming the dataset ``name``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"{name} must be a torch Dataset, got {type(dataset).__name__}")
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} is empty: there are no features to extract")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    features = getattr(model, "features", None)
    if not callable(features):
        raise TypeError(f"model must have a features(x) method returning the shared features, "
                        f"got {type(model).__name__}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    feats, labels = [], []
    with training_mode(model, False):
        for i, (x, _, y_health) in enumerate(loader):
            if isinstance(x, torch.Tensor) and not bool(torch.isfinite(x).all()):
                raise ValueError(f"{name} holds NaN or inf in the windows of batch {i} "
                                 f"(batch_size {batch_size})")
            try:
                feats.append(features(x).numpy())
            except (TypeError, ValueError) as err:  # the model's own input checks
                raise with_context(err, f"{name}: ") from None
            labels.append(y_health.numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(labels).astype(np.int64)


@dataclass(frozen=True)
class SoftmaxProbe:
    """Multinomial logistic regression on standardised features.

    Attributes
    ----------
    mean, scale : numpy.ndarray
        Feature standardisation fitted on the training features (scale 1 for constant ones).
    weight : numpy.ndarray
        ``(n_features, n_classes)``.
    bias : numpy.ndarray
        ``(n_classes,)``.
    n_iter : int
        L-BFGS function evaluations used.
    train_loss : float
        Final regularised training loss.
    """

    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    n_iter: int
    train_loss: float

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Class scores of ``features`` of shape ``(n, n_features)``."""
        x = as_array("features", features, ndim=2)
        if x.shape[1] != self.mean.size:
            raise ValueError(f"features must have {self.mean.size} columns, got shape {x.shape}")
        z = (x - self.mean) / self.scale
        return z @ self.weight + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Most likely class of each row."""
        return self.logits(features).argmax(axis=1)


def fit_softmax_probe(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int = N_HEALTH_CLASSES,
    l2: float = 1e-4,
    max_iter: int = 500,
) -> SoftmaxProbe:
    """Fit a multinomial logistic regression with full-batch L-BFGS (float64).

    The features are standardised with the training mean and standard deviation; the loss is
    the mean cross-entropy plus ``l2 * ||W||^2`` (bias not penalised), which keeps the problem
    strictly convex even when the classes are separable.  The weights start at zero and every
    step uses the whole training set, so the fit involves no randomness and needs no seed.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, n_features)`` training features.
    labels : numpy.ndarray
        ``(n,)`` integer labels in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    l2 : float
        Ridge penalty on the weights, >= 0.
    max_iter : int
        L-BFGS iteration limit.

    Returns
    -------
    SoftmaxProbe

    Raises
    ------
    TypeError
        If ``features`` is not numeric or ``labels`` are not integers.
    ValueError
        If shapes disagree, labels are out of range, or values are not finite.

    Examples
    --------
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> fit_softmax_probe(x, y, n_classes=2).predict(x).tolist()
    [0, 0, 1, 1]
    """
    x = as_array("features", features, ndim=2)
    n_classes = check_int("n_classes", n_classes, minimum=2)
    y = check_labels("labels", labels, n_classes)
    if x.shape[0] != y.size or y.size == 0 or x.shape[1] == 0:
        raise ValueError(f"features must be (n, d) with n = len(labels) > 0 and d > 0, got "
                         f"{x.shape} for {y.size} labels")
    l2 = check_real("l2", l2, nonnegative=True)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = torch.as_tensor((x - mean) / scale)
    target = torch.as_tensor(y)
    weight = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9,
        tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, target) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        final = float(F.cross_entropy(z @ weight + bias, target) + l2 * (weight**2).sum())
    n_iter = int(optimizer.state[optimizer._params[0]].get("func_evals", 0))
    return SoftmaxProbe(mean, scale, weight.detach().numpy().copy(),
                        bias.detach().numpy().copy(), n_iter, final)


def probe_report(
    model: nn.Module,
    train: Dataset[Any],
    test: Dataset[Any],
    *,
    n_classes: int = N_HEALTH_CLASSES,
    l2: float = 1e-4,
) -> dict[str, Any]:
    """Linear probe on the frozen shared features, with chance rates and the health head.

    Steps: compute the shared features of every training and test window with the trunk
    frozen (``torch.no_grad``, evaluation mode; no parameter changes); fit
    :func:`fit_softmax_probe` on the training-window features; score the test windows.
    Chance rates on the test set: always predicting the training majority class, and uniform
    guessing ``1 / n_classes``.

    Returns
    -------
    dict
        ``probe_test`` and ``probe_train`` classification reports, ``health_head_test``,
        ``majority_class``, ``majority_chance_test``, ``uniform_chance``, fit details.

    Raises
    ------
    TypeError, ValueError
        As :func:`extract_features` (for ``train`` and ``test``) and
        :func:`fit_softmax_probe`, naming the argument.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    l2 = check_real("l2", l2, nonnegative=True)
    train_x, train_y = _extract(model, train, 512, "train")
    test_x, test_y = _extract(model, test, 512, "test")
    probe = fit_softmax_probe(train_x, train_y, n_classes=n_classes, l2=l2)
    majority = int(np.bincount(train_y, minlength=n_classes).argmax())
    head = evaluate(model, test)
    return {
        "probe_test": classification_report(probe.predict(test_x), test_y, n_classes),
        "probe_train": classification_report(probe.predict(train_x), train_y, n_classes),
        "health_head_test": {k: head[k] for k in ("accuracy", "per_class_recall", "support",
                                                  "confusion")},
        "majority_class": majority,
        "majority_chance_test": float(np.mean(test_y == majority)),
        "uniform_chance": 1.0 / n_classes,
        "feature_dim": int(train_x.shape[1]),
        "n_train_windows": int(train_y.size),
        "n_test_windows": int(test_y.size),
        "fit": {
            "method": "multinomial logistic regression, standardised features, full-batch "
                      "L-BFGS (strong Wolfe), zero init, float64",
            "l2": l2,
            "function_evaluations": probe.n_iter,
            "final_train_loss": probe.train_loss,
        },
    }


def _at(name: str, record: Any, *keys: str | int) -> Any:
    """``record[keys[0]][keys[1]]...``, with an error that names the argument and the path."""
    value = record
    where = name
    for key in keys:
        if isinstance(key, int):
            if not isinstance(value, list) or not 0 <= key < len(value):
                raise ValueError(f"{where} must be a list with an entry {key}")
        elif not isinstance(value, dict):
            raise TypeError(f"{where} must be a dict (the JSON result), got "
                            f"{type(value).__name__}")
        elif key not in value:
            raise ValueError(f"{where} lacks {key!r}: pass the experiment's JSON result")
        value = value[key]
        where = f"{where}[{key!r}]"
    return value


def _path(name: str, *keys: str | int) -> str:
    return name + "".join(f"[{key!r}]" for key in keys)


def _fraction(name: str, record: Any, *keys: str | int) -> float:
    value = check_real(_path(name, *keys), _at(name, record, *keys))
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{_path(name, *keys)} must be a fraction in [0, 1], got {value}")
    return value


def _list_of(name: str, record: Any, length: int | None, *keys: str | int) -> list[Any]:
    value = _at(name, record, *keys)
    if not isinstance(value, list) or not value or length not in (None, len(value)):
        size = "non-empty" if length is None else f"{length}-entry"
        raise ValueError(f"{_path(name, *keys)} must be a {size} list")
    return value


@dataclass(frozen=True)
class ProbeOutcome:
    r"""The linear probe on the real model's shared features, against chance and its head.

    Built by :func:`probe_outcome` from the JSON results of
    ``gabalab.experiments.training_sweep`` (the model trained on the summed loss, scored
    after every epoch) and ``gabalab.experiments.linear_probe`` (the probe on that model).

    Parameters
    ----------
    subset : str
        The data the runs used, e.g. ``"FD001 (files)"``.
    classes : tuple of str
        Health class names, in label order.
    support : tuple of int
        Test windows per class.
    n_train : int
        Training windows the probe was fitted on.
    probe_acc, probe_train_acc : float
        The probe's accuracy on the test windows and on its own training windows.
    head_acc : float
        Test accuracy of the model's own health head.
    majority_acc : float
        Test accuracy of always answering ``majority_class`` (the training majority).
    majority_class : str
        The most frequent class among the training windows.
    uniform_acc : float
        Accuracy of a uniform guess, ``1 / len(classes)``.
    probe_recall, head_recall : tuple of float
        Test recall per class, of the probe and of the head.
    epochs : tuple of int
        The epochs after which the training run scored the test set (0: before training).
    ratios : tuple of float or None
        Median ratio of the loud to the quiet task's gradient norm on the trunk at each of
        ``epochs`` (``None`` where it was not measured).
    rmse, head_accs : tuple of float
        Test RMSE and health-head accuracy after each of ``epochs``.

    Examples
    --------
    >>> outcome = probe_outcome(*_example_results())
    >>> round(outcome.standard_error, 3), round(outcome.margin, 2)
    (0.04, 7.5)
    >>> outcome.verdict()
    'contradicted'
    """

    subset: str
    classes: tuple[str, ...]
    support: tuple[int, ...]
    n_train: int
    probe_acc: float
    probe_train_acc: float
    head_acc: float
    majority_acc: float
    majority_class: str
    uniform_acc: float
    probe_recall: tuple[float, ...]
    head_recall: tuple[float, ...]
    epochs: tuple[int, ...]
    ratios: tuple[float | None, ...]
    rmse: tuple[float, ...]
    head_accs: tuple[float, ...]

    @property
    def n_test(self) -> int:
        """Number of test windows."""
        return sum(self.support)

    @property
    def standard_error(self) -> float:
        """One binomial standard error of an accuracy equal to the probe's, on ``n_test``."""
        return math.sqrt(self.probe_acc * (1.0 - self.probe_acc) / self.n_test)

    @property
    def margin(self) -> float:
        """How far the probe is above majority chance, in standard errors.

        With a standard error of 0 (an accuracy of 0 or 1) any gap is infinitely many
        standard errors: ``inf`` or ``-inf``, and 0 for no gap.
        """
        gap = self.probe_acc - self.majority_acc
        if self.standard_error == 0.0:
            return 0.0 if gap == 0 else math.copysign(math.inf, gap)
        return gap / self.standard_error

    @property
    def measured_ratios(self) -> tuple[float, ...]:
        """The median gradient ratios at the epochs where they were measured, in order."""
        return tuple(r for r in self.ratios if r is not None)

    def verdict(self) -> str:
        """The verdict on "the probe falls to chance": contradicted 3 standard errors above.

        Returns
        -------
        str
            ``distance_verdict(margin, holds_below=1, contradicted_above=3)``.
        """
        margin = self.margin
        if math.isinf(margin):
            return "contradicted" if margin > 0 else "holds"
        return distance_verdict(margin, holds_below=1.0, contradicted_above=3.0)

    def accuracy_table(self) -> str:
        """The test accuracies and the recall per class, as printed lines (<= 76 columns)."""
        rows = [
            ("linear probe on the frozen shared features", self.probe_acc),
            ("health head of the same model", self.head_acc),
            (f"chance: always '{self.majority_class}' (training majority)",
             self.majority_acc),
            (f"chance: uniform guess, 1/{len(self.classes)}", self.uniform_acc),
            (f"probe on its own {self.n_train} training windows", self.probe_train_acc),
        ]
        lines = [f"{self.subset}, test windows per class: "
                 + ", ".join(f"{c} {n}" for c, n in zip(self.classes, self.support))]
        lines += [f"  {label:<52} {acc:.3f}" for label, acc in rows]
        lines.append("recall per class:")
        lines += [f"  {c:<10} probe {p:.3f}   head {h:.3f}"
                  for c, p, h in zip(self.classes, self.probe_recall, self.head_recall)]
        return "\n".join(lines)

    def epoch_table(self) -> str:
        """Median gradient ratio, test RMSE and head accuracy after each epoch, as lines."""
        lines = [f"{'epoch':>5} {'median ratio':>13} {'test RMSE':>10} {'head accuracy':>14}"]
        for epoch, ratio, rmse, acc in zip(self.epochs, self.ratios, self.rmse,
                                           self.head_accs):
            shown = "-" if ratio is None else f"{ratio:.0f}"
            lines.append(f"{epoch:>5} {shown:>13} {rmse:>10.2f} {acc:>14.2f}")
        return "\n".join(lines)

    def quotes(self) -> dict[str, str | int]:
        """The numbers the prose quotes, formatted, keyed by name.

        Returns
        -------
        dict
            ``probe_acc``, ``head_acc``, ``major_acc`` (2 decimals), ``probe_se``
            (2 decimals), ``ratio_first``, ``ratio_min``, ``ratio_last`` (the measured
            median ratios, rounded), ``head_max`` and ``head_max_epoch`` (the head's best
            test accuracy over the epochs and the epoch it came after).
        """
        ratios = self.measured_ratios
        best = max(range(len(self.epochs)), key=lambda i: self.head_accs[i])
        return {
            "probe_acc": f"{self.probe_acc:.2f}",
            "head_acc": f"{self.head_acc:.2f}",
            "major_acc": f"{self.majority_acc:.2f}",
            "probe_se": f"{self.standard_error:.2f}",
            "ratio_first": f"{ratios[0]:.0f}",
            "ratio_min": f"{min(ratios):.0f}",
            "ratio_last": f"{ratios[-1]:.0f}",
            "head_max": f"{self.head_accs[best]:.2f}",
            "head_max_epoch": self.epochs[best],
        }


def probe_outcome(sweep: dict[str, Any], probe: dict[str, Any]) -> ProbeOutcome:
    """Read the training run's and the probe's JSON results into one :class:`ProbeOutcome`.

    Parameters
    ----------
    sweep : dict
        The result of ``gabalab.experiments.training_sweep`` (``json.load`` of its file):
        ``epochs`` (each with ``epoch``, ``test`` and, where measured, ``ratio_summary``)
        and ``model_file``.
    probe : dict
        The result of ``gabalab.experiments.linear_probe`` run on that model:
        ``probe``, ``data`` and ``model_source``.

    Returns
    -------
    ProbeOutcome

    Raises
    ------
    TypeError
        If ``sweep`` or ``probe`` (or a part of either) has the wrong type.
    ValueError
        If a needed entry is missing or out of range, no epoch measured the ratio, or the
        probe was not run on the model that ``sweep`` saved (their SHA-256 differ).

    Examples
    --------
    >>> sweep, probe = _example_results()
    >>> outcome = probe_outcome(sweep, probe)
    >>> outcome.probe_acc, outcome.majority_acc, outcome.measured_ratios
    (0.8, 0.5, (400.0, 900.0))
    """
    if _at("probe", probe, "model_source", "checkpoint_sha256") != _at(
            "sweep", sweep, "model_file", "sha256"):
        raise ValueError("probe: it was run on another model than the one sweep saved "
                         "(their SHA-256 differ)")
    names = tuple(HEALTH_CLASSES)
    k = len(names)

    def fraction(*keys: str | int) -> float:
        return _fraction("probe", probe, "probe", *keys)

    def recall(part: str) -> tuple[float, ...]:
        _list_of("probe", probe, k, "probe", part, "per_class_recall")
        return tuple(fraction(part, "per_class_recall", i) for i in range(k))

    where: tuple[str, ...] = ("probe", "probe_test", "support")
    support = tuple(check_int(_path("probe", *where, i), n, minimum=0)
                    for i, n in enumerate(_list_of("probe", probe, k, *where)))
    if sum(support) < 1:
        raise ValueError(f"{_path('probe', *where)} counts no test window")
    where = ("probe", "majority_class")
    majority = check_int(_path("probe", *where), _at("probe", probe, *where), minimum=0)
    if majority >= k:
        raise ValueError(f"{_path('probe', *where)} must be < {k}, got {majority}")
    where = ("probe", "n_train_windows")
    n_train = check_int(_path("probe", *where), _at("probe", probe, *where), minimum=1)

    epochs, ratios, rmse, head_accs = [], [], [], []
    for i in range(len(_list_of("sweep", sweep, None, "epochs"))):
        row = ("epochs", i)
        epochs.append(check_int(_path("sweep", *row, "epoch"),
                                _at("sweep", sweep, *row, "epoch"), minimum=0))
        measured = _at("sweep", sweep, *row).get("ratio_summary") is not None
        ratios.append(check_real(_path("sweep", *row, "ratio_summary", "median"),
                                 _at("sweep", sweep, *row, "ratio_summary", "median"),
                                 positive=True) if measured else None)
        rmse.append(check_real(_path("sweep", *row, "test", "rmse"),
                               _at("sweep", sweep, *row, "test", "rmse"), nonnegative=True))
        head_accs.append(_fraction("sweep", sweep, *row, "test", "accuracy"))
    if all(r is None for r in ratios):
        raise ValueError("sweep['epochs']: no epoch measured the gradient ratio")
    return ProbeOutcome(
        subset=f"{_at('probe', probe, 'data', 'subset')} "
               f"({_at('probe', probe, 'data', 'source')})",
        classes=names,
        support=support,
        n_train=n_train,
        probe_acc=fraction("probe_test", "accuracy"),
        probe_train_acc=fraction("probe_train", "accuracy"),
        head_acc=fraction("health_head_test", "accuracy"),
        majority_acc=fraction("majority_chance_test"),
        majority_class=names[majority],
        uniform_acc=fraction("uniform_chance"),
        probe_recall=recall("probe_test"),
        head_recall=recall("health_head_test"),
        epochs=tuple(epochs),
        ratios=tuple(ratios),
        rmse=tuple(rmse),
        head_accs=tuple(head_accs),
    )


def _in_standard_errors(gap: float, se: float) -> float:
    """``gap / se``; with ``se == 0``, an infinity of the gap's sign (0 for no gap)."""
    if se == 0.0:
        return 0.0 if gap == 0 else math.copysign(math.inf, gap)
    return gap / se


def _join(words: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``; ``"none"`` for no word."""
    if not words:
        return "none"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _range(values: Sequence[float]) -> str:
    """``"lo–hi"`` to 2 decimals, or one value where both agree."""
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}–{high}"


def _mean_sd(values: Sequence[float]) -> str:
    """The mean to 3 decimals, with ``± sd`` (sample) when there are several values."""
    mean = float(np.mean(values))
    text = f"{mean:.3f}".replace("-", "−")
    if len(values) > 1:
        text += f" ± {float(np.std(values, ddof=1)):.3f}"
    return text


@dataclass(frozen=True)
class TrainedProbes:
    """The linear probe on trained models, per method over its seeds, beside its head.

    Built by :func:`trained_probes`. Every accuracy is measured on the same ``n_test`` test
    windows; one binomial standard error of an accuracy equal to ``reference`` on them is
    the yardstick of every comparison (:attr:`standard_error`).

    Attributes
    ----------
    methods : tuple of str
        In the order given.
    probe, head, majority : tuple of tuple of float
        Per method (``methods`` order), one test accuracy per seed: the probe on the
        selected model's frozen shared features, the model's own health head, and always
        answering the training majority class.
    n_test : int
        Test windows behind each accuracy.
    reference : float
        An accuracy to set the probes against, the yardstick of :attr:`standard_error`
        (section 12.4 uses the mean probe accuracy on the summed loss).
    """

    methods: tuple[str, ...]
    probe: tuple[tuple[float, ...], ...]
    head: tuple[tuple[float, ...], ...]
    majority: tuple[tuple[float, ...], ...]
    n_test: int
    reference: float

    @property
    def standard_error(self) -> float:
        """One binomial standard error of an accuracy equal to :attr:`reference`."""
        return math.sqrt(self.reference * (1.0 - self.reference) / self.n_test)

    @property
    def n_runs(self) -> int:
        """The number of runs over every method."""
        return sum(len(p) for p in self.probe)

    @property
    def head_gaps(self) -> dict[str, float]:
        """Per method, the mean over its seeds of the probe's accuracy minus the head's."""
        return {m: float(np.mean(np.subtract(p, h)))
                for m, p, h in zip(self.methods, self.probe, self.head)}

    @property
    def chance_margin(self) -> float:
        """The smallest gap of any run's probe above its majority chance, in standard errors."""
        gap = min(a - c for p, c_ in zip(self.probe, self.majority) for a, c in zip(p, c_))
        return _in_standard_errors(gap, self.standard_error)

    @property
    def reference_distance(self) -> float:
        """The largest distance of any run's probe from :attr:`reference`, in standard
        errors."""
        gap = max(abs(a - self.reference) for p in self.probe for a in p)
        return _in_standard_errors(gap, self.standard_error)

    def standing(self) -> dict[str, str]:
        """Per method, where its probe stands against its head, on the mean over the seeds.

        Returns
        -------
        dict of str to str
            ``"ahead"`` where the probe leads by more than one standard error,
            ``"behind"`` where it trails by more, ``"level"`` otherwise.
        """
        se = self.standard_error
        return {m: "ahead" if g > se else "behind" if g < -se else "level"
                for m, g in self.head_gaps.items()}

    def table(self) -> str:
        """A Markdown table: per method, the accuracies as mean ± sd over its seeds.

        Examples
        --------
        >>> acc = {"probe": (0.9, 0.88), "head": (0.8, 0.84),
        ...        "majority": (0.57, 0.57)}
        >>> t = trained_probes({"sum": acc}, n_test=100, reference=0.91)
        >>> row = t.table().splitlines()[2].split(" | ")
        >>> row[:4]
        ['| sum', '2', '0.890 ± 0.014', '0.820 ± 0.028']
        """
        head = ["method", "seeds", "linear probe", "health head", "probe − head",
                "majority chance"]
        lines = ["| " + " | ".join(head) + " |", "|:--|" + "--:|" * (len(head) - 1)]
        for m, p, h, c in zip(self.methods, self.probe, self.head, self.majority):
            cells = [m, str(len(p)), _mean_sd(p), _mean_sd(h),
                     _mean_sd(np.subtract(p, h).tolist()), _mean_sd(c)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def quotes(self) -> dict[str, str | int]:
        """The numbers and words the prose quotes, formatted.

        Returns
        -------
        dict
            ``n_runs``, ``n_test``; ``se`` (2 decimals); ``probe_range`` and
            ``majority_range`` (``"lo–hi"`` over the runs, 2 decimals);
            ``chance_margin`` (whole standard errors, rounded down) and
            ``reference_distance`` (1 decimal); ``ahead``, ``level``, ``behind`` (the
            methods in each :meth:`standing`, joined with "and", or "none");
            ``widest_method`` and ``widest_gap`` (3 decimals), the method whose head trails
            its probe furthest.

        Examples
        --------
        >>> t = trained_probes({"sum": {"probe": (0.9,), "head": (0.8,),
        ...                             "majority": (0.57,)},
        ...                     "gaba": {"probe": (0.9,), "head": (0.9,),
        ...                              "majority": (0.57,)}},
        ...                    n_test=100, reference=0.9)
        >>> q = t.quotes()
        >>> q["ahead"], q["level"], q["widest_method"], q["chance_margin"]
        ('sum', 'gaba', 'sum', '11')
        """
        everything = [a for p in self.probe for a in p]
        majority = [c for c_ in self.majority for c in c_]
        standing = self.standing()
        gaps = self.head_gaps
        widest = max(gaps, key=lambda m: gaps[m])
        return {
            "n_runs": self.n_runs,
            "n_test": self.n_test,
            "se": f"{self.standard_error:.2f}",
            "probe_range": _range(everything),
            "majority_range": _range(majority),
            "chance_margin": f"{math.floor(self.chance_margin):d}"
            if math.isfinite(self.chance_margin) else "infinitely many",
            "reference_distance": f"{self.reference_distance:.1f}",
            **{word: _join([m for m in self.methods if standing[m] == word])
               for word in ("ahead", "level", "behind")},
            "widest_method": widest,
            "widest_gap": f"{gaps[widest]:.3f}",
        }


def _accuracies(name: str, value: Any) -> tuple[float, ...]:
    items = as_list(name, value)
    if not items:
        raise ValueError(f"{name} must hold one accuracy per seed, at least one")
    out = tuple(check_real(f"{name}[{i}]", v) for i, v in enumerate(items))
    bad = [v for v in out if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"{name} must hold fractions in [0, 1], got {bad[0]}")
    return out


def trained_probes(accuracies: Mapping[str, Mapping[str, Sequence[float]]], *, n_test: int,
                   reference: float) -> TrainedProbes:
    """The probe on the trained models, per method over its seeds, checked.

    Parameters
    ----------
    accuracies : mapping of str to mapping
        Per method, ``{"probe": (...), "head": (...), "majority": (...)}`` with one test
        accuracy per seed, in the same seed order in all three: what
        :func:`gabalab.experiments.verdicts.probe_accuracies` returns.
    n_test : int
        The number of test windows behind each accuracy (>= 1).
    reference : float
        An accuracy in [0, 1] to set the probes against.

    Returns
    -------
    TrainedProbes

    Raises
    ------
    TypeError
        If ``accuracies`` or an entry is not a mapping, a method not a string, an accuracy
        not a number, ``n_test`` not an integer or ``reference`` not a number.
    ValueError
        If ``accuracies`` is empty, a method name is empty, an entry lacks one of the three
        or they hold different numbers of seeds, an accuracy or ``reference`` is not in
        [0, 1], or ``n_test`` < 1.

    Examples
    --------
    >>> t = trained_probes({"sum": {"probe": (0.91,), "head": (0.79,),
    ...                             "majority": (0.57,)}},
    ...                    n_test=100, reference=0.91)
    >>> round(t.standard_error, 4), t.standing()
    (0.0286, {'sum': 'ahead'})
    """
    if not isinstance(accuracies, Mapping):
        raise TypeError(f"accuracies must be a mapping from method to accuracies, got "
                        f"{type(accuracies).__name__}")
    if not accuracies:
        raise ValueError("accuracies must hold at least one method")
    n_test = check_int("n_test", n_test, minimum=1)
    reference = check_real("reference", reference)
    if not 0.0 <= reference <= 1.0:
        raise ValueError(f"reference must be an accuracy in [0, 1], got {reference}")
    methods: list[str] = []
    columns: dict[str, list[tuple[float, ...]]] = {"probe": [], "head": [], "majority": []}
    for method, entry in accuracies.items():
        if not isinstance(method, str) or not method:
            raise TypeError(f"accuracies: methods must be non-empty strings, got {method!r}")
        where = f"accuracies[{method!r}]"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{where} must be a mapping of probe, head and majority, got "
                            f"{type(entry).__name__}")
        missing = [k for k in columns if k not in entry]
        if missing:
            raise ValueError(f"{where} lacks {missing}")
        values = {k: _accuracies(f"{where}[{k!r}]", entry[k]) for k in columns}
        if len({len(v) for v in values.values()}) != 1:
            raise ValueError(f"{where}: probe, head and majority must hold one accuracy per "
                             f"seed each, got {[len(v) for v in values.values()]}")
        methods.append(method)
        for k, v in values.items():
            columns[k].append(v)
    return TrainedProbes(tuple(methods), tuple(columns["probe"]), tuple(columns["head"]),
                         tuple(columns["majority"]), n_test, reference)


def _example_results() -> tuple[dict[str, Any], dict[str, Any]]:
    """A small training run and probe in the JSON layout of the two experiments."""
    def scores(rmse: float, acc: float) -> dict[str, Any]:
        return {"rmse": rmse, "accuracy": acc}

    sweep = {
        "model_file": {"sha256": "ab12"},
        "epochs": [
            {"epoch": 0, "ratio_summary": {"median": 400.0}, "test": scores(80.0, 0.5)},
            {"epoch": 1, "test": scores(20.0, 0.7)},
            {"epoch": 2, "ratio_summary": {"median": 900.0}, "test": scores(18.0, 0.6)},
        ],
    }
    probe = {
        "model_source": {"checkpoint_sha256": "ab12"},
        "data": {"subset": "FD001", "source": "files"},
        "probe": {
            "probe_test": {"accuracy": 0.8, "support": [50, 30, 20],
                           "per_class_recall": [0.9, 0.6, 0.8]},
            "probe_train": {"accuracy": 0.85},
            "health_head_test": {"accuracy": 0.6, "per_class_recall": [0.7, 0.4, 0.6]},
            "majority_class": 0,
            "majority_chance_test": 0.5,
            "uniform_chance": 1 / 3,
            "n_train_windows": 400,
        },
    }
    return sweep, probe
