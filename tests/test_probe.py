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


def _accuracies() -> dict[str, dict[str, tuple[float, ...]]]:
    return {"sum": {"probe": (0.91, 0.88), "head": (0.79, 0.83), "majority": (0.57, 0.57)},
            "fixed": {"probe": (0.90,), "head": (0.91,), "majority": (0.57,)},
            "gaba": {"probe": (0.91,), "head": (0.87,), "majority": (0.57,)}}


def test_trained_probes_compare_each_method_with_its_head_and_chance() -> None:
    t = probe_module.trained_probes(_accuracies(), n_test=100, reference=0.91)
    assert t.methods == ("sum", "fixed", "gaba") and t.n_runs == 4
    assert t.standard_error == pytest.approx(math.sqrt(0.91 * 0.09 / 100))
    assert t.head_gaps == pytest.approx({"sum": 0.085, "fixed": -0.01, "gaba": 0.04})
    # 0.04 is more than one standard error (0.0286), 0.01 less
    assert t.standing() == {"sum": "ahead", "fixed": "level", "gaba": "ahead"}
    assert t.chance_margin == pytest.approx(0.31 / t.standard_error)
    assert t.reference_distance == pytest.approx(0.03 / t.standard_error)
    assert t.quotes() == {
        "n_runs": 4, "n_test": 100, "se": "0.03", "probe_range": "0.88–0.91",
        "majority_range": "0.57", "chance_margin": "10", "reference_distance": "1.0",
        "ahead": "sum and gaba", "level": "fixed", "behind": "none",
        "widest_method": "sum", "widest_gap": "0.085"}


def test_trained_probes_table_has_one_row_per_method() -> None:
    t = probe_module.trained_probes(_accuracies(), n_test=100, reference=0.91)
    lines = t.table().splitlines()
    assert lines[0].split(" | ")[2:4] == ["linear probe", "health head"]
    assert lines[2] == "| sum | 2 | 0.895 ± 0.021 | 0.810 ± 0.028 | 0.085 ± 0.049 | 0.570 ± 0.000 |"
    assert lines[3] == "| fixed | 1 | 0.900 | 0.910 | −0.010 | 0.570 |"
    assert len(lines) == 5


def test_trained_probes_a_head_behind_and_a_perfect_reference() -> None:
    behind = {"sum": {"probe": (0.80,), "head": (0.90,), "majority": (0.57,)}}
    t = probe_module.trained_probes(behind, n_test=100, reference=0.91)
    assert t.standing() == {"sum": "behind"} and t.quotes()["behind"] == "sum"
    perfect = probe_module.trained_probes(behind, n_test=100, reference=1.0)
    assert perfect.standard_error == 0.0 and perfect.chance_margin == math.inf
    assert perfect.quotes()["chance_margin"] == "infinitely many"


@pytest.mark.parametrize(("accuracies", "kwargs", "error", "match"), [
    ({}, {}, ValueError, "at least one method"),
    ([("sum", {})], {}, TypeError, "accuracies must be a mapping"),
    ({"": _accuracies()["sum"]}, {}, TypeError, "methods must be non-empty strings"),
    ({"sum": (0.9,)}, {}, TypeError, r"accuracies\['sum'\] must be a mapping"),
    ({"sum": {"probe": (0.9,), "head": (0.8,)}}, {}, ValueError, r"lacks \['majority'\]"),
    ({"sum": {**_accuracies()["sum"], "head": (0.8,)}}, {}, ValueError, "one accuracy per"),
    ({"sum": {**_accuracies()["sum"], "probe": (91.0, 88.0)}}, {}, ValueError,
     r"\['probe'\] must hold fractions"),
    ({"sum": {**_accuracies()["sum"], "probe": ()}}, {}, ValueError, "at least one"),
    (_accuracies(), {"n_test": 0}, ValueError, "n_test must be >= 1"),
    (_accuracies(), {"reference": 91.0}, ValueError, "reference must be an accuracy"),
])
def test_trained_probes_refuse_bad_input(accuracies: object, kwargs: dict, error: type,
                                         match: str) -> None:
    with pytest.raises(error, match=match):
        probe_module.trained_probes(accuracies, **{"n_test": 100, "reference": 0.9,  # type: ignore[arg-type]
                                                   **kwargs})
