"""Flushing the queue against the real ingest server over loopback, faults included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from kitty_hooks.cli.sync_view import SYNC
from kitty_hooks.deliver import batches
from kitty_hooks.deliver import flush as flushing
from kitty_hooks.deliver.backoff import read_state, state_path
from kitty_hooks.deliver.flush import flush
from kitty_hooks.queue.errors import QueueError
from kitty_hooks.queue.store import EventQueue
from kitty_hooks.views import render
from tests.ingest import BATCH_PATH, REFRESH_PATH, Fault, IngestServer
from tests.syncutil import queue_events, queued_entries, write_credentials

FAST = (2.0, 2.0)


@pytest.fixture
def server() -> IngestServer:
    with IngestServer() as running:
        yield running


@pytest.fixture
def logged_in(server: IngestServer, hermetic_env: Path) -> IngestServer:
    write_credentials(hermetic_env, server.url, server.login())
    return server


def batch_requests(server: IngestServer) -> list:
    return server.requests(BATCH_PATH)


def test_everything_reaches_the_server_once_in_capped_batches(logged_in: IngestServer) -> None:
    ids = queue_events(2500)
    summary = flush(timeout=FAST)
    assert summary.outcome == "done"
    assert summary.line() == "Synced: 2500, Duplicates: 0, Failed: 0"
    assert logged_in.event_ids() == ids
    assert [r.event_count for r in batch_requests(logged_in)] == [1000, 1000, 500]
    assert queued_entries() == []
    assert read_state().last.synced == 2500


def test_a_flush_keeps_the_delivery_log_to_its_cap_once_it_is_done(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retention is applied once after the last page, not after every page (its count walks
    the whole index), and applied all the same."""
    from kitty_hooks.queue import known_events

    monkeypatch.setattr(known_events, "KNOWN_EVENTS_MAX", 1500)
    ids = queue_events(2500)
    assert flush(timeout=FAST).line() == "Synced: 2500, Duplicates: 0, Failed: 0"
    with EventQueue() as queue:
        logged = [d.event_id for d in queue.delivered()]
    assert len(logged) == 1500
    assert set(logged) <= set(ids)


