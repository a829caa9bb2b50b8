"""`kitty-hooks board`: each work package where spec-kitty's rules put it at a revision, beside
where the events queued and delivered from this machine put it on the dashboard.

spec-kitty's side is read from git: every log and WP file under kitty-specs/ at the revision,
with one ls-tree and one cat-file. A WP with transitions in its feature's log is where the log's
fold puts it (model.reducer). Any other WP is where its WP file's `lane:` (or 1.x lane folder)
puts it.

The dashboard's side is the queue's lanes_sent: the latest move by Lamport clock of each WP.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any, NamedTuple

from kitty_hooks.capture.commit_context import path_facts
from kitty_hooks.capture.wp_changes import wp_file_lane
from kitty_hooks.gitrepo import blobs as git_blobs
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.gitrepo.command import run_git
from kitty_hooks.model.lanes import sync_lane
from kitty_hooks.model.layout import LOG_FILE_NAME, PROJECT_CONFIG, SPECS_DIR
from kitty_hooks.model.reducer import log_lanes


class BoardRow(NamedTuple):
    feature: str
    wp_id: str
    lane: str | None
    """As spec-kitty shows it at the revision (None: not there)."""
    source: str
    """What gives that lane: "log", "frontmatter", "lane folder" ("" when not there)."""
    dashboard: str | None
    """The sync lane our latest move put it in (None: nothing sent from this machine)."""

    @property
    def expected(self) -> str | None:
        return sync_lane(self.lane) if self.lane is not None else None

    @property
    def agrees(self) -> bool:
        return self.expected == self.dashboard

    @property
    def at_revision(self) -> bool:
        return self.lane is not None


class Board(NamedTuple):
    revision: str
    project_uuid: str
    rows: list[BoardRow]

    @property
    def disagreements(self) -> list[BoardRow]:
        """WPs at the revision whose dashboard lane is not spec-kitty's (or is missing)."""
        return [row for row in self.rows if row.at_revision and not row.agrees]

    @property
    def elsewhere(self) -> list[BoardRow]:
        """WPs the dashboard has from this machine that the revision does not (another branch,
        a feature since removed)."""
        return [row for row in self.rows if not row.at_revision]


def spec_kitty_lanes(
    cwd: Path, revision: str = "HEAD"
) -> tuple[dict[tuple[str, str], tuple[str, str]], bytes | None]:
    """(feature, WP) -> (lane, source) at the revision, and the project config's text there.

    A WP file is read only where its feature's log has no transition for the WP its name gives:
    in a 2.x or 3.x repository most are not read at all."""
    import orjson

    listing = run_git(cwd, "ls-tree", "-r", "-z", revision, "--", SPECS_DIR)
    logs: list[tuple[str, str]] = []
    wp_files: list[tuple[str, str]] = []
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        # Cheap tests first: a big repository lists tens of thousands of other files.
        if not (path.endswith(LOG_FILE_NAME) or (path.endswith(".md") and "/WP" in path)):
            continue
        fields = meta.split()
        if len(fields) != 3 or fields[1] != "blob":
            continue
        facts = path_facts(path)
        if facts.feature and facts.is_log:
            logs.append((path, fields[2]))
        elif facts.feature and facts.is_wp:
            wp_files.append((path, fields[2]))
    lanes: dict[tuple[str, str], tuple[str, str]] = {}
    with closing(
        git_blobs.stream_blobs(cwd, [f"{revision}:{PROJECT_CONFIG}", *(oid for _, oid in logs)])
    ) as stream:
        config = next(stream)
        for (path, _), data in zip(logs, stream, strict=False):
            feature = path_facts(path).feature
            for wp_id, lane in log_lanes(data or b"", orjson.loads).items():
                lanes[(feature, wp_id)] = (lane, "log")
    unlogged = [
        (path, oid)
        for path, oid in wp_files
        if (path_facts(path).feature, path_facts(path).named_wp_id) not in lanes
    ]
    if unlogged:
        with closing(git_blobs.stream_blobs(cwd, [oid for _, oid in unlogged])) as stream:
            for (path, _), data in zip(unlogged, stream, strict=False):
                found = wp_file_lane(path, data)
                if found is None:
                    continue
                wp_id, lane = found
                key = (path_facts(path).feature, wp_id)
                if key not in lanes:
                    source = "lane folder" if path_facts(path).legacy_lane else "frontmatter"
                    lanes[key] = (lane, source)
    return lanes, config


def read_board(
    cwd: Path, revision: str = "HEAD", *, feature: str | None = None, queue_path: Path | None = None
) -> Board:
    """spec-kitty's lanes at the revision beside the dashboard's from this machine."""
    from kitty_hooks.capture.identity import project_identity
    from kitty_hooks.queue.database import default_queue_path
    from kitty_hooks.queue.store import EventQueue

    git_repo.repo_root(cwd)  # outside a work tree: say so plainly
    layout = git_repo.repo_layout(cwd)
    sha = run_git(cwd, "rev-parse", "--verify", "-q", f"{revision}^{{commit}}").decode().strip()
    lanes, config = spec_kitty_lanes(cwd, sha)
    identity = project_identity(layout, config, lambda: git_repo.remote_url(layout.top))
    prefix = f"{identity.project_uuid}/"
    sent: dict[str, str] = {}
    path = queue_path or default_queue_path()
    if path.exists():
        with EventQueue(queue_path) as queue:
            sent = queue.lanes_sent(prefix)
    dashboard: dict[tuple[str, str], str] = {}
    for key, lane in sent.items():
        rest = key[len(prefix) :]
        folder, _, wp_id = rest.rpartition("/")
        dashboard[(folder, wp_id)] = lane
    rows = [
        BoardRow(f, wp, lane, source, dashboard.get((f, wp)))
        for (f, wp), (lane, source) in lanes.items()
    ]
    rows += [
        BoardRow(f, wp, None, "", lane)
        for (f, wp), lane in dashboard.items()
        if (f, wp) not in lanes
    ]
    if feature is not None:
        rows = [row for row in rows if row.feature == feature]
    rows.sort(key=lambda row: (row.feature, row.wp_id))
    return Board(sha, identity.project_uuid, rows)


def board_document(board: Board) -> dict[str, Any]:
    return {
        "revision": board.revision,
        "project_uuid": board.project_uuid,
        "work_packages": [
            {
                "feature": row.feature,
                "wp_id": row.wp_id,
                "spec_kitty_lane": row.lane,
                "source": row.source or None,
                "expected": row.expected,
                "dashboard": row.dashboard,
                "agrees": row.agrees,
            }
            for row in board.rows
        ],
        "disagreements": len(board.disagreements),
        "not_at_revision": len(board.elsewhere),
    }
