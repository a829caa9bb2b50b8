"""An amend while a flush runs: what the rewrite took back after the flusher read it is not sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from kitty_hooks.deliver import batches
from kitty_hooks.deliver.flush import FlushSummary, flush
from kitty_hooks.githooks.install import install_hooks
from tests.deliver.test_flush import _flush_in_thread, logged_in, server  # noqa: F401 (fixtures)
from tests.gitutil import Repo, captured
from tests.ingest import BATCH_PATH, Fault, IngestServer
from tests.syncutil import queue_events, queued_entries

F = "kitty-specs/041-rewrites"  # not the feature of the queued filler events


def wp(lane: str) -> str:
    return f"---\nwork_package_id: WP01\nlane: {lane}\n---\n"


def lanes_on(ingest: IngestServer) -> list[tuple[str, str | None, str]]:
    return [
        (e["payload"]["wp_id"], e["payload"]["from_lane"], e["payload"]["to_lane"])
        for e in ingest.events()
        if e["payload"]["wp_id"] == "WP01" and e["payload"]["feature_slug"] == F.split("/")[1]
    ]


@pytest.fixture
def hooked(repo: Repo) -> Repo:
    install_hooks(repo.path)
    repo.write(f"{F}/tasks/WP01-x.md", wp("planned"))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "planned")
    return repo


def _watch_batches(monkeypatch: pytest.MonkeyPatch, count: int) -> threading.Event:
    """Set once the flusher has read and gzipped `count` batches."""
    ready = threading.Event()
    made: list[int] = []
    encode_texts = batches.encode_texts

    def watched(*args: object, **kwargs: object) -> Iterator[batches.EncodedBatch]:
        for one in encode_texts(*args, **kwargs):  # type: ignore[arg-type]
            made.append(len(one.event_ids))
            if len(made) == count:
                ready.set()
            yield one

    monkeypatch.setattr(batches, "encode_texts", watched)
    return ready


@pytest.mark.parametrize("alone", [True, False], ids=["batch-of-its-own", "batch-with-others"])
def test_an_amend_during_a_flush_keeps_the_move_it_took_back_off_the_server(
    logged_in: IngestServer,  # noqa: F811
    hooked: Repo,
    monkeypatch: pytest.MonkeyPatch,
    alone: bool,
) -> None:
    captured()
    filler = queue_events(2)  # batch 1, held by the server
    hooked.write(f"{F}/tasks/WP01-x.md", wp("for_review"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "to review")
    captured()
    if not alone:
        filler += queue_events(1, start=900)  # shares batch 2 with the move
    ready = _watch_batches(monkeypatch, 2)
    release = threading.Event()
    logged_in.faults.push(Fault.hold(release))
    thread, outcome = _flush_in_thread(batch_events=2)
    try:
        assert ready.wait(10), "batch 2 was not read while batch 1 was held"
        # The for_review move is read, gzipped and waiting: now the commit is amended to done.
        hooked.write(f"{F}/tasks/WP01-x.md", wp("done"))
        hooked.git("add", "-A")
        hooked.git("commit", "-q", "--amend", "-m", "straight to done")
        captured()
    finally:
        release.set()
        thread.join(60)
    summary = outcome.get("summary")
    assert isinstance(summary, FlushSummary), outcome
    assert ("WP01", "planned", "for_review") not in lanes_on(logged_in)
    flush(timeout=(2.0, 30.0))  # the done move, queued by the amend after the page was read
    assert lanes_on(logged_in) == [("WP01", None, "planned"), ("WP01", "planned", "done")]
    assert set(filler) <= set(logged_in.event_ids())
    assert queued_entries() == []


def test_an_amend_while_the_move_is_on_the_wire_leaves_it_on_the_server_once(
    logged_in: IngestServer,  # noqa: F811
    hooked: Repo,
) -> None:
    """Once its request is on its way, the move is the server's: the amend cannot take it back,
    and nothing of it is left to send again."""
    captured()
    hooked.write(f"{F}/tasks/WP01-x.md", wp("for_review"))
    hooked.git("add", "-A")
    hooked.git("commit", "-q", "-m", "to review")
    captured()
    release = threading.Event()
    logged_in.faults.push(Fault.hold(release))
    thread, outcome = _flush_in_thread()
    try:
        deadline = time.monotonic() + 10
        while logged_in.faults.pending() and time.monotonic() < deadline:
            time.sleep(0.01)  # the held request has reached the server
        hooked.write(f"{F}/tasks/WP01-x.md", wp("done"))
        hooked.git("add", "-A")
        hooked.git("commit", "-q", "--amend", "-m", "straight to done")
        captured()
    finally:
        release.set()
        thread.join(60)
    assert isinstance(outcome.get("summary"), FlushSummary), outcome
    assert len(logged_in.requests(BATCH_PATH)) == 1
    flush(timeout=(2.0, 30.0))
    ids = logged_in.event_ids()
    assert len(ids) == len(set(ids))
    assert lanes_on(logged_in) == [
        ("WP01", None, "planned"), ("WP01", "planned", "for_review"), ("WP01", "planned", "done")
    ]  # fmt: skip
    assert queued_entries() == []
