"""What left the queue: departures (the delivery log) and known_events (the ids a scan must not
queue again), their retention, and the queue files of earlier schemas that held them."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kitty_hooks.queue import known_events
from kitty_hooks.queue.entries import Verdict
from kitty_hooks.queue.schema import _SCHEMA_1, SCHEMA_VERSION, _migrate_1_to_2
from kitty_hooks.queue.store import EventQueue
from tests.syncutil import envelopes

OLD_ID = "01JD3Q9Z6C8W4S0Y2X5V7T1R00"


def table(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def delivered_without_update(queue: EventQueue, count: int) -> list[str]:
    """count events queued and delivered as a flush's pages are: departures recorded, known
    events not yet brought up to date."""
    queue.enqueue(envelopes(count))
    entries = queue.list_entries()
    queue.remove_delivered(((e.id, Verdict.SUCCESS) for e in entries), update_known=False)
    return [e.event_id for e in entries]


def test_an_event_is_known_the_moment_it_leaves_before_known_events_is_updated(
    tmp_path: Path,
) -> None:
    """A capture that runs while a flush is sending (departures recorded page by page, the
    known ids updated only at the end) must not queue a delivered move again."""
    path = tmp_path / "queue.db"
    with EventQueue(path) as queue:
        ids = delivered_without_update(queue, 5)
        assert table(path, "SELECT count(*) FROM known_events") == [(0,)]
        assert queue.enqueue(envelopes(5)).queued == ()
        queue.update_known_events()
        assert sorted(r[0] for r in table(path, "SELECT event_id FROM known_events")) == sorted(ids)
        assert queue.enqueue(envelopes(5)).queued == ()
        assert [d.event_id for d in queue.delivered()] == ids[::-1]


def test_the_delivery_log_lists_newest_first_with_what_each_event_was(tmp_path: Path) -> None:
    with EventQueue(tmp_path / "queue.db") as queue:
        queue.enqueue(envelopes(3))
        first, second, third = (e.event_id for e in queue.list_entries())
        queue.mark_delivered([first])
        queue.mark_delivered([second, third], duplicates=[third])
        log = queue.delivered()
    assert [(d.event_id, d.verdict) for d in log] == [
        (third, Verdict.DUPLICATE),
        (second, Verdict.SUCCESS),
        (first, Verdict.SUCCESS),
    ]
    assert (log[0].feature_slug, log[0].to_lane) == ("039-cli-2x-readiness", "planned")
    assert log[0].delivered_at >= log[2].delivered_at


def test_purged_and_dropped_events_stay_known_but_are_not_in_the_delivery_log(
    tmp_path: Path,
) -> None:
    with EventQueue(tmp_path / "queue.db") as queue:
        queue.enqueue(envelopes(2))
        dropped, kept = (e.event_id for e in queue.list_entries())
        assert queue.drop([dropped]) == [dropped]
        assert queue.delivered() == []
        assert queue.enqueue(envelopes(2)).queued == ()  # one known, one still queued
        assert queue.drop([kept], remember=False) == [kept]
        assert queue.enqueue(envelopes(2)).queued == (kept,)


def test_departures_keep_90_days_and_at_most_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "queue.db"
    monkeypatch.setattr(known_events, "KNOWN_EVENTS_MAX", 2)
    with EventQueue(path) as queue:
        ids = [e["event_id"] for e in envelopes(4)]
        queue.enqueue(envelopes(4))
        queue.mark_delivered(ids[:1])
        old = (datetime.now(timezone.utc) - timedelta(days=91)).isoformat()
        queue._db.execute("UPDATE departures SET left_at = ?", (old,))
        for event_id in ids[1:]:
            queue.mark_delivered([event_id], duplicates=[event_id] if event_id == ids[3] else [])
        delivered = queue.delivered()
        # ids[0] was too old, ids[1] past the cap: both forgotten, and queued again by a scan.
        assert queue.enqueue(envelopes(4)).queued == tuple(ids[:2])
    assert [(d.event_id, d.verdict) for d in delivered] == [
        (ids[3], Verdict.DUPLICATE),
        (ids[2], Verdict.SUCCESS),
    ]
    assert sorted(r[0] for r in table(path, "SELECT event_id FROM known_events")) == sorted(ids[2:])


def test_when_every_departure_is_forgotten_the_next_ones_are_known_again(
    tmp_path: Path,
) -> None:
    """Forgetting them all empties departures, whose next row takes id 1 again: the mark of
    what known_events holds must go back with it, or the next departures read as indexed."""
    path = tmp_path / "queue.db"
    with EventQueue(path) as queue:
        queue.enqueue(envelopes(3))
        queue.mark_delivered([e.event_id for e in queue.list_entries()])
        old = (datetime.now(timezone.utc) - timedelta(days=91)).isoformat()
        queue._db.execute("UPDATE departures SET left_at = ?", (old,))
        queue.update_known_events()
        assert table(path, "SELECT count(*) FROM departures") == [(0,)]
        assert table(path, "SELECT departure FROM known_through") == [(0,)]
        later = delivered_without_update(queue, 1)  # envelopes(1) is queued again: forgotten
        assert queue.enqueue(envelopes(1)).queued == ()
        assert table(path, "SELECT event_id FROM departures") == [(later[0],)]


def test_an_id_that_left_twice_stays_known_when_its_first_departure_is_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(known_events, "KNOWN_EVENTS_MAX", 2)
    path = tmp_path / "queue.db"
    with EventQueue(path) as queue:
        queue.enqueue(envelopes(1))
        (event_id,) = (e.event_id for e in queue.list_entries())
        queue.mark_delivered([event_id])
        queue._db.execute("DELETE FROM known_events")  # as if forgotten meanwhile
        queue.enqueue(envelopes(1))
        queue.mark_delivered([event_id], duplicates=[event_id])
        queue.enqueue(envelopes(3, start=1))
        queue.mark_delivered([e.event_id for e in queue.list_entries()][:1])
        assert len(table(path, "SELECT id FROM departures")) == 2  # the first one went
        assert queue.enqueue(envelopes(1)).queued == ()


# --- queue files of earlier schemas -----------------------------------------------------------


def test_a_schema_1_queue_is_migrated_and_keeps_its_events(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with sqlite3.connect(path) as conn:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        conn.execute("INSERT INTO known_events (event_id) VALUES (?)", (OLD_ID,))
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    with EventQueue(path) as queue:
        queue.enqueue(envelopes(1))
        (entry,) = queue.list_entries()
        assert entry.commit_sha is None
        assert queue.delivered() == []  # what schema 1 knew has no verdict: not in the log
        assert queue.enqueue([{"event_id": OLD_ID, "event_type": "X"}]).queued == ()
    assert table(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    ((left_at,),) = table(path, "SELECT left_at FROM departures")
    assert left_at is not None  # it ages out from the migration on


def test_a_schema_2_queue_keeps_its_delivery_log_in_order_and_its_known_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    older, newer = "2026-11-01T10:00:00.000000+00:00", "2026-11-02T10:00:00.000000+00:00"
    with sqlite3.connect(path) as conn:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        _migrate_1_to_2(conn)
        conn.executemany(
            "INSERT INTO known_events (event_id, known_at, verdict, event_type, detail)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                ("01JD3Q9Z6C8W4S0Y2X5V7T1R02", newer, "duplicate", "WPStatusChanged",
                 '["039-x", "WP02", "planned", "claimed"]'),
                ("01JD3Q9Z6C8W4S0Y2X5V7T1R01", older, "success", "WPStatusChanged",
                 '["039-x", "WP01", null, "planned"]'),
                ("01JD3Q9Z6C8W4S0Y2X5V7T1R03", newer, "purged", "WPStatusChanged", None),
            ],
        )  # fmt: skip
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    with EventQueue(path) as queue:
        log = queue.delivered()
        offered = [{"event_id": f"01JD3Q9Z6C8W4S0Y2X5V7T1R0{n}", "event_type": "X"} for n in "123"]
        assert queue.enqueue(offered).queued == ()
    assert [(d.event_id[-3:], d.verdict, d.wp_id, d.delivered_at) for d in log] == [
        ("R02", Verdict.DUPLICATE, "WP02", newer),
        ("R01", Verdict.SUCCESS, "WP01", older),
    ]
    assert table(path, "SELECT count(*) FROM known_events") == [(3,)]
    assert table(path, "SELECT departure FROM known_through") == [(3,)]
    names = {r[0] for r in table(path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "known_events_by_time" not in names


def test_a_schema_2_row_without_a_time_does_not_hold_back_the_old_ones(tmp_path: Path) -> None:
    """Departures are forgotten from the oldest up to the first young one: a row that had no
    time (a damaged file) is dated at the migration and goes after the dated ones."""
    path = tmp_path / "queue.db"
    old = (datetime.now(timezone.utc) - timedelta(days=200)).isoformat()
    with sqlite3.connect(path) as conn:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        _migrate_1_to_2(conn)
        conn.execute("INSERT INTO known_events (event_id, verdict) VALUES ('01JD...00', 'success')")
        conn.executemany(
            "INSERT INTO known_events (event_id, known_at, verdict) VALUES (?, ?, 'success')",
            [(f"01JD...0{n}", old) for n in (1, 2)],
        )
        conn.execute("PRAGMA user_version = 2")
    conn.close()
    with EventQueue(path) as queue:
        queue.update_known_events()
    assert table(path, "SELECT event_id FROM departures") == [("01JD...00",)]
    assert table(path, "SELECT event_id FROM known_events") == [("01JD...00",)]
