"""Constants that the whole course states once and uses everywhere."""

from __future__ import annotations

#: Remaining useful life is capped here (piecewise-linear target): an engine further than
#: ``RUL_CAP`` cycles from failure counts as ``RUL_CAP`` cycles from failure.
RUL_CAP: float = 125.0

#: Upper edges (inclusive) of the capped RUL for the health classes, from the failure end:
#: class 2 "critical" for RUL <= 25, class 1 "degrading" for 25 < RUL <= 75,
#: class 0 "healthy" for RUL > 75.
HEALTH_THRESHOLDS: tuple[float, float] = (25.0, 75.0)

#: Names of the health classes, indexed by class label.
HEALTH_CLASSES: tuple[str, str, str] = ("healthy", "degrading", "critical")

#: Number of health classes.
N_HEALTH_CLASSES: int = len(HEALTH_CLASSES)

#: Cycles per input window.
WINDOW_LENGTH: int = 30

#: The 14 C-MAPSS sensors that carry degradation information in FD001 (the other seven are
#: constant or nearly so under FD001's single operating condition).
INFORMATIVE_SENSORS: tuple[str, ...] = (
    "s2", "s3", "s4", "s7", "s8", "s9", "s11",
    "s12", "s13", "s14", "s15", "s17", "s20", "s21",
)
