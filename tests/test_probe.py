"""The linear probe's fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gabalab import probe as probe_module
from gabalab.probe import fit_softmax_probe


def test_softmax_probe_learns_separable_classes() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    labels = rng.integers(0, 3, 300)
    features = centres[labels] + rng.normal(0, 0.5, (300, 2))
    probe = fit_softmax_probe(features, labels)
    assert np.mean(probe.predict(features) == labels) > 0.97


def test_probe_outcome_reads_both_results() -> None:
    outcome = probe_module.probe_outcome(*probe_module._example_results())
    assert outcome.n_test == 100 and outcome.n_train == 400
    assert outcome.subset == "FD001 (files)" and outcome.majority_class == "healthy"
    assert outcome.probe_recall == (0.9, 0.6, 0.8) and outcome.head_recall == (0.7, 0.4, 0.6)
    assert outcome.epochs == (0, 1, 2) and outcome.ratios == (400.0, None, 900.0)
    assert outcome.standard_error == pytest.approx(0.04)
    assert outcome.margin == pytest.approx(7.5)
    assert outcome.verdict() == "contradicted"
    assert outcome.quotes() == {
        "probe_acc": "0.80", "head_acc": "0.60", "major_acc": "0.50", "probe_se": "0.04",
        "ratio_first": "400", "ratio_min": "400", "ratio_last": "900", "head_max": "0.70",
        "head_max_epoch": 1,
    }


def test_probe_outcome_verdict_follows_the_margin() -> None:
    sweep, probe = probe_module._example_results()
    probe["probe"]["probe_test"]["accuracy"] = 0.52  # 0.4 standard errors above chance
    assert probe_module.probe_outcome(sweep, probe).verdict() == "holds"
    probe["probe"]["probe_test"]["accuracy"] = 0.6  # 2 standard errors above chance
    assert probe_module.probe_outcome(sweep, probe).verdict() == "holds in part"


def test_probe_outcome_with_a_perfect_probe_has_an_infinite_margin() -> None:
    sweep, probe = probe_module._example_results()
    probe["probe"]["probe_test"]["accuracy"] = 1.0
    outcome = probe_module.probe_outcome(sweep, probe)
    assert outcome.standard_error == 0.0 and outcome.margin == math.inf
    assert outcome.verdict() == "contradicted"


def test_probe_outcome_tables_fit_the_page() -> None:
    outcome = probe_module.probe_outcome(*probe_module._example_results())
    accuracy, epochs = outcome.accuracy_table(), outcome.epoch_table()
    assert "0.800" in accuracy and "always 'healthy'" in accuracy
    assert epochs.splitlines()[2].split() == ["1", "-", "20.00", "0.70"]
    assert max(len(line) for line in (accuracy + "\n" + epochs).splitlines()) <= 76


def test_probe_outcome_refuses_a_probe_of_another_model() -> None:
    sweep, probe = probe_module._example_results()
    sweep["model_file"]["sha256"] = "cd34"
    with pytest.raises(ValueError, match="another model"):
        probe_module.probe_outcome(sweep, probe)


def test_probe_outcome_needs_a_measured_ratio_and_names_missing_entries() -> None:
    sweep, probe = probe_module._example_results()
    for row in sweep["epochs"]:
        row.pop("ratio_summary", None)
    with pytest.raises(ValueError, match="no epoch measured"):
        probe_module.probe_outcome(sweep, probe)
    sweep, probe = probe_module._example_results()
    del probe["probe"]["uniform_chance"]
    with pytest.raises(ValueError, match=r"probe\['probe'\] lacks 'uniform_chance'"):
        probe_module.probe_outcome(sweep, probe)
    sweep, probe = probe_module._example_results()
    probe["probe"]["probe_test"]["accuracy"] = 91.0  # a percentage, not a fraction
    with pytest.raises(ValueError, match=r"\['accuracy'\] must be a fraction"):
        probe_module.probe_outcome(sweep, probe)
