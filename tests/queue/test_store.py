from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kitty_hooks.capture.commits import replace_queued_commit_refs
from kitty_hooks.check import validation
from kitty_hooks.locations import log_path, spec_kitty_dir
from kitty_hooks.model.events import causation_key, derive_ulid
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.entries import EnqueueResult, Status, Verdict
from kitty_hooks.queue.errors import QueueError
from kitty_hooks.queue.schema import SCHEMA_VERSION
from kitty_hooks.queue.store import EventQueue

PROJECT = "63c8d621-4b64-48e2-86fc-56c667068f2f"
OLD_SHA = "3f2a9c1d7e4b5a6f8091a2b3c4d5e6f708192a3b"
NEW_SHA = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807"


def envelope(
    n: int,
    *,
    wp: str = "WP01",
    feature: str = "039-cli-2x-readiness",
    event_type: str = "WPStatusChanged",
    review_ref: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete, schema-valid envelope whose id is fixed by n (and the WP it moves)."""
    at = 1_763_600_000_000 + n * 1000
    return {
        "event_id": derive_ulid(at, "test", feature, wp, str(n)),
        "event_type": event_type,
        "aggregate_id": wp,
        "payload": {
            "feature_slug": feature,
            "wp_id": wp,
            "from_lane": "planned",
            "to_lane": "doing",
            "actor": "ada",
            "force": False,
            "reason": None,
            "execution_mode": "worktree",
            "review_ref": review_ref,
            "evidence": evidence,
        },
        "timestamp": "2026-11-20T10:00:00.000+00:00",
        "node_id": "b805cd5cee74",
        "lamport_clock": 0,
        "causation_id": None,
        "project_uuid": PROJECT,
        "project_slug": "kitty-cli",
        "correlation_id": derive_ulid(at, "correlation"),
        "schema_version": "1.0.0",
        "data_tier": 0,
    }


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "queue.db"


@pytest.fixture
def queue(path: Path):
    with EventQueue(path) as opened:
        yield opened


def ids(*envelopes: dict[str, Any]) -> tuple[str, ...]:
    return tuple(e["event_id"] for e in envelopes)


def clocks(queue: EventQueue) -> list[int]:
    return [entry.envelope["lamport_clock"] for entry in queue.list_entries()]


# --- where it lives --------------------------------------------------------------------------


def test_default_path_is_our_own_folder_not_the_cli_queue() -> None:
    assert default_queue_path() == Path(os.environ["KITTY_HOOKS_HOME"]) / "queue.db"
    assert default_queue_path() != spec_kitty_dir() / "queue.db"


def test_queue_with_no_path_opens_the_default_file() -> None:
    with EventQueue() as queue:
        queue.enqueue([envelope(1)])
    assert default_queue_path().is_file()


# --- enqueue ---------------------------------------------------------------------------------


def test_enqueue_stores_the_envelope_with_the_node_clock_and_causation_it_set(
    queue: EventQueue,
) -> None:
    sent = envelope(1)
    sent["lamport_clock"] = 77
    sent["causation_id"] = derive_ulid(1, "someone else")

    result = queue.enqueue([sent])

    assert result == EnqueueResult(queued=ids(sent), duplicates=())
    assert sent["lamport_clock"] == 77, "the caller's mapping is not changed"
    entry = queue.get(sent["event_id"])
    assert entry is not None
    assert entry.envelope == {
        **sent,
        "node_id": queue.node_id(),
        "lamport_clock": 1,
        "causation_id": None,
    }
    assert validation.is_valid(validation.ENVELOPE_SCHEMA, entry.envelope)
    assert (entry.event_type, entry.status, entry.retry_count) == (
        "WPStatusChanged",
        Status.PENDING,
        0,
    )
    assert entry.last_attempt_at is entry.last_error is entry.error_category is None
    assert datetime.fromisoformat(entry.created_at).utcoffset().total_seconds() == 0


def test_an_id_already_queued_is_a_duplicate_and_ticks_no_clock(queue: EventQueue) -> None:
    a, b, c = envelope(1), envelope(2), envelope(3)
    queue.enqueue([a, b])

    result = queue.enqueue([b, c, c])

    assert result == EnqueueResult(queued=ids(c), duplicates=(b["event_id"], c["event_id"]))
    assert clocks(queue) == [1, 2, 3]
    assert queue.lamport_clock() == 3


def test_a_delivered_id_stays_known_so_a_backfill_does_not_queue_it_again(
    queue: EventQueue,
) -> None:
    a, b = envelope(1), envelope(2)
    queue.enqueue([a, b])
    assert queue.mark_delivered([a["event_id"]]) == 1

    result = queue.enqueue([a, b, envelope(3)])

    assert result.duplicates == ids(a, b)
    assert [e.event_id for e in queue.list_entries()] == [b["event_id"], envelope(3)["event_id"]]


def test_enqueue_of_nothing_changes_nothing(queue: EventQueue) -> None:
    assert queue.enqueue([]) == EnqueueResult((), ())
    assert queue.lamport_clock() == 0


def test_an_envelope_without_an_id_is_refused_and_nothing_of_its_batch_is_kept(
    queue: EventQueue,
) -> None:
    broken = envelope(2)
    del broken["event_id"]
    with pytest.raises(ValueError, match="event_id"):
        queue.enqueue([envelope(1), broken])
    assert queue.list_entries() == []
    assert queue.lamport_clock() == 0


def test_lamport_clock_strictly_increases_across_reopen_and_delivery(path: Path) -> None:
    with EventQueue(path) as queue:
        queue.enqueue([envelope(n) for n in range(3)])
        queue.mark_delivered([envelope(n)["event_id"] for n in range(3)])
    with EventQueue(path) as queue:
        queue.enqueue([envelope(3)])
        queue.enqueue([envelope(4), envelope(5)])
        assert clocks(queue) == [4, 5, 6]
    with EventQueue(path) as queue:
        queue.enqueue([envelope(6)])
        assert clocks(queue) == [4, 5, 6, 7]


def test_removing_the_newest_entries_never_frees_their_clock_values(path: Path) -> None:
    with EventQueue(path) as queue:
        queue.enqueue([envelope(1), envelope(2), envelope(3)])
        queue.mark_rejected(envelope(3)["event_id"], "bad", "schema_mismatch", retry_limit=1)
        assert queue.purge_dead() == 1
    with EventQueue(path) as queue:
        queue.enqueue([envelope(4)])
        queue.mark_delivered([envelope(n)["event_id"] for n in (1, 2, 4)])
        assert queue.list_entries() == []
    with EventQueue(path) as queue:
        queue.enqueue([envelope(5)])
        assert clocks(queue) == [5]


def test_causation_links_each_event_to_the_previous_one_of_its_work_package(
    queue: EventQueue,
) -> None:
    a1, b1 = envelope(1, wp="WP01"), envelope(2, wp="WP02")
    a2, a3 = envelope(3, wp="WP01"), envelope(4, wp="WP01")
    other_feature = envelope(5, wp="WP01", feature="040-other")
    queue.enqueue([a1, b1, a2])
    queue.enqueue([a3, other_feature])

    causes = {e.event_id: e.envelope["causation_id"] for e in queue.list_entries()}

    assert causes == {
        a1["event_id"]: None,
        b1["event_id"]: None,
        a2["event_id"]: a1["event_id"],
        a3["event_id"]: a2["event_id"],
        other_feature["event_id"]: None,
    }
    assert causation_key(a1) == f"{PROJECT}/039-cli-2x-readiness/WP01"
    assert queue.last_event_id_for(causation_key(a1)) == a3["event_id"]
    assert queue.last_event_id_for("nothing/here") is None


def test_other_event_types_chain_by_aggregate_id(queue: EventQueue) -> None:
    first = envelope(1, wp="039-cli", event_type="FeatureCreated")
    second = envelope(2, wp="039-cli", event_type="FeatureUpdated")
    queue.enqueue([first, second])
    assert causation_key(first) == "039-cli"
    assert queue.get(second["event_id"]).envelope["causation_id"] == first["event_id"]


def test_causation_chain_survives_delivery_and_reopen(path: Path) -> None:
    first, second = envelope(1), envelope(2)
    with EventQueue(path) as queue:
        queue.enqueue([first])
        queue.mark_delivered([first["event_id"]])
    with EventQueue(path) as queue:
        queue.enqueue([second])
        assert queue.get(second["event_id"]).envelope["causation_id"] == first["event_id"]


# --- reading ---------------------------------------------------------------------------------


def test_list_entries_is_fifo_and_filters_by_status(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n % 3:02d}") for n in range(6)]
    queue.enqueue(batch[:2])
    queue.enqueue(batch[2:])
    queue.mark_rejected(batch[1]["event_id"], "bad lane", "schema_mismatch")
    queue.mark_rejected(batch[4]["event_id"], "bad lane", "schema_mismatch", retry_limit=1)

    assert [e.event_id for e in queue.list_entries()] == list(ids(*batch))
    assert [e.event_id for e in queue.list_entries(limit=2)] == list(ids(*batch[:2]))
    assert [
        e.event_id for e in queue.list_entries(statuses=[Status.FAILED, Status.DEAD_LETTER])
    ] == list(ids(batch[1], batch[4]))
    with pytest.raises(ValueError, match="unknown queue status 'sent'"):
        queue.list_entries(statuses=["sent"])


def test_get_accepts_a_unique_prefix(queue: EventQueue) -> None:
    a, b = envelope(1), envelope(2)
    queue.enqueue([a, b])
    common = next(
        a["event_id"][:n] for n in range(26, -1, -1) if b["event_id"].startswith(a["event_id"][:n])
    )

    assert queue.get(a["event_id"][: len(common) + 1]).event_id == a["event_id"]
    assert queue.get("ZZZZ") is None
    with pytest.raises(QueueError, match="several queued event ids"):
        queue.get(common)


# --- commit rewrites -------------------------------------------------------------------------


def test_replace_commit_refs_rewrites_pending_and_failed_events_only(queue: EventQueue) -> None:
    review = envelope(1, review_ref=OLD_SHA)
    done = envelope(
        2,
        wp="WP02",
        evidence={
            "repos": [
                {"repo": "kitty/cli", "branch": "main", "commit": OLD_SHA[:7]},
                {"repo": "kitty/saas", "branch": "main", "commit": "0123456789abcdef"},
            ],
            "review": {"reviewer": "Grace", "verdict": "approved"},
        },
    )
    failed = envelope(3, wp="WP03", review_ref=OLD_SHA.upper()[:12])
    dead = envelope(4, wp="WP04", review_ref=OLD_SHA)
    elsewhere = envelope(5, wp="WP05", review_ref="feedback://039/WP05/r1.md")
    queue.enqueue([review, done, failed, dead, elsewhere])
    queue.mark_rejected(failed["event_id"], "boom", "server_error")
    queue.mark_rejected(dead["event_id"], "boom", "server_error", retry_limit=1)

    assert replace_queued_commit_refs(queue, {OLD_SHA: NEW_SHA}) == 3

    def payload(e: dict[str, Any]) -> dict[str, Any]:
        return queue.get(e["event_id"]).envelope["payload"]

    assert payload(review)["review_ref"] == NEW_SHA
    assert [r["commit"] for r in payload(done)["evidence"]["repos"]] == [
        NEW_SHA,
        "0123456789abcdef",
    ]
    assert payload(failed)["review_ref"] == NEW_SHA
    assert payload(dead)["review_ref"] == OLD_SHA
    assert payload(elsewhere)["review_ref"] == "feedback://039/WP05/r1.md"
    assert replace_queued_commit_refs(queue, {OLD_SHA: NEW_SHA}) == 0


def test_replace_commit_refs_leaves_an_ambiguous_abbreviation_alone(queue: EventQueue) -> None:
    short = envelope(1, review_ref=OLD_SHA[:8])
    queue.enqueue([short])
    twin = OLD_SHA[:8] + "f" * 32
    assert replace_queued_commit_refs(queue, {OLD_SHA: NEW_SHA, twin: "1" * 40}) == 0
    assert replace_queued_commit_refs(queue, {}) == 0


# --- the file: versions, corruption, errors --------------------------------------------------


def test_a_new_file_is_migrated_from_version_zero(path: Path) -> None:
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()  # an empty database: user_version 0
    with EventQueue(path) as queue:
        queue.enqueue([envelope(1)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"entries", "known_events", "causation"} <= tables


def test_a_file_from_a_future_version_is_refused_and_left_alone(path: Path) -> None:
    with EventQueue(path) as queue:
        queue.enqueue([envelope(1)])
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()

    with pytest.raises(QueueError, match=r"newer kitty-hooks .*upgrade kitty-hooks"):
        EventQueue(path)

    assert path.read_bytes() == before
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_the_spec_kitty_cli_queue_is_not_taken_over(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE"
            " NOT NULL, event_type TEXT NOT NULL, data TEXT NOT NULL, timestamp INTEGER NOT NULL,"
            " retry_count INTEGER DEFAULT 0)"
        )
    with pytest.raises(QueueError, match=r"not a kitty-hooks queue .*queue"):
        EventQueue(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0


def test_a_garbage_file_is_moved_aside_with_its_wal_and_a_new_queue_starts(path: Path) -> None:
    path.parent.mkdir(parents=True)
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"wal" * 100)
    Path(f"{path}-shm").write_bytes(b"shm" * 100)

    with EventQueue(path) as queue:
        aside = queue.recovered_from
        assert aside is not None
        assert aside.name.startswith("queue.db.corrupt-") and aside.name.endswith("Z")
        assert aside.read_bytes() == garbage
        assert Path(f"{aside}-wal").read_bytes() == b"wal" * 100
        assert Path(f"{aside}-shm").exists()
        result = queue.enqueue([envelope(1)])
        assert result.queued == ids(envelope(1))
        # Nothing of the old clock could be read: the new one starts above any count of events.
        assert queue.lamport_clock() > 1_000_000_000_000
    assert "corrupt" in log_path().read_text(encoding="utf-8")

    with EventQueue(path) as again:
        assert again.recovered_from is None, "a recovered queue is not recovered twice"
        assert len(again.list_entries()) == 1


def test_a_truncated_file_is_moved_aside_and_the_clock_never_goes_back(path: Path) -> None:
    with EventQueue(path) as queue:
        queue.enqueue([envelope(n, wp=f"WP{n % 40:02d}") for n in range(800)])
        highest = queue.lamport_clock()
    with path.open("r+b") as db:
        db.truncate(path.stat().st_size // 2)

    with EventQueue(path) as queue:
        # The damage shows on open or at the latest on the first read.
        queue.list_entries()
        assert queue.recovered_from is not None
        queue.enqueue([envelope(1000)])
        assert queue.lamport_clock() > highest
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()


def test_a_locked_queue_fails_quickly_with_a_clear_error(path: Path) -> None:
    with EventQueue(path) as queue:
        queue.enqueue([envelope(1)])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with EventQueue(path, busy_timeout_ms=200) as queue:
            started = time.monotonic()
            with pytest.raises(QueueError, match=r"is locked by another process \(waited 0.2 s\)"):
                queue.enqueue([envelope(2)])
            assert time.monotonic() - started < 2
            assert [e.event_id for e in queue.list_entries()] == list(ids(envelope(1)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with EventQueue(path) as queue:
        assert queue.enqueue([envelope(2)]).queued == ids(envelope(2))


def test_disk_full_rolls_back_the_whole_batch_and_loses_nothing(queue: EventQueue) -> None:
    queue.enqueue([envelope(1)])
    conn = queue._conn  # fault injection: SQLite's own size limit answers SQLITE_FULL
    assert conn is not None
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    with pytest.raises(
        QueueError, match=r"disk full: cannot queue events .*nothing already queued was lost"
    ):
        queue.enqueue([envelope(n, wp=f"WP{n % 30:02d}") for n in range(2, 400)])

    assert [e.event_id for e in queue.list_entries()] == list(ids(envelope(1)))
    assert queue.lamport_clock() == 1
    conn.execute("PRAGMA max_page_count = 1073741823")
    assert queue.enqueue([envelope(2)]).queued == ids(envelope(2))
    assert clocks(queue) == [1, 2]


_OPEN_AND_ENQUEUE = """
import sys
from pathlib import Path
from kitty_hooks.queue.errors import QueueError
from kitty_hooks.queue.store import EventQueue
try:
    with EventQueue(Path(sys.argv[1])) as queue:
        queue.enqueue([{"event_id": "01KAAAAAAAAAAAAAAAAAAAAAAA", "event_type": "T",
                        "aggregate_id": "WP01", "payload": {}}])
except QueueError as error:
    print("QueueError:", error)
else:
    print("no error")
"""


def _run_without_root_powers(path: Path) -> str:
    """Open the queue in a child that the file permissions bind (root ignores them)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", _OPEN_AND_ENQUEUE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_read_only_folder_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        output = _run_without_root_powers(folder / "queue.db")
    finally:
        folder.chmod(0o755)
    assert output == (
        f"QueueError: the queue folder {folder} is not writable: make it writable or set "
        "KITTY_HOOKS_HOME to a folder you own"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_existing_queue_in_a_folder_made_read_only_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with EventQueue(path) as queue:
        queue.enqueue([envelope(1)])
    tmp_path.chmod(0o555)
    path.chmod(0o444)
    try:
        output = _run_without_root_powers(path)
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert output.startswith("QueueError: ")
    assert "writable" in output
    with EventQueue(path) as queue:
        assert [e.event_id for e in queue.list_entries()] == list(ids(envelope(1)))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_queue_folder_that_cannot_be_created_gives_a_clear_error(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        output = _run_without_root_powers(parent / "kitty-hooks" / "queue.db")
    finally:
        parent.chmod(0o755)
    assert output.startswith("QueueError: cannot create the queue folder ")
    assert "KITTY_HOOKS_HOME" in output


# --- for the flusher -------------------------------------------------------------------------


def test_pending_batch_is_fifo_and_skips_dead_letters(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(5)]
    queue.enqueue(batch)
    queue.mark_rejected(batch[0]["event_id"], "bad", "schema_mismatch")
    queue.mark_rejected(batch[1]["event_id"], "bad", "schema_mismatch", retry_limit=1)

    assert queue.outgoing_page(10).event_ids == ids(batch[0], *batch[2:])
    assert queue.outgoing_page(2).event_ids == ids(batch[0], batch[2])
    assert queue.outgoing_page(10, retry_limit=1).event_ids == ids(*batch[2:])


def test_pending_batch_pages_on_after_the_last_id_seen(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(5)]
    queue.enqueue(batch)
    queue.mark_rejected(batch[1]["event_id"], "bad", "schema_mismatch")

    first = queue.outgoing_page(2)
    second = queue.outgoing_page(2, after_id=first.ids[-1])
    third = queue.outgoing_page(2, after_id=second.ids[-1])

    assert first.event_ids + second.event_ids + third.event_ids == ids(*batch)
    assert queue.outgoing_page(2, after_id=third.ids[-1]).ids == ()


def test_mark_rejected_counts_retries_until_dead_letter(queue: EventQueue) -> None:
    event_id = envelope(1)["event_id"]
    queue.enqueue([envelope(1)])

    seen = [
        queue.mark_rejected(event_id, f"try {n}", "server_error", retry_limit=3) for n in (1, 2)
    ]
    assert [(e.status, e.retry_count) for e in seen] == [(Status.FAILED, 1), (Status.FAILED, 2)]
    last = queue.mark_rejected(event_id, "no lane 'approved'", "schema_mismatch", retry_limit=3)

    assert (last.status, last.retry_count) == (Status.DEAD_LETTER, 3)
    assert (last.last_error, last.error_category) == ("no lane 'approved'", "schema_mismatch")
    assert last.last_attempt_at is not None
    assert queue.mark_rejected("01NOTQUEUED000000000000000", "x", "unknown") is None


def test_mark_attempted_stamps_the_time_and_nothing_else(queue: EventQueue) -> None:
    queue.enqueue([envelope(1), envelope(2)])
    assert queue.mark_attempted([envelope(1)["event_id"], "01NOTQUEUED000000000000000"]) == 1
    attempted, untouched = queue.list_entries()
    assert attempted.last_attempt_at is not None and untouched.last_attempt_at is None
    assert (attempted.status, attempted.retry_count) == (Status.PENDING, 0)


def test_mark_delivered_handles_more_ids_than_one_statement_takes(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n % 50:02d}") for n in range(1200)]
    queue.enqueue(batch)
    assert queue.mark_delivered([e["event_id"] for e in batch[:1100]]) == 1100
    assert queue.stats().total_pending == 100
    assert queue.enqueue(batch[:1100]).queued == ()


def test_outgoing_page_carries_the_stored_json_as_bytes(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(6)]
    batch[3]["payload"]["actor"] = "Zoë"
    queue.enqueue(batch)
    queue.mark_rejected(batch[1]["event_id"], "bad", "schema_mismatch", retry_limit=1)
    queue.mark_rejected(batch[2]["event_id"], "bad", "schema_mismatch")
    by_id = {e.event_id: e for e in queue.list_entries()}

    page = queue.outgoing_page(10)
    assert page.event_ids == ids(batch[0], *batch[2:])  # the dead letter stays out
    for entry_id, event_id, event_type, data in zip(*page, strict=True):
        entry = by_id[event_id]
        assert (entry_id, event_type) == (entry.id, entry.event_type)
        assert json.loads(data.decode("utf-8")) == entry.envelope
    assert "Zoë".encode() in page.data[page.event_ids.index(batch[3]["event_id"])]
    assert queue.outgoing_page(10, after_id=queue.lamport_clock()).ids == ()


def test_remove_delivered_removes_exactly_the_ids_given(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(10)]
    queue.enqueue(batch)
    entries = queue.list_entries()
    dead = entries[4]
    queue.mark_rejected(dead.event_id, "bad", "schema_mismatch", retry_limit=1)
    # Runs 1-4 and 6-8 (not 5, a dead letter between them), 10 alone; 9 was not delivered.
    delivered = [e.id for e in entries if e.id not in (dead.id, entries[8].id)]

    # The server had one of them already: a duplicate breaks a run too (another verdict).
    verdicts = {i: Verdict.DUPLICATE if i == delivered[1] else Verdict.SUCCESS for i in delivered}
    assert queue.remove_delivered(reversed(list(verdicts.items()))) == 8
    left = queue.list_entries()
    assert [(e.id, e.status) for e in left] == [
        (dead.id, Status.DEAD_LETTER),
        (entries[8].id, Status.PENDING),
    ]
    # Their ids stay known: a scan that sees them again queues nothing.
    assert queue.enqueue(batch).queued == ()
    assert queue.remove_delivered([]) == 0
    # And the delivery log says which the server stored and which it had already.
    logged = {e.event_id: e.verdict for e in queue.delivered(limit=100)}
    by_id = {e.id: e.event_id for e in entries}
    assert logged == {by_id[i]: v for i, v in verdicts.items()}


def test_remove_delivered_never_lets_a_removed_id_be_handed_out_again(queue: EventQueue) -> None:
    queue.enqueue([envelope(n, wp=f"WP{n:02d}") for n in range(3)])
    ids_before = [e.id for e in queue.list_entries()]
    queue.remove_delivered((i, Verdict.SUCCESS) for i in ids_before)  # the highest ids too
    queue.enqueue([envelope(9, wp="WP09")])
    (new,) = queue.list_entries()
    assert new.id > max(ids_before)
    assert new.envelope["lamport_clock"] == new.id


def test_retry_and_purge_dead_letters(queue: EventQueue) -> None:
    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(4)]
    queue.enqueue(batch)
    for e in batch[:3]:
        queue.mark_rejected(e["event_id"], "bad", "schema_mismatch", retry_limit=1)
    queue.mark_rejected(batch[3]["event_id"], "bad", "schema_mismatch")

    assert queue.retry([batch[0]["event_id"], batch[3]["event_id"]]) == 2
    retried = queue.get(batch[0]["event_id"])
    assert (retried.status, retried.retry_count, retried.last_error) == (Status.PENDING, 0, None)
    assert queue.retry(all_dead=True) == 2
    assert queue.stats().total_pending == 4
    with pytest.raises(ValueError):
        queue.retry()

    queue.mark_rejected(batch[1]["event_id"], "bad", "schema_mismatch", retry_limit=1)
    assert queue.purge_dead() == 1
    assert queue.get(batch[1]["event_id"]) is None
    assert queue.enqueue([batch[1]]).duplicates == ids(batch[1]), "purged ids stay known"


def test_stats_counts_statuses_retries_and_event_types(queue: EventQueue) -> None:
    empty = queue.stats()
    assert (empty.total, empty.oldest_created_at, empty.top_event_types) == (0, None, [])

    batch = [envelope(n, wp=f"WP{n:02d}") for n in range(6)]
    batch.append(envelope(6, wp="039", event_type="FeatureCreated"))
    queue.enqueue(batch)
    for _ in range(2):
        queue.mark_rejected(batch[0]["event_id"], "bad", "schema_mismatch")
    for _ in range(3):
        queue.mark_rejected(batch[1]["event_id"], "bad", "schema_mismatch")
    for _ in range(5):
        queue.mark_rejected(batch[2]["event_id"], "bad", "schema_mismatch")

    stats = queue.stats()

    assert (stats.total_pending, stats.total_failed, stats.total_dead_letter) == (4, 2, 1)
    assert stats.total == 7
    assert stats.retry_distribution == {"0": 4, "1-2": 1, "3-4": 1, "5+": 1}
    assert stats.top_event_types == [("WPStatusChanged", 6), ("FeatureCreated", 1)]
    assert stats.oldest_created_at == queue.list_entries()[0].created_at


def test_a_closed_queue_says_so(path: Path) -> None:
    queue = EventQueue(path)
    queue.close()
    queue.close()
    with pytest.raises(ValueError, match="closed"):
        queue.enqueue([envelope(1)])
