"""What the commands share: --format, -q, the examples epilog, and a group's help listing."""

from __future__ import annotations

import click

from kitty_hooks.views import RENDERER_BY_FORMAT

FORMATS = click.Choice(list(RENDERER_BY_FORMAT))

format_option = click.option(
    "--format", "output_format", type=FORMATS, default="text", show_default=True
)
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="Print only problems (nothing when all is well)."
)


def examples(*lines: str) -> str:
    """An epilog that click prints as it is (\\b stops it from rewrapping the lines)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


class Group(click.Group):
    """Lists every command with its whole first sentence: click cuts them at 45 characters
    with `...`, which hid what half the commands do."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
