"""A spool file claimed by a process that died mid-drain, and what `sync` says of the spool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitty_hooks.queue import spool
from tests.deliver.test_flush import logged_in, server  # noqa: F401 (fixtures)
from tests.ingest import IngestServer
from tests.syncutil import envelopes

# A drainer that claims the spool file, then hangs inside the queue's enqueue: killed there, it
# leaves `<name>.claimed-<its pid>` behind, as a hook or a flush SIGKILLed mid-drain does.
_HANGING_DRAINER = """
import sys, time
from kitty_hooks.queue import spool

class Hanging:
    def enqueue(self, envelopes, **options):
        print("claimed", flush=True)
        time.sleep(600)

spool.drain(Hanging())
"""


def _start_claimer() -> subprocess.Popen[str]:
    claimer = subprocess.Popen(
        [sys.executable, "-c", _HANGING_DRAINER], stdout=subprocess.PIPE, text=True
    )
    assert claimer.stdout is not None
    assert claimer.stdout.readline().strip() == "claimed"
    claimed = list(spool.spool_dir().glob(f"*.claimed-{claimer.pid}"))
    assert len(claimed) == 1, list(spool.spool_dir().iterdir())
    return claimer


def _sync() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kitty_hooks", "sync"], capture_output=True, text=True, timeout=60
    )


def test_a_claim_by_a_killed_process_is_taken_over_at_once(logged_in: IngestServer) -> None:  # noqa: F811
    spooled = envelopes(3, start=700)
    spool.spool(spooled)
    claimer = _start_claimer()
    claimer.send_signal(signal.SIGKILL)
    claimer.wait()
    started = time.monotonic()
    done = _sync()
    assert (done.returncode, done.stdout.strip()) == (0, "Synced: 3, Duplicates: 0, Failed: 0"), (
        done.stderr
    )
    assert time.monotonic() - started < 60  # not the 300 s a claim used to wait
    assert logged_in.event_ids() == [e["event_id"] for e in spooled]
    assert list(spool.spool_dir().iterdir()) == []


def test_a_claim_by_a_killed_but_unreaped_process_is_taken_over(logged_in: IngestServer) -> None:  # noqa: F811
    spool.spool(envelopes(2, start=720))
    claimer = _start_claimer()
    os.kill(claimer.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{claimer.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        done = _sync()  # the claimer is a zombie: its pid answers kill -0, it drains nothing
        assert done.returncode == 0, done.stderr
        assert len(logged_in.event_ids()) == 2
    finally:
        claimer.wait()


def test_sync_says_what_a_live_claim_still_holds_and_exits_1(logged_in: IngestServer) -> None:  # noqa: F811
    spooled = envelopes(3, start=740)
    spool.spool(spooled)
    claimer = _start_claimer()
    try:
        done = _sync()
        assert done.returncode == 1
        assert done.stdout.strip() == "Synced: 0, Duplicates: 0, Failed: 0"
        assert "3 lane changes still in the spool" in done.stderr
        assert "Traceback" not in done.stderr
        assert logged_in.event_ids() == []
    finally:
        claimer.kill()
        claimer.wait()
    again = _sync()
    assert again.returncode == 0 and "spool" not in again.stderr
    assert logged_in.event_ids() == [e["event_id"] for e in spooled]


def test_a_claim_whose_pid_was_reused_after_it_is_taken_over() -> None:
    spool.spool(envelopes(1, start=760))
    (path,) = spool.spool_dir().glob("*.json")
    # A live process that started before the claim is its claimer; this one (pid 1) did.
    held = path.with_name(f"{path.stem}.claimed-1")
    os.rename(path, held)
    assert spool._spooled_files(spool.spool_dir()) == []
    # Claimed a minute before this process started: the pid now belongs to someone else.
    ours = path.with_name(f"{path.stem}.claimed-{os.getppid()}")
    os.rename(held, ours)
    started = spool._process_started(os.getppid())
    assert started
    os.utime(ours, (started - 60, started - 60))
    assert spool._spooled_files(spool.spool_dir()) == [path]


@pytest.mark.parametrize("name", ["x.claimed-", "x.claimed-0", "x.claimed-abc"])
def test_a_claim_no_process_could_have_made_is_taken_over(name: str) -> None:
    spool.spool_dir().mkdir(parents=True)
    (spool.spool_dir() / name).write_text("[]")
    assert [p.name for p in spool._spooled_files(spool.spool_dir())] == ["x.json"]