def test_what_a_flush_delivered_before_it_crashed_is_known_when_it_ends(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """known_events is brought up to date once a flush ends, also when it ends in an error (the
    crash is the one thing not made real: the answer to the second batch raises)."""
    from kitty_hooks.deliver.sender import Verdicts

    ids = queue_events(20)
    settle = Verdicts.apply_results
    settled: list[int] = []

    def crash_on_the_second(self: Verdicts, queue: EventQueue, **answer: object) -> None:
        settled.append(1)
        if len(settled) == 2:
            raise RuntimeError("crash")
        settle(self, queue, **answer)  # type: ignore[arg-type]

    monkeypatch.setattr(Verdicts, "apply_results", crash_on_the_second)
    with pytest.raises(RuntimeError, match="crash"):
        flush(timeout=FAST, batch_events=5)
    with EventQueue() as queue:
        known = {row[0] for row in queue._db.execute("SELECT event_id FROM known_events")}
        (mark,) = queue._db.execute("SELECT departure FROM known_through").fetchone()
        (newest,) = queue._db.execute("SELECT max(id) FROM departures").fetchone()
    assert known == set(ids[:5]) and mark == newest


def test_batches_are_also_capped_by_compressed_size(logged_in: IngestServer) -> None:
    queue_events(300)
    summary = flush(timeout=FAST, batch_bytes=4096)
    assert summary.synced == 300
    counts = [r.event_count for r in batch_requests(logged_in)]
    assert len(counts) > 3 and sum(counts) == 300


def test_nothing_queued_sends_nothing(logged_in: IngestServer) -> None:
    assert flush(timeout=FAST).outcome == "nothing-to-send"
    assert batch_requests(logged_in) == []


def test_server_errors_change_nothing_but_last_attempt_and_back_off(
    logged_in: IngestServer,
) -> None:
    ids = queue_events(10)
    logged_in.faults.push(Fault.status(500))
    summary = flush(timeout=FAST)
    assert summary.outcome == "retry-later"
    assert "HTTP 500" in (summary.message or "")
    entries = queued_entries()
    assert [e.event_id for e in entries] == ids
    assert all(e.retry_count == 0 and e.status == "pending" and e.last_attempt_at for e in entries)
    state = read_state()
    assert state.consecutive_failures == 1 and state.next_attempt_after is not None
    # The next automatic flush respects the backoff and sends nothing ...
    assert flush(timeout=FAST, respect_backoff=True).outcome == "backing-off"
    assert len(batch_requests(logged_in)) == 1
    # ... while `kitty-hooks sync` tries at once, and the server has recovered.
    assert flush(timeout=FAST).outcome == "done"
    assert logged_in.event_ids() == ids
    assert read_state().consecutive_failures == 0


def test_backoff_grows_and_is_capped() -> None:
    state = flushing.FlushState(consecutive_failures=30)
    summary = flushing.FlushSummary("retry-later")
    flushing._record(state, summary, success=False)
    after = read_state().next_attempt_after
    assert after <= datetime.now(timezone.utc) + timedelta(seconds=flushing.BACKOFF_CAP + 1)


def _fail_once_with_the_clock_a_month_ahead(monkeypatch: pytest.MonkeyPatch, **summary) -> None:
    """A flush fails while the wall clock reads a month ahead; then the clock is put right."""
    ahead = datetime.now(timezone.utc) + timedelta(days=30)
    with monkeypatch.context() as clock:
        clock.setattr(flushing, "_now", lambda: ahead)
        flushing._record(
            flushing.FlushState(), flushing.FlushSummary("retry-later", **summary), success=False
        )


def test_a_backoff_set_before_the_clock_went_back_is_not_trusted(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_with_the_clock_a_month_ahead(monkeypatch)
    state = read_state()
    assert state.next_attempt_after is None and state.distrusted is not None
    ids = queue_events(3)
    summary = flush(timeout=FAST, respect_backoff=True)  # the worker's flush after a push
    assert summary.outcome == "done"
    assert logged_in.event_ids() == ids


def test_a_retry_after_past_a_day_is_not_trusted_and_a_day_is(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushing._record(
        flushing.FlushState(),
        flushing.FlushSummary("retry-later", retry_after=23 * 3600.0),
        success=False,
    )
    assert flush(timeout=FAST, respect_backoff=True).outcome == "backing-off"
    _fail_once_with_the_clock_a_month_ahead(monkeypatch, retry_after=23 * 3600.0)
    assert read_state().next_attempt_after is None


def test_the_worker_does_not_wait_for_a_backoff_the_clock_made_a_month_long(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_once_with_the_clock_a_month_ahead(monkeypatch)
    ids = queue_events(2)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a push that is over: the worker flushes at once
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks.deliver.worker", str(gone.pid)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert logged_in.event_ids() == ids
    from kitty_hooks.locations import log_path

    assert "ignored a backoff until" in log_path().read_text()


def test_the_worker_and_the_shim_hold_the_backoff_limits_of_the_flush() -> None:
    from kitty_hooks.deliver import backoff, worker

    assert worker._OUR_LONGEST_BACKOFF == backoff.BACKOFF_CAP
    assert worker._LONGEST_BACKOFF == backoff.RETRY_AFTER_MAX
    assert worker._SLACK == backoff.SLACK_SECONDS
    shim = (Path(__file__).parents[2] / "hooks" / "shim").read_text()
    assert f"longest={int(backoff.BACKOFF_CAP)}" in shim
    assert f"-le {int(backoff.RETRY_AFTER_MAX)} ] || longest={int(backoff.RETRY_AFTER_MAX)}" in shim


def test_server_killed_mid_batch_leaves_every_event_on_the_server_once(
    logged_in: IngestServer,
) -> None:
    ids = queue_events(2500)
    logged_in.faults.push(Fault.delay(0), Fault.crash_after_store())  # the second batch
    first = flush(timeout=FAST)
    assert first.outcome == "retry-later"
    assert first.synced == 1000
    assert len(queued_entries()) == 1500  # the stored-but-unanswered batch is kept
    second = flush(timeout=FAST)
    assert second.line() == "Synced: 500, Duplicates: 1000, Failed: 0"
    assert logged_in.event_ids() == ids
    assert queued_entries() == []


def test_a_slow_server_hits_the_read_timeout_and_nothing_is_lost(logged_in: IngestServer) -> None:
    ids = queue_events(5)
    logged_in.faults.push(Fault.delay(3.0))
    started = time.monotonic()
    summary = flush(timeout=(1.0, 0.5))
    assert time.monotonic() - started < 2.5
    assert summary.outcome == "retry-later" and "timed out" in (summary.message or "")
    assert [e.event_id for e in queued_entries()] == ids
    deadline = time.monotonic() + 10
    while not batch_requests(logged_in) and time.monotonic() < deadline:
        time.sleep(0.05)  # the slow server finishes the request the client gave up on
    assert flush(timeout=FAST).line() == "Synced: 0, Duplicates: 5, Failed: 0"  # stored while slow


def test_401_mid_flush_refreshes_once_and_resends_the_same_batch(logged_in: IngestServer) -> None:
    ids = queue_events(2500)
    logged_in.faults.push(Fault.delay(0), Fault.status(401))
    summary = flush(timeout=FAST)
    assert summary.outcome == "done"
    assert summary.line() == "Synced: 2500, Duplicates: 0, Failed: 0"
    assert len(logged_in.requests(REFRESH_PATH)) == 1
    counts = [r.event_count for r in batch_requests(logged_in)]
    assert counts == [1000, 1000, 1000, 500]  # the refused batch went again, whole
    assert logged_in.event_ids() == ids
    tokens = [r.token_jti for r in batch_requests(logged_in)]
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3]


def test_credentials_gone_when_a_401_asks_for_a_refresh_end_the_flush_in_one_outcome(
    logged_in: IngestServer, hermetic_env: Path
) -> None:
    """A logout between two batches: the next batch's 401 cannot be refreshed. The flush ends
    as one that started without credentials, not with an error, and keeps what it delivered."""
    ids = queue_events(2500)
    release = threading.Event()
    logged_in.faults.push(Fault.hold(release), Fault.status(401))

    def log_out_while_the_first_batch_is_held() -> None:
        deadline = time.monotonic() + 10
        while len(logged_in.faults.pending()) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        (hermetic_env / ".spec-kitty" / "credentials").unlink()
        release.set()

    helper = threading.Thread(target=log_out_while_the_first_batch_is_held)
    helper.start()
    try:
        summary = flush(timeout=(2.0, 30.0))
    finally:
        release.set()
        helper.join()
    assert summary.outcome == "no-credentials"
    assert "kitty-hooks login" in (summary.message or "")
    assert summary.synced == 1000
    assert logged_in.requests(REFRESH_PATH) == []
    assert [e.event_id for e in queued_entries()] == ids[1000:]
    assert read_state().last.outcome == "no-credentials"


def test_an_expiring_token_is_refreshed_before_sending(
    server: IngestServer, hermetic_env: Path
) -> None:
    write_credentials(hermetic_env, server.url, server.login(), access_expires_in=60)
    queue_events(3)
    assert flush(timeout=FAST).synced == 3
    assert len(server.requests(REFRESH_PATH)) == 1
    credentials = hermetic_env / ".spec-kitty" / "credentials"
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"


def test_refresh_refused_keeps_every_event_and_says_log_in(
    server: IngestServer, hermetic_env: Path
) -> None:
    write_credentials(hermetic_env, server.url, server.login(), access_expires_in=-10)
    ids = queue_events(4)
    server.faults.push(Fault.status(401, path=REFRESH_PATH))
    summary = flush(timeout=FAST)
    assert summary.outcome == "login-needed"
    assert "session expired: run `kitty-hooks login --server URL`" in (summary.message or "")
    assert [e.event_id for e in queued_entries()] == ids
    assert batch_requests(server) == []


def test_a_200_that_omits_events_keeps_them_pending(logged_in: IngestServer) -> None:
    ids = queue_events(10)
    logged_in.faults.push(Fault.drop_results(3))
    summary = flush(timeout=FAST)
    assert summary.synced == 7
    left = queued_entries()
    assert [e.event_id for e in left] == ids[7:]
    assert all(e.retry_count == 0 and e.status == "pending" for e in left)
    assert len(batch_requests(logged_in)) == 1  # not resent in the same flush: no loop
    assert flush(timeout=FAST).line() == "Synced: 0, Duplicates: 3, Failed: 0"


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b'{"results": "no"}', b"", b'{"nothing": 1}']
)
def test_malformed_answers_change_nothing(logged_in: IngestServer, body: bytes) -> None:
    ids = queue_events(4)
    logged_in.faults.push(Fault.body(body))
    summary = flush(timeout=FAST)
    assert summary.outcome == "retry-later"
    assert [e.event_id for e in queued_entries()] == ids
    assert all(e.retry_count == 0 for e in queued_entries())


@pytest.mark.parametrize("odd_id", [["x"], {"id": "x"}, 7, None])
def test_a_result_whose_event_id_is_no_string_leaves_its_event_pending(
    logged_in: IngestServer, odd_id: object
) -> None:
    """An answer of garbage ids said nothing about our events: they stay queued (was an internal
    error for a list or a dict: unhashable), and the flush ends as any other."""
    ids = queue_events(2)
    results = [{"event_id": odd_id, "status": "success"} for _ in ids]
    logged_in.faults.push(Fault.body(json.dumps({"results": results}).encode()))
    summary = flush(timeout=FAST)
    assert summary.synced == 0 and summary.unknown_fate == 2
    assert [e.event_id for e in queued_entries()] == ids
    assert all(e.retry_count == 0 and e.status == "pending" for e in queued_entries())


def test_retry_after_in_seconds_is_honoured(logged_in: IngestServer) -> None:
    queue_events(3)
    slept: list[float] = []
    logged_in.faults.push(Fault.status(503, retry_after="2"))
    summary = flush(timeout=FAST, sleep=slept.append)
    assert slept == [2.0]
    assert summary.synced == 3


def test_retry_after_as_an_http_date_is_honoured(logged_in: IngestServer) -> None:
    queue_events(3)
    slept: list[float] = []
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    logged_in.faults.push(Fault.status(429, retry_after=when))
    summary = flush(timeout=FAST, sleep=slept.append)
    assert len(slept) == 1 and 15 <= slept[0] <= 21
    assert summary.synced == 3


def test_a_long_retry_after_stops_and_sets_the_backoff(logged_in: IngestServer) -> None:
    queue_events(3)
    logged_in.faults.push(Fault.status(503, retry_after="3600"))
    summary = flush(timeout=FAST, sleep=lambda s: pytest.fail("must not sleep an hour"))
    assert summary.outcome == "retry-later"
    after = read_state().next_attempt_after
    assert after >= datetime.now(timezone.utc) + timedelta(seconds=3500)


def test_rejected_events_count_retries_then_become_dead_letters(
    logged_in: IngestServer, tmp_path: Path
) -> None:
    good = queue_events(2)
    bad = queue_events(1, start=100)[0]
    with EventQueue() as queue:  # spoil one stored envelope: the server's validator rejects it
        entry = queue.get(bad)
        spoiled = {**entry.envelope, "data_tier": 9}
        queue._conn.execute(
            "UPDATE entries SET data = ? WHERE event_id = ?", (json.dumps(spoiled), bad)
        )
        queue._conn.commit()
    report = tmp_path / "report.json"
    summary = flush(timeout=FAST)
    report.write_text(render(SYNC, summary, "json"))  # what sync --report writes
    assert summary.line() == "Synced: 2, Duplicates: 0, Failed: 1 (reason: schema_mismatch: 1)"
    (left,) = queued_entries()
    assert (left.event_id, left.status, left.retry_count, left.error_category) == (
        bad,
        "failed",
        1,
        "schema_mismatch",
    )
    assert "$.data_tier" in left.last_error
    failures = json.loads(report.read_text())["failures"]
    assert [f["event_id"] for f in failures] == [bad] and "$.data_tier" in failures[0]["error"]
    for _ in range(4):
        flush(timeout=FAST)
    (dead,) = queued_entries()
    assert (dead.status, dead.retry_count) == ("dead_letter", 5)
    assert flush(timeout=FAST).outcome == "nothing-to-send"  # dead letters are not sent
    assert set(logged_in.event_ids()) == set(good)


def test_400_naming_events_rejects_those_only(logged_in: IngestServer) -> None:
    ids = queue_events(3)
    details = [{"event_id": ids[1], "reason": "unknown project"}]
    logged_in.faults.push(
        Fault.body(json.dumps({"error": "Invalid batch", "details": details}).encode(), status=400)
    )
    summary = flush(timeout=FAST)
    assert summary.failed == 1
    by_id = {e.event_id: e for e in queued_entries()}
    assert by_id[ids[1]].status == "failed" and "unknown project" in by_id[ids[1]].last_error
    assert by_id[ids[0]].status == "pending" and by_id[ids[0]].retry_count == 0


def test_400_naming_no_event_rejects_the_batch_with_error_and_details(
    logged_in: IngestServer,
) -> None:
    ids = queue_events(2)
    body = {"error": "Invalid batch", "details": "events must be a list"}
    logged_in.faults.push(Fault.body(json.dumps(body).encode(), status=400))
    flush(timeout=FAST)
    entries = queued_entries()
    assert [e.event_id for e in entries] == ids
    assert all(
        "Invalid batch: events must be a list" in e.last_error and e.retry_count == 1
        for e in entries
    )


def test_no_credentials_keeps_events_and_says_what_to_do(server: IngestServer) -> None:
    ids = queue_events(2)
    summary = flush(timeout=FAST)
    assert summary.outcome == "no-credentials"
    assert "kitty-hooks login --server URL" in (summary.message or "")
    assert [e.event_id for e in queued_entries()] == ids


def _sync_process(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kitty_hooks", "sync"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_flushing_at_once_send_each_event_once(logged_in: IngestServer) -> None:
    ids = queue_events(3000)
    first, second = _sync_process(dict(os.environ)), _sync_process(dict(os.environ))
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert {p.returncode for p in (first, second)} == {0}, outputs
    assert sorted(logged_in.event_ids()) == sorted(ids)
    assert sum(r.event_count or 0 for r in batch_requests(logged_in)) == 3000  # nothing sent twice


def test_two_processes_refreshing_at_once_make_one_refresh_request(
    server: IngestServer, hermetic_env: Path
) -> None:
    write_credentials(hermetic_env, server.url, server.login(), access_expires_in=30)
    queue_events(2000)
    processes = [_sync_process(dict(os.environ)) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert len(server.requests(REFRESH_PATH)) == 1


def test_sync_command_prints_the_summary_and_exit_code(
    logged_in: IngestServer, tmp_path: Path
) -> None:
    queue_events(3)
    report = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "sync", "--report", str(report)],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "Synced: 3, Duplicates: 0, Failed: 0")
    assert json.loads(report.read_text())["failed"] == 0
    queue_events(1, start=50)
    logged_in.faults.push(Fault.status(500))
    failed = subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "sync"], capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "HTTP 500" in failed.stderr and "Traceback" not in failed.stderr


