"""Realistic, valid status-log lines for the benchmarks (shared by bench_diagnose and bench_gate).

Lines are written the way spec-kitty writes them: one `json.dumps(event, sort_keys=True)` object
per line. Work packages move through a plausible lifecycle, several of them interleaved:

    None -> planned -> claimed -> in_progress -> for_review -> done
                                  in_progress <-> blocked
                   for_review -> in_progress   (review rollback: carries review_ref)
    forced moves (force=true, with a reason): planned -> canceled, claimed -> planned,
                                              in_progress -> planned, planned -> done

Every line is valid against schemas/status-log-line.schema.json; event ids are distinct ULIDs
whose time part follows the event's `at`. Generation is seeded, so runs are comparable.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ulid import ULID

ACTORS = ("ada", "grace", "linus", "Zoë", "margaret", "claude-agent", "codex", "Søren")
REVIEWERS = ("Grace", "Barbara", "Ken", "Frances")
VERDICTS = ("approved", "approved with comments", "lgtm")
REPOS = ("kitty/cli", "kitty/saas", "kitty/docs", "kitty/hooks")
BRANCHES = ("main", "develop", "feat/lane-sync", "fix/queue-lock")
TOPICS = (
    "cli-2x-readiness",
    "saas-batch-ingest",
    "offline-queue",
    "lane-sync",
    "review-flow",
    "docs-refresh",
    "auth-refresh",
    "worktree-mode",
    "telemetry",
    "merge-gate",
)
FORCE_REASONS = (
    "superseded by a newer work package",
    "scope moved to the next feature",
    "reopened after a production incident",
    "merged by hand during the release freeze",
    "duplicate of an earlier work package",
)
START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)


def feature_slug(number: int) -> str:
    return f"{number:03d}-{TOPICS[number % len(TOPICS)]}"


class LogWriter:
    """Generates the lines of one feature's log; call next_line() for each appended event."""

    def __init__(self, slug: str, *, seed: int, active: int = 12) -> None:
        self.slug = slug
        self.rng = random.Random(seed)
        self.now = START + timedelta(minutes=self.rng.randrange(0, 60 * 24 * 30))
        self.active: dict[str, str | None] = {}  # wp id -> current lane (None: not created)
        self.review_refs: dict[str, str] = {}
        self.review_rounds: dict[str, int] = {}
        self.next_wp = 1
        self.target_active = active
        self.seen_ids: set[str] = set()

    def _new_wp(self) -> str:
        wp = f"WP{self.next_wp:02d}"
        self.next_wp += 1
        self.active[wp] = None
        return wp

    def _ulid(self) -> str:
        ms = int(self.now.timestamp() * 1000)
        while True:
            raw = ms.to_bytes(6, "big") + self.rng.getrandbits(80).to_bytes(10, "big")
            value = str(ULID.from_bytes(raw))
            if value not in self.seen_ids:
                self.seen_ids.add(value)
                return value

    def _evidence(self) -> dict[str, Any]:
        rng = self.rng
        repos = [
            {
                "branch": rng.choice(BRANCHES),
                "commit": f"{rng.getrandbits(160):040x}"[: rng.choice((7, 12, 40))],
                "repo": repo,
            }
            for repo in rng.sample(REPOS, rng.choice((1, 1, 1, 2)))
        ]
        review = {
            "reference": f"PR#{rng.randrange(1, 5000)}",
            "reviewer": rng.choice(REVIEWERS),
            "verdict": rng.choice(VERDICTS),
        }
        return {"repos": repos, "review": review}

    def _review_ref(self, wp: str) -> str:
        self.review_rounds[wp] = self.review_rounds.get(wp, 0) + 1
        ref = f"feedback://{self.slug[:3]}/{wp}/r{self.review_rounds[wp]}.md"
        self.review_refs[wp] = ref
        return ref

    def next_event(self) -> dict[str, Any]:
        rng = self.rng
        while len(self.active) < self.target_active:
            self._new_wp()
        wp = rng.choice(list(self.active))
        from_lane = self.active[wp]
        force = False
        reason: str | None = None
        review_ref: str | None = None
        evidence: dict[str, Any] | None = None
        roll = rng.random()
        if from_lane is None:
            to_lane = "planned"
        elif from_lane == "planned":
            if roll < 0.04:
                to_lane, force = "canceled", True
            elif roll < 0.05:
                to_lane, force, evidence = "done", True, self._evidence()
            else:
                to_lane = "claimed"
        elif from_lane == "claimed":
            if roll < 0.05:
                to_lane, force = "planned", True
            else:
                to_lane = "in_progress"
        elif from_lane == "in_progress":
            if roll < 0.10:
                to_lane = "blocked"
            elif roll < 0.13:
                to_lane, force = "planned", True
            else:
                to_lane, review_ref = "for_review", self._review_ref(wp)
        elif from_lane == "blocked":
            to_lane = "in_progress"
        else:  # for_review
            if roll < 0.25:
                to_lane, review_ref = "in_progress", self.review_refs.get(wp) or "HEAD"
            else:
                to_lane, evidence = "done", self._evidence()
        if force:
            reason = rng.choice(FORCE_REASONS)
        if to_lane in ("done", "canceled"):
            del self.active[wp]
        else:
            self.active[wp] = to_lane
        self.now += timedelta(seconds=rng.randrange(5, 3600), microseconds=rng.randrange(10**6))
        return {
            "actor": rng.choice(ACTORS),
            "at": self.now.isoformat(),
            "event_id": self._ulid(),
            "evidence": evidence,
            "execution_mode": "worktree" if rng.random() < 0.8 else "direct_repo",
            "feature_slug": self.slug,
            "force": force,
            "from_lane": from_lane,
            "policy_metadata": None,
            "reason": reason,
            "review_ref": review_ref,
            "to_lane": to_lane,
            "wp_id": wp,
        }

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        for _ in range(count):
            yield self.next_event()


