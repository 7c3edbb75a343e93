"""The linear probe's fit."""

from __future__ import annotations

import numpy as np

from gabalab.probe import fit_softmax_probe


def test_softmax_probe_learns_separable_classes() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    labels = rng.integers(0, 3, 300)
    features = centres[labels] + rng.normal(0, 0.5, (300, 2))
    probe = fit_softmax_probe(features, labels)
    assert np.mean(probe.predict(features) == labels) > 0.97
