"""The queue's work marker: set whenever the queue may hold something to send, cleared only by a
flush that finds nothing left. The shims start no Python for a push without it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitty_hooks.deliver.flush import flush
from kitty_hooks.locations import work_marker_path
from kitty_hooks.queue.database import default_queue_path
from kitty_hooks.queue.spool import drain, has_spooled, spool, spool_dir
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import PROJECT_ROOT
from tests.ingest import Fault, IngestServer
from tests.syncutil import envelopes, queue_events, write_credentials

FAST = (2.0, 2.0)


def marker() -> Path:
    return work_marker_path(default_queue_path())


def test_the_marker_sits_beside_the_queue() -> None:
    assert marker() == default_queue_path().with_name("queue.db.pending")
    with EventQueue() as queue:
        assert queue.work_marker == marker()


def test_enqueue_sets_it_and_a_batch_of_duplicates_alone_does_not() -> None:
    batch = envelopes(2)
    with EventQueue() as queue:
        assert not marker().exists()  # opening, even creating, the queue is no work
        queue.enqueue(batch)
        assert marker().exists()
        queue.mark_delivered([e["event_id"] for e in batch])
        assert queue.clear_work_marker(spooled=lambda: False) is False
        queue.enqueue(batch)  # delivered before: duplicates, nothing queued
    assert not marker().exists()


def test_clear_keeps_it_for_pending_and_failed_entries_but_not_for_dead_letters() -> None:
    ids = queue_events(3)
    with EventQueue() as queue:
        assert queue.clear_work_marker(spooled=lambda: False) is True
        queue.mark_rejected(ids[0], "bad", "schema_mismatch")  # failed: waits for a retry
        queue.mark_delivered(ids[1:])
        assert queue.clear_work_marker(spooled=lambda: False) is True
        assert marker().exists()
        queue.mark_rejected(ids[0], "bad", "schema_mismatch", retry_limit=1)  # dead letter
        assert queue.clear_work_marker(spooled=lambda: False) is False
        assert not marker().exists()
        assert queue.retry(all_dead=True) == 1  # back to pending: work again
        assert marker().exists()


def test_clear_with_something_spooled_keeps_it() -> None:
    with EventQueue() as queue:
        spool(envelopes(1))
        assert has_spooled()
        assert queue.clear_work_marker(spooled=has_spooled) is True
        assert marker().exists()


def test_spool_sets_it_after_the_file() -> None:
    path = spool(envelopes(1))
    assert path.exists() and marker().exists()
    assert path.parent == spool_dir()


def test_a_failed_enqueue_for_want_of_a_marker_queues_nothing(tmp_path: Path) -> None:
    queue_path = tmp_path / "queue.db"
    # A dangling symlink to a folder that does not exist: the marker cannot be created.
    work_marker_path(queue_path).symlink_to(tmp_path / "gone" / "marker")
    with EventQueue(queue_path) as queue:
        with pytest.raises(Exception, match="cannot write"):
            queue.enqueue(envelopes(1))
        assert queue.stats().total == 0


@pytest.fixture
def server(hermetic_env: Path) -> IngestServer:
    with IngestServer() as running:
        write_credentials(hermetic_env, running.url, running.login())
        yield running


def test_a_flush_that_sends_everything_clears_it(server: IngestServer) -> None:
    queue_events(5)
    assert flush(timeout=FAST).synced == 5
    assert not marker().exists()


def test_a_flush_that_finds_nothing_clears_a_stale_one(server: IngestServer) -> None:
    marker().parent.mkdir(parents=True, exist_ok=True)
    marker().touch()  # a hook that died mid-enqueue, say
    assert flush(timeout=FAST).outcome == "nothing-to-send"
    assert not marker().exists()


def test_a_flush_that_leaves_events_keeps_it(server: IngestServer) -> None:
    queue_events(2)
    server.faults.push(Fault.status(500))
    assert flush(timeout=FAST).outcome == "retry-later"
    assert marker().exists()


# --- many writers while a flush drains -------------------------------------------------------

_WRITER = """
import sys, time
from kitty_hooks.queue.store import EventQueue
from kitty_hooks.queue.spool import spool
from tests.syncutil import envelopes

