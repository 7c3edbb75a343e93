"""The conventions the book states must be the ones the package uses."""

import re
from pathlib import Path

from gabalab import constants

NOTATION = (Path(__file__).resolve().parent.parent / "book" / "notation.md").read_text("utf-8")


def test_notation_page_states_the_rul_cap() -> None:
    assert f"R_{{\\max}} = {constants.RUL_CAP:g}$" in NOTATION


def test_notation_page_states_the_health_thresholds() -> None:
    low, high = constants.HEALTH_THRESHOLDS
    assert f"RUL $> {high:g}$" in NOTATION
    assert f"${low:g} <$ RUL $\\le {high:g}$" in NOTATION
    assert f"RUL $\\le {low:g}$" in NOTATION
    for label, name in enumerate(constants.HEALTH_CLASSES):
        assert f"*{name}* (class {label})" in NOTATION


def test_notation_page_states_window_and_sensors() -> None:
    assert f"Windows of {constants.WINDOW_LENGTH} consecutive cycles" in NOTATION
    listed = re.search(r"informative sensors\s*\(([^)]*)\)", NOTATION.replace("\n", " "))
    assert listed is not None
    assert tuple(s.strip() for s in listed.group(1).split(",")) == constants.INFORMATIVE_SENSORS
    assert len(constants.INFORMATIVE_SENSORS) == 14
