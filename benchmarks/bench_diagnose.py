"""Benchmark: `kitty-hooks diagnose` on one large, valid status.events.jsonl, against check-jsonschema.

    python benchmarks/bench_diagnose.py            # 100,000 events (the target size)
    python benchmarks/bench_diagnose.py --quick    # 1,000 events, 1 rep: a smoke run

Measures, in one run and on the same generated events:

* ours, CLI: `python -m kitty_hooks diagnose FILE` as a subprocess, whole-process wall time;
* ours, in-process: `kitty_hooks.check.diagnose.diagnose_paths([FILE])` (validator already compiled);
* a bare `json.loads` loop over the same lines, as a whole process: ours / it, run in turn;
* check-jsonschema: `python -m check_jsonschema --schemafile WRAPPER EVENTS.json`, the same events
  as ONE JSON array, validated item by item against our real schemas/status-log-line.schema.json.

Before timing anything, both tools are shown to reject each of several invalid events (one per
schema file and rule), so the comparison is between two checkers doing the same job. Nothing timed
is asserted; the script prints medians and ratios and exits 0.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness
from _data import LogWriter, feature_slug, write_log
from harness import ROOT, hermetic_env, median, run, scratch_dir

SCHEMA_DIR = ROOT / "schemas"
LOG_LINE_SCHEMA = "status-log-line.schema.json"
# The bundle's own id sits beside the real schemas' ids, so their relative $refs resolve inside it.
BUNDLE_ID = "https://kitty-hooks.invalid/schemas/status-log-lines.array.schema.json"
OURS = [sys.executable, "-m", "kitty_hooks", "diagnose"]
# The floor for reading the lines at all: each parsed by the standard library, nothing checked.
JSON_LOADS_LOOP = """
import json, sys
for line in open(sys.argv[1], "rb").read().splitlines():
    json.loads(line)
