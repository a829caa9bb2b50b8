"""The benchmarks stay runnable and documented; running them is .ci/run's job, not the suite's.

These tests read the scripts and never run one: a benchmark run takes seconds, and the suite is
at its time budget. They hold what keeps the scripts from rotting unseen: each script shares the
harness instead of another script, takes --quick, is run by .ci/run and is described in
benchmarks/README.md. The harness's pure helpers are checked in-process.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))
SHARED = {"harness", "_data"}


def _harness():
    spec = importlib.util.spec_from_file_location("bench_harness", BENCHMARKS / "harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_benchmarks_to_check():
    assert len(SCRIPTS) >= 12


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_a_script_imports_the_harness_and_no_other_script(script: Path):
    imported = _imports(script)
    assert "harness" in imported
    others = {name for name in imported if name.startswith("bench_")}
    assert not others, f"{script.name} imports {sorted(others)}: share it in harness or _data"


@pytest.mark.parametrize("path", [BENCHMARKS / "harness.py", BENCHMARKS / "_data.py"])
def test_the_shared_modules_import_no_script(path: Path):
    assert not {name for name in _imports(path) if name.startswith("bench_")}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_a_script_takes_quick_through_the_harness(script: Path):
    calls = [
        node
        for node in ast.walk(ast.parse(script.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "parse"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "harness"
    ]
    assert len(calls) == 1, f"{script.name} parses its options other than with harness.parse"
    keywords = {keyword.arg for keyword in calls[0].keywords}
    assert {"quick", "help"} <= keywords


def test_ci_runs_every_benchmark_quick():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert '"$checkout"/benchmarks/bench_*.py' in ci
    assert '"$script" --quick' in ci


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_the_readme_says_how_to_run_each_script_and_what_it_measures(script: Path):
    readme = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    assert f"benchmarks/{script.name}" in readme
    assert re.search(rf"^## {re.escape(script.name)}\b", readme, re.MULTILINE), (
        f"benchmarks/README.md has no section '## {script.name}'"
    )


def test_the_readme_keeps_no_dated_runs():
    readme = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    dates = set(re.findall(r"\b20\d\d-\d\d-\d\d\b", readme))
    assert len(dates) <= 1, f"one run's date at most, found {sorted(dates)}"


def test_interleaved_rounds_rotate_and_count_after_the_warm_up():
    harness = _harness()
    got = list(harness.interleaved(["a", "b", "c"], rounds=2, warmup=1))
    assert got == [
        (False, "a"), (False, "b"), (False, "c"),
        (True, "b"), (True, "c"), (True, "a"),
        (True, "c"), (True, "a"), (True, "b"),
    ]  # fmt: skip


def test_rotated_wraps_around():
    harness = _harness()
    assert harness.rotated([1, 2, 3], 4) == [2, 3, 1]


def test_a_row_is_spread_and_pairwise_ratios():
    harness = _harness()
    assert harness.spread([0.0123, 0.0101, 0.0150]) == "(10.1-15.0)"
    assert harness.spread([1.234, 2.5], scale=1, digits=2) == "(1.23-2.50)"
    assert harness.pairwise([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    with pytest.raises(ValueError):
        harness.pairwise([1.0], [1.0, 2.0])


def test_quick_sets_the_smoke_values_and_help_names_them():
    harness = _harness()
    parser = harness.parser("doc")
    parser.add_argument("--rounds", type=int, default=25)
    options = harness.parse(parser, ["--quick"], quick={"rounds": 2}, help="2 rounds")
    assert options.rounds == 2
    parser = harness.parser("doc")
    parser.add_argument("--rounds", type=int, default=25)
    assert harness.parse(parser, [], quick={"rounds": 2}, help="2 rounds").rounds == 25
    assert "a smoke run: 2 rounds" in parser.format_help()