@pytest.mark.parametrize(
    "content", ['{"next_attempt_after": "soon"}', '{"last": {"at": 1}}', "[]", "not json"]
)
def test_a_damaged_state_file_reads_as_a_fresh_start(logged_in: IngestServer, content: str) -> None:
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(content)
    queue_events(2)
    assert flush(timeout=FAST, respect_backoff=True).synced == 2


def test_events_spooled_by_a_busy_hook_are_sent_by_the_next_flush(logged_in: IngestServer) -> None:
    from kitty_hooks.queue import spool
    from tests.syncutil import envelopes

    spooled = envelopes(3, start=500)
    spool.spool(spooled)
    assert flush(timeout=FAST).synced == 3
    assert logged_in.event_ids() == [e["event_id"] for e in spooled]
    assert not list(spool.spool_dir().glob("*.json"))


@pytest.mark.parametrize(
    ("words", "category"),
    [
        ("Invalid token", "auth_expired"),
        ("missing credentials", "auth_expired"),
        ("schema validation failed: $.payload.to_lane", "schema_mismatch"),
        ("required field missing", "schema_mismatch"),
        ("internal server error", "server_error"),
        ("reformatted", "unknown"),
        (None, "unknown"),
    ],
)
def test_rejections_are_categorized_by_their_words(words: str | None, category: str) -> None:
    from kitty_hooks.contract import categorize

    assert categorize(words) == category


