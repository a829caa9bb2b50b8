"""Turn commits into queued events: the post-commit hook, the post-rewrite hook and `scan`.

Git is read in a fixed number of calls, however large the commit or the range: diff-tree or log
for the changes, one cat-file for every blob. The queue is opened only when there is something
to queue. Most commits touch no kitty-specs file and cost one git call.
"""

from __future__ import annotations

import gc
from collections import ChainMap
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import closing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitty_hooks.errors import FatalError
from kitty_hooks.gitrepo import blobs as git_blobs
from kitty_hooks.gitrepo import history as git_history
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.locations import log_line, log_path
from kitty_hooks.model.layout import PROJECT_CONFIG, SPECS_DIR, may_hold_lane_changes_at
from kitty_hooks.wording import plural

if TYPE_CHECKING:
    from kitty_hooks.capture.commit_context import Skipped
    from kitty_hooks.model.events import Envelope, Identity, LaneChange
    from kitty_hooks.queue.store import EventQueue

_PATHS = (SPECS_DIR,)
# A hook may not hold git up: past this wait for a busy queue it spools instead.
HOOK_BUSY_TIMEOUT_MS = 1500
CLI_BUSY_TIMEOUT_MS = 10_000
# One queue transaction (and one open and checkpoint of the queue) per this many commits: a
# few thousand events, ~0.1 s of holding the write lock, a progress step every second or so.
_COMMITS_PER_ENQUEUE = 2000


class CaptureResult:
    """What capture found and did. A plain class: the hook cannot afford dataclasses' import."""

    def __init__(self, commits: int = 0) -> None:
        self.commits = commits
        self.queued: list[str] = []
        self.duplicates: list[str] = []
        self.no_ops = 0
        self.skipped: list[Skipped] = []
        # Found, but not queued: the server would refuse them (a folder name that is no slug).
        self.unsendable: list[Skipped] = []
        self.recovered_from: Path | None = None
        # Found, but the queue could not take them: kept in the spool until the next capture or
        # flush; and why, when the queue was not merely busy (a directory, corrupt...).
        self.spooled: list[str] = []
        self.queue_problem: str | None = None
        # Appended log lines that restate history (they sort before their WP's latest
        # transition, or repeat its lane): read, not sent.
        self.history: list[Skipped] = []
        # Unsent events an amend or rebase rewrote away.
        self.discarded = 0
        # Event id -> the commit it was found in, and the repository, for the queue (orphans).
        self.commit_of: dict[str, str] = {}
        self.repo_dir: str | None = None


class NotQueued(FatalError):
    """Lane changes neither the queue nor the spool could take (a full disk, say)."""

    def __init__(self, queue_problem: str, spool_problem: str) -> None:
        super().__init__(
            f"{queue_problem}; and the spool could not be written either ({spool_problem}): "
            "these lane changes are not queued - run `kitty-hooks scan` over this commit once "
            "it is fixed"
        )
        self.queue_problem = queue_problem
        self.spool_problem = spool_problem


def describe(result: CaptureResult, hook: str) -> str | None:
    """The one line a capture has for its user (None: nothing to say); the details are logged.

    The hook prints it; the journal's drainer, which has no terminal, keeps it for the next hook.
    """
    notes: list[str] = []
    if result.recovered_from is not None:
        notes.append(f"the event queue was unreadable and was moved to {result.recovered_from}")
    if result.spooled:
        changes = plural(len(result.spooled), "lane change")
        problem = result.queue_problem
        if problem is None:
            notes.append(
                f"the event queue is busy: {changes} kept in the spool until the next commit or push"
            )
        else:
            log_line(f"hook {hook}: {problem}")
            notes.append(f"{problem}; {changes} kept in the spool until the queue can be opened")
    if result.skipped:
        for skipped in result.skipped:
            log_line(f"hook {hook}: skipped {skipped.render()}")
        unread = plural(len(result.skipped), "file or line", "files or lines")
        notes.append(f"{unread} could not be read as lane changes")
    for refused in result.unsendable:
        log_line(f"hook {hook}: not queued {refused.render()}")
    for restated in result.history:
        # Not a problem: a data migration restating old moves. Logged, never said.
        log_line(f"hook {hook}: history, not a move: {restated.render()}")
    if result.unsendable:
        first = result.unsendable[0]
        more = len(result.unsendable) - 1
        notes.append(
            f"not queued: {first.reason}" + (f" (and {more} more like it)" if more else "")
        )
    if not notes:
        return None
    return f"{'; '.join(notes)} (details in {log_path()})"


