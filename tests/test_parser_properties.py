"""Property-based tests of the parsers of what spec-kitty and users write (issue 9).

Whatever the bytes of a log, an event JSON file, a WP file or .kittify/config.yaml: no exception
escapes but the documented one, and every valid lane change among them is found. Few examples
by default (tests/conftest.py); HYPOTHESIS_PROFILE=long for a thorough run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kitty_hooks.capture.commit_context import CommitContext
from kitty_hooks.capture.detect import detect_lane_changes
from kitty_hooks.capture.identity import project_identity
from kitty_hooks.check.diagnose import check_content
from kitty_hooks.check.eventfiles import FileKind
from kitty_hooks.check.results import DiagnoseReport
from kitty_hooks.gitrepo.history import CommitRecord, FileChange
from kitty_hooks.gitrepo.repo import RepoLayout, repo_layout
from kitty_hooks.model.frontmatter import FrontmatterError, parse_frontmatter, read_fields
from tests.gitutil import Repo

LOG = "kitty-specs/039-cli-2x-readiness/status.events.jsonl"
CONTEXT = CommitContext(execution_mode="direct_repo", branch="main", repo_name=lambda: "kitty/cli")

# Bytes that look like what the parsers meet: JSON-ish punctuation, YAML-ish keys, deep nesting,
# long digit runs, invalid UTF-8, NULs, BOMs.
FRAGMENTS = st.sampled_from(
    [
        b"{",
        b"}",
        b"[",
        b"]",
        b'"',
        b":",
        b",",
        b"\n",
        b"---\n",
        b"lane: ",
        b"done",
        b"genesis",
        b'"event_id": "01JD3Q9Z6C8W4S0Y2X5V7T1R3N"',
        b'"to_lane": "done"',
        b'"kind": "annotation"',
        b'"event_type": "X"',
        b"9" * 30,
        b"[" * 2000,
        b"&a [*a]",
        b"\xff",
        b"\x00",
        b"\xef\xbb\xbf",
        b"\\ud800",
        b"null",
        b"true",
    ]
)
HOSTILE_BYTES = st.lists(FRAGMENTS | st.binary(max_size=12), max_size=30).map(b"".join)


@given(data=HOSTILE_BYTES, kind=st.sampled_from(list(FileKind)))
def test_any_bytes_in_any_event_file_give_a_report_never_an_exception(
    data: bytes, kind: FileKind
) -> None:
    report = DiagnoseReport()
    check_content(
        kind,
        f"kitty-specs/f/{'tasks/WP01.md' if kind is FileKind.WORK_PACKAGE else 'x'}",
        data,
        report,
    )
    assert report.exit_code in (0, 1)
    for problem in report.problems:
        assert problem.render() and all("Traceback" not in line for line in problem.render())


@given(text=HOSTILE_BYTES.map(lambda b: b.decode("utf-8", "replace")))
def test_any_wp_file_parses_or_raises_the_frontmatter_error(text: str) -> None:
    try:
        parse_frontmatter(text)
    except FrontmatterError as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, module_env: Path) -> RepoLayout:
    del module_env  # no user git config, as in every test
    repo = Repo(tmp_path_factory.mktemp("config") / "repo")
    repo.write("README.md", "x\n")
    repo.commit_all("root")
    return repo_layout(repo.path)


@given(config=HOSTILE_BYTES)
def test_any_project_config_gives_an_identity(layout: RepoLayout, config: bytes) -> None:
    identity = project_identity(layout, b"project:\n  uuid: " + config, lambda: None, node="n")
    assert len(identity.project_uuid) == 36
    assert identity.project_slug


def _transition(number: int) -> bytes:
    line = {
        "event_id": f"01JD3Q9Z6C8W4S0Y2X5V7T{number:04d}",
        "mission_slug": "039-cli-2x-readiness",
        "wp_id": f"WP{number:02d}",
        "from_lane": "genesis",
        "to_lane": "planned",
        "at": "2026-11-20T10:00:00+00:00",
        "actor": {"role": "implementer", "profile": None, "tool": "claude", "model": None},
        "force": False,
        "execution_mode": "worktree",
    }
    return json.dumps(line).encode()


@given(
    garbage=st.lists(HOSTILE_BYTES.map(lambda b: b.replace(b"\n", b" ")), max_size=8),
    valid=st.integers(min_value=1, max_value=6),
    data=st.data(),
)
def test_every_valid_move_in_a_log_is_found_whatever_lines_surround_it(
    garbage: list[bytes], valid: int, data: st.DataObject
) -> None:
    lines = list(garbage)
    for number in range(valid):
        lines.insert(data.draw(st.integers(0, len(lines))), _transition(number))
    blob = b"\n".join(lines) + b"\n"
    commit = CommitRecord(
        sha="a" * 40,
        parents=("b" * 40,),
        author_name="Ada",
        author_email="ada@example.com",
        author_date="2026-11-20T10:00:00+00:00",
        changes=(FileChange("M", LOG, "old", "new"),),
    )
    found = detect_lane_changes(commit, {"old": b"", "new": blob}, CONTEXT)
    wps = [change.wp_id for change in found.changes]
    # Garbage may itself hold a well-formed move (the fragments can build one); every valid
    # line we put in is found, in order, whatever surrounds it.
    ours = [wp for wp in wps if wp in {f"WP{n:02d}" for n in range(valid)}]
    assert sorted(ours) == [f"WP{n:02d}" for n in range(valid)]


WP_KEYS = ("lane", "work_package_id", "reviewed_by", "review_status")
WORDS = st.sampled_from(
    [
        "done",
        "for_review",
        "WP01",
        "Ada",
        "approved",
        "yes",
        "null",
        "On",
        "1.5",
        "a: b",
        "#x",
        "",
        "[x",
        "'q'",
        '"d"',
        "lane-a",
    ]
)


@given(
    lines=st.lists(
        st.tuples(
            st.sampled_from([*WP_KEYS, "title", "  lane", "- lane"]),
            WORDS,
            st.sampled_from(["", '"', "'"]),
        ),
        max_size=6,
    )
)
def test_the_fast_frontmatter_read_agrees_with_yaml(lines: list[tuple[str, str, str]]) -> None:
    text = "---\n" + "".join(f"{key}: {q}{value}{q}\n" for key, value, q in lines) + "---\n"
    try:
        full = parse_frontmatter(text).fields
    except FrontmatterError:
        full = None
    try:
        fast = read_fields(text, WP_KEYS)
    except FrontmatterError:
        assert full is None
        return
    if full is not None:
        wanted = {key: full[key] for key in WP_KEYS if key in full}
        assert {key: fast[key] for key in WP_KEYS if key in fast} == wanted
