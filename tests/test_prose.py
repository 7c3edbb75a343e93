"""gabalab.prose: glue for the book and a kernel variable for JupyterLab, one call."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.display import Markdown

from gabalab import prose


class _Shell:
    def __init__(self) -> None:
        self.user_ns: dict[str, object] = {}


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> _Shell:
    fake = _Shell()
    monkeypatch.setattr(prose, "_kernel_namespace", lambda: fake.user_ns)
    return fake


@pytest.mark.parametrize("value", ["179", 32, 0.25, Markdown("`python -m x`")])
def test_glue_binds_the_kernel_variable(shell: _Shell, value: object) -> None:
    prose.glue("s99_value", value)
    assert shell.user_ns["s99_value"] is value


def test_glue_stores_what_myst_nb_stores(shell: _Shell, capsys: pytest.CaptureFixture) -> None:
    from myst_nb import glue as myst_glue

    # Outside a kernel both display nothing; the stored output is myst-nb's own.
    prose.glue("s99_text", "0.25", display=True)
    ours = capsys.readouterr().out
    myst_glue("s99_text", "0.25", display=True)
    assert ours == capsys.readouterr().out


@pytest.mark.parametrize("value", [np.float64(0.5), np.int64(3), True, [1, 2], None])
def test_glue_refuses_values_that_would_print_differently(shell: _Shell, value: object) -> None:
    with pytest.raises(TypeError, match="value must be a str, int or float"):
        prose.glue("s99_bad", value)
    assert "s99_bad" not in shell.user_ns


def test_glue_wants_an_identifier(shell: _Shell) -> None:
    with pytest.raises(ValueError, match="Python identifier"):
        prose.glue("s99-bad", 1.0)
    with pytest.raises(TypeError, match="name must be a string"):
        prose.glue(3, 1.0)  # type: ignore[arg-type]


def test_glue_all_glues_every_entry_with_the_prefix(shell: _Shell) -> None:
    prose.glue_all({"a": 1, "b": "x"}, prefix="s99_")
    assert shell.user_ns["s99_a"] == 1 and shell.user_ns["s99_b"] == "x"


def test_glue_all_glues_nothing_when_one_entry_is_bad(shell: _Shell) -> None:
    with pytest.raises(TypeError, match="s99_bad"):
        prose.glue_all({"good": 1.0, "bad": np.float64(2.0)}, prefix="s99_")
    assert "s99_good" not in shell.user_ns