def log_line(event: dict[str, Any]) -> str:
    """One status.events.jsonl line (without the newline), as spec-kitty writes it."""
    return json.dumps(event, sort_keys=True)


def write_log(path: Path, events: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.writelines(log_line(event) + "\n" for event in events)


# --- child processes -------------------------------------------------------------------------


def hermetic_env(scratch: Path) -> dict[str, str]:
    """A child environment that reads no user or system git config and writes only to scratch."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "KITTY_HOOKS", "PRE_COMMIT", "SPEC_KITTY"))
    }
    home = scratch / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "KITTY_HOOKS_HOME": str(home / ".spec-kitty" / "kitty-hooks"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench Mark",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench Mark",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
            "LC_ALL": "C.UTF-8",
        }
    )
    return env


def run(
    args: list[str], *, cwd: Path, env: dict[str, str], expect: int | None = 0
) -> subprocess.CompletedProcess[bytes]:
    """Run a command, failing loudly (with its output) when it exits other than expected."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=False)
    if expect is not None and done.returncode != expect:
        sys.exit(
            f"benchmark setup failed: {' '.join(args)} exited {done.returncode} "
            f"(expected {expect})\n{done.stdout.decode(errors='replace')[-2000:]}"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


def write_credentials(
    home: Path, url: str, tokens: dict[str, Any], *, username: str = "ada"
) -> None:
    """~/.spec-kitty/credentials as spec-kitty writes it (and tests/syncutil.py does)."""
    from datetime import datetime, timedelta, timezone

    import tomli_w

    now = datetime.now(timezone.utc)
    path = home / ".spec-kitty" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "tokens": {"access": tokens["access"], "refresh": tokens["refresh"]},
        "expiries": {
            "access": (now + timedelta(seconds=900)).isoformat(),
            "refresh": (now + timedelta(days=7)).isoformat(),
        },
        "user": {"username": username},
        "server": {"url": url},
    }
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    path.chmod(0o600)


def precompile() -> None:
    """Measure what an installed kitty-hooks costs: pip compiles a wheel's modules at install
    time. Write kitty_hooks' bytecode once, and let children use it (this machine sets
    PYTHONDONTWRITEBYTECODE=1, which would make every timed child recompile our modules)."""
    import kitty_hooks

    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            str(Path(kitty_hooks.__file__).resolve().parent),
        ],
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
    )
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
