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


def test_shows_error_prints_the_message_wrapped_not_a_traceback(
        capsys: pytest.CaptureFixture[str]) -> None:
    long = "word " * 40
    with notebook.shows_error(ValueError, TypeError):
        raise TypeError(long.strip())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("TypeError: word word")
    assert all(len(line) <= notebook.ERROR_WIDTH for line in lines)
    assert " ".join(lines) == "TypeError: " + long.strip()


def test_shows_error_keeps_the_message_lines_and_names_the_type(
        capsys: pytest.CaptureFixture[str]) -> None:
    with notebook.shows_error(RuntimeError, width=20):
        raise RuntimeError("first line\nsecond")
    assert capsys.readouterr().out == "RuntimeError: first\nline\nsecond\n"


def test_shows_error_fails_when_the_mistake_no_longer_raises() -> None:
    with (pytest.raises(AssertionError, match="expected to raise KeyError or ValueError"),
          notebook.shows_error(KeyError, ValueError)):
        pass


def test_shows_error_lets_another_exception_through() -> None:
    with pytest.raises(ZeroDivisionError), notebook.shows_error(ValueError):
        _ = 1 / 0


@pytest.mark.parametrize(("args", "kwargs", "error", "match"), [
    ((), {}, TypeError, "expected"),
    ((ValueError, "KeyError"), {}, TypeError, "expected"),
    ((ValueError(),), {}, TypeError, "expected"),
    ((ValueError,), {"width": 5}, ValueError, "width"),
    ((ValueError,), {"width": 30.0}, TypeError, "width"),
])
def test_shows_error_refuses_bad_arguments_on_entering(
        args: tuple, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match), notebook.shows_error(*args, **kwargs):
        raise ValueError("not reached")