def test_server_process_killed_mid_flush_then_restarted_holds_every_event_once(
    hermetic_env: Path, tmp_path: Path
) -> None:
    """A real SIGKILL of the server process while a flush is sending, then a restart."""
    import threading

    from tests.ingest import IngestProcess

    with IngestProcess(tmp_path / "server.db") as server:
        write_credentials(hermetic_env, server.url, server.login())
        ids = queue_events(6000)
        outcome: dict[str, flushing.FlushSummary] = {}
        sending = threading.Thread(
            target=lambda: outcome.update(first=flush(timeout=FAST, batch_events=100))
        )
        sending.start()
        deadline = time.monotonic() + 30
        while server.log_text().count("batch") < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        sending.join(timeout=60)
        first = outcome["first"]
        assert first.outcome == "retry-later", first
        assert 0 < first.synced < 6000
        server.restart()
        second = flush(timeout=FAST)
        assert second.outcome == "done", second
        assert first.synced + second.synced + second.duplicates == 6000
        received = [e["event_id"] for e in server.events(limit=10_000)]
        assert sorted(received) == sorted(ids)  # every event once, none twice
        assert queued_entries() == []


# --- the overlap: batch k+1 is read and gzipped while batch k is on the wire ------------------


def _flush_in_thread(**options: object) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = flush(timeout=(2.0, 30.0), **options)  # type: ignore[arg-type]
        except BaseException as exc:  # the test asserts on it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("kitty-hooks-")]