"""
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]


# --- the check-jsonschema side -------------------------------------------------------------


def array_schema_bundled() -> dict[str, Any]:
    """An array-of-log-lines schema carrying every real schema, unchanged, under $defs.

    Each embedded schema keeps its own $id (https://kitty-hooks.invalid/schemas/<file>), so the
    relative $refs between them resolve inside this one document: no file or network lookups.
    Of the wrappers tried this is the fastest for check-jsonschema (see benchmarks/README.md).
    """
    schemas = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMA_DIR.glob("*.schema.json"))
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BUNDLE_ID,
        "type": "array",
        "items": {"$ref": LOG_LINE_SCHEMA},
        "$defs": schemas,
    }


def array_schema_beside_files(workdir: Path) -> Path:
    """The other wrapper: no $id, written into a copy of schemas/, $ref by relative file name."""
    target = workdir / "schemas-copy"
    target.mkdir()
    for path in SCHEMA_DIR.glob("*.schema.json"):
        (target / path.name).write_bytes(path.read_bytes())
    wrapper = target / "status-log-lines.array.schema.json"
    wrapper.write_text(
        json.dumps(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "array",
                "items": {"$ref": LOG_LINE_SCHEMA},
            }
        ),
        encoding="utf-8",
    )
    return wrapper


def invalid_variants(done: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One invalid log line per rule, each reached through a different schema file or $defs.

    `done` is a valid, unforced move to done (it has evidence to break).
    """
    variants: dict[str, dict[str, Any]] = {}

    event = copy.deepcopy(done)
    event["event_id"] = event["event_id"][:-1] + "U"  # U is not Crockford base32
    variants["bad ULID (common.schema.json)"] = event

    event = copy.deepcopy(done)
    event["to_lane"] = "shipped"
    variants["unknown lane (lanes.schema.json)"] = event

    event = copy.deepcopy(done)
    event["evidence"] = None
    variants["done without evidence (if/then)"] = event

    event = copy.deepcopy(done)
    event["evidence"]["repos"][0]["commit"] = "not-a-sha"
    variants["evidence commit not hex (nested $defs)"] = event

    event = copy.deepcopy(done)
    event["force"], event["reason"] = True, None
    variants["forced without reason ($defs rule)"] = event

    event = copy.deepcopy(done)
    event.update(from_lane="for_review", to_lane="in_progress", evidence=None, review_ref=None)
    variants["rollback without review_ref (if/then)"] = event

    event = copy.deepcopy(done)
    del event["actor"]
    variants["actor missing (required)"] = event
    return variants


def prove_both_reject(
    workdir: Path, events: list[dict[str, Any]], schemas: dict[str, Path], env: dict[str, str]
) -> list[str]:
    """Each checker accepts a valid sample and rejects every invalid variant; else stop here."""
    notes: list[str] = []
    sample = events[:50]
    done = next(e for e in events if e["to_lane"] == "done" and not e["force"])
    cases: list[tuple[str, list[dict[str, Any]], int]] = [("valid sample", sample, 0)]
    for name, bad in invalid_variants(done).items():
        cases.append((name, [*sample[:2], bad, *sample[2:4]], 1))
    for index, (name, items, expected) in enumerate(cases):
        log = workdir / "proof" / f"case{index}" / "status.events.jsonl"
        write_log(log, items)
        array = log.with_name("events.json")
        array.write_text(json.dumps(items), encoding="utf-8")
        ours = run([*OURS, str(log)], cwd=workdir, env=env, expect=None)
        if ours.returncode != expected:
            sys.exit(f"kitty-hooks diagnose: {name}: exit {ours.returncode}, expected {expected}")
        for label, schema in schemas.items():
            cj = run(
                [*CHECK_JSONSCHEMA, "--schemafile", str(schema), str(array)],
                cwd=workdir,
                env=env,
                expect=None,
            )
            out = cj.stdout.decode(errors="replace") + cj.stderr.decode(errors="replace")
            ok = cj.returncode == expected and (
                expected == 0 or ("validation errors" in out and "$[2]" in out)
            )
            if not ok:
                sys.exit(
                    f"check-jsonschema ({label}): {name}: exit {cj.returncode}, expected "
                    f"{expected} with item $[2] reported\n{out[-1500:]}"
                )
        notes.append(name)
    return notes


# --- timing ---------------------------------------------------------------------------------


def time_process(args: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    return harness.timed(args, cwd=cwd, env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="log lines (default 100000)")
    parser.add_argument(
        "--reps", type=int, default=5, help="runs of each of our measurements (default 5)"
    )
    parser.add_argument(
        "--cj-reps",
        type=int,
        default=1,
        help="runs of check-jsonschema on all events (default 1: it takes ~100 s per 100k)",
    )
    parser.add_argument(
        "--cj-wrapper",
        choices=("bundled", "files", "both"),
        default="bundled",
        help="how check-jsonschema is given the schemas (default bundled, its fastest)",
    )
    parser.add_argument("--skip-check-jsonschema", action="store_true")
    parser.add_argument("--seed", type=int, default=2026)
    quick = {"events": 1_000, "reps": 1, "cj_reps": 1}
    options = harness.parse(parser, argv, quick=quick, help="1,000 events, 1 rep")
    have_cj = importlib.util.find_spec("check_jsonschema") is not None
    if not have_cj and not options.skip_check_jsonschema:
        print("check-jsonschema is not installed (pip install check-jsonschema): skipping it\n")
    use_cj = have_cj and not options.skip_check_jsonschema

    from kitty_hooks.check.diagnose import diagnose_paths

    with scratch_dir("kitty-bench-diagnose-") as scratch:
        workdir = Path(scratch)
        env = hermetic_env(workdir)

        started = time.perf_counter()
        writer = LogWriter(feature_slug(39), seed=options.seed)
        events = list(writer.events(options.events))
        log = workdir / "kitty-specs" / writer.slug / "status.events.jsonl"
        write_log(log, events)
        array = workdir / "events.json"
        array.write_text(json.dumps(events), encoding="utf-8")
        one_log = workdir / "one" / "status.events.jsonl"
        write_log(one_log, events[:1])
        one_array = workdir / "one" / "events.json"
        one_array.write_text(json.dumps(events[:1]), encoding="utf-8")

        schemas: dict[str, Path] = {}
        if use_cj:
            if options.cj_wrapper in ("bundled", "both"):
                bundled = workdir / "status-log-lines.bundled.schema.json"
                bundled.write_text(json.dumps(array_schema_bundled()), encoding="utf-8")
                schemas["bundled"] = bundled
            if options.cj_wrapper in ("files", "both"):
                schemas["files"] = array_schema_beside_files(workdir)
        lanes = {e["to_lane"] for e in events}
        print(
            f"generated {len(events):,} valid events ({log.stat().st_size / 1e6:.1f} MB, "
            f"{writer.next_wp - 1:,} WPs, lanes: {', '.join(sorted(lanes))}, "
            f"{sum(e['force'] for e in events):,} forced, "
            f"{sum(e['evidence'] is not None for e in events):,} with evidence) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        proved = prove_both_reject(workdir, events, schemas, env)
        checkers = "kitty-hooks and check-jsonschema" if use_cj else "kitty-hooks"
        print(f"checked that {checkers} accept a valid sample and reject: {'; '.join(proved[1:])}")
        print(
            f"python {sys.version.split()[0]} at {sys.executable}, {options.reps} reps (ours), "
            f"{options.cj_reps} (check-jsonschema)\n"
        )

        count = len(events)
        # The generated events stay out of memory while timing: a large live heap would make the
        # in-process run's garbage collections dearer than a fresh process's.
        del events
        gc.collect()
        # Warm the OS cache and compile our validator once, outside the timings.
        diagnose_paths([one_log])
        time_process([*OURS, str(log)], cwd=workdir, env=env)

        rows: list[tuple[str, str, list[float], int]] = []
        samples_cli: list[float] = []
        samples_one: list[float] = []
        samples_inproc: list[float] = []
        samples_floor: list[float] = []
        floor = [sys.executable, "-c", JSON_LOADS_LOOP, str(log)]

        def in_process() -> float:
            gc.collect()
            return harness.timed_call(lambda: diagnose_paths([log], keep_valid=False))

        measures: dict[str, tuple[list[float], Callable[[], float]]] = {
            "cli": (samples_cli, lambda: time_process([*OURS, str(log)], cwd=workdir, env=env)),
            "floor": (samples_floor, lambda: time_process(floor, cwd=workdir, env=env)),
            "one": (samples_one, lambda: time_process([*OURS, str(one_log)], cwd=workdir, env=env)),
            "in-process": (samples_inproc, in_process),
        }
        for _, name in harness.interleaved(list(measures), options.reps):
            samples, measure = measures[name]
            samples.append(measure())
        rows.append(("kitty-hooks diagnose (CLI, subprocess)", "jsonl", samples_cli, count))
        rows.append(("kitty-hooks diagnose (in-process)", "jsonl", samples_inproc, count))
        ratios = harness.pairwise(samples_cli, samples_floor)
        print(
            f"ours, CLI / a bare json.loads loop over the same lines (whole processes, run in "
            f"turn): median {median(ratios):.2f}x, runs {', '.join(f'{r:.2f}' for r in ratios)} "
            "(target <= 1.2x)\n"
        )

        cj_rows: list[tuple[str, str, list[float], int]] = []
        cj_one: dict[str, list[float]] = {}
        for label, schema in schemas.items():
            cmd = [*CHECK_JSONSCHEMA, "--schemafile", str(schema)]
            cj_one[label] = [
                time_process([*cmd, str(one_array)], cwd=workdir, env=env)
                for _ in range(options.reps)
            ]
            samples = []
            for rep in range(options.cj_reps):
                print(
                    f"  check-jsonschema ({label}) on {count:,} events, run {rep + 1}/"
                    f"{options.cj_reps} ...",
                    flush=True,
                )
                samples.append(time_process([*cmd, str(array)], cwd=workdir, env=env))
            cj_rows.append((f"check-jsonschema ({label} schema)", "json array", samples, count))

        print_table(rows + cj_rows, samples_one, cj_one)
    return 0


def print_table(
    rows: list[tuple[str, str, list[float], int]],
    ours_one: list[float],
    cj_one: dict[str, list[float]],
) -> None:
    name_width = max(len(r[0]) for r in rows) + 2
    header = f"{'checker':<{name_width}}{'input':<12}{'runs':>5}{'median s':>11}{'min s':>9}{'events/s':>12}"
    print(header)
    print("-" * len(header))
    for name, kind, samples, count in rows:
        mid = median(samples)
        print(
            f"{name:<{name_width}}{kind:<12}{len(samples):>5}{mid:>11.3f}{min(samples):>9.3f}"
            f"{count / mid:>12,.0f}"
        )
    print()
    print("fixed cost (one-event file, whole process):")
    print(f"  kitty-hooks diagnose        {median(ours_one) * 1000:8.1f} ms")
    for label, samples in cj_one.items():
        print(f"  check-jsonschema ({label:<7}) {median(samples) * 1000:8.1f} ms")
    ours_cli = median(rows[0][2])
    ours_inproc = median(rows[1][2])
    print()
    note = "" if rows[0][3] >= 100_000 else "; start-up dominates below 100,000 events"
    print(f"ours, CLI: {rows[0][3] / ours_cli:,.0f} events/s (target >= 100,000{note})")
    for name, _, samples, _ in rows[2:]:
        theirs = median(samples)
        print(
            f"ratio vs {name}: CLI {theirs / ours_cli:,.1f}x faster, "
            f"in-process {theirs / ours_inproc:,.1f}x faster (target >= 20x)"
        )


if __name__ == "__main__":
    sys.exit(main())
