"""What the benchmarks time: realistic status-log lines, WP files, envelopes, credentials.

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
import random
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


# --- files of a spec-kitty project ------------------------------------------------------------


PROJECT_UUID = "63c8d621-4b64-48e2-86fc-56c667068f2f"


def write_project_config(repo: Path) -> None:
    """.kittify/config.yaml: the project a captured move belongs to."""
    (repo / ".kittify").mkdir(parents=True, exist_ok=True)
    (repo / ".kittify" / "config.yaml").write_text(
        f"project:\n  uuid: {PROJECT_UUID}\n  slug: bench\n"
    )


def wp_file(number: int, lane: str, *, title: str | None = None, body: str = "") -> str:
    """A WP file whose frontmatter holds its lane. title: "Work package N" when None, no
    title line when empty."""
    if title is None:
        title = f"Work package {number}"
    title_line = f"title: {title}\n" if title else ""
    return f"---\nwork_package_id: WP{number:02d}\n{title_line}lane: {lane}\n---\n{body}"


def move_line(index: int, from_lane: str, to_lane: str) -> str:
    """A spec-kitty 2.x status.events.jsonl line (with its newline) moving WP02 of 039-bench;
    its event id is a ULID derived from index."""
    from kitty_hooks.model.events import derive_ulid

    return json.dumps(
        {
            "actor": "claude", "at": f"2026-11-20T10:{index // 60 % 60:02d}:{index % 60:02d}+00:00",
            "event_id": derive_ulid(1_763_632_800_000 + index, "bench-log", str(index)),
            "evidence": None, "execution_mode": "worktree", "feature_slug": "039-bench",
            "force": False, "from_lane": from_lane, "policy_metadata": None, "reason": None,
            "review_ref": None, "to_lane": to_lane, "wp_id": "WP02",
        },
        sort_keys=True,
    ) + "\n"  # fmt: skip


def make_envelopes(count: int, *, seed: int) -> list[dict[str, Any]]:
    """WPStatusChanged envelopes as the capture builds them, from interleaved feature logs."""
    from kitty_hooks.model.events import (
        Identity,
        LaneChange,
        build_status_envelope,
        derive_ulid,
        iso_to_millis,
    )

    identity = Identity(
        project_uuid=PROJECT_UUID, project_slug="kitty-bench", node_id="b805cd5cee74"
    )
    fields = list(LaneChange._fields)
    writers = [LogWriter(feature_slug(number), seed=seed + number) for number in range(1, 21)]
    envelopes: list[dict[str, Any]] = []
    drawn = 0
    while len(envelopes) < count:
        line = writers[drawn % len(writers)].next_event()
        drawn += 1
        change = LaneChange(**{name: line[name] for name in fields})
        envelope = build_status_envelope(
            change,
            identity=identity,
            lamport_clock=0,  # the queue sets it
            correlation_id=derive_ulid(iso_to_millis(line["at"]), "commit", str(drawn // 3)),
            timestamp=line["at"],
        )
        if envelope is not None:  # in_progress <-> blocked collapses to no event
            envelopes.append(dict(envelope))
    return envelopes


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
