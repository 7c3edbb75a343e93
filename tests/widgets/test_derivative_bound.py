"""The 12.2 explorer: its readout text and its sliders."""

from gabalab import widgets


def test_derivative_bound_readout_numbers() -> None:
    text = widgets.derivative_bound_readout(-60.0, 1 / 3, 32, 3)
    assert "|dL_mse/dy_hat|   = 3.7500" in text
    assert "bound 1/B = 0.031250" in text
    assert "ratio MSE / CE    = 180.0x" in text


def test_derivative_bound_readout_moves_with_residual() -> None:
    a = widgets.derivative_bound_readout(-10.0, 1 / 3, 32, 3)
    b = widgets.derivative_bound_readout(-100.0, 1 / 3, 32, 3)
    assert "30.0x" in a and "300.0x" in b


def test_derivative_bound_explorer_builds_and_updates() -> None:
    explorer = widgets.derivative_bound_explorer()
    names = [c.description for c in explorer.children[:-1]]
    assert names == ["residual", "p_true", "B", "K"]
    explorer.children[0].value = -120.0
    explorer.update()
    assert explorer.result is None  # the callback prints; its inputs are what moved
    assert explorer.kwargs["residual"] == -120.0
