"""Who may log in to the peer: NAME:PASSWORD accounts from a variable, a file and flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kitty_hooks.errors import FatalError

USER_ENV = "KITTY_HOOKS_SERVE_USER"
NO_USERS = (
    f"no users: set {USER_ENV}=NAME:PASSWORD, or give --user-file PATH (one NAME:PASSWORD a "
    "line) or --user NAME:PASSWORD"
)


def parse_users(texts: Iterable[str], *, source: str = "--user") -> dict[str, str]:
    """{"ada": "secret"} from ["ada:secret"]; FatalError for a malformed one or none at all.

    The message names the source and the entry's position, never its text: it may be a password.
    """
    users: dict[str, str] = {}
    for number, text in enumerate(texts, start=1):
        name, sep, password = text.partition(":")
        if not sep or not name or not password:
            raise FatalError(
                f"{source}: entry {number} is not NAME:PASSWORD (a name, a colon, a password)"
            )
        users[name] = password
    if not users:
        raise FatalError(NO_USERS)
    return users


def gather_users(
    flags: Sequence[str], user_file: Path | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """Users from --user flags, a --user-file and the KITTY_HOOKS_SERVE_USER variable, together.

    A --user password is in the process list for every local user to read (ps, /proc/*/cmdline);
    the variable and the file are not, so the help recommends them.
    """
    users: dict[str, str] = {}
    env_value = environ.get(USER_ENV, "").strip()
    if env_value:
        users.update(parse_users([env_value], source=USER_ENV))
    if user_file is not None:
        try:
            text = user_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise FatalError(f"--user-file {user_file}: cannot read it ({why})") from None
        lines = [
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        ]
        users.update(parse_users(lines, source=f"--user-file {user_file}"))
    if flags:
        users.update(parse_users(flags))
    if not users:
        raise FatalError(NO_USERS)
    return users
