"""`kitty-hooks demo`: the whole loop in a temporary directory, told as a short story.

It sets up a spec-kitty-style repository with two features and a bare remote, the local ingest
server on a free loopback port, credentials for it, and the hooks installed. Then come commits
that move work packages through every lane, a `git push`, and the events arriving at the
server. Everything runs as real processes under a HOME of its own, so nothing of the user's is
read or written.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from kitty_hooks.errors import FatalError
from kitty_hooks.wording import plural

PROJECT_UUID = "7d1c2b3a-4e5f-4a6b-9c8d-0e1f2a3b4c5d"
USER, PASSWORD = "ada", "demo-password"
FEATURES = {"001-checkout-flow": "Checkout flow", "002-search": "Search"}


def _wp(wp_id: str, title: str, lane: str, extra: str = "") -> str:
    return (
        f'---\nwork_package_id: "{wp_id}"\ntitle: "{title}"\nlane: "{lane}"\n{extra}---\n'
        f"# {wp_id} {title}\n"
    )


def _story() -> list[tuple[str, dict[str, str]]]:
    """The demo's commits in order: a message and the files it writes."""
    a, b = "kitty-specs/001-checkout-flow", "kitty-specs/002-search"
    cart = f"{a}/tasks/WP01-cart.md"
    forced = {
        "actor": "grace", "at": "2026-11-23T12:00:00+00:00", "event_id": "01JDEM0F0RCED0CANCE1ED0000",
        "evidence": None, "execution_mode": "direct_repo", "feature_slug": "002-search", "force": True,
        "from_lane": "planned", "policy_metadata": None, "reason": "superseded by the new search service",
        "review_ref": None, "to_lane": "canceled", "wp_id": "WP01",
    }  # fmt: skip
    return [
        ("Plan checkout and search", {
            cart: _wp("WP01", "Cart", "planned"),
            f"{a}/tasks/WP02-payment.md": _wp("WP02", "Payment", "planned"),
            f"{b}/tasks/WP01-index.md": _wp("WP01", "Index", "planned"),
        }),
        ("Claim the cart", {cart: _wp("WP01", "Cart", "claimed")}),
        ("Start on the cart", {cart: _wp("WP01", "Cart", "in_progress")}),
        ("Cart ready for review", {cart: _wp("WP01", "Cart", "for_review")}),
        ("Review: back to work", {cart: _wp("WP01", "Cart", "in_progress")}),
        ("Cart ready again", {cart: _wp("WP01", "Cart", "for_review")}),
        ("Cart approved and done", {
            cart: _wp("WP01", "Cart", "done", 'reviewed_by: "Grace"\nreview_status: "approved"\n'),
        }),
        ("Payment blocked on the provider", {
            f"{a}/tasks/WP02-payment.md": _wp("WP02", "Payment", "blocked"),
        }),
        ("Cancel the index (forced)", {
            f"{b}/status.events.jsonl": json.dumps(forced, sort_keys=True) + "\n",
            f"{b}/tasks/WP01-index.md": _wp("WP01", "Index", "canceled"),
        }),
    ]  # fmt: skip


def _described(event: dict[str, Any]) -> str:
    """One line for an event the server received: which WP moved where, by whom."""
    payload = event.get("payload", {})
    extra = ""
    if payload.get("force"):
        extra = f", forced: {payload.get('reason')}"
    elif payload.get("evidence"):
        review = payload["evidence"].get("review", {})
        extra = f", {review.get('verdict')} by {review.get('reviewer')}"
    return (
        f"     {payload.get('feature_slug')}/{payload.get('wp_id')}: "
        f"{payload.get('from_lane') or 'new'} -> {payload.get('to_lane')}"
        f"  (by {payload.get('actor')}, lamport {event.get('lamport_clock')}{extra})"
    )