def test_the_next_batch_is_read_and_gzipped_while_the_server_holds_the_last(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = queue_events(2500)
    encoded: list[int] = []
    second_ready = threading.Event()
    encode_texts = batches.encode_texts

    def watched(*args: object, **kwargs: object) -> Iterator[batches.EncodedBatch]:
        for one in encode_texts(*args, **kwargs):  # type: ignore[arg-type]
            encoded.append(len(one.event_ids))
            if len(encoded) == 2:
                second_ready.set()
            yield one

    monkeypatch.setattr(batches, "encode_texts", watched)
    release = threading.Event()
    logged_in.faults.push(Fault.hold(release))
    thread, outcome = _flush_in_thread()
    try:
        assert second_ready.wait(10), "batch 2 was not prepared while batch 1 was held"
        assert batch_requests(logged_in) == []  # batch 1 still unanswered
        assert len(encoded) <= 3  # read ahead by a bounded amount, not the whole queue
    finally:
        release.set()
        thread.join(30)
    summary = outcome["summary"]
    assert isinstance(summary, flushing.FlushSummary)
    assert summary.line() == "Synced: 2500, Duplicates: 0, Failed: 0"
    assert logged_in.event_ids() == ids
    assert [r.event_count for r in batch_requests(logged_in)] == [1000, 1000, 500]
    assert queued_entries() == []
    assert _our_threads() == []


def test_events_queued_or_retried_while_a_batch_is_in_flight_are_not_removed(
    logged_in: IngestServer,
) -> None:
    ids = queue_events(1500)
    with EventQueue() as queue:  # a dead letter in the middle of the first batch
        queue.mark_rejected(ids[500], "bad", "schema_mismatch", retry_limit=1)
    release = threading.Event()
    logged_in.faults.push(Fault.hold(release))
    thread, outcome = _flush_in_thread()
    try:
        deadline = time.monotonic() + 10
        while not logged_in.requests() and time.monotonic() < deadline:
            time.sleep(0.01)  # the request is in the server's hands (recorded once answered)
        time.sleep(0.2)
        # Another process's writes while batch 1 (ids around the dead letter) is in flight:
        # a commit queues new events, `kitty-hooks queue retry` revives the dead letter.
        late = queue_events(10, start=5000)
        with EventQueue() as queue:
            assert queue.retry(all_dead=True) == 1
    finally:
        release.set()
        thread.join(30)
    summary = outcome["summary"]
    assert isinstance(summary, flushing.FlushSummary) and summary.outcome == "done"
    on_server = logged_in.event_ids()
    queued = [e.event_id for e in queued_entries()]
    assert len(on_server) == len(set(on_server))
    assert sorted(on_server + queued) == sorted(ids + late)  # nothing lost, nothing twice
    assert ids[500] in queued  # revived after its neighbours were read: not sent, not removed
    assert summary.left_pending == len(queued)
    second = flush(timeout=FAST)
    assert second.outcome == "done" and second.duplicates == 0
    assert sorted(logged_in.event_ids()) == sorted(ids + late)
    assert queued_entries() == []


_CRASH_AFTER_POST = """
import os
from kitty_hooks.deliver.flush import flush
from kitty_hooks.queue.store import EventQueue

def crash(self, entry_ids, **options):
    os._exit(9)  # the answer is in, nothing is removed yet

EventQueue.remove_delivered = crash
flush()
"""


def test_a_crash_between_post_and_delete_resends_the_same_ids_as_duplicates(
    logged_in: IngestServer,
) -> None:
    ids = queue_events(2500)
    died = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_POST], capture_output=True, text=True, timeout=120
    )
    assert died.returncode == 9, died.stderr
    assert len(logged_in.event_ids()) >= 1000  # at least the batch whose answer came in
    assert [e.event_id for e in queued_entries()] == ids  # nothing was removed
    second = flush(timeout=FAST)
    assert second.outcome == "done"
    # What the server had stored went again under the same ids and came back duplicate (the
    # batch after it may have been on the wire when the process died).
    assert second.duplicates in (1000, 2000)
    assert second.synced + second.duplicates == 2500
    assert logged_in.event_ids() == ids  # every event once, under its own id
    assert queued_entries() == []


def test_a_queue_write_that_fails_mid_flush_stops_it_and_loses_nothing(
    logged_in: IngestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = queue_events(3000)

    def disk_full(self: EventQueue, entry_ids: object, **options: object) -> int:
        raise QueueError("disk full: cannot remove delivered events from the queue")

    with monkeypatch.context() as patched:
        patched.setattr(EventQueue, "remove_delivered", disk_full)
        with pytest.raises(QueueError, match="disk full"):
            flush(timeout=FAST)
    assert _our_threads() == []
    assert [e.event_id for e in queued_entries()] == ids
    again = flush(timeout=FAST)
    assert again.outcome == "done" and again.synced + again.duplicates == 3000
    assert logged_in.event_ids() == ids
