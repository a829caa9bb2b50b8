"""Two senders: what spec-kitty's own sync sends, kitty-hooks leaves to it.

The queue and outbox files are the real ones spec-kitty-cli 2.1.3 and 3.2.7 wrote with their SaaS
sync on (tests/upstream/record_sync.py), beside the status logs they wrote in the same run. The
logs are committed in a real repository and captured by `kitty-hooks scan`; the flush runs
against the real ingest server on loopback.
"""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kitty_hooks.deliver import spec_kitty_sync
from kitty_hooks.deliver.flush import flush
from kitty_hooks.model.events import derive_ulid
from kitty_hooks.queue.store import EventQueue
from tests.gitutil import Repo
from tests.ingest import IngestServer
from tests.syncutil import write_credentials

RECORDED = Path(__file__).parents[1] / "upstream" / "sync"
PROJECT_UUID = "3f8a2c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
FEATURE = {"2.1.3": "001-sync-record", "3.2.7": "sync-record-01KAAAAA"}
FAST = (2.0, 5.0)


def log_lines(version: str) -> list[dict[str, object]]:
    text = (RECORDED / version / "status.events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def commit_recorded_log(repo: Repo, version: str, *, project_uuid: str = PROJECT_UUID) -> None:
    config = (RECORDED / version / "config.yaml").read_text().replace(PROJECT_UUID, project_uuid)
    repo.write(".kittify/config.yaml", config)
    feature = f"kitty-specs/{FEATURE[version]}"
    if (RECORDED / version / "meta.json").exists():
        repo.write(f"{feature}/meta.json", (RECORDED / version / "meta.json").read_text())
    repo.write(
        f"{feature}/status.events.jsonl", (RECORDED / version / "status.events.jsonl").read_text()
    )
    repo.commit_all(f"spec-kitty {version} moved work packages")
    scanned = repo.kitty_hooks("scan", "HEAD")
    assert scanned.returncode == 0, scanned.stdout + scanned.stderr


def install_outbox(home: Path, *, consented: bool = True, wal: bool = True) -> Path:
    """3.2.7's store where 3.2.7 keeps it, in WAL mode as 3.2.7 runs it.

    As recorded, the project never opted in (that takes a 3.x OAuth login): 3.2.7 journalled
    the moves in a capture_only epoch and sends none. consented makes the copy what opting in
    first records (a granted decision, the epoch eligible), so that 3.2.7 sends them.
    """
    target = home / ".spec-kitty" / "projects" / PROJECT_UUID / "sync" / "sync.db"
    target.parent.mkdir(parents=True)
    shutil.copy(RECORDED / "3.2.7" / "sync.db", target)
    with sqlite3.connect(target) as db:
        if consented:
            db.execute(
                "INSERT INTO project_consent_decisions VALUES (?, 'granted', 1,"
                " 'explicit_opt_in', 'ada', '2026-12-01T00:00:00+00:00', 1)",
                (PROJECT_UUID,),
            )
            db.execute("UPDATE consent_epochs SET state = 'eligible', consent_generation = 1")
            db.commit()  # the journal mode cannot change inside a transaction
        if wal:
            assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    db.close()
    return target


def install_legacy_queue(home: Path, name: str = "queue.db") -> Path:
    target = home / ".spec-kitty" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(RECORDED / "2.1.3" / "queue.db", target)
    return target


def queued_moves() -> list[tuple[str, str | None, str | None, str | None]]:
    with EventQueue() as queue:
        return [(m.event_id, m.wp_id, m.from_lane, m.to_lane) for m in queue.moves_to_send()]


@pytest.fixture
def server(hermetic_env: Path) -> IngestServer:
    with IngestServer() as running:
        write_credentials(hermetic_env, running.url, running.login())
        yield running


def sent_moves(server: IngestServer) -> list[str]:
    return [e["event_id"] for e in server.events() if e["event_type"] == "WPStatusChanged"]


def test_the_moves_in_spec_kitty_3_outbox_are_left_to_it(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env)
    before = outbox.read_bytes()

    summary = flush(timeout=FAST)

    # 3.2.7 could not build its in_review -> approved (no evidence): the one move we still send.
    approved = next(e for e in log_lines("3.2.7") if e["to_lane"] == "approved")["event_id"]
    assert [(m[0], m[2], m[3]) for m in ours if m[0] == approved] == [
        (approved, "for_review", "done")
    ]
    assert sent_moves(server) == [approved]
    assert summary.synced == 1
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == len(ours) - 1 == 5
        assert queue.moves_to_send() == []
    assert outbox.read_bytes() == before  # read, never written
    status = repo.kitty_hooks("status")
    assert (
        "5 moves left to spec-kitty's own sync (it sends them itself, under its own ids)"
        in status.stdout
    )


def test_moves_3_x_only_captures_without_consent_are_sent_by_us(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env, consented=False)  # as recorded: never opted in
    flush(timeout=FAST)
    assert sent_moves(server) == [m[0] for m in ours]
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == 0
    assert doctor_lines(repo, "senders") == [
        f"ok sync: kitty-hooks and spec-kitty 3.x's own sync ({outbox}): capturing only, "
        "sending nothing until `spec-kitty sync opt-in`; a move it sends or sent goes by "
        "spec-kitty alone (none left to it yet)"
    ]


def test_after_an_opt_out_what_3_x_sent_stays_its_and_the_rest_is_ours(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env, wal=False)
    first_two = [m[0] for m in ours[:2]]
    with sqlite3.connect(outbox) as db:  # what `spec-kitty sync opt-out` leaves, roughly
        db.execute("UPDATE project_consent_decisions SET state = 'refused'")
        db.execute("UPDATE consent_epochs SET state = 'sealed'")
        rows = db.execute(f"SELECT entry_id, {JOURNALLED} FROM journal_entries").fetchall()
        for entry_id, encoding, payload in rows:
            envelope = envelope_of(encoding, payload) or {}
            state = "synced" if envelope.get("causation_id") in first_two else "pending"
            db.execute(
                "UPDATE outbox_tasks SET state = ? WHERE journal_entry_id = ?", (state, entry_id)
            )
    flush(timeout=FAST)
    assert sent_moves(server) == [m[0] for m in ours[2:]]
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == 2


def test_a_task_3_x_gave_up_on_is_ours(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env, wal=False)
    with sqlite3.connect(outbox) as db:
        db.execute("UPDATE outbox_tasks SET state = 'terminal_failed'")
    flush(timeout=FAST)
    assert sent_moves(server) == [m[0] for m in ours]


def test_another_projects_outbox_takes_nothing(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7", project_uuid="0b6c3f1e-8d2a-4c1b-9e7f-2a5d6c8b9e01")
    ours = queued_moves()
    install_outbox(hermetic_env)
    install_legacy_queue(hermetic_env)
    flush(timeout=FAST)
    assert sent_moves(server) == [m[0] for m in ours]


@pytest.mark.parametrize("where", ["queue.db", "queues/queue-0123456789abcdef.db"])
def test_the_moves_in_spec_kitty_2_1_3_queue_are_left_to_it(
    hermetic_env: Path, repo: Repo, server: IngestServer, where: str
) -> None:
    commit_recorded_log(repo, "2.1.3")
    ours = queued_moves()
    assert ours  # the log's moves, in sync lanes
    queue_file = install_legacy_queue(hermetic_env, where)
    before = queue_file.read_bytes()
    flush(timeout=FAST)
    assert sent_moves(server) == []
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == len(ours)
    assert queue_file.read_bytes() == before


def test_a_2_1_3_row_is_the_same_move_only_near_its_time(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "2.1.3")
    ours = queued_moves()
    queue_file = install_legacy_queue(hermetic_env)
    first = ours[0]
    with sqlite3.connect(queue_file) as db:
        rows = db.execute("SELECT id, data FROM queue WHERE event_type = 'WPStatusChanged'")
        for row_id, data in rows.fetchall():
            event = json.loads(data)
            payload = event["payload"]
            if (payload["wp_id"], payload["to_lane"]) == (first[1], "claimed"):
                # The same move, queued by 2.1.3 a day later: another move, not this one.
                event["timestamp"] = "2031-01-01T00:00:00+00:00"
                db.execute("UPDATE queue SET data = ? WHERE id = ?", (json.dumps(event), row_id))
    flush(timeout=FAST)
    assert sent_moves(server) == [first[0]]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda path: path.write_bytes(b"not a database at all" * 100),
        lambda path: (
            sqlite3.connect(path).execute("DROP TABLE journal_entries").connection.commit()
        ),
    ],
    ids=["not-sqlite", "no-journal-table"],
)
def test_an_unreadable_spec_kitty_file_is_one_log_line_and_we_send(
    hermetic_env: Path, repo: Repo, server: IngestServer, spoil: object
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env, wal=False)
    spoil(outbox)  # type: ignore[operator]
    summary = flush(timeout=FAST)
    assert summary.outcome == "done"
    assert sent_moves(server) == [m[0] for m in ours]
    log = (hermetic_env / ".spec-kitty" / "kitty-hooks" / "kitty-hooks.log").read_text()
    assert f"spec-kitty sync: cannot read {outbox}" in log


