"""Where things live in a spec-kitty repository: features, status logs, WP files, lane folders."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: the quick gate (check/quick.py) cannot afford its import
if TYPE_CHECKING:
    from pathlib import PurePosixPath

SPECS_DIR = "kitty-specs"
LOG_FILE_NAME = "status.events.jsonl"
PROJECT_CONFIG = ".kittify/config.yaml"
# Spec-kitty 1.x kept WP files in one folder per lane.
LEGACY_LANE_FOLDERS = ("planned", "doing", "for_review", "done")


def is_wp_file(path: PurePosixPath | GitPath) -> bool:
    """tasks/WP*.md, or tasks/<lane>/WP*.md in a 1.x lane folder."""
    if not (path.name.startswith("WP") and path.name.endswith(".md")):
        return False
    parts = path.parts
    if len(parts) >= 2 and parts[-2] == "tasks":
        return True
    return legacy_lane_of(path) is not None


def legacy_lane_of(path: PurePosixPath | GitPath) -> str | None:
    """The lane a 1.x lane folder gives a WP file, None outside one."""
    parts = path.parts
    if len(parts) >= 3 and parts[-3] == "tasks" and parts[-2] in LEGACY_LANE_FOLDERS:
        return parts[-2]
    return None


def feature_of(path: PurePosixPath | GitPath) -> str | None:
    """The feature slug of a path under kitty-specs/<feature>/, else None."""
    parts = path.parts
    if len(parts) >= 3 and parts[0] == SPECS_DIR:
        return parts[1]
    return None


def is_status_log(path: PurePosixPath | GitPath) -> bool:
    parts = path.parts
    return len(parts) == 3 and parts[0] == SPECS_DIR and parts[2] == LOG_FILE_NAME


def wp_id_from_name(path: PurePosixPath | GitPath) -> str | None:
    """WP01 of WP01-fix-the-thing.md: WP and the digits after it (none: None); a digit as re's
    \\d takes it (any Unicode decimal), as this read before it did without re."""
    name = path.name
    end = 2
    while end < len(name) and name[end].isdecimal():
        end += 1
    return name[:end] if name.startswith("WP") and end > 2 else None


def may_hold_lane_changes(path: PurePosixPath | GitPath) -> bool:
    """A status log or a WP file under kitty-specs/<feature>/."""
    return feature_of(path) is not None and (is_status_log(path) or is_wp_file(path))


class GitPath:
    """What this module asks of a path (its parts and name), for a path as git names it (no
    empty, "." or ".." part): the same answers as PurePosixPath, without pathlib (the quick
    gate cannot afford its import; a scan parses thousands of paths)."""

    __slots__ = ("name", "parts")

    def __init__(self, path: str) -> None:
        self.parts = tuple(path.split("/"))
        self.name = self.parts[-1]


# Caches of what git names: plain dicts emptied when full (functools' lru_cache would cost the
# quick gate functools' import; a scan meets a few thousand paths, far fewer than this).
_CACHED_PATHS = 1 << 14
_repo_paths: dict[str, GitPath] = {}
_may_hold: dict[str, bool] = {}


def repo_path(path: str) -> GitPath:
    """A path as git names it, parsed once: a scan meets the same few thousand paths in
    thousands of commits."""
    found = _repo_paths.get(path)
    if found is None:
        if len(_repo_paths) >= _CACHED_PATHS:
            _repo_paths.clear()
        found = _repo_paths[path] = GitPath(path)
    return found


def may_hold_lane_changes_at(path: str) -> bool:
    """may_hold_lane_changes for a path as git names it (cached, as repo_path)."""
    found = _may_hold.get(path)
    if found is None:
        if len(_may_hold) >= _CACHED_PATHS:
            _may_hold.clear()
        found = _may_hold[path] = may_hold_lane_changes(repo_path(path))
    return found
