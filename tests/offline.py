"""An environment for pip, build and virtualenv that reads no user config and reaches no network."""

from __future__ import annotations

import os
from pathlib import Path

# Anything that still tries the network meets a closed port on loopback and fails at once.
DEAD_PROXY = "http://127.0.0.1:9"


def offline_env(home: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(
            ("GIT_", "PIP_", "PYTHON", "VIRTUALENV_", "XDG_", "PRE_COMMIT", "KITTY_HOOKS")
        )
        and name.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        KITTY_HOOKS_HOME=str(home / ".spec-kitty" / "kitty-hooks"),
        PYTHONDONTWRITEBYTECODE="1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        ALL_PROXY=DEAD_PROXY,
    )
    return env
