"""NASA C-MAPSS data: read the files, derive targets and labels, cut windows, simulate a fleet.

The subpackage has one module per job; every public name is also importable from
``gabalab.data`` itself.

* :mod:`gabalab.data.cmapss` - the file format and strict readers (:func:`load_cmapss`).
* :mod:`gabalab.data.targets` - RUL per row, the RUL cap, health labels.
* :mod:`gabalab.data.windows` - scaling, windows, :class:`WindowDataset`, :func:`make_loader`,
  :func:`prepare_cmapss`.
* :mod:`gabalab.data.split` - a validation split by engine unit from the training units
  (:func:`prepare_with_validation`).
* :mod:`gabalab.data.fleet` - writers and the simulated fleet (:func:`simulate_fleet` writes
  it, :func:`simulated_fleet` returns it in memory, :func:`simulated_fleet_files` writes it
  into a temporary folder for a ``with`` block).
"""

from gabalab.data.cmapss import (
    COLUMNS,
    DATA_SOURCE_HINT,
    DEFAULT_DATA_DIR,
    ENV_VAR,
    SUBSETS,
    CmapssSubset,
    CmapssTable,
    load_cmapss,
    read_cmapss_table,
    read_rul_file,
    resolve_data_dir,
    subset_file_names,
)
from gabalab.data.fleet import (
    simulate_fleet,
    simulated_fleet,
    simulated_fleet_files,
    write_cmapss_table,
    write_rul_file,
)
from gabalab.data.split import (
    SplitData,
    choose_validation_units,
    prepare_with_validation,
    split_units,
)
from gabalab.data.targets import capped_rul, health_labels, rows_rul_from_end, train_rows_rul
from gabalab.data.windows import (
    MinMaxNormaliser,
    PreparedData,
    WindowDataset,
    count_windows,
    fit_minmax,
    last_windows,
    make_loader,
    prepare_cmapss,
    sliding_windows,
)

__all__ = [
    "COLUMNS",
    "SUBSETS",
    "ENV_VAR",
    "DEFAULT_DATA_DIR",
    "DATA_SOURCE_HINT",
    "CmapssTable",
    "CmapssSubset",
    "read_cmapss_table",
    "read_rul_file",
    "subset_file_names",
    "resolve_data_dir",
    "load_cmapss",
    "health_labels",
    "capped_rul",
    "train_rows_rul",
    "rows_rul_from_end",
    "MinMaxNormaliser",
    "fit_minmax",
    "count_windows",
    "sliding_windows",
    "last_windows",
    "WindowDataset",
    "make_loader",
    "PreparedData",
    "prepare_cmapss",
    "SplitData",
    "choose_validation_units",
    "split_units",
    "prepare_with_validation",
    "write_cmapss_table",
    "write_rul_file",
    "simulate_fleet",
    "simulated_fleet",
    "simulated_fleet_files",
]
