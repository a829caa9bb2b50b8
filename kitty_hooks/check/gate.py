"""The pre-commit gate: check what a change adds to event files (by default: the index).

A status log is append-only. Only the lines added since HEAD are validated, so the gate's cost
follows the size of the change, not of the log; a line of HEAD that was changed or removed is
itself an error. Other event files are checked whole, as staged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from kitty_hooks.check.diagnose import check_content
from kitty_hooks.check.eventfiles import FileKind, classify
from kitty_hooks.check.results import DiagnoseReport, Problem
from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import blobs as git_blobs
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.model.layout import legacy_lane_of
from kitty_hooks.model.logline import event_id_of

_SKIP = "(KITTY_HOOKS=0 or git commit --no-verify skips the check)"


def blocked_hint(report: DiagnoseReport) -> str:
    """The last line of a blocked commit: what to do about what was found, in words that fit
    (a deleted line of HEAD is no event line to fix)."""
    todo = []
    if report.error_count > report.append_only_problems:
        todo.append("fix what the lines above name")
    if report.append_only_problems:
        todo.append(
            "put back the lines of HEAD a status log lost (it is append-only; the log as it is "
            "at another commit, a branch or the merge base, is fine too)"
        )
    return f"kitty-hooks: commit blocked: {' and '.join(todo) or 'see above'}, then stage again {_SKIP}"


def run_gate(cwd: Path, paths: list[Path] | None = None) -> DiagnoseReport:
    """What the pre-commit gate checks, whether git or the pre-commit framework runs it.

    Paths are as given (relative to cwd); none means every staged event file. Under
    `pre-commit run --from-ref A --to-ref B` (CI, a pre-push stage) the change checked is
    A...B instead of the index.
    """
    from_ref = os.environ.get("PRE_COMMIT_FROM_REF")
    to_ref = os.environ.get("PRE_COMMIT_TO_REF")
    if not paths and not (from_ref and to_ref):
        # Every staged event file: git names them from the top wherever it runs, so the top
        # need not be asked for (a git call on every gated commit) unless git fails.
        try:
            return diagnose_staged(cwd)
        except FatalError:
            git_repo.repo_root(cwd)  # outside a work tree: says so
            raise
    root = git_repo.repo_root(cwd)
    relative = [_relative_to(root, cwd, path) for path in paths] if paths else None
    if from_ref and to_ref:
        base = git_repo.merge_base(root, from_ref, to_ref)
        return diagnose_staged(root, relative, base=base, target=to_ref)
    return diagnose_staged(root, relative)


def _relative_to(root: Path, cwd: Path, path: Path) -> str:
    absolute = path if path.is_absolute() else cwd / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError as exc:
        raise FatalError(f"{path} is outside the repository at {root}") from exc


def diagnose_staged(
    root: Path, paths: list[str] | None = None, *, base: str = "HEAD", target: str = ""
) -> DiagnoseReport:
    """Check what a change adds to event files; paths are relative to root.

    By default the change is the index against HEAD (a commit in the making). With a target
    commit it is target against base: what `pre-commit run --from-ref A --to-ref B` (CI, a
    pre-push stage) asks, base being the merge base of A and B. Without paths, every event
    file the change touches is checked.
    """
    report = DiagnoseReport()
    if paths is None:
        changed = (
            git_repo.changed_paths(root, base, target) if target else git_repo.staged_paths(root)
        )
        candidates = [(p, classify(PurePosixPath(p), explicit=False)) for p in changed]
    else:
        candidates = [(p, classify(PurePosixPath(p), explicit=True)) for p in paths]
    checked = [(path, kind) for path, kind in candidates if kind is not None]
    logs = [path for path, kind in checked if kind is FileKind.LOG]
    known = _KnownContents(root, base, target)
    blobs = git_blobs.read_blobs(
        root, [f"{target}:{p}" for p, _ in checked] + [f"{base}:{p}" for p in logs]
    )
    after_change = dict(zip([p for p, _ in checked], blobs[: len(checked)], strict=True))
    before_change = dict(zip(logs, blobs[len(checked) :], strict=True))
    for path, kind in checked:
        data = after_change[path]
        if data is None and not target and paths is not None:
            # Named but not in the index: `pre-commit run --files` on a file not yet added.
            # Check it as it is in the work tree rather than let it pass unseen.
            data = _read_work_tree(root / path)
        if data is None:
            # Deleted by the change. Removing a whole feature's log is allowed.
            continue
        if kind is FileKind.LOG and paths is not None and before_change[path] == data:
            # Named with no change to check: `pre-commit run --all-files` (hosted pre-commit
            # CI) or `--files`. The file is checked whole; otherwise it would pass unseen.
            check_content(kind, path, data, report)
        elif kind is FileKind.LOG:
            _check_appended(path, before_change[path], data, report, known)
        else:
            check_content(kind, path, data, report, legacy_lane=legacy_lane_of(PurePosixPath(path)))
    return report


def _read_work_tree(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _check_appended(
    path: str,
    before: bytes | None,
    after: bytes,
    report: DiagnoseReport,
    known: _KnownContents | None,
) -> None:
    if before is None:
        check_content(FileKind.LOG, path, after, report)
        return
    if after.startswith(before) and (before == b"" or before.endswith(b"\n")):
        first_line = before.count(b"\n") + 1
        appended = after[len(before) :]
    elif after.startswith(before) and after[len(before) : len(before) + 1] == b"\n":
        # HEAD's last line had no newline; adding one is not a modification.
        first_line = before.count(b"\n") + 2
        appended = after[len(before) + 1 :]
    else:
        _check_rewrite(path, before, after, report, known)
        return
    if appended:
        check_content(FileKind.LOG, path, appended, report, first_line=first_line)
        numbered = list(enumerate(_lines(appended), start=first_line))
        _check_reused_ids(path, _HeadEvents(before, numbered), numbered, report)


def _check_rewrite(
    path: str, before: bytes, after: bytes, report: DiagnoseReport, known: _KnownContents | None
) -> None:
    """A log that is not HEAD's plus lines at the end: valid when no event of HEAD is lost or
    changed.

    spec-kitty rewrites logs itself: it merges a conflicted log (2.1.3: the union of both sides,
    sorted by time; 3.x: a merge driver), its state rebuild writes every line again (keys
    sorted, mission_slug, work_package_id and mission_id added, later duplicates of an event id
    dropped), and its envelope migration rewrites an envelope's bookkeeping around the same
    event_type and payload. So a line of HEAD may move, and may come back re-written that way
    under its own event id. What must not happen is that an event changes or goes. A line of
    HEAD that is no JSON object at all may go: spec-kitty's readers reject it too. Every line
    that is new in content is checked.
    """
    old_lines = _lines(before)
    new_lines = _lines(after)
    old_set, new_set = set(old_lines), set(new_lines)
    present = {event_id for line in new_lines if (event_id := event_id_of(line)) is not None}
    gone = []
    for number, line in enumerate(old_lines, start=1):
        if line in new_set:
            continue
        event = _json_object(line)
        if event is None:
            continue  # no event: spec-kitty's own merge drops such lines
        event_id = event.get("event_id")
        if isinstance(event_id, str) and event_id in present:
            continue  # kept elsewhere, re-written (checked below) or a later duplicate dropped
        gone.append(number)
    if gone and known is not None:
        restored = known.restored_prefix(path, after)
        if restored is not None and _only_new_events_follow(before, after, restored):
            # A restore, not a rewrite: the log as it is at another commit, perhaps with new
            # lines after it, checked as what they are, an append to that content.
            _check_appended(path, after[:restored], after, report, None)
            return
    numbered_new = [(n, line) for n, line in enumerate(new_lines, start=1) if line not in old_set]
    head = _HeadEvents(before, numbered_new)
    report.files.append(path)
    for number, line in numbered_new:
        check_content(FileKind.LOG, path, line + b"\n", report, first_line=number)
    _check_reused_ids(path, head, numbered_new, report)
    for position, number in enumerate(gone):
        changed = number <= len(new_lines) and new_lines[number - 1] not in old_set
        if changed:
            report.head_lines_changed += 1
        else:
            report.head_lines_deleted += 1
        if position >= _REWRITES_SHOWN:
            continue
        report.append_only_problems += 1
        report.add(
            Problem(
                path,
                number,
                (
                    f"status.events.jsonl is append-only: line {number} "
                    f"{'was modified' if changed else 'was deleted'} (expected existing events "
                    "kept as they were and new events appended)",
                ),
            )
        )
    if len(gone) > _REWRITES_SHOWN:
        report.append_only_problems += 1
        report.add(
            Problem(
                path,
                None,
                (f"{len(gone) - _REWRITES_SHOWN:,} more lines of HEAD were modified or deleted",),
            )
        )
    # check_content recorded the path once per added line; keep it once.
    report.files[:] = list(dict.fromkeys(report.files))


def _check_reused_ids(
    path: str, head: _HeadEvents, numbered: list[tuple[int, bytes]], report: DiagnoseReport
) -> None:
    """A new line under an event id HEAD has must be that event, as it was or re-written the
    way spec-kitty re-writes (its reader keeps the first line of an id: a second one with other
    content would silently change or hide the move)."""
    for number, line in numbered:
        event_id = event_id_of(line)
        found = head.first(event_id) if event_id is not None else None
        if found is None:
            continue
        head_number, head_line = found
        if line == head_line:
            continue  # the same line again: changes nothing
        new, old = _json_object(line), _json_object(head_line)
        if new is None or (old is not None and _same_record(old, new)):
            continue  # a line that is no JSON is reported as such already
        what = (
            "was modified"
            if head_number == number
            else f"re-uses the event id of line {head_number} of HEAD with other content"
        )
        report.head_lines_changed += 1
        report.append_only_problems += 1
        report.add(
            Problem(
                path,
                number,
                (
                    f"status.events.jsonl is append-only: line {number} {what} (expected "
                    "existing events kept as they were; a new move is a new line with its own "
                    "event_id)",
                ),
            )
        )


class _HeadEvents:
    """HEAD's lines by event id, the first of each (as spec-kitty's reducer keeps it), found
    only for the ids asked about: a commit that appends a line to a big log must not parse it."""

    def __init__(self, before: bytes, asked: list[tuple[int, bytes]]) -> None:
        self._before = before
        wanted = {i for _, line in asked if (i := event_id_of(line)) is not None}
        # A few ids: find them by bytes first; most appear nowhere in HEAD.
        if len(wanted) <= 32:
            wanted = {i for i in wanted if i.encode("utf-8", "surrogatepass") in before}
        self._first: dict[str, tuple[int, bytes]] = {}
        if wanted:
            for number, line in enumerate(_lines(before), start=1):
                event_id = event_id_of(line)
                if event_id in wanted and event_id not in self._first:
                    self._first[event_id] = (number, line)

    def first(self, event_id: str) -> tuple[int, bytes] | None:
        return self._first.get(event_id)


class _KnownContents:
    """What a log is at the other commits of the repository: asked only when a change drops
    lines of HEAD, so an append never pays for it.

    The commits are those reachable from a branch, a remote-tracking branch, a tag or HEAD
    (their ancestors and merge bases included), less the commits being checked: under
    `pre-commit run --from-ref A --to-ref B` the range's own commits would vouch for
    themselves.
    """

    def __init__(self, root: Path, base: str, target: str) -> None:
        self._root = root
        refs = ["--branches", "--remotes", "--tags", "HEAD"]
        self._walks = [[*refs, "--not", target], [base]] if target else [refs]

    def restored_prefix(self, path: str, after: bytes) -> int | None:
        """The length of the longest start of `after` (all of it, or whole lines) that is a
        content the path has at one of those commits; None when there is none. An empty
        content followed by lines is no restore: it would vouch for any log at all."""
        from kitty_hooks.gitrepo import history as git_history  # only when lines are lost

        try:
            versions = git_history.path_versions(self._root, path, self._walks)
        except FatalError:
            return None  # git refusing a ref (a tag of a tree): judged as a rewrite
        if not versions:
            return None
        import hashlib  # only here, off the path of an append

        # git names a blob by the hash of a header and its bytes: sha1, or sha256 (64 digits).
        new_hash = hashlib.sha1 if len(next(iter(versions))) == 40 else hashlib.sha256
        ids = set(versions)
        view = memoryview(after)
        for size in sorted({s for s in versions.values() if 0 < s <= len(after)}, reverse=True):
            if size < len(after) and after[size - 1] != 0x0A:
                continue
            digest = new_hash(b"blob %d\0" % size)
            digest.update(view[:size])
            if digest.hexdigest() in ids:
                return size
        return None


def _only_new_events_follow(before: bytes, after: bytes, restored: int) -> bool:
    """Whether the lines after a restored content are new events: none carries an event id that
    HEAD has and the restored content has not. Otherwise lines of HEAD were kept and others
    dropped (an edit, or a deletion in HEAD's own lines): a rewrite."""
    follow = {i for line in _lines(after[restored:]) if (i := event_id_of(line)) is not None}
    if not follow:
        return True
    in_head = {i for line in _lines(before) if (i := event_id_of(line)) in follow}
    restored_ids = {i for line in _lines(after[:restored]) if (i := event_id_of(line)) in in_head}
    return in_head <= restored_ids


_REWRITES_SHOWN = 10
# Fields spec-kitty's state rebuild adds to a line it writes again.
_ADDED_BY_REBUILD = frozenset({"mission_slug", "work_package_id", "mission_id"})


def _same_record(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """new is old as spec-kitty re-writes it: an envelope keeps its event_type and payload; a
    line keeps every field with its value and type (feature_slug may become mission_slug) and
    gains only what the state rebuild adds."""
    if "event_type" in old:
        return new.get("event_type") == old["event_type"] and _same_value(
            new.get("payload"), old.get("payload")
        )
    for name, value in old.items():
        if name == "feature_slug" and "feature_slug" not in new:
            if new.get("mission_slug") != value:
                return False
        elif name not in new or not _same_value(new[name], value):
            return False
    return set(new) - set(old) <= _ADDED_BY_REBUILD


def _same_value(left: Any, right: Any) -> bool:
    # json.dumps tells 1, 1.0 and true apart, which == does not.
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _json_object(line: bytes) -> dict[str, Any] | None:
    """The line as the JSON object spec-kitty reads (json.loads), None when its readers
    reject it too."""
    if not line.strip().startswith(b"{"):
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None
