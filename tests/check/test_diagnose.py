"""`kitty-hooks diagnose` on files: bad input gets one clear line each, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gitutil import Repo

EXAMPLES = Path(__file__).parent.parent / "examples"
FEATURE = "kitty-specs/039-cli-2x-readiness"
VALID_LOG = (EXAMPLES / "pass/log-every-lane/staged" / FEATURE / "status.events.jsonl").read_text()
VALID_LINE = VALID_LOG.splitlines()[0]
WP_FILE = (
    EXAMPLES / "pass/wp-frontmatter/staged" / FEATURE / "tasks/WP01-fix-the-thing.md"
).read_text()


def _diagnose(repo: Repo, *args: str) -> tuple[int, str]:
    result = repo.kitty_hooks("diagnose", *args)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    return result.returncode, output


def test_valid_log_exits_zero_with_a_summary(repo: Repo) -> None:
    repo.write("status.events.jsonl", VALID_LOG)
    code, output = _diagnose(repo, "status.events.jsonl")
    assert code == 0
    assert output.strip() == f"checked 1 file, {len(VALID_LOG.splitlines())} events: all valid"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            VALID_LINE + "\n{not json}\n",
            "status.events.jsonl:2: not valid JSON: Expecting property name enclosed in double quotes at column 2",
        ),
        (
            VALID_LINE + "\n" + VALID_LINE[:40] + "\n",
            "status.events.jsonl:2: not valid JSON: Unterminated string",
        ),
        (
            VALID_LINE + "\n[1, 2]\n",
            "status.events.jsonl:2: is a JSON array, expected one JSON object per line",
        ),
        (
            VALID_LINE + '\n"text"\n',
            "status.events.jsonl:2: is a JSON string, expected one JSON object per line",
        ),
        (
            b"\xef\xbb\xbf" + VALID_LINE.encode() + b"\n",
            "status.events.jsonl:1: starts with a UTF-8 byte order mark (BOM)",
        ),
        (
            VALID_LINE.encode() + b'\n{"actor": "\xc3\x28"}\n',
            "status.events.jsonl:2: not valid UTF-8 (byte 0xc3 at column 12)",
        ),
    ],
)
def test_malformed_log_lines_get_their_own_message(
    repo: Repo, content: str | bytes, expected: str
) -> None:
    repo.write("status.events.jsonl", content)
    code, output = _diagnose(repo, "status.events.jsonl")
    assert code == 1
    assert expected in output


def test_a_10_mb_line_is_refused_without_parsing(repo: Repo) -> None:
    huge = '{"actor": "' + "x" * (10 * 1024 * 1024) + '"}'
    repo.write("status.events.jsonl", VALID_LINE + "\n" + huge + "\n" + VALID_LINE + "\n")
    code, output = _diagnose(repo, "status.events.jsonl")
    assert code == 1
    assert (
        "status.events.jsonl:2: line is 10,485,773 bytes, over the 1,048,576-byte limit for one event"
        in output
    )
    assert output.count("\n") == 2  # one problem line and the summary: line 3 was still checked


def test_blank_lines_and_empty_logs_are_warnings(repo: Repo) -> None:
    repo.write("status.events.jsonl", VALID_LINE + "\n\n" + VALID_LINE + "\n")
    repo.write("empty/status.events.jsonl", "")
    code, output = _diagnose(repo, "status.events.jsonl", "empty/status.events.jsonl")
    assert code == 0
    assert "status.events.jsonl:2: warning: blank line" in output
    assert "empty/status.events.jsonl: warning: empty log: no events to check" in output


def test_empty_event_json_is_an_error(repo: Repo) -> None:
    repo.write("one.event.json", "")
    code, output = _diagnose(repo, "one.event.json")
    assert code == 1
    assert (
        "one.event.json: empty file (expected one event envelope or a JSON array of them)" in output
    )


def test_broken_event_json_names_line_and_column(repo: Repo) -> None:
    repo.write("batch.events.json", '[\n  {"event_id": "x"},\n  {"event_id": }\n]\n')
    code, output = _diagnose(repo, "batch.events.json")
    assert code == 1
    assert "batch.events.json:3: not valid JSON: Expecting value at column 16" in output


def test_each_event_in_a_json_array_is_reported_at_its_own_line(repo: Repo) -> None:
    envelope = json.loads(
        (EXAMPLES / "pass/envelope-single/staged" / FEATURE / "one.event.json").read_text()
    )
    bad = dict(envelope, data_tier=7, event_id="01JD3Q9Z6C8W4S0Y2X5V7T1R3Z")
    repo.write("batch.events.json", json.dumps([envelope, bad], indent=2))
    code, output = _diagnose(repo, "--format", "json", "batch.events.json")
    assert code == 1
    report = json.loads(output)
    assert [r["valid"] for r in report["results"]] == [True, False]
    second = report["results"][1]
    assert second["event_id"] == "01JD3Q9Z6C8W4S0Y2X5V7T1R3Z"
    assert second["event_type"] == "WPStatusChanged"
    assert second["line"] == 1 + json.dumps([envelope], indent=2).count("\n")
    assert second["errors"] == [
        "$.data_tier: out of range (got 7, expected an integer from 0 to 4)"
    ]


def test_json_report_has_one_result_per_event(repo: Repo) -> None:
    repo.write(
        "status.events.jsonl",
        VALID_LOG + '{"event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3Z", "to_lane": "x"}\n',
    )
    code, output = _diagnose(repo, "--format", "json", "status.events.jsonl")
    assert code == 1
    report = json.loads(output)
    lines = len(VALID_LOG.splitlines()) + 1
    assert report["summary"] == {
        "files": 1,
        "events": lines,
        "invalid_events": 1,
        "errors": 1,
        "warnings": 0,
    }
    assert report["valid"] is False
    assert set(report["results"][0]) == {
        "path",
        "line",
        "event_id",
        "event_type",
        "valid",
        "errors",
    }
    last = report["results"][-1]
    assert last["event_id"] == "01JD3Q9Z6C8W4S0Y2X5V7T1R3Z" and not last["valid"]
    assert any(e.startswith("$.to_lane: unknown value") for e in last["errors"])
    assert len(last["errors"]) > 3  # json carries every error, not only the best match


def test_verbose_shows_every_error_of_an_event(repo: Repo) -> None:
    repo.write("status.events.jsonl", '{"event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3Z", "force": true}\n')
    _, short = _diagnose(repo, "status.events.jsonl")
    _, verbose = _diagnose(repo, "-v", "status.events.jsonl")
    assert "more, -v shows all" in short
    assert len(verbose.splitlines()) > len(short.splitlines()) + 3
    assert (
        "$.reason: missing (got nothing, expected a non-empty reason, because force is true)"
        in verbose
    )


def test_missing_file_is_an_io_error(repo: Repo) -> None:
    repo.write("status.events.jsonl", VALID_LOG)
    code, output = _diagnose(repo, "status.events.jsonl", "nope/status.events.jsonl")
    assert code == 2
    assert "nope/status.events.jsonl: no such file" in output


def test_unknown_file_type_is_a_usage_error(repo: Repo) -> None:
    repo.write("notes.txt", "hello")
    code, output = _diagnose(repo, "notes.txt")
    assert code == 2
    assert "notes.txt: not a file diagnose checks" in output


def test_a_directory_is_searched_for_event_files(repo: Repo) -> None:
    repo.write(f"{FEATURE}/status.events.jsonl", VALID_LOG)
    repo.write(
        f"{FEATURE}/tasks/WP01-fix-the-thing.md",
        WP_FILE.replace('lane: "for_review"', "lane: reviewed"),
    )
    repo.write(f"{FEATURE}/meta.json", '{"not": "an event"}')
    code, output = _diagnose(repo, FEATURE)
    assert code == 1
    assert 'tasks/WP01-fix-the-thing.md:4: lane: unknown lane (got "reviewed"' in output
    assert "meta.json" not in output


def test_a_folder_named_like_an_event_file_is_no_event_file(repo: Repo) -> None:
    repo.write(f"{FEATURE}/status.events.jsonl", VALID_LOG)
    repo.write(f"{FEATURE}/archive.events.json/README.md", "old exports\n")
    code, output = _diagnose(repo, FEATURE)
    assert code == 0, output
    assert "archive.events.json" not in output


def test_a_directory_without_event_files_is_an_io_error(repo: Repo) -> None:
    (repo.path / "empty").mkdir()
    code, output = _diagnose(repo, "empty")
    assert code == 2
    assert "is a directory with no event logs, event JSON or WP files in it" in output


def test_no_path_checks_the_whole_repository(repo: Repo) -> None:
    repo.write(f"{FEATURE}/status.events.jsonl", VALID_LOG)
    repo.write(
        "kitty-specs/040-other/status.events.jsonl",
        VALID_LINE.replace('"to_lane": "planned"', '"to_lane": "nope"') + "\n",
    )
    repo.write(f"{FEATURE}/tasks/WP01-fix-the-thing.md", WP_FILE)
    repo.write(f"{FEATURE}/tasks/planned/WP05-legacy.md", "---\ntitle: old\n---\n")
    repo.write(f"{FEATURE}/tasks/README.md", "not a WP")
    (repo.path / "sub").mkdir()
    result = repo.kitty_hooks("diagnose")  # from the top
    nested = Repo.__new__(Repo)
    nested.path = repo.path / "sub"
    from_subdir = nested.kitty_hooks("diagnose")  # and from a subdirectory
    for run in (result, from_subdir):
        assert run.returncode == 1
        assert "kitty-specs/040-other/status.events.jsonl:1: event" in run.stdout
        assert "checked 4 files" in run.stdout


def test_wp_frontmatter_problems(repo: Repo) -> None:
    cases = {
        "a/tasks/WP01-a.md": (
            "---\ntitle: [oops\n---\n",
            "a/tasks/WP01-a.md:2: frontmatter is not valid YAML",
        ),
        "b/tasks/WP01-b.md": ("---\nlane: done\n", "frontmatter is not closed"),
        "c/tasks/WP01-c.md": (
            "---\n- a\n- b\n---\n",
            "frontmatter is a YAML list, expected a mapping of fields",
        ),
        "d/tasks/WP01-d.md": (
            "---\nlane: 3\n---\n",
            "d/tasks/WP01-d.md:2: lane: unknown lane (got 3,",
        ),
        "e/tasks/WP01-e.md": (
            b"---\nlane: \xff\n---\n",
            "e/tasks/WP01-e.md:2: not valid UTF-8 (byte 0xff at column 7)",
        ),
    }
    for path, (content, _) in cases.items():
        repo.write(path, content)
    code, output = _diagnose(repo, *cases)
    assert code == 1
    for _, expected in cases.values():
        assert expected in output


def test_legacy_lane_folder_mismatch_is_a_warning(repo: Repo) -> None:
    repo.write("f/tasks/done/WP01-x.md", "---\nlane: planned\n---\n")
    code, output = _diagnose(repo, "f/tasks/done/WP01-x.md")
    assert code == 0
    assert (
        "warning: lane: frontmatter says 'planned' but the file is in the done/ lane folder"
        in output
    )


def test_a_1x_lane_folder_file_without_frontmatter_is_only_a_warning(repo: Repo) -> None:
    """capture takes the lane from the folder, so the gate does not block such a file."""
    repo.write("kitty-specs/001-x/tasks/doing/WP01-x.md", "# WP01, 1.x style\n")
    code, output = _diagnose(repo, "kitty-specs")
    assert code == 0, output
    assert "WP01-x.md:1: warning: no YAML frontmatter" in output


@pytest.mark.parametrize(
    "event_id", ["550e8400-e29b-41d4-a716-446655440000", "550e8400e29b41d4a716446655440000"]
)
def test_an_event_json_file_may_carry_a_uuid_event_id(repo: Repo, event_id: str) -> None:
    """spec-kitty-events 2.2+ reads UUID ids, hyphenated or bare: read liberally."""
    envelope = json.loads(
        (EXAMPLES / "pass/envelope-single/staged" / FEATURE / "one.event.json").read_text()
    )
    repo.write("one.event.json", json.dumps(dict(envelope, event_id=event_id), indent=2))
    code, output = _diagnose(repo, "one.event.json")
    assert code == 0, output
    assert "1 event" in output


def test_an_event_json_file_with_an_id_neither_ulid_nor_uuid_names_both(repo: Repo) -> None:
    envelope = json.loads(
        (EXAMPLES / "pass/envelope-single/staged" / FEATURE / "one.event.json").read_text()
    )
    repo.write(
        "one.event.json", json.dumps(dict(envelope, event_id="550e8400-e29b-41d4"), indent=2)
    )
    code, output = _diagnose(repo, "one.event.json")
    assert code == 1
    assert (
        '$.event_id: wrong format (got "550e8400-e29b-41d4", expected an event id: a ULID '
        "(26 Crockford base32 characters) or a UUID (36 characters with hyphens, or 32 hex digits))"
    ) in output


def test_a_lone_surrogate_in_a_line_is_judged_not_an_internal_error(repo: Repo) -> None:
    """json reads "\\ud800" into a str jsonschema-rs cannot take; it is judged as U+FFFD."""
    event = json.loads(VALID_LINE)
    valid = json.dumps({**event, "actor": "cl\ud800aude"})
    invalid = json.dumps({**event, "actor": "cl\ud800aude", "to_lane": "x\ud800"})
    repo.write("status.events.jsonl", valid + "\n" + invalid + "\n")
    for report_format in ("text", "json"):
        code, output = _diagnose(repo, "--format", report_format, "status.events.jsonl")
        assert code == 1, output
        assert "internal error" not in output
    code, output = _diagnose(repo, "status.events.jsonl")
    assert "status.events.jsonl:2: event" in output and "$.to_lane: unknown value" in output
    assert "status.events.jsonl:1" not in output


def test_a_log_whose_lines_name_another_feature_than_its_folder_is_a_warning_not_a_block(
    tmp_path: Path,
) -> None:
    import json as _json

    from kitty_hooks.check.diagnose import diagnose_paths

    folder = tmp_path / "kitty-specs" / "tooling-stability-guard-coherence-01KTRC04"
    folder.mkdir(parents=True)
    line = {
        "actor": "claude", "at": "2026-11-20T10:00:00+00:00", "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R51",
        "evidence": None, "execution_mode": "worktree", "force": False, "from_lane": "planned",
        "mission_slug": "tooling-stability-guard-coherence-01KTRC04", "reason": None,
        "review_ref": None, "to_lane": "claimed", "wp_id": "WP01",
    }  # fmt: skip
    short = {**line, "event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R52", "mission_slug": "01KTRC04"}
    log = folder / "status.events.jsonl"
    log.write_text(_json.dumps(line) + "\n" + _json.dumps(short) + "\n")
    report = diagnose_paths([log])
    warnings = [p for p in report.problems if p.severity == "warning"]
    assert [(p.line, p.messages[0].split(",")[0]) for p in warnings] == [
        (2, "lines name the feature '01KTRC04'")
    ]
    assert "the folder is 'tooling-stability-guard-coherence-01KTRC04'" in warnings[0].messages[0]
    assert not [p for p in report.problems if p.severity == "error"]
