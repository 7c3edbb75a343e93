"""The notebooks' preamble: one call, nothing printed, the same settings every time."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib as mpl
import numpy as np
import pytest
import torch

from gabalab import notebook, progress


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    numpy_options = np.get_printoptions()
    rc = dict(mpl.rcParams)
    timing = progress.timing_shown()
    yield
    np.set_printoptions(**numpy_options)
    torch.set_printoptions(profile="default")
    mpl.rcParams.update(rc)
    progress.show_timing(timing)


def test_setup_sets_style_print_options_and_quiet_bars(capsys: pytest.CaptureFixture[str]) -> None:
    assert notebook.setup() is None
    assert capsys.readouterr() == ("", "")
    options = np.get_printoptions()
    assert options["precision"] == notebook.PRINT_PRECISION and options["suppress"]
    assert mpl.rcParams["axes.spines.top"] is False
    assert not progress.timing_shown()


def test_setup_with_a_seed_seeds_torch() -> None:
    notebook.setup(seed=3)
    a = torch.rand(2)
    torch.manual_seed(3)
    assert torch.equal(a, torch.rand(2))


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (0.5, TypeError)])
def test_setup_rejects_bad_seeds(bad: object, error: type) -> None:
    with pytest.raises(error, match="seed"):
        notebook.setup(seed=bad)  # type: ignore[arg-type]
