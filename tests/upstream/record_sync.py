"""Record what spec-kitty's OWN sync queues for the moves it writes (issue 18, item 5).

Run by hand, from the repository root, with the two CLIs installed in virtual environments
(offline: nothing is fetched, and spec-kitty's server URL points at a closed loopback port):

    python tests/upstream/record_sync.py SK213_VENV SK327_VENV

It is not a test and pytest does not collect it. For each version it makes a git project with a
`.kittify/config.yaml` (a fixed project uuid), turns spec-kitty's SaaS sync on
(SPEC_KITTY_ENABLE_SAAS_SYNC=1) in a temporary HOME, drives the installed status emitter (what
`move-task` and the `agent` commands call) over a few work packages, and keeps:

tests/upstream/sync/2.1.3/
    status.events.jsonl   the log the moves went to (kitty-specs/001-sync-record/).
    queue.db              ~/.spec-kitty/queue.db as 2.1.3 left it: WPStatusChanged under new
                          ULIDs (no link to the log line but the move itself), dossier events.
tests/upstream/sync/3.2.7/
    status.events.jsonl   the log (kitty-specs/sync-record-01KAAAAA/).
    meta.json             the mission's meta.json.
    sync.db               ~/.spec-kitty/projects/<uuid>/sync/sync.db, checkpointed: its
                          journal_entries hold each envelope (base64) under a new id with the
                          log line's id in causation_id; outbox_tasks the delivery tasks.
    config.yaml           the project's .kittify/config.yaml.

Event ids and times are whatever upstream generated on the recording run.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent / "sync"
PROJECT_UUID = "3f8a2c1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
CONFIG_YAML = f"project:\n  uuid: {PROJECT_UUID}\n  slug: sync-record\n"

EMIT_213 = r"""
import os, subprocess, sys
from pathlib import Path
from specify_cli.status.emit import emit_status_transition
work = Path(sys.argv[1])
slug = "001-sync-record"
subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
(work / ".kittify").mkdir()
(work / ".kittify" / "config.yaml").write_text(sys.argv[2])
fdir = work / "kitty-specs" / slug
(fdir / "tasks").mkdir(parents=True)
os.chdir(work)
REVIEW = {"review": {"reviewer": "reviewer-ada", "verdict": "approved", "reference": "PR#1"}}
def wp(n):
    (fdir / "tasks" / f"WP0{n}-wp.md").write_text(
        f'---\nwork_package_id: "WP0{n}"\ntitle: "wp"\nlane: "planned"\n---\n# WP0{n}\n')
    return f"WP0{n}"
def hop(w, lane, **kw):
    emit_status_transition(fdir, slug, w, lane, actor="claude", repo_root=work, **kw)
a = wp(1)
for lane in ("claimed", "in_progress", "for_review"):
    hop(a, lane)
hop(a, "approved", evidence=REVIEW)
hop(a, "done", evidence=REVIEW)
b = wp(2)
hop(b, "claimed")
hop(b, "in_progress")
hop(b, "blocked")
c = wp(3)
hop(c, "done", force=True, reason="bootstrap from frontmatter lane done", evidence=None)
"""

EMIT_327 = r"""
import json, os, subprocess, sys
from pathlib import Path
import specify_cli.sync as sync
sync.register_default_handlers()
from specify_cli.status.emit import emit_status_transition
from specify_cli.status.models import ReviewResult
work = Path(sys.argv[1])
slug = "sync-record-01KAAAAA"
subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
(work / ".kittify").mkdir()
(work / ".kittify" / "config.yaml").write_text(sys.argv[2])
fdir = work / "kitty-specs" / slug
(fdir / "tasks").mkdir(parents=True)
(fdir / "meta.json").write_text(json.dumps({
    "mission_id": "01KAAAAAAAAAAAAAAAAAAAAAAA", "mission_slug": slug, "slug": slug,
    "mission_number": None, "mission_type": "software-dev", "friendly_name": "sync record",
    "target_branch": "main"}, indent=2) + "\n")
