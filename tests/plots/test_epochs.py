"""Figures of section 12.3: bins, axes and the data they draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gabalab.measure import RatioPath, TrainedRatioTrend
from gabalab.plots import epochs


def test_log_bins_cover_values_and_are_log_spaced() -> None:
    values = np.array([3.0, 40.0, 2000.0])
    edges = epochs.log_bins(values, n_bins=10)
    assert edges.size == 11
    assert edges[0] < values.min() and edges[-1] > values.max()
    assert np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))


def test_log_bins_single_value_still_has_width() -> None:
    edges = epochs.log_bins([5.0], n_bins=3, pad=1.0)
    assert edges[0] < 5.0 < edges[-1]


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, np.nan], [-3.0]])
def test_log_bins_rejects_non_positive(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="values"):
        epochs.log_bins(bad)


def test_log_bins_argument_checks() -> None:
    with pytest.raises(TypeError, match="n_bins"):
        epochs.log_bins([1.0, 2.0], n_bins=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pad"):
        epochs.log_bins([1.0, 2.0], pad=0.5)


def test_ratio_histogram_counts_every_batch_and_marks_quartiles() -> None:
    rng = np.random.default_rng(0)
    ratios = np.exp(rng.normal(np.log(300.0), 0.5, size=101))
    fig = epochs.plot_ratio_histogram(ratios, bins=15)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert sum(patch.get_height() for patch in ax.patches) == ratios.size
    lines = [line.get_xdata()[0] for line in ax.get_lines()]
    assert np.allclose(sorted(lines), np.quantile(ratios, [0.25, 0.5, 0.75]))
    assert ax.get_title() == "101 batches"


def test_ratio_histogram_on_given_axes_with_fixed_bins() -> None:
    fig, ax = plt.subplots()
    edges = np.geomspace(10, 1000, 5)
    out = epochs.plot_ratio_histogram([20.0, 200.0], bins=edges, ax=ax, mark_quartiles=False,
                                      title="x")
    assert out is fig
    assert len(ax.patches) == 4 and not ax.get_lines()


def test_epoch_distributions_one_panel_per_epoch_with_shared_bins() -> None:
    ratios = {0: [400.0, 500.0, 650.0], 4: [120.0, 150.0], 8: [60.0, 90.0, 100.0, 70.0]}
    fig = epochs.plot_epoch_distributions(ratios, epochs=[8, 0])
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title(loc="left").startswith("epoch 8: median 80")
    assert fig.axes[1].get_title(loc="left").startswith("epoch 0: median 500")
    widths = [tuple(round(p.get_x(), 9) for p in ax.patches) for ax in fig.axes]
    assert widths[0] == widths[1]  # same bin edges in every panel
    assert sum(p.get_height() for p in fig.axes[0].patches) == 4


def test_epoch_distributions_errors() -> None:
    with pytest.raises(ValueError, match=r"epochs \[3\]"):
        epochs.plot_epoch_distributions({0: [1.0]}, epochs=[3])
    with pytest.raises(ValueError, match="at least one epoch"):
        epochs.plot_epoch_distributions({0: [1.0]}, epochs=[])
    with pytest.raises(TypeError, match="mapping"):
        epochs.plot_epoch_distributions([[1.0]])  # type: ignore[arg-type]


def test_proxy_vs_model_draws_both_and_the_diagonal() -> None:
    proxy = np.array([150.0, 180.0, 210.0])
    model = np.array([400.0, 300.0, 520.0])
    fig = epochs.plot_proxy_vs_model(proxy, model)
    left, right = fig.axes
    assert sum(p.get_height() for p in left.patches) == 6
    offsets = right.collections[0].get_offsets()
    assert np.allclose(offsets, np.column_stack([proxy, model]))
    assert right.get_xscale() == right.get_yscale() == "log"


def test_proxy_vs_model_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same batches"):
        epochs.plot_proxy_vs_model([1.0, 2.0], [1.0])


def _trend() -> TrainedRatioTrend:
    q = ((90.0, 150.0, 230.0, 400.0, 700.0), (300.0, 400.0, 530.0, 700.0, 990.0),
         (770.0, 970.0, 1240.0, 1840.0, 2650.0))
    return TrainedRatioTrend((RatioPath(0, q, (22, 22, 22)), RatioPath(3, q[:2], (22, 21))))


def test_trained_ratios_one_median_line_two_bands_and_a_star_per_seed() -> None:
    trend = _trend()
    fig = epochs.plot_trained_ratios(trend)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = [line for line in ax.get_lines() if line.get_linestyle() != "None"]
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert [line.get_label() for line in lines] == ["seed 0", "seed 3"]
    for line, run in zip(lines, trend.runs):
        assert list(line.get_xdata()) == list(range(1, run.selected_epoch + 1))
        assert list(line.get_ydata()) == list(run.medians)
    assert [(s.get_xdata()[0], s.get_ydata()[0]) for s in stars] == [(3, 1240.0), (2, 530.0)]
    assert len(ax.collections) == 4  # q10-q90 and q25-q75 for each seed
    band = ax.collections[1].get_paths()[0].vertices  # seed 0, q25 to q75
    assert band[:, 1].min() == pytest.approx(150.0) and band[:, 1].max() == pytest.approx(1840.0)
    assert ax.get_title() == "2 runs, epoch 1 to the selected epoch: median and bands"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["seed 0", "seed 3", "q25 to q75", "q10 to q90", "selected epoch"]


def test_trained_ratios_refuse_anything_but_a_trend() -> None:
    with pytest.raises(TypeError, match="trend must be a TrainedRatioTrend"):
        epochs.plot_trained_ratios({0: [1.0]})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="title must be a str"):
        epochs.plot_trained_ratios(_trend(), title=3)  # type: ignore[arg-type]
