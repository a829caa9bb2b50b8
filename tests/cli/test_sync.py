"""`kitty-hooks sync` (cli/sync.py): why events are still queued, its JSON and --report, -q, -v."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.cli.test_main import run
from tests.ingest import Fault, IngestServer
from tests.syncutil import queue_events, write_credentials


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_sync_with_the_server_down_says_why_events_are_still_queued(hermetic_env: Path) -> None:
    write_credentials(hermetic_env, closed_port(), {"access": "a", "refresh": "r"})
    queue_events(1)
    done = run("sync")
    assert done.returncode == 1
    assert done.stdout == "Synced: 0, Duplicates: 0, Failed: 0\n"
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "kitty-hooks: 1 event still queued: the server could not take them now ("
    )
    assert line.endswith("; the next push or `kitty-hooks sync` tries again")

    document = json.loads(run("sync", "--format", "json").stdout)
    assert document["ok"] is False
    assert (document["outcome"], document["left_pending"]) == ("retry-later", 1)
    assert document["why_left_pending"].startswith("the server could not take them now")


def test_sync_json_lists_the_failures_and_q_keeps_quiet_when_all_is_sent(
    hermetic_env: Path, tmp_path: Path
) -> None:
    with IngestServer() as server:
        write_credentials(hermetic_env, server.url, server.login())
        queue_events(2)
        quiet = run("sync", "-q")
        assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
        (rejected,) = queue_events(1, start=5)
        answer = {"results": [{"event_id": rejected, "status": "rejected", "error": "bad schema"}]}
        server.faults.push(Fault.body(json.dumps(answer).encode()))
        report = tmp_path / "sync.json"
        done = run("sync", "--format", "json", "--report", str(report))
        assert done.returncode == 1
        document = json.loads(done.stdout)
        assert json.loads(report.read_text()) == document
        assert (document["failed"], document["left_pending"]) == (1, 1)
        assert [f["event_id"] for f in document["failures"]] == [rejected]
        assert document["why_left_pending"] == "1 was refused and will be retried by the next sync"

        server.faults.push(Fault.drop_results(1))
        text = run("sync", "-v")
    assert text.returncode == 1
    assert text.stderr.splitlines() == [
        "kitty-hooks: 1 event still queued: the server's answer did not mention 1 event, so they "
        "stay pending"
    ]