os.chdir(work)
IMPL = {"role": "implementer", "profile": "implementer-ivan", "tool": "claude", "model": None}
REVIEWER = {"role": "reviewer", "profile": "reviewer-renata", "tool": "codex", "model": None}
def wp(n):
    (fdir / "tasks" / f"WP0{n}-wp.md").write_text(
        f"---\nwork_package_id: WP0{n}\ntitle: wp\nsubtasks: []\ndependencies: []\n---\n# WP0{n}\n")
    return f"WP0{n}"
def hop(w, lane, **kw):
    kw.setdefault("actor", "claude")
    emit_status_transition(fdir, mission_slug=slug, wp_id=w, to_lane=lane,
                           ensure_sync_daemon=False, sync_dossier=False, **kw)
for n in (1, 2):
    hop(wp(n), "planned", actor="finalize-tasks", reason="canonical bootstrap")
hop("WP01", "claimed", actor=IMPL)
hop("WP01", "in_progress", actor=IMPL)
hop("WP01", "for_review", actor=IMPL)
hop("WP01", "in_review", actor=REVIEWER, reason="Started review via action command",
    review_ref="action-review-claim")
hop("WP01", "approved", actor=REVIEWER, review_result=ReviewResult(
    reviewer="reviewer-renata", verdict="approved", reference="review-cycle://1",
    feedback_path=None))
hop("WP02", "claimed", actor=IMPL)
hop("WP02", "in_progress", actor=IMPL)
"""


def _run(python: Path, script: str, work: Path, home: Path) -> None:
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "SPEC_KITTY_NO_UPGRADE_CHECK": "1",
        "SPEC_KITTY_NON_INTERACTIVE": "1",
        "SPEC_KITTY_ENABLE_SAAS_SYNC": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Recorder",
        "GIT_AUTHOR_EMAIL": "recorder@example.com",
        "GIT_COMMITTER_NAME": "Recorder",
        "GIT_COMMITTER_EMAIL": "recorder@example.com",
    }
    (home / ".spec-kitty").mkdir(parents=True)
    # spec-kitty's own server: a loopback port nothing listens on (it stays offline).
    (home / ".spec-kitty" / "config.toml").write_text(
        '[sync]\nserver_url = "https://127.0.0.1:9"\n'
    )
    subprocess.run([str(python), "-c", script, str(work), CONFIG_YAML], env=env, check=True)


def _checkpointed_copy(source: Path, target: Path) -> None:
    """A self-contained copy of a WAL-mode database (the WAL folded in, one file)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute(f"VACUUM INTO '{target}'")


def record(sk213: Path, sk327: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="record-sync-") as temp:
        root = Path(temp)
        out = HERE / "2.1.3"
        out.mkdir(parents=True, exist_ok=True)
        _run(sk213 / "bin" / "python", EMIT_213, root / "w213", root / "h213")
        shutil.copy(root / "w213/kitty-specs/001-sync-record/status.events.jsonl", out)
        _checkpointed_copy(root / "h213/.spec-kitty/queue.db", out / "queue.db")

        out = HERE / "3.2.7"
        out.mkdir(parents=True, exist_ok=True)
        _run(sk327 / "bin" / "python", EMIT_327, root / "w327", root / "h327")
        feature = root / "w327/kitty-specs/sync-record-01KAAAAA"
        shutil.copy(feature / "status.events.jsonl", out)
        shutil.copy(feature / "meta.json", out)
        (out / "config.yaml").write_text(CONFIG_YAML)
        store = root / f"h327/.spec-kitty/projects/{PROJECT_UUID}/sync/sync.db"
        _checkpointed_copy(store, out / "sync.db")
    (HERE / "2.1.3" / "config.yaml").write_text(CONFIG_YAML)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    record(Path(sys.argv[1]), Path(sys.argv[2]))