worker, batches = int(sys.argv[1]), int(sys.argv[2])
for n in range(batches):
    batch = envelopes(2, start=(worker * batches + n) * 2)
    if worker == 0 and n % 3 == 0:
        spool(batch)  # a hook that found the queue busy
    else:
        with EventQueue(busy_timeout_ms=60_000) as queue:
            queue.enqueue(batch)
    time.sleep(0.002)
"""

# What a flush does to the queue, as fast as it can: take in the spool, deliver everything,
# clear the marker when nothing is left; until a line arrives on stdin.
_DRAINER = """
import sys, select
from kitty_hooks.queue import spool
from kitty_hooks.queue.store import EventQueue

rounds = cleared = 0
with EventQueue(busy_timeout_ms=60_000) as queue:
    while not select.select([sys.stdin], [], [], 0)[0]:
        spool.drain(queue)
        queue.mark_delivered([e.event_id for e in queue.list_entries()])
        cleared += not queue.clear_work_marker(spooled=spool.has_spooled)
        rounds += 1
print(rounds, cleared)
"""


def test_while_writers_enqueue_and_a_flush_drains_the_marker_is_there_whenever_work_is() -> None:
    EventQueue().close()  # created beforehand, so that the checker can open it
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(n), "60"], cwd=PROJECT_ROOT)
        for n in range(6)
    ]
    drainer = subprocess.Popen(
        [sys.executable, "-c", _DRAINER], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    checks = violations = 0
    conn = sqlite3.connect(default_queue_path(), timeout=60, isolation_level=None)
    try:
        while any(w.poll() is None for w in writers):
            # Under the queue's write lock, as writers set the marker and the flush clears it.
            conn.execute("BEGIN IMMEDIATE")
            (pending,) = conn.execute("SELECT count(*) FROM entries").fetchone()
            present = marker().exists()
            conn.execute("COMMIT")
            checks += 1
            violations += bool(pending and not present)
            time.sleep(0.001)
    finally:
        conn.close()
        assert all(w.wait(timeout=120) == 0 for w in writers)
        out, _ = drainer.communicate("stop\n", timeout=120)
    rounds, cleared = map(int, out.split())
    assert violations == 0, f"{violations} of {checks} checks found work and no marker"
    assert checks > 50 and rounds > 5 and cleared > 0  # the race was really run
    with EventQueue() as queue:
        left = queue.stats().total
    if left or has_spooled():
        assert marker().exists()
    # A last flush takes everything in and, finding nothing left, clears it.
    with EventQueue() as queue:
        drain(queue)
        queue.mark_delivered([e.event_id for e in queue.list_entries()])
        assert queue.clear_work_marker(spooled=has_spooled) is False
    assert not marker().exists()


def test_two_drains_at_once_take_each_spooled_event_exactly_once() -> None:
    import threading

    everything = envelopes(18)
    batches = [everything[n : n + 3] for n in range(0, 18, 3)]
    for batch in batches:
        spool(batch)
    errors: list[BaseException] = []

    def drain_once() -> None:
        try:
            with EventQueue(busy_timeout_ms=10_000) as queue:
                drain(queue)
        except BaseException as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=drain_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with EventQueue() as queue:
        queued = sorted(e.event_id for e in queue.list_entries())
    assert queued == sorted(e["event_id"] for batch in batches for e in batch)
    assert not has_spooled()


def test_a_spool_file_of_things_that_are_no_envelopes_is_moved_aside(tmp_path: Path) -> None:
    spool_dir().mkdir(parents=True, exist_ok=True)
    (spool_dir() / "00000000000000000001-1.json").write_text("[1, {}]")
    good = spool(envelopes(1))
    with EventQueue() as queue:
        assert drain(queue) == 1
    assert not good.exists()
    assert (spool_dir() / "00000000000000000001-1.unreadable").exists()
