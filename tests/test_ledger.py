"""gabalab.ledger: verdicts on the source chapters' claims."""

from __future__ import annotations

import numpy as np
import pytest

from gabalab.ledger import VERDICT_WORDS, claim_verdict, distance_verdict


@pytest.mark.parametrize("parts, expected", [
    ((True,), "holds"), ((False,), "contradicted"), ((True, True), "holds"),
    ((True, False), "holds in part"), ((False, True), "holds in part"),
    ((False, False), "contradicted"), ((np.bool_(True), True), "holds"),
])
def test_claim_verdict_counts_the_parts(parts: tuple[bool, ...], expected: str) -> None:
    assert claim_verdict(*parts) == expected
    assert claim_verdict(*parts, reproducible=False) == "cannot be reproduced"


def test_claim_verdict_refuses_truthy_values() -> None:
    with pytest.raises(ValueError, match="at least one"):
        claim_verdict()
    with pytest.raises(TypeError, match=r"parts\[1\]"):
        claim_verdict(True, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(("distance", "verdict"), [
    (-1.0, "holds"), (0.0, "holds"), (0.999, "holds"), (1.0, "holds in part"),
    (3.0, "holds in part"), (3.001, "contradicted"),
])
def test_distance_verdict_thresholds(distance: float, verdict: str) -> None:
    assert distance_verdict(distance, holds_below=1.0, contradicted_above=3.0) == verdict


def test_distance_verdict_refuses_thresholds_in_the_wrong_order() -> None:
    with pytest.raises(ValueError, match="contradicted_above"):
        distance_verdict(0.5, holds_below=2.0, contradicted_above=1.0)


def test_the_words_are_the_ledger_page_s() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "book" / "source_chapters.md").read_text()
    for word in (*VERDICT_WORDS, "cannot be reproduced"):
        assert word in page
