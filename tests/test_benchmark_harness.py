"""The benchmark harness (``benchmarks/harness.py``): the orders of the interleaved steps, the
statistics computed from their samples, what each sample records, the memory probe, the
provenance and the argument checks shared by the timing benchmarks."""

from __future__ import annotations

import argparse
import doctest
import importlib.util
import itertools
import os
import sys
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gabalab.experiments.provenance import OneLineErrorParser
from tests.script_failures import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


def _load_harness() -> ModuleType:
    """``benchmarks/harness.py`` under the name the benchmark scripts import it by."""
    if "harness" in sys.modules:
        return sys.modules["harness"]
    spec = importlib.util.spec_from_file_location("harness", BENCHMARKS / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["harness"] = module
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def test_the_examples_in_the_docstrings_hold() -> None:
    result = doctest.testmod(harness)
    assert result.attempted > 0 and result.failed == 0


# ---------------------------------------------------------------------------- interleaving

def _adjacent_pairs(orders: list[list[str]]) -> Counter[tuple[str, str]]:
    return Counter(pair for order in orders for pair in itertools.pairwise(order))


@pytest.mark.parametrize("n", range(1, 10))
def test_every_step_sits_in_every_slot_equally_often(n: int) -> None:
    names = [f"v{i}" for i in range(n)]
    for blocks in (1, 3):
        orders = harness.interleaved_orders(names, 0, blocks * n, seed=n)
        assert all(sorted(order) == names for order in orders)
        counts = harness.slot_counts(orders, names)
        assert counts == {name: [blocks] * n for name in names}


@pytest.mark.parametrize("n", range(2, 10))
def test_every_step_follows_every_other_equally_often(n: int) -> None:
    # over one block for an even number of steps, over two for an odd number: the order is
    # not a rotation that keeps each step beside the same neighbours
    names = [f"v{i}" for i in range(n)]
    cycle = n if n % 2 == 0 else 2 * n
    orders = harness.interleaved_orders(names, 0, 2 * cycle, seed=1)
    pairs = _adjacent_pairs(orders)
    assert set(pairs) == {(a, b) for a in names for b in names if a != b}
    assert set(pairs.values()) == {2 * cycle // n}


def test_a_partial_block_keeps_the_slots_within_one() -> None:
    names = list("abcdefg")
    counts = harness.slot_counts(harness.interleaved_orders(names, 0, 50, seed=0), names)
    assert all(max(row) - min(row) <= 1 and sum(row) == 50 for row in counts.values())


def test_the_orders_follow_the_seed() -> None:
    names = list("abcde")
    first = harness.interleaved_orders(names, 3, 20, seed=7)
    assert harness.interleaved_orders(names, 3, 20, seed=7) == first
    assert harness.interleaved_orders(names, 3, 20, seed=8) != first
    assert len(first) == 23
    # the warm-up repetitions have blocks of their own: the measured ones are balanced
    measured = harness.slot_counts(first[3:], names)
    assert measured == {name: [4] * 5 for name in names}
    # every order is a permutation; not all the same, nor a rotation of one
    assert len({tuple(order) for order in first}) > len(names)


class _Recorder:
    """Steps that log every call; the warm-up calls are slow, the measured ones quick."""

    def __init__(self, warmup_calls: int) -> None:
        self.calls: list[str] = []
        self.events: list[str] = []
        self.warmup_calls = warmup_calls

    def step(self, name: str) -> harness.Step:
        def run() -> None:
            self.events.append(f"run {name}")
            self.calls.append(name)
            if len(self.calls) <= self.warmup_calls:
                time.sleep(0.02)

        return harness.Step(name, run, prepare=lambda: self.events.append(f"prepare {name}"),
                            check=lambda: self.events.append(f"check {name}"))


def test_the_interleaved_run_keeps_only_the_measured_repetitions() -> None:
    names = ["a", "b", "c"]
    warmup, repeats = 2, harness.MIN_SAMPLES
    recorder = _Recorder(warmup_calls=warmup * len(names))
    hooks: list[str] = []
    samples = harness.run_interleaved(
        [recorder.step(name) for name in names], warmup=warmup, repeats=repeats, seed=3,
        before=lambda: hooks.append("before"), after=lambda: hooks.append("after"))
    assert Counter(recorder.calls) == dict.fromkeys(names, warmup + repeats)
    assert recorder.calls == [name for order in samples.order for name in order]
    assert samples.order == harness.interleaved_orders(names, warmup, repeats, seed=3)
    assert samples.measured_order() == samples.order[warmup:]
    for name in names:
        assert len(samples.wall_s[name]) == repeats >= harness.MIN_SAMPLES
        assert max(samples.wall_s[name]) < 0.02  # the slow warm-up calls were discarded
        for table in (samples.cpu_s, samples.minor_faults, samples.major_faults):
            assert len(table[name]) == repeats
    assert hooks == ["before", "after"] * (len(names) * (warmup + repeats))
    first = recorder.events[:3]
    assert [e.split()[0] for e in first] == ["prepare", "run", "check"]
    assert len({e.split()[1] for e in first}) == 1


def test_the_interleaved_run_refuses_what_it_cannot_pair() -> None:
    step = harness.Step("a", lambda: None)
    with pytest.raises(ValueError, match="distinct names"):
        harness.run_interleaved([step, step], warmup=0, repeats=1, seed=0)
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        harness.run_interleaved([step], warmup=0, repeats=0, seed=0)
    with pytest.raises(ValueError, match="warmup must be an int"):
        harness.run_interleaved([step], warmup=True, repeats=1, seed=0)


# ------------------------------------------------------------------------------ measurement

def test_a_sample_records_wall_time_cpu_time_and_page_faults() -> None:
    def touch_fresh_memory() -> None:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB of new pages (mmap), written
        assert block.sum() > 0
        deadline = time.process_time() + 0.01
        while time.process_time() < deadline:
            pass

    sample = harness.measure_once(touch_fresh_memory)
    assert sample.wall_s > 0 and sample.cpu_s >= 0.01
    assert sample.minor_faults > 0 and sample.major_faults >= 0
    samples = harness.run_interleaved([harness.Step("touch", touch_fresh_memory)],
                                      warmup=0, repeats=2, seed=0)
    stats = harness.variant_stats(samples, "touch")
    for key in ("median_ms", "q25_ms", "q75_ms", "cpu_median_ms", "cpu_q25_ms", "cpu_q75_ms",
                "minor_faults_median", "major_faults_median", "times_ms", "cpu_times_ms",
                "minor_faults", "major_faults"):
        assert key in stats
    assert stats["cpu_median_ms"] >= 10 and stats["n"] == 2


# ------------------------------------------------------------------------------- statistics

def _fake(wall: dict[str, list[float]], cpu: dict[str, list[float]] | None = None
          ) -> harness.Samples:
    names = list(wall)
    repeats = len(wall[names[0]])
    cpu = cpu or {name: [v / 2 for v in values] for name, values in wall.items()}
    faults = {name: list(range(repeats)) for name in names}
    return harness.Samples(names, 0, repeats, [names] * repeats, wall, cpu, faults,
                           {name: [0] * repeats for name in names})


def test_the_paired_ratio_pairs_the_samples_of_each_repetition() -> None:
    # per repetition 3, 0.5, 3 -> 3; the ratio of the medians is 3 / 2; the sorted samples
    # paired with each other would give 1.5 too
    samples = _fake({"plain": [1.0, 2.0, 3.0], "gaba": [3.0, 1.0, 9.0]})
    ratios = harness.paired_ratios(samples, "gaba", "plain")
    assert ratios["paired_ratio"] == pytest.approx(3.0)
    assert ratios["ratio_of_medians"] == pytest.approx(1.5)
    assert ratios["mean_paired_ratio"] == pytest.approx(6.5 / 3)
    assert ratios["cpu_paired_ratio"] == pytest.approx(3.0)
    assert ratios["cpu_ratio_of_medians"] == pytest.approx(1.5)
    assert harness.paired_ratios(samples, "plain", "plain")["paired_ratio"] == 1.0


def test_the_cpu_ratios_leave_out_a_baseline_below_the_clock() -> None:
    samples = _fake({"plain": [1.0, 1.0], "gaba": [2.0, 2.0]},
                    cpu={"plain": [0.0, 0.5], "gaba": [1.0, 2.0]})
    ratios = harness.paired_ratios(samples, "gaba", "plain")
    assert ratios["cpu_paired_ratio"] == pytest.approx(4.0)
    samples = _fake({"plain": [1.0], "gaba": [2.0]}, cpu={"plain": [0.0], "gaba": [1.0]})
    ratios = harness.paired_ratios(samples, "gaba", "plain")
    assert ratios["cpu_paired_ratio"] is None and ratios["cpu_ratio_of_medians"] is None


def test_the_statistics_of_one_step() -> None:
    samples = _fake({"plain": [0.001, 0.002, 0.003, 0.004, 0.100]})
    stats = harness.variant_stats(samples, "plain")
    assert stats["median_ms"] == pytest.approx(3.0)
    assert (stats["q25_ms"], stats["q75_ms"]) == (pytest.approx(2.0), pytest.approx(4.0))
    assert stats["cpu_median_ms"] == pytest.approx(1.5)
    assert stats["minor_faults_median"] == 2.0 and stats["major_faults_median"] == 0.0
    assert stats["times_ms"] == [1.0, 2.0, 3.0, 4.0, 100.0]
    row = harness.row_against(samples, "plain", "plain")
    assert row["paired_ratio_to_plain"] == row["cpu_paired_ratio_to_plain"] == 1.0
    assert list(row)[:4] == ["n", "median_ms", "q25_ms", "q75_ms"]


def test_the_quartiles_of_a_mixture_weigh_each_group_by_its_share() -> None:
    measured, held = [10.0, 10.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # one measuring step to three held ones: the measuring steps are the top quarter
    assert harness.mixture_quartiles([(measured, 1.0), (held, 3.0)]) == (2.0, 4.0, 6.0)
    assert harness.mixture_quartiles([(measured, 1.0), (held, 2.0)])[2] == 10.0
    # the shares, not the sample counts, set the weights
    assert harness.mixture_quartiles([(measured, 3.0), (held, 1.0)])[1] == 10.0


def test_the_ranks_combine_into_the_slowest_wall_time_and_the_summed_work() -> None:
    a = _fake({"plain": [1.0, 4.0]}, cpu={"plain": [1.0, 1.0]})
    b = _fake({"plain": [2.0, 3.0]}, cpu={"plain": [2.0, 2.0]})
    both = harness.combine_ranks([a, b])
    assert both.wall_s["plain"] == [2.0, 4.0]
    assert both.cpu_s["plain"] == [3.0, 3.0]
    assert both.minor_faults["plain"] == [0, 2]
    b.order = [["other"], ["plain"]]
    with pytest.raises(ValueError, match="orders"):
        harness.combine_ranks([a, b])


def test_the_samples_survive_a_round_trip_through_plain_dicts() -> None:
    samples = _fake({"plain": [1.0, 2.0], "gaba": [3.0, 4.0]})
    assert harness.Samples.from_dict(samples.to_dict()) == samples


# ---------------------------------------------------------------------------------- memory

PROBE = """
import sys
import numpy as np
from harness import memory_of_steps
if "--fail" in sys.argv:
    raise SystemExit("probe failed: on purpose")
print("some output first")
print(__import__("json").dumps(memory_of_steps(lambda: np.ones(48 * 2**20 // 8).sum(), 2)))
"""


def test_the_memory_probe_of_a_trivial_step_sees_its_working_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(BENCHMARKS), str(ROOT)]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = harness.memory_in_fresh_process(script, [])
    assert set(result) == {"rss_before_mib", "peak_before_steps_mib", "peak_rss_mib",
                           "peak_rss_delta_mib"}
    assert 40 < result["peak_rss_delta_mib"] < 200  # the 48 MiB array, not the interpreter
    assert result["peak_rss_mib"] == pytest.approx(result["rss_before_mib"]
                                                   + result["peak_rss_delta_mib"])
    assert harness.memory_in_fresh_process(script, ["--fail"]) == {
        "error": ["probe failed: on purpose"]}


def test_the_status_fields_are_read_in_kib() -> None:
    assert harness.proc_status_kib("VmHWM") >= harness.proc_status_kib("VmRSS") > 0
    with pytest.raises(RuntimeError, match="no VmNothing field"):
        harness.proc_status_kib("VmNothing")


# ------------------------------------------------------------------------------ provenance

def test_the_provenance_names_the_command_the_machine_and_its_load() -> None:
    started = harness.start()
    block = harness.benchmark_provenance("gaba_step", ["--out", "a b.json"], 3, started,
                                         note="idle", torch_num_threads=5)
    assert block["command"] == ".venv/bin/python benchmarks/gaba_step.py --out 'a b.json'"
    assert block["seed"] == 3 and block["note"] == "idle" and block["torch_num_threads"] == 5
    for key in ("versions", "date_utc", "wall_time_s", "cpu_count", "cpu_model", "platform",
                "torch_num_interop_threads", "thread_environment", "mkldnn_enabled",
                "load_average_1_5_15_at_start", "load_average_1_5_15_at_end"):
        assert key in block, key
    assert len(block["load_average_1_5_15_at_start"]) == 3
    assert "data_files_sha256" not in block
    assert "torch" in block["versions"]


# ------------------------------------------------------------------------- argument checks

def _refused(capsys: pytest.CaptureFixture[str], call: object, option: str) -> None:
    with pytest.raises(SystemExit) as stop:
        call()  # type: ignore[operator]
    assert_one_line_error(stop.value.code, capsys.readouterr().err, option)


def test_the_argument_checks_end_with_one_line_naming_the_option(
    capsys: pytest.CaptureFixture[str]
) -> None:
    parser = OneLineErrorParser(prog="bench.py")
    args = argparse.Namespace(batch_sizes=[32, 0], seed=0)
    _refused(capsys, lambda: harness.check_ints(parser, args, {"--batch-sizes": 1}),
             "--batch-sizes")
    harness.check_ints(parser, args, {"--seed": 0})
    assert harness.per_size(parser, "--repeats", [30], 2, 1) == [30, 30]
    assert harness.per_size(parser, "--repeats", [30, 40], 2, 1) == [30, 40]
    _refused(capsys, lambda: harness.per_size(parser, "--repeats", [1, 2, 3], 2, 1),
             "--repeats")
    _refused(capsys, lambda: harness.per_size(parser, "--warmup", [-1], 2, 0), "--warmup")
    _refused(capsys, lambda: harness.require_variant(parser, ["c_exact"], "a_plain"),
             "--variants")
    _refused(capsys, lambda: harness.require_variant(parser, ["a_plain", "a_plain"],
                                                     "a_plain"), "--variants")
    _refused(capsys, lambda: harness.check_device(parser, "tpu"), "--device")
    assert harness.check_device(parser, "cpu").type == "cpu"