def capture_commit(
    cwd: Path,
    rev: str = "HEAD",
    *,
    head_ref: str | None = None,
    queue_path: Path | None = None,
    busy_timeout_ms: int = HOOK_BUSY_TIMEOUT_MS,
    execution_mode: str | None = None,
) -> CaptureResult:
    """Queue the lane changes of one commit (the post-commit hook, or the journal's drainer).

    The project config is read at the commit, and head_ref (what HEAD named when the commit
    was made: refs/heads/<branch>, or HEAD when detached) gives the branch: the journal's
    drainer runs a moment later, when another branch may be checked out. execution_mode:
    "worktree" for a commit made in a linked worktree that is gone (cwd is another work tree
    of the same repository); None: as cwd is.
    """
    commit = git_history.read_commit(cwd, rev, paths=_PATHS)
    result = CaptureResult(commits=1)
    chunks = _envelope_chunks(
        cwd,
        [commit],
        result,
        execution_mode=execution_mode,
        config_rev=commit.sha,
        head_ref=head_ref,
        queue_path=queue_path,
    )
    for envelopes in chunks:
        _enqueue(envelopes, queue_path, result, busy_timeout_ms=busy_timeout_ms)
    return result


def capture_commits(
    cwd: Path,
    revs: list[str],
    *,
    head_ref: str | None = None,
    queue_path: Path | None = None,
    busy_timeout_ms: int = HOOK_BUSY_TIMEOUT_MS,
    execution_mode: str | None = None,
) -> CaptureResult:
    """capture_commit for several commits made one after the other on one branch (the journal's
    drainer, behind a rebase), in the order given: the same events, with git read in a few
    calls for them all and one queue transaction. The config is read at each commit, as
    capture_commit reads it: the commits are taken in runs that share its version."""
    commits = git_history.read_commits(cwd, list(dict.fromkeys(revs)), paths=_PATHS)
    result = CaptureResult(commits=len(commits))
    moving = [c for c in commits if _may_capture(c)]
    configs = git_blobs.read_blobs(cwd, [f"{c.sha}:{PROJECT_CONFIG}" for c in moving])
    envelopes: list[Envelope] = []
    produced: dict[tuple[str, str], str] = {}  # what the runs before a merge built
    start = 0
    for end in range(1, len(moving) + 1):
        if end < len(moving) and configs[end] == configs[start]:
            continue
        for chunk in _envelope_chunks(
            cwd,
            moving[start:end],
            result,
            execution_mode=execution_mode,
            config_rev=moving[start].sha,
            head_ref=head_ref,
            queue_path=queue_path,
            produced=produced,
        ):
            envelopes += chunk
        start = end
    _enqueue(envelopes, queue_path, result, busy_timeout_ms=busy_timeout_ms)
    return result


