"""What both sources of lane moves share: the commit's checkout, what its paths are, what could
not be read, and the refs and evidence a move records of its commit."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from kitty_hooks.gitrepo.history import CommitRecord
from kitty_hooks.model.lanes import sync_lane
from kitty_hooks.model.layout import (
    feature_of,
    is_status_log,
    is_wp_file,
    legacy_lane_of,
    repo_path,
    wp_id_from_name,
)

# Moves that carry evidence of a review: a canceled WP is done on the board too, but nobody
# approved it.
APPROVAL_LANES = frozenset({"approved", "done"})


# NamedTuple, not dataclass: the post-commit hook cannot afford dataclasses' import (inspect,
# ast: ~8 ms) nor its per-class code generation.
class CommitContext(NamedTuple):
    """What a lane change needs to know beyond the commit itself."""

    execution_mode: str
    branch: str | None
    repo_name: Callable[[], str]
    """Called only for done evidence: it may have to ask git for the origin remote."""
    loads: Callable[[bytes], Any] | None = None
    """A faster JSON parser for log lines (orjson's, for a scan); the hook leaves it out."""


class Skipped(NamedTuple):
    """A file or line that could not be read as a lane change, and why."""

    path: str
    reason: str

    def render(self) -> str:
        return f"{self.path}: {self.reason}"


class PathFacts(NamedTuple):
    """What detection asks of a path, worked out once per path (a scan meets each in many
    commits)."""

    feature: str
    is_log: bool
    is_wp: bool
    named_wp_id: str
    """The WP id the file name gives ("" when none)."""
    stem: str
    legacy_lane: str | None


@lru_cache(maxsize=1 << 14)
def path_facts(name: str) -> PathFacts:
    path = repo_path(name)
    return PathFacts(
        feature=feature_of(path) or "",
        is_log=is_status_log(path),
        is_wp=is_wp_file(path),
        named_wp_id=wp_id_from_name(path) or "",
        stem=_stem(path.name),
        legacy_lane=legacy_lane_of(path),
    )


def _stem(name: str) -> str:
    """The name without its last suffix, as PurePosixPath.stem has it."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def repo_entry(commit: CommitRecord, context: CommitContext) -> dict[str, str]:
    return {"repo": context.repo_name(), "branch": context.branch or "HEAD", "commit": commit.sha}


def review_ref(from_lane: str | None, to_lane: str, commit: CommitRecord) -> str | None:
    """The commit a reviewer checks out: set on entering review, and on a rollback."""
    to_sync = sync_lane(to_lane)
    from_sync = sync_lane(from_lane) if from_lane is not None else None
    if to_sync == "for_review" or (from_sync == "for_review" and to_sync == "doing"):
        return commit.sha
    return None


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
