"""Checking a work-package markdown file: its frontmatter parses and its lane is one spec-kitty
writes (3.x keeps the lane in the log, so a missing `lane:` is fine)."""

from __future__ import annotations

from kitty_hooks.check.eventfiles import decode_whole
from kitty_hooks.check.results import DiagnoseReport, Problem, Severity
from kitty_hooks.check.validation import render_value
from kitty_hooks.model.frontmatter import (
    FrontmatterError,
    parse_frontmatter,
    parse_plain_frontmatter,
)
from kitty_hooks.model.lanes import (
    ACCEPTED_LANE_NAMES,
    canonical_lane,
    is_execution_lane,
    is_known_lane,
    lane_meant_by,
)


def check_wp_file(
    label: str, data: bytes, report: DiagnoseReport, *, legacy_lane: str | None
) -> None:
    text = decode_whole(label, data, report)
    if text is None:
        return
    try:
        # Plain lines are read as they are; PyYAML reads the rest (the same result).
        frontmatter = parse_plain_frontmatter(text) or parse_frontmatter(text)
    except FrontmatterError as exc:
        # In a 1.x lane folder the folder is the lane (capture reads it so): a file there
        # with no frontmatter, or broken frontmatter, still says where its WP is.
        severity: Severity = "warning" if legacy_lane is not None else "error"
        report.add(Problem(label, exc.line, (str(exc),), severity=severity))
        return
    lane = frontmatter.fields.get("lane")
    # 3.x keeps the lane in the log: a WP file without `lane:` is normal, and its `lane:` may
    # name an execution lane (lane-a). Only a value that looks meant as a status lane and is
    # none is an error; anything else is a warning.
    if lane is None or is_execution_lane(lane):
        return
    if not is_known_lane(lane):
        meant = lane_meant_by(lane)
        expected = f"one of {', '.join(ACCEPTED_LANE_NAMES)}"
        if not isinstance(lane, str):
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (f"lane: unknown lane (got {render_value(lane)}, expected {expected})",),
                )
            )
        elif meant is not None:
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (
                        f"lane: unknown lane (got {render_value(lane)}, expected {expected}; "
                        f"did you mean {meant}?)",
                    ),
                )
            )
        else:
            report.add(
                Problem(
                    label,
                    frontmatter.lane_line,
                    (
                        f"lane: {render_value(lane)} is not a lane spec-kitty writes (expected "
                        f"{expected}, or an execution lane like lane-a); capture ignores it",
                    ),
                    severity="warning",
                )
            )
        return
    if legacy_lane is not None and canonical_lane(lane) != canonical_lane(legacy_lane):
        report.add(
            Problem(
                label,
                frontmatter.lane_line,
                (
                    f"lane: frontmatter says {lane!r} but the file is in the {legacy_lane}/ lane folder",
                ),
                severity="warning",
            )
        )