def scan(
    cwd: Path,
    revision_range: str,
    *,
    queue_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CaptureResult:
    """Backfill: queue the lane changes of every commit in a range, oldest first.

    Idempotent with what is queued or was delivered: event ids are derived from the changes,
    so commits seen before only add duplicates. A past commit's worktree is unknown, so moves
    not taken from a log line are recorded as direct_repo. The events one scan queues share
    one correlation id (python-ulid: a scan is one execution).
    """
    # A scan makes millions of small objects (commits, lines, transitions, envelopes) and keeps
    # few: the cyclic collector would walk the survivors again and again for nothing (reference
    # counting frees the rest). Off while it runs, back on after: ~15% of a scan.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _scan(cwd, revision_range, queue_path=queue_path, progress=progress)
    finally:
        if collecting:
            gc.enable()


def _scan(
    cwd: Path,
    revision_range: str,
    *,
    queue_path: Path | None,
    progress: Callable[[int, int], None] | None,
) -> CaptureResult:
    import threading

    git_repo.repo_root(cwd)  # outside a work tree: say so plainly, not in git's words
    with git_history.start_commits(cwd, revision_range, paths=_PATHS) as log:
        # git walks the history for a few tenths of a second, and this thread mostly waits on
        # its pipe: another loads what the scan goes on to use meanwhile.
        loading = threading.Thread(target=_load_scan_modules, daemon=True)
        loading.start()
        commits = git_history.commits_oldest_first(log)
        loading.join()
    import orjson  # thousands of lines to read and envelopes to write: worth it here

    from kitty_hooks.model.events import new_ulid

    correlation_id = new_ulid()
    result = CaptureResult(commits=len(commits))
    chunks = _envelope_chunks(
        cwd,
        commits,
        result,
        execution_mode="direct_repo",
        correlation_id=correlation_id,
        progress=progress,
        loads=orjson.loads,
        queue_path=queue_path,
    )
    for envelopes in chunks:
        _enqueue(
            envelopes,
            queue_path,
            result,
            busy_timeout_ms=CLI_BUSY_TIMEOUT_MS,
            encode=_orjson_text,
        )
    return result


def _load_scan_modules() -> None:
    """Import what a scan uses once git has written the history: python-ulid alone takes
    ~50 ms. An import that fails here fails again, and is reported, where it is used."""
    try:
        import orjson  # noqa: F401
        import ulid  # noqa: F401

        from kitty_hooks.capture import detect, identity, merges  # noqa: F401
        from kitty_hooks.check import validation  # noqa: F401
        from kitty_hooks.queue import intake, spool, store  # noqa: F401
    except Exception:
        pass


def _orjson_text(value: Any) -> str:
    """The JSON the queue's own encoder writes (compact, UTF-8; a float may be spelt otherwise,
    1e-7 for 1e-07), several times faster; the queue's encoder for what orjson refuses (a lone
    surrogate, an integer past 64 bits). NaN and Infinity never get here: parsing refuses them."""
    import orjson

    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        from kitty_hooks.queue.intake import compact_json

        return compact_json(value)


def follow_rewrite(
    cwd: Path,
    rewritten: Mapping[str, str],
    *,
    queue_path: Path | None = None,
    superseded: Collection[str] = (),
) -> CaptureResult:
    """After amend or rebase (post-rewrite): make the queue match the rewritten history.

    Event ids do not depend on the commit id, so a move the rewrite kept keeps its id; the
    review_ref and evidence that named the old commit are pointed at the new one. A move that
    only the new commits make is queued; one that only the old commits made, and that was
    never sent, is dropped (an amend that changed `lane: for_review` to `lane: done`).
    superseded: new commits a later rewrite replaced (the journal follows rewrites in commit
    order): their moves are not queued; what the later rewrite kept, its own commits queue.
    """
    from kitty_hooks.queue.errors import QueueError
    from kitty_hooks.queue.store import EventQueue

    old = git_history.read_commits(cwd, list(dict.fromkeys(rewritten)), paths=_PATHS)
    new = git_history.read_commits(cwd, list(dict.fromkeys(rewritten.values())), paths=_PATHS)
    result = CaptureResult(commits=len(new))
    old_found = CaptureResult()
    slug_of = {
        e["event_id"]: e["payload"].get("feature_slug")
        for chunk in _envelope_chunks(cwd, old, old_found, execution_mode=None)
        for e in chunk
    }
    old_ids = set(slug_of)
    new_envelopes = [
        e for chunk in _envelope_chunks(cwd, new, result, execution_mode=None) for e in chunk
    ]
    stale = old_ids - {e["event_id"] for e in new_envelopes}
    if superseded:
        new_envelopes = [
            e for e in new_envelopes if result.commit_of.get(e["event_id"]) not in superseded
        ]
    # A move the rewrite took back from this branch, but that another ref still holds, still
    # happened: it stays queued. Its old commit held (`git branch review` before the amend):
    # one cheap look; else the same move in any commit a ref reaches (an earlier copy of the
    # commit kept by a branch before an earlier rewrite).
    spared = _still_held(cwd, {event_id: old_found.commit_of[event_id] for event_id in stale})
    if stale - spared:
        rest = stale - spared
        # HEAD's history too: the same move made twice within one second is one event (its
        # id is derived from the change and its time), and an earlier commit may hold it.
        spared |= frozenset(moves_on_refs(cwd, rest, {slug_of[e] for e in rest}))
    stale -= spared
    # The moves only the new commits make first: _enqueue spools them when the queue is busy,
    # so they are never lost to a failure of the tidying below.
    if new_envelopes:
        _enqueue(new_envelopes, queue_path, result, busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS)
    try:
        with EventQueue(queue_path, busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS) as queue:
            replace_queued_commit_refs(queue, rewritten, keep=spared)
            result.discarded = queue.discard_unsent(sorted(stale))
    except QueueError as exc:
        # Queued events then keep naming the old commits (and a rewritten-away move stays): the
        # server still gets every move; a later amend or `queue drop` can tidy up.
        result.queue_problem = result.queue_problem or str(exc)
    return result


def replace_queued_commit_refs(
    queue: EventQueue, rewritten: Mapping[str, str], *, keep: frozenset[str] = frozenset()
) -> int:
    """Point pending and failed events (but those in keep) at the commits an amend or rebase
    made of theirs (model.events.replace_commit_refs says which references). Returns how many
    entries changed."""
    from kitty_hooks.model.events import commit_rewrites, replace_commit_refs

    rewrites = commit_rewrites(rewritten)
    if not rewrites:
        return 0
    return queue.follow_commit_rewrites(
        rewrites, lambda envelope: replace_commit_refs(envelope, rewrites), keep=keep
    )


def moves_on_refs(
    cwd: Path,
    event_ids: Iterable[str],
    feature_slugs: Iterable[object],
) -> dict[str, str]:
    """Event id -> a commit some ref reaches that makes that very move, for those of event_ids
    that any does.

    One `git log --all` over the features named (every commit any ref reaches, however it is
    dated; all of kitty-specs/ when a slug is not a plain folder name), captured as a scan
    would, without queueing anything."""
    wanted = set(event_ids)
    slugs = set(feature_slugs)
    if slugs and all(
        isinstance(slug, str) and slug and "/" not in slug and not slug.startswith(".")
        for slug in slugs
    ):
        paths = tuple(sorted(f"{SPECS_DIR}/{slug}" for slug in slugs))
    else:
        paths = _PATHS
    with git_history.start_commits(cwd, "--all", paths=paths) as log:
        commits = git_history.commits_oldest_first(log)
    found = CaptureResult(commits=len(commits))
    for _ in _envelope_chunks(cwd, commits, found, execution_mode="direct_repo"):
        pass
    return {event_id: sha for event_id, sha in found.commit_of.items() if event_id in wanted}


def _still_held(cwd: Path, commit_of: Mapping[str, str]) -> frozenset[str]:
    """Those event ids whose commit (event id -> sha) some ref still reaches."""
    if not commit_of:
        return frozenset()
    gone = git_history.unreachable_commits(cwd, sorted(set(commit_of.values())))
    return frozenset(event_id for event_id, sha in commit_of.items() if sha not in gone)


def _envelope_chunks(
    cwd: Path,
    commits: list[git_history.CommitRecord],
    result: CaptureResult,
    *,
    execution_mode: str | None,
    correlation_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    loads: Callable[[bytes], Any] | None = None,
    config_rev: str = "HEAD",
    head_ref: str | None = None,
    queue_path: Path | None = None,
    produced: dict[tuple[str, str], str] | None = None,
) -> Iterator[list[Envelope]]:
    """The envelopes of the commits' lane changes, a list per chunk of commits.

    The project identity comes from the config at config_rev; the branch from head_ref when
    given, else from what is checked out now."""
    # Most commits touch no WP file: decide that before importing detection (hook start-up).
    moving: list[git_history.CommitRecord] = []
    relevant: list[list[git_history.FileChange]] = []  # each commit's, worked out once
    for commit in commits:
        changes = [c for c in commit.changes if may_hold_lane_changes_at(c.path)]
        if changes:  # a merge too: it may settle, from what its changes name
            moving.append(commit)
            relevant.append([] if commit.is_merge else changes)
    if progress is not None:
        progress(len(commits) - len(moving), len(commits))
    if not moving:
        return
    from kitty_hooks.capture.commit_context import CommitContext, Skipped
    from kitty_hooks.capture.detect import blobs_needed, detect_lane_changes
    from kitty_hooks.capture.identity import project_identity, repo_name
    from kitty_hooks.capture.log_changes import LogMemory

    layout = git_repo.repo_layout(cwd)
    result.repo_dir = str(layout.common_dir)

    @cache
    def origin() -> str | None:  # one git call, and only when something needs it
        return git_repo.remote_url(layout.top)

    context = CommitContext(
        execution_mode=execution_mode
        or ("worktree" if layout.is_linked_worktree else "direct_repo"),
        branch=layout.branch if head_ref is None else _branch_of(head_ref),
        repo_name=cache(lambda: repo_name(layout, origin())),
        loads=loads,
    )
    # Every blob once, in the order the commits first need it, read as git writes it; a blob
    # is dropped after the last commit that needs it, so memory holds about one version of
    # each file, not every version of every log.
    needed: list[list[str]] = []
    logs_read: set[str] = set()  # a scan's memory stands in for logs it has read
    for commit, changes in zip(moving, relevant, strict=True):
        if commit.is_merge:
            from kitty_hooks.capture.merges import merge_blobs

            needed.append(merge_blobs(commit))
            continue
        blobs, logged = blobs_needed(
            commit, logs_known=logs_read if len(moving) > 1 else (), changes=changes
        )
        needed.append(blobs)
        logs_read.update(logged)
    last_use = {blob: index for index, blobs in enumerate(needed) for blob in blobs}
    specs = [f"{config_rev}:{PROJECT_CONFIG}", *last_use]  # the config rides along, first
    held: dict[str, bytes | None] = {}
    memory = LogMemory() if len(moving) > 1 else None

    def lane_at_parent(commit: git_history.CommitRecord) -> Callable[[str, str], str | None]:
        return lambda feature, wp_id: _wp_lane_at(layout.top, commit, feature, wp_id)

    # What the dashboard shows of each WP, for a merge to compare with: what the queue had
    # (read at the first merge), and over it what this run built.
    queued: dict[tuple[str, str], str] | None = None
    produced = {} if produced is None else produced
    with closing(git_blobs.stream_blobs(layout.top, specs)) as stream:
        identity = project_identity(layout, next(stream), origin)
        for start in range(0, len(moving), _COMMITS_PER_ENQUEUE):
            envelopes: list[Envelope] = []
            chunk = moving[start : start + _COMMITS_PER_ENQUEUE]
            for index, commit in enumerate(chunk, start=start):
                for blob in needed[index]:
                    if blob not in held:
                        held[blob] = next(stream)
                if commit.is_merge:
                    from kitty_hooks.capture.merges import settling_moves

                    if queued is None:
                        queued = _board_from_queue(queue_path, identity.project_uuid)
                    board = ChainMap(produced, queued)
                    settles = settling_moves(commit, held, context, board, memory)
                    built = _envelopes(commit, settles, identity, correlation_id, result)
                    _remember_lanes(produced, built)
                    envelopes += built
                    for blob in needed[index]:
                        if last_use[blob] == index:
                            held.pop(blob, None)
                    continue
                detected = detect_lane_changes(
                    commit,
                    held,
                    context,
                    memory=memory,
                    lane_at_parent=lane_at_parent(commit),
                    changes=relevant[index],
                )
                for blob in needed[index]:
                    if last_use[blob] == index:
                        held.pop(blob, None)
                result.skipped += [
                    Skipped(f"{commit.sha[:12]} {s.path}", s.reason) for s in detected.skipped
                ]
                result.history += detected.history
                changes = in_time_order(detected.changes)
                built = _envelopes(commit, changes, identity, correlation_id, result)
                _remember_lanes(produced, built)
                envelopes += built
            yield envelopes
            if progress is not None:
                progress(len(chunk), len(commits))


def in_time_order(changes: list[LaneChange]) -> list[LaneChange]:
    """A commit's moves in (at, event_id) order, each work package's own in the order found
    (its last one sets its lane, whatever its time)."""
    if len(changes) < 2:
        return changes
    own: dict[tuple[str, str], list[LaneChange]] = {}
    for change in changes:
        own.setdefault((change.feature_slug, change.wp_id), []).append(change)
    order = sorted(changes, key=lambda c: (c.at, c.event_id or ""))
    taken = {key: iter(queue) for key, queue in own.items()}
    return [next(taken[(c.feature_slug, c.wp_id)]) for c in order]


def _wp_lane_at(
    top: Path, commit: git_history.CommitRecord, feature: str, wp_id: str
) -> str | None:
    """The lane a WP's file gave at the commit's first parent (None: no file, or no lane): a
    hook meets a WP's first log line without its file once per WP."""
    from kitty_hooks.capture.wp_changes import wp_lane

    if not commit.parents:
        return None
    parent = commit.parents[0]
    tasks = f"{SPECS_DIR}/{feature}/tasks"
    paths = [
        p
        for p in git_blobs.paths_under(top, parent, tasks)
        if p.rsplit("/", 1)[-1].startswith(wp_id) and p.endswith(".md")
    ]
    if len(paths) != 1:
        return None
    (data,) = git_blobs.read_blobs(top, [f"{parent}:{paths[0]}"])
    return wp_lane(paths[0], data)


def _board_from_queue(queue_path: Path | None, project_uuid: str) -> dict[tuple[str, str], str]:
    """(feature, WP) -> the sync lane of the last move queued or delivered for it."""
    from kitty_hooks.queue.database import default_queue_path
    from kitty_hooks.queue.errors import QueueError
    from kitty_hooks.queue.store import EventQueue

    prefix = f"{project_uuid}/"
    if not (queue_path or default_queue_path()).exists():
        return {}
    try:
        with EventQueue(queue_path, busy_timeout_ms=HOOK_BUSY_TIMEOUT_MS) as queue:
            sent = queue.lanes_sent(prefix)
    except QueueError:
        return {}  # then the first parent's view stands in for it
    board: dict[tuple[str, str], str] = {}
    for key, lane in sent.items():
        feature, _, wp_id = key[len(prefix) :].rpartition("/")
        board[(feature, wp_id)] = lane
    return board


def _remember_lanes(board: dict[tuple[str, str], str], built: list[Envelope]) -> None:
    for envelope in built:
        payload = envelope["payload"]
        board[(payload["feature_slug"], payload["wp_id"])] = payload["to_lane"]


def _may_capture(commit: git_history.CommitRecord) -> bool:
    """A commit (a merge too: it may settle) that changes a log or a WP file."""
    return any(may_hold_lane_changes_at(c.path) for c in commit.changes)


def _envelopes(
    commit: git_history.CommitRecord,
    changes: Iterable[LaneChange],
    identity: Identity,
    correlation_id: str | None,
    result: CaptureResult,
) -> list[Envelope]:
    from kitty_hooks.capture.commit_context import Skipped
    from kitty_hooks.check.validation import unsendable_reason
    from kitty_hooks.model.events import (
        build_status_envelope,
        derive_ulid,
        iso_to_millis,
        move_timestamp,
    )

    built: list[Envelope] = []
    for change in changes:
        try:
            envelope = build_status_envelope(
                change,
                identity=identity,
                lamport_clock=0,  # the queue ticks the clock as it stores the event
                timestamp=move_timestamp(change.at, commit.author_date),
                correlation_id=correlation_id
                or derive_ulid(iso_to_millis(commit.author_date), "commit", commit.sha),
            )
        except ValueError as exc:  # a time before 1970 or past the ULID range, say
            result.skipped.append(Skipped(f"{commit.sha[:12]} {change.wp_id}", str(exc)))
            continue
        if envelope is None:
            result.no_ops += 1
            continue
        refused = unsendable_reason(envelope)
        if refused is not None:
            # Queued, it would fail every sync and end as a silent dead letter: say so now.
            result.unsendable.append(Skipped(f"{commit.sha[:12]} {change.wp_id}", refused))
            continue
        built.append(envelope)
        result.commit_of[envelope["event_id"]] = commit.sha
    return built


def _enqueue(
    envelopes: list[Envelope],
    queue_path: Path | None,
    result: CaptureResult,
    *,
    busy_timeout_ms: int,
    encode: Callable[[Any], str] | None = None,
) -> None:
    from kitty_hooks.queue import spool
    from kitty_hooks.queue.errors import QueueBusy, QueueError
    from kitty_hooks.queue.store import EventQueue

    if not envelopes:
        return
    try:
        with EventQueue(queue_path, busy_timeout_ms=busy_timeout_ms) as queue:
            spool.drain(queue)  # what an earlier hook could not queue goes first
            outcome = queue.enqueue(
                envelopes, commits=result.commit_of, repo=result.repo_dir, encode=encode
            )
            result.recovered_from = result.recovered_from or queue.recovered_from
    except QueueError as exc:
        # Locked or unreadable: keep what was found rather than lose it.
        try:
            spool.spool(envelopes, commits=result.commit_of, repo=result.repo_dir)
        except OSError as spool_error:
            raise NotQueued(str(exc), spool_error.strerror or str(spool_error)) from exc
        result.spooled += [e["event_id"] for e in envelopes]
        if not isinstance(exc, QueueBusy):
            result.queue_problem = str(exc)
        return
    result.queued += outcome.queued
    result.duplicates += outcome.duplicates


def _branch_of(head_ref: str) -> str | None:
    """The branch a ref git printed for HEAD names; None for a detached HEAD ("HEAD")."""
    prefix = "refs/heads/"
    return head_ref[len(prefix) :] if head_ref.startswith(prefix) else None
