"""Command line, data loading, provenance and JSON output shared by every experiment.

Each experiment builds its parser with :func:`base_parser`, loads data with :func:`load_data`,
and wraps its work in :func:`run`, which times it and writes the JSON with the block returned by
:func:`provenance`: command line, library versions, seed, SHA-256 of each data file, wall time,
UTC date and torch thread count.
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
from typing import Any

import numpy as np
import torch
import tqdm as tqdm_module

from gabalab._checks import FLOAT_DTYPES, check_float_dtype, check_int, check_path
from gabalab.data import (
    ENV_VAR,
    PreparedData,
    load_cmapss,
    prepare_cmapss,
    resolve_data_dir,
    simulate_fleet,
)
from gabalab.models import DualTaskModel, parameter_counts

__all__ = [
    "base_parser",
    "LoadedData",
    "load_data",
    "build_model",
    "sha256_file",
    "package_version",
    "provenance",
    "to_jsonable",
    "write_json",
    "run",
]


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
    argparse.ArgumentParser

    Examples
    --------
    >>> args = base_parser("x", "demo").parse_args(["--simulated", "--out", "r.json"])
    >>> args.batch_size, args.seed, args.simulated
    (32, 0, True)
    """
    parser = argparse.ArgumentParser(
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
    sim.add_argument("--sim-train-units", type=int, default=20)
    sim.add_argument("--sim-test-units", type=int, default=10)
    sim.add_argument("--sim-seed", type=int, default=0)
    sim.add_argument("--sim-min-life", type=int, default=120)
    sim.add_argument("--sim-max-life", type=int, default=250)
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


def load_data(args: argparse.Namespace) -> LoadedData:
    """Read (or simulate) the subset named by the parsed arguments and prepare its windows.

    With ``--simulated`` the fleet is written to a temporary directory, read back through the
    same reader as the real files, hashed, and the directory removed.

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

    Raises
    ------
    TypeError
        If ``path`` is not a path, ``payload`` is not a dict, or it holds a value JSON
        cannot represent.
    """
    path = check_path("path", path)
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    try:
        text = json.dumps(to_jsonable(payload), indent=1, allow_nan=False)
    except TypeError as err:
        raise TypeError(f"payload holds a value JSON cannot represent: {err}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def run(
    name: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace, LoadedData], dict[str, Any]],
) -> dict[str, Any]:
    """Parse ``argv``, load data, run ``body``, add provenance, write ``--out``.

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

    Returns
    -------
    dict
        The payload written (results plus ``"experiment"``, ``"data"``, ``"provenance"``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    if args.max_batches is not None and args.max_batches < 1:
        parser.error("--max-batches must be >= 1")
    try:
        args.model_kwargs = parse_model_kwargs(args.model_kwargs)
    except ValueError as err:
        parser.error(str(err))
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