class _Demo:
    def __init__(self, root: Path, say: Callable[[str], None]) -> None:
        self.root = root
        self.say = say
        self.home = root / "home"
        self.repo = root / "checkout"
        self.remote = root / "remote.git"
        self.home.mkdir(parents=True)
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("GIT_", "KITTY_HOOKS", "PRE_COMMIT", "SPEC_KITTY"))
        }
        self.env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_AUTHOR_NAME="Ada Lovelace",
            GIT_AUTHOR_EMAIL="ada@example.com",
            GIT_COMMITTER_NAME="Ada Lovelace",
            GIT_COMMITTER_EMAIL="ada@example.com",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        # The story's commits are dated three hours apart from here (a working week).
        self.clock = datetime.now(timezone.utc) - timedelta(days=5)
        self.server: subprocess.Popen[str] | None = None
        self.server_log: IO[str] | None = None
        self.url = ""
        self.log_lines = 0

    # --- plumbing ----------------------------------------------------------------------------

    def run(
        self, *args: str, cwd: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args),
            cwd=cwd or self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise FatalError(
                f"demo step failed: {' '.join(args)}: {(done.stderr or done.stdout).strip()}"
            )
        return done

    def kitty(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "kitty_hooks", *args, check=check)

    def commit(self, message: str, files: dict[str, str]) -> None:
        for relative, content in files.items():
            path = self.repo / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        before = self._queued()
        self.clock += timedelta(hours=3)
        stamp = f"{int(self.clock.timestamp())} +0000"
        self.env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        self.run("git", "add", "-A")
        done = self.run("git", "commit", "-q", "-m", message)
        queued = self._queued() - before
        note = (
            f"{plural(queued, 'event')} queued"
            if queued
            else "nothing to send (the move stays within one sync lane)"
        )
        self.say(f"  git commit -m {json.dumps(message)}  ->  {note}")
        if done.stderr.strip():
            self.say(f"    {done.stderr.strip()}")

    def _queued(self) -> int:
        listing = self.kitty("queue", "list", "--format", "json").stdout
        return len(json.loads(listing))

    def client(self) -> Any:
        from kitty_hooks.deliver.client import Client

        return Client(self.url)

    # --- the story ---------------------------------------------------------------------------

    def start_server(self) -> None:
        # The server logs a line per batch on stderr: to a file, never into a pipe no one reads.
        self.server_log = (self.root / "server.log").open("w")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "kitty_hooks", "serve", "--port", "0",
             "--db", str(self.root / "server.db")],
            # Not --user: a password on the command line is in the process list.
            env={**self.env, "KITTY_HOOKS_SERVE_USER": f"{USER}:{PASSWORD}"}, stdout=subprocess.PIPE, stderr=self.server_log, text=True,
        )  # fmt: skip
        assert self.server.stdout is not None
        first = self.server.stdout.readline().strip()
        if "http://" not in first:
            raise FatalError(f"the local server did not start: {first or 'no output'}")
        self.url = first[first.index("http://") :].split()[0]
        self.say(f"1. The local ingest server listens on {self.url} (kitty-hooks serve).")

    def log_in(self) -> None:
        from kitty_hooks.deliver.login import log_in

        credentials = self.home / ".spec-kitty" / "credentials"
        log_in(self.url, USER, PASSWORD, path=credentials)
        self.say(
            f"2. {USER} logs in (kitty-hooks login); the tokens go to {credentials} (mode 0600),"
            " laid out as spec-kitty 2.1.3 reads them."
        )

    def make_repository(self) -> None:
        self.run("git", "init", "-q", "--bare", str(self.remote), cwd=self.root)
        self.run("git", "init", "-q", "-b", "main", str(self.repo), cwd=self.root)
        self.run("git", "remote", "add", "origin", str(self.remote))
        files = {".kittify/config.yaml": f"project:\n  uuid: {PROJECT_UUID}\n  slug: kitty-demo\n"}
        for feature, title in FEATURES.items():
            files[f"kitty-specs/{feature}/spec.md"] = f"# {title}\n"
        for relative, content in files.items():
            path = self.repo / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", "Start the project")
        self.run("git", "push", "-q", "-u", "origin", "main")
        installed = self.kitty("install").stdout.strip().splitlines()
        self.say(
            f"3. A repository with two features and a bare remote; `kitty-hooks install` put in {len(installed)} hooks:"
        )
        for line in installed:
            self.say(f"     {line}")

    def move_work_packages(self) -> None:
        self.say("4. The team works. Every commit that moves a work package queues an event:")
        for message, files in _story():
            self.commit(message, files)

    def push(self) -> int:
        expected = self._queued()
        started = time.perf_counter()
        self.run("git", "push", "-q", "origin", "main")
        elapsed = (time.perf_counter() - started) * 1000
        self.say(
            f"5. git push took {elapsed:.0f} ms; the pre-push hook started the flush in the background."
        )
        return expected

    def wait_for_server(self, expected: int) -> list[dict[str, Any]]:
        token = self._token()
        deadline = time.monotonic() + 30
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            with self.client() as client:
                events = client.list_events(token)
            if len(events) >= expected and self._queued() == 0:
                break
            time.sleep(0.2)
        self.say(f"6. The server received {plural(len(events), 'event')}:")
        for event in events:
            self.say(_described(event))
        return events

    def _token(self) -> str:
        from kitty_hooks.deliver.credentials import load_credentials

        # The flush may have refreshed it: read what is on disk now.
        return load_credentials(self.home / ".spec-kitty" / "credentials").access

    def status(self) -> None:
        self.say("7. kitty-hooks status:")
        for line in self.kitty("status", "--check", check=False).stdout.strip().splitlines():
            self.say(f"     {line}")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.server_log is not None:
            self.server_log.close()


def run_demo(*, keep: bool, say: Callable[[str], None] = print) -> int:
    root = Path(tempfile.mkdtemp(prefix="kitty-hooks-demo-"))
    demo = _Demo(root, say)
    received: list[dict[str, Any]] = []
    expected = -1
    try:
        demo.start_server()
        demo.log_in()
        demo.make_repository()
        demo.move_work_packages()
        expected = demo.push()
        received = demo.wait_for_server(expected)
        demo.status()
    finally:
        demo.stop()
        if keep:
            say(f"Kept everything in {root} (the repository is {demo.repo}).")
            # The demo ran under a HOME of its own: the CLI sees its queue and log only there.
            state = demo.home / ".spec-kitty" / "kitty-hooks"
            say("To look at it with the command line (the server has stopped):")
            say(
                f"  cd {shlex.quote(str(demo.repo))} && HOME={shlex.quote(str(demo.home))} "
                f"KITTY_HOOKS_HOME={shlex.quote(str(state))} kitty-hooks log"
            )
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if len(received) == expected else 1
