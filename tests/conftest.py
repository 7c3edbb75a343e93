"""Fixtures shared by the test modules.

* every test runs torch on one thread (the models here are small; threads only add noise on
  a busy machine), and closes the matplotlib figures it opened;
* ``real_fd001`` is the directory of NASA's FD001 files, or skips the test with the reason;
* ``fleet_dir`` / ``fleet`` are a small simulated fleet written once per session;
* ``SMALL_DUAL`` is the configuration of a small :class:`~gabalab.models.DualTaskModel`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from gabalab.data import ENV_VAR, CmapssSubset, load_cmapss, simulate_fleet

#: A small DualTaskModel: the course's architecture at a size that trains in milliseconds.
SMALL_DUAL: dict[str, Any] = dict(conv_channels=(8,), lstm_hidden=8, lstm_layers=1,
                                  attention_hidden=4, funnel=(16,))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def real_fd001() -> Path:
    """The folder of the real FD001 files (``GABALAB_CMAPSS_DIR``); skips where absent."""
    folder = os.environ.get(ENV_VAR, "")
    if not (folder and (Path(folder) / "train_FD001.txt").is_file()):
        pytest.skip(f"real C-MAPSS FD001 files not available: set {ENV_VAR} to their directory")
    return Path(folder)


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fleet")
    simulate_fleet(folder, n_train_units=6, n_test_units=4, seed=7)
    return folder


@pytest.fixture(scope="session")
def fleet(fleet_dir: Path) -> CmapssSubset:
    return load_cmapss("FD001", fleet_dir)
