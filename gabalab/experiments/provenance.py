"""Command line, data loading, provenance and JSON output shared by every experiment.

Each experiment builds its parser with :func:`base_parser`, loads data with :func:`load_data`,
and wraps its work in :func:`run`, which times it and writes the JSON with the block returned by
:func:`provenance`: command line, library versions, seed, SHA-256 of each data file, wall time,
UTC date and torch thread count.

Before any data is read or any model built, :func:`run` checks the whole command line
(:func:`check_args`, the experiment's own checks, the data files, that ``--out`` can be
written); a bad argument ends the script at once with one line that names the option and exit
status 2 (:class:`OneLineErrorParser`). The JSON is written whole or not at all
(:func:`gabalab.files.atomic_write_text`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np
import torch
import tqdm as tqdm_module

from gabalab._checks import FLOAT_DTYPES, check_float_dtype, check_int, check_path, check_real
from gabalab.constants import INFORMATIVE_SENSORS, N_HEALTH_CLASSES, WINDOW_LENGTH
from gabalab.data import (
    DATA_SOURCE_HINT,
    ENV_VAR,
    SUBSETS,
    CmapssSubset,
    PreparedData,
    load_cmapss,
    prepare_cmapss,
    resolve_data_dir,
    simulate_fleet,
)
from gabalab.files import atomic_write_text, check_writable
from gabalab.models import DualTaskModel, parameter_counts

__all__ = [
    "OneLineErrorParser",
    "argument_check",
    "require_int",
    "require_real",
    "base_parser",
    "check_model_kwargs",
    "check_args",
    "check_data_files",
    "check_out",
    "LoadedData",
    "load_subset",
    "load_data",
    "build_model",
    "sha256_file",
    "package_version",
    "provenance",
    "to_jsonable",
    "write_json",
    "run",
]

T = TypeVar("T")


class OneLineErrorParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one line and exit status 2.

    argparse prints the whole usage before ``prog: error: message``; here the usage is left
    out (``--help`` shows it as before) and a message of several lines is joined into one, so
    a bad command line ends with exactly ``prog: error: message`` on standard error.

    Examples
    --------
    >>> import contextlib, io
    >>> parser = OneLineErrorParser(prog="demo")
    >>> _ = parser.add_argument("--epochs", type=int)
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     try:
    ...         parser.parse_args(["--epochs", "x"])
    ...     except SystemExit as stop:
    ...         print(stop.code)
    2
    >>> err.getvalue()
    "demo: error: argument --epochs: invalid int value: 'x'\\n"
    """

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` as one line on standard error and exit with 2."""
        text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
        self.exit(2, f"{self.prog}: error: {text}\n")


def argument_check(parser: argparse.ArgumentParser, check: Callable[..., T], *args: Any,
                   **kwargs: Any) -> T:
    """``check(*args, **kwargs)``; a ``TypeError`` or ``ValueError`` becomes ``parser.error``.

    The checks of ``gabalab._checks`` start their messages with the name they are given,
    so passing the option (``"--batch-size"``) as the name gives a message that names it.

    Examples
    --------
    >>> from gabalab._checks import check_int
    >>> parser = OneLineErrorParser(prog="demo")
    >>> argument_check(parser, check_int, "--batch-size", 32, minimum=1)
    32
    """
    try:
        return check(*args, **kwargs)
    except (TypeError, ValueError) as err:
        parser.error(str(err))


def require_int(parser: argparse.ArgumentParser, option: str, value: Any,
                minimum: int | None = None) -> int:
    """``value`` of ``option`` as an int ``>= minimum``, else ``parser.error`` naming it.

    Examples
    --------
    >>> parser = OneLineErrorParser(prog="demo")
    >>> require_int(parser, "--batch-size", 32, minimum=1)
    32
    """
    return argument_check(parser, check_int, option, value, minimum=minimum)


def require_real(parser: argparse.ArgumentParser, option: str, value: Any, *,
                 positive: bool = False, nonnegative: bool = False) -> float:
    """``value`` of ``option`` as a finite float (optionally > 0 or >= 0), else ``parser.error``.

    Examples
    --------
    >>> parser = OneLineErrorParser(prog="demo")
    >>> require_real(parser, "--lr", 1e-3, positive=True)
    0.001
    """
    return argument_check(parser, check_real, option, value, positive=positive,
                          nonnegative=nonnegative)


def base_parser(name: str, description: str) -> argparse.ArgumentParser:
    """Parser with the options every experiment shares.

    Parameters
    ----------
    name : str
        Experiment module name (``prog`` becomes ``python -m gabalab.experiments.<name>``).
    description : str
        Help text.

    Returns
    -------
    OneLineErrorParser

    Examples
    --------
    >>> parser = base_parser("x", "demo")
    >>> args = parser.parse_args(["--simulated", "--out", "r.json"])
    >>> args.batch_size, args.seed, args.simulated
    (32, 0, True)
    """
    parser = OneLineErrorParser(
        prog=f"python -m gabalab.experiments.{name}", description=description
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data-dir", default=None,
        help=f"directory with the C-MAPSS text files (default: ${ENV_VAR}, then "
        "~/.cache/gabalab/cmapss)",
    )
    source.add_argument(
        "--simulated", action="store_true",
        help="use a simulated fleet (gabalab.data.simulate_fleet) instead of the NASA files",
    )
    parser.add_argument("--subset", default="FD001", help="C-MAPSS subset (default FD001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of model, loader, dropout")
    parser.add_argument("--out", required=True, help="output JSON path")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per batch (32)")
    parser.add_argument(
        "--max-batches", type=int, default=None,
        help="stop every epoch after this many batches (smoke tests; default: full epochs)",
    )
    parser.add_argument(
        "--model-kwargs", default="{}",
        help="JSON object of DualTaskModel keyword arguments (default: the standard sizes)",
    )
    parser.add_argument(
        "--dtype", choices=list(FLOAT_DTYPES), default="float32",
        help="dtype of the model and the windows (default float32; float64 makes a small "
        "model's training reproduce to the printed digit on every CPU)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sim = parser.add_argument_group("simulated fleet (with --simulated)")
    sim.add_argument("--sim-train-units", type=int, default=20, help="training units (20)")
    sim.add_argument("--sim-test-units", type=int, default=10, help="test units (10)")
    sim.add_argument("--sim-seed", type=int, default=0, help="seed of the fleet (0)")
    sim.add_argument("--sim-min-life", type=int, default=120,
                     help=f"shortest life in cycles, >= {WINDOW_LENGTH} (the window length; 120)")
    sim.add_argument("--sim-max-life", type=int, default=250,
                     help="longest life in cycles, >= --sim-min-life (250)")
    return parser


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     p = pathlib.Path(folder) / "f"; _ = p.write_bytes(b"")
    ...     sha256_file(p)[:12]
    'e3b0c44298fc'
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"path {str(path)!r} is not a file")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadedData:
    """Prepared windows plus a JSON-ready description of where they came from."""

    prepared: PreparedData
    description: dict[str, Any]


def load_subset(args: argparse.Namespace) -> tuple[CmapssSubset, dict[str, Any]]:
    """Read (or simulate) the subset named by the parsed arguments, with where it came from.

    With ``--simulated`` the fleet is written to a temporary directory, read back through the
    same reader as the real files, hashed, and the directory removed.

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`base_parser`.

    Returns
    -------
    CmapssSubset
    dict
        JSON-ready description: source, subset, folder or fleet options, SHA-256 per file.

    Raises
    ------
    FileNotFoundError
        If the real files are not found (listing the places looked).
    """
    if args.simulated:
        sim = {
            "n_train_units": args.sim_train_units,
            "n_test_units": args.sim_test_units,
            "seed": args.sim_seed,
            "min_life": args.sim_min_life,
            "max_life": args.sim_max_life,
        }
        with tempfile.TemporaryDirectory(prefix="gabalab-sim-") as tmp:
            files = simulate_fleet(tmp, subset=args.subset, **sim)
            subset = load_cmapss(args.subset, tmp)
            hashes = {p.name: sha256_file(p) for p in files.values()}
        description: dict[str, Any] = {
            "source": "simulated", "subset": subset.name, "simulate_fleet": sim,
            "files_sha256": hashes,
        }
    else:
        folder = resolve_data_dir(args.data_dir, args.subset)
        subset = load_cmapss(args.subset, folder)
        description = {
            "source": "files", "subset": subset.name, "data_dir": str(folder),
            "files_sha256": {p.name: sha256_file(p) for p in subset.files.values()},
        }
    return subset, description


def load_data(args: argparse.Namespace) -> LoadedData:
    """Read (or simulate) the subset named by the parsed arguments and prepare its windows.

    See :func:`load_subset`; the windows are :func:`gabalab.data.windows.prepare_cmapss`'s, in
    ``--dtype``.

    Parameters
    ----------
    args : argparse.Namespace
        From :func:`base_parser`.

    Returns
    -------
    LoadedData

    Raises
    ------
    FileNotFoundError
        If the real files are not found (listing the places looked).
    """
    subset, description = load_subset(args)
    prepared = prepare_cmapss(subset).to(args.dtype)
    description.update(prepared.summary())
    return LoadedData(prepared, description)


def parse_model_kwargs(text: str) -> dict[str, Any]:
    """Parse ``--model-kwargs`` (a JSON object).

    Raises
    ------
    TypeError
        If ``text`` is not a string.
    ValueError
        If ``text`` is not a JSON object or sets ``seed`` (the seed comes from ``--seed``).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (the --model-kwargs JSON), got "
                        f"{type(text).__name__}")
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-kwargs is not valid JSON: {err}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--model-kwargs must be a JSON object")
    if "seed" in kwargs:
        raise ValueError("--model-kwargs must not set seed; use --seed")
    return kwargs


def check_model_kwargs(kwargs: dict[str, Any], name: str = "--model-kwargs") -> dict[str, Any]:
    """Check :class:`~gabalab.models.DualTaskModel` options cheaply, without building the model.

    The model's own checks (:meth:`~gabalab.models.DualTaskModel.check_options`: known
    keywords, sizes, dropout) run without creating a layer, plus the two the data fix: the
    windows carry ``len(INFORMATIVE_SENSORS)`` features and the labels ``N_HEALTH_CLASSES``
    classes.

    Parameters
    ----------
    kwargs : dict
        The options (parsed ``--model-kwargs``, or a checkpoint's configuration).
    name : str
        Where they came from, the start of every message (``"--model-kwargs"``).

    Returns
    -------
    dict
        ``kwargs``.

    Raises
    ------
    TypeError, ValueError
        With a message that starts with ``name`` and names the keyword.

    Examples
    --------
    >>> check_model_kwargs({"lstm_hidden": 0})
    Traceback (most recent call last):
    ...
    ValueError: --model-kwargs: lstm_hidden must be >= 1, got 0
    """
    if not isinstance(kwargs, dict):
        raise TypeError(f"{name}: expected a dict of model options, got {type(kwargs).__name__}")
    try:
        config = DualTaskModel.check_options(**kwargs)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{name}: {err}") from None
    fixed = {"n_features": (len(INFORMATIVE_SENSORS), "the features of every window"),
             "n_classes": (N_HEALTH_CLASSES, "the health classes of the labels")}
    for key, (value, what) in fixed.items():
        if config[key] != value:
            raise ValueError(f"{name}: {key} must be {value} ({what}), got {config[key]}")
    return kwargs


def build_model(model_kwargs: dict[str, Any], seed: int,
                dtype: torch.dtype | str = torch.float32) -> tuple[DualTaskModel, dict[str, Any]]:
    """Build a seeded :class:`~gabalab.models.DualTaskModel` and describe it for the JSON.

    The parameters are drawn in float32 and then converted to ``dtype`` (exact for float64),
    so a float64 model starts from the same weights as the float32 one of the same seed.

    Returns
    -------
    model : DualTaskModel
    description : dict
        ``{"class", "config", "parameter_counts"}``.

    Raises
    ------
    TypeError, ValueError
        If ``model_kwargs`` is not a dict of :class:`~gabalab.models.DualTaskModel` options,
        ``seed`` is not a non-negative integer or ``dtype`` is neither float32 nor float64.
    """
    if not isinstance(model_kwargs, dict):
        raise TypeError(f"model_kwargs must be a dict, got {type(model_kwargs).__name__}")
    seed = check_int("seed", seed, minimum=0)
    dtype = check_float_dtype("dtype", dtype)
    try:
        model = DualTaskModel(**model_kwargs, seed=seed)
    except (TypeError, ValueError) as err:
        raise type(err)(f"model_kwargs: {err}") from None
    model.to(dtype)
    return model, {
        "class": "DualTaskModel",
        "kwargs": dict(model_kwargs),
        "dtype": str(dtype).removeprefix("torch."),
        "config": dict(model.config),
        "parameter_counts": parameter_counts(model),
    }


def package_version() -> str:
    """Version of gabalab: installed metadata, else ``pyproject.toml`` of the source tree."""
    try:
        return importlib.metadata.version("gabalab")
    except importlib.metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        import tomllib

        with open(pyproject, "rb") as handle:
            return str(tomllib.load(handle)["project"]["version"]) + " (source tree)"
    except (OSError, KeyError, ValueError):
        return "unknown"


def provenance(
    name: str,
    argv: Sequence[str],
    seed: int,
    data: dict[str, Any],
    wall_time_s: float,
) -> dict[str, Any]:
    """Provenance block of a result file.

    Parameters
    ----------
    name : str
        Experiment module name.
    argv : sequence of str
        Arguments the experiment was called with (without the program name).
    seed : int
        The ``--seed`` value.
    data : dict
        :attr:`LoadedData.description` (holds the SHA-256 of each data file).
    wall_time_s : float
        Wall time of the whole run in seconds.

    Returns
    -------
    dict
    """
    command = " ".join(
        ["python", "-m", f"gabalab.experiments.{name}"] + [shlex.quote(a) for a in argv]
    )
    return {
        "command": command,
        "argv": list(argv),
        "seed": seed,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "tqdm": tqdm_module.__version__,
            "gabalab": package_version(),
        },
        "data_files_sha256": dict(data.get("files_sha256", {})),
        "wall_time_s": round(float(wall_time_s), 3),
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch_num_threads": torch.get_num_threads(),
        "thread_environment": {
            k: os.environ.get(k)
            for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
        },
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths to JSON types; NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON (parent directories created); returns the path.

    The file is replaced whole or not at all (:func:`gabalab.files.atomic_write_text`): a
    failure while writing leaves an earlier file at ``path`` as it was, and no partial file.

    Raises
    ------
    TypeError
        If ``path`` is not a path, ``payload`` is not a dict, or it holds a value JSON
        cannot represent.
    ValueError
        If ``path`` cannot be written (a folder, or under a file).
    """
    path = check_path("path", path)
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    try:
        text = json.dumps(to_jsonable(payload), indent=1, allow_nan=False)
    except TypeError as err:
        raise TypeError(f"payload holds a value JSON cannot represent: {err}") from None
    atomic_write_text(path, text + "\n")
    return path


def check_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Check the options of :func:`base_parser`; a bad one ends the script (exit status 2).

    Counts and seeds, ``--subset``, the simulated fleet's options and ``--model-kwargs``
    (parsed into a dict in place, and checked against the model without building it). Reads
    no file.

    Parameters
    ----------
    args : argparse.Namespace
        From ``parser.parse_args``.
    parser : argparse.ArgumentParser
        Its ``error`` reports a bad option (one line naming it, exit status 2).
    """
    require_int(parser, "--batch-size", args.batch_size, minimum=1)
    require_int(parser, "--seed", args.seed, minimum=0)
    if args.max_batches is not None:
        require_int(parser, "--max-batches", args.max_batches, minimum=1)
    if args.subset.upper() not in SUBSETS:
        parser.error(f"argument --subset: expected one of {', '.join(SUBSETS)}, "
                     f"got {args.subset!r}")
    require_int(parser, "--sim-train-units", args.sim_train_units, minimum=1)
    require_int(parser, "--sim-test-units", args.sim_test_units, minimum=1)
    require_int(parser, "--sim-seed", args.sim_seed, minimum=0)
    if require_int(parser, "--sim-min-life", args.sim_min_life) < WINDOW_LENGTH:
        # Shorter units give no training window; a fleet of them gives none at all.
        parser.error(f"--sim-min-life must be >= {WINDOW_LENGTH} (the window length: every "
                     f"simulated unit must give a training window), got {args.sim_min_life}")
    if require_int(parser, "--sim-max-life", args.sim_max_life) < args.sim_min_life:
        parser.error(f"--sim-max-life must be >= --sim-min-life ({args.sim_min_life}), "
                     f"got {args.sim_max_life}")
    if isinstance(args.model_kwargs, str):
        args.model_kwargs = argument_check(parser, parse_model_kwargs, args.model_kwargs)
    argument_check(parser, check_model_kwargs, args.model_kwargs)


def check_data_files(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Check that the subset's three files exist where the data will be read from.

    Uses :func:`gabalab.data.cmapss.resolve_data_dir` (``--data-dir``, else ``$GABALAB_CMAPSS_DIR``,
    else the default folder) without reading the files; nothing to check with
    ``--simulated``. Missing files end the script with one line listing the folders looked
    in and the files missing there.
    """
    if args.simulated:
        return
    try:
        resolve_data_dir(args.data_dir, args.subset)
    except FileNotFoundError as err:
        lines = [line.strip().removeprefix("- ")
                 for line in str(err).replace(DATA_SOURCE_HINT, "").splitlines() if line.strip()]
        parser.error(f"--data-dir: {lines[0]} {'; '.join(lines[1:])} (pass --data-dir DIR, set "
                     f"{ENV_VAR}, or use --simulated)")
    except (TypeError, ValueError) as err:
        parser.error(f"--data-dir: {err}")


def check_out(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Check that ``--out`` can be written (:func:`gabalab.files.check_writable`).

    Missing parent folders are created; a folder, a path under a file or an unwritable
    folder ends the script with one line naming ``--out``.
    """
    argument_check(parser, check_writable, args.out, "--out")


def run(
    name: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace, LoadedData], dict[str, Any]],
    check: Callable[[argparse.Namespace, argparse.ArgumentParser], None] | None = None,
) -> dict[str, Any]:
    """Parse and check ``argv``, load data, run ``body``, add provenance, write ``--out``.

    Every check runs before any data is read or model built: :func:`check_args`, then
    ``check`` (the experiment's own options), :func:`check_data_files` and :func:`check_out`.
    A bad argument ends the script with one line on standard error that names the option,
    and exit status 2.

    Parameters
    ----------
    name : str
        Experiment module name.
    parser : argparse.ArgumentParser
        From :func:`base_parser`, with the experiment's own options added.
    argv : sequence of str or None
        Arguments; ``None`` reads ``sys.argv[1:]``.
    body : callable
        ``body(args, data) -> dict`` of results.
    check : callable or None
        ``check(args, parser)``: the experiment's own argument checks, which report a bad
        option with ``parser.error``.

    Returns
    -------
    dict
        The payload written (results plus ``"experiment"``, ``"data"``, ``"provenance"``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    check_args(args, parser)
    if check is not None:
        check(args, parser)
    check_data_files(args, parser)
    check_out(args, parser)
    start = time.perf_counter()
    data = load_data(args)
    results = body(args, data)
    wall = time.perf_counter() - start
    payload = {
        "experiment": name,
        **results,
        "data": data.description,
        "provenance": provenance(name, argv, args.seed, data.description, wall),
    }
    write_json(args.out, payload)
    if not args.no_progress:
        print(f"wrote {args.out} ({wall:.1f} s)", file=sys.stderr)
    return payload
