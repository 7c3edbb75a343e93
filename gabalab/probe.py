"""The linear probe: how much health information the frozen shared features carry.

:func:`extract_features` computes the shared feature vector of every window with the trunk
frozen; :func:`fit_softmax_probe` fits a multinomial logistic regression on them (full-batch
L-BFGS, deterministic); :func:`probe_report` scores it on the test windows next to the chance
rates and the model's own health head. :func:`probe_outcome` reads the FD001 training run
and the probe on its shared features (their JSON results, section 12.4) into a
:class:`ProbeOutcome`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gabalab._checks import as_array, check_int, check_labels, check_real, with_context
from gabalab.constants import HEALTH_CLASSES, N_HEALTH_CLASSES
from gabalab.ledger import distance_verdict
from gabalab.scoped import training_mode
from gabalab.training import classification_report, evaluate

__all__ = ["extract_features", "SoftmaxProbe", "fit_softmax_probe", "probe_report",
           "ProbeOutcome", "probe_outcome"]


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