def test_a_locked_outbox_is_waited_for_briefly_then_we_send(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    ours = queued_moves()
    outbox = install_outbox(hermetic_env, wal=False)
    holder = sqlite3.connect(outbox, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # spec-kitty in the middle of a write
    try:
        flush(timeout=FAST)
    finally:
        holder.close()
    assert sent_moves(server) == [m[0] for m in ours]


def test_no_spec_kitty_files_means_no_reads(
    hermetic_env: Path, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit_recorded_log(repo, "3.2.7")

    def must_not_run(*args: object) -> None:
        raise AssertionError("read the queue without any spec-kitty file to compare with")

    with EventQueue() as queue:
        monkeypatch.setattr(queue, "moves_to_send", must_not_run)
        assert spec_kitty_sync.hand_over(queue, retry_limit=5).event_ids == frozenset()


def doctor_lines(repo: Repo, section: str) -> list[str]:
    done = repo.kitty_hooks("doctor", "--format", "json")
    checks = json.loads(done.stdout)["checks"]
    return [f"{c['status']} {c['subject']}: {c['message']}" for c in checks if c["area"] == section]


def test_doctor_names_both_senders(hermetic_env: Path, repo: Repo, server: IngestServer) -> None:
    commit_recorded_log(repo, "3.2.7")
    assert doctor_lines(repo, "senders") == [
        "ok sync: kitty-hooks alone: spec-kitty's own sync keeps no queue or outbox for this project"
    ]
    outbox = install_outbox(hermetic_env)
    flush(timeout=FAST)
    assert doctor_lines(repo, "senders") == [
        f"ok sync: kitty-hooks and spec-kitty 3.x's own sync ({outbox}): on: it sends this "
        "project's moves; a move it sends or sent goes by spec-kitty alone (5 moves left to it "
        "so far)"
    ]
    legacy = install_legacy_queue(hermetic_env)
    assert doctor_lines(repo, "senders")[1] == (
        f"warn sync: kitty-hooks and spec-kitty 2.1.3's own sync ({legacy}, 9 moves of this "
        "project queued): a move still in its queue is left to it (5 moves left to it so far), "
        "but one it sent before kitty-hooks flushed goes twice under two ids; run one of the two "
        "(unset SPEC_KITTY_ENABLE_SAAS_SYNC, or KITTY_HOOKS=0)"
    )


# --- parsing spec-kitty's rows: anything in, an answer or "no" out ---------------------------


# What the flush reads of a journal entry: SQLite's json_extract of its encoding and payload
# (an inline object comes back as JSON text), then spec_kitty_sync's decoding.
JOURNALLED = (
    "json_extract(payload_json, '$.payload_encoding'), json_extract(payload_json, '$.payload')"
)


def envelope_of(encoding: object, payload: object) -> dict[str, Any] | None:
    raw = spec_kitty_sync._envelope_bytes(encoding, payload)
    return spec_kitty_sync._parsed(raw) if raw is not None else None


@given(
    encoding=st.one_of(st.none(), st.just("base64"), st.text(), st.integers()),
    payload=st.one_of(st.text(), st.none(), st.integers(), st.floats()),
)
def test_any_journal_entry_is_an_envelope_or_nothing(encoding: object, payload: object) -> None:
    envelope = envelope_of(encoding, payload)
    assert envelope is None or isinstance(envelope, dict)


@given(
    envelope=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    encoding=st.sampled_from(["base64", "json", None]),
)
def test_a_journal_entry_gives_back_the_envelope_it_holds(
    envelope: dict[str, str], encoding: str | None
) -> None:
    text = json.dumps(envelope)
    payload: object = envelope
    if encoding == "base64":
        payload = base64.b64encode(text.encode()).decode()
    elif encoding == "json":
        payload = text
    entry = {"payload": payload, "payload_encoding": encoding}
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE journal_entries (payload_json TEXT)")
        db.execute("INSERT INTO journal_entries VALUES (?)", (json.dumps(entry),))
        ((read_encoding, read_payload),) = db.execute(f"SELECT {JOURNALLED} FROM journal_entries")
    assert envelope_of(read_encoding, read_payload) == envelope


@given(millis=st.integers(0, 253_402_300_799_999), key=st.text(max_size=10))
def test_the_time_of_a_ulid_is_the_time_it_was_made_with(millis: int, key: str) -> None:
    moment = spec_kitty_sync._ulid_instant(derive_ulid(millis, key))
    assert moment is not None and round(moment.timestamp() * 1000) == millis


@given(event_id=st.text(max_size=30))
def test_any_event_id_has_a_time_or_none(event_id: str) -> None:
    moment = spec_kitty_sync._ulid_instant(event_id)
    assert moment is None or moment.tzinfo is not None


def test_reading_a_store_leaves_nothing_beside_it(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    outbox = install_outbox(hermetic_env)  # WAL mode, spec-kitty not running: no -wal file
    before = sorted(p.name for p in outbox.parent.iterdir())
    assert before == ["sync.db"]
    flush(timeout=FAST)
    assert doctor_lines(repo, "senders")
    assert sorted(p.name for p in outbox.parent.iterdir()) == before
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == 5


def test_what_spec_kitty_just_wrote_to_its_wal_is_seen(
    hermetic_env: Path, repo: Repo, server: IngestServer
) -> None:
    commit_recorded_log(repo, "3.2.7")
    outbox = install_outbox(hermetic_env, consented=False)
    spec_kitty = sqlite3.connect(outbox)  # spec-kitty at work: its opt-in is in the WAL only
    spec_kitty.execute("PRAGMA wal_autocheckpoint=0")
    spec_kitty.execute(
        "INSERT INTO project_consent_decisions VALUES (?, 'granted', 1, 'explicit_opt_in',"
        " 'ada', '2026-12-01T00:00:00+00:00', 1)",
        (PROJECT_UUID,),
    )
    spec_kitty.execute("UPDATE consent_epochs SET state = 'eligible', consent_generation = 1")
    spec_kitty.commit()
    try:
        assert Path(f"{outbox}-wal").stat().st_size > 0
        flush(timeout=FAST)
    finally:
        spec_kitty.close()
    with EventQueue() as queue:
        assert queue.left_to_spec_kitty() == 5
