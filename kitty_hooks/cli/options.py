"""What the commands share: --format, -q, the examples epilog, and a group's help listing."""

from __future__ import annotations

from typing import Any

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
    with `...`, which hid what half the commands do.

    lazy: name -> "module:attribute" of commands imported when asked for, so a command starts
    without importing every other (a scan, a status: ~15 ms)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = self._lazy.pop(cmd_name, None)
        if where is not None:
            import importlib

            module, _, attribute = where.partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
