from __future__ import annotations

import getpass
import hashlib
import socket
from pathlib import Path

import pytest

from kitty_hooks.gitrepo import RepoLayout
from kitty_hooks.identity import node_id, project_identity, repo_name

LAYOUT = RepoLayout(
    Path("/src/My_Project"), Path("/src/My_Project/.git"), Path("/src/My_Project/.git"), "main"
)


def test_node_id_is_the_spec_kitty_recipe() -> None:
    expected = hashlib.sha256(f"{socket.gethostname()}:{getpass.getuser()}".encode()).hexdigest()[
        :12
    ]
    assert node_id() == expected


@pytest.mark.parametrize(
    ("url", "slug", "name"),
    [
        ("git@github.example:kitty/cli.git", "cli", "kitty/cli"),
        ("https://git.example/kitty/cli", "cli", "kitty/cli"),
        ("https://git.example/kitty/cli.git/", "cli", "kitty/cli"),
        ("/srv/repos/Kitty_CLI.git", "kitty-cli", "repos/Kitty_CLI"),
        (None, "my-project", "My_Project"),
    ],
)
def test_slug_and_repo_name_from_the_origin_remote(url: str | None, slug: str, name: str) -> None:
    identity = project_identity(
        LAYOUT, b"project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n", url, node="n"
    )
    assert identity.project_slug == slug
    assert repo_name(LAYOUT, url) == name


@pytest.mark.parametrize(
    "config",
    [b"project:\n  uuid: not-a-uuid\n", b"{broken: [yaml", b"- a list\n", b"project: 3\n", None],
)
def test_a_missing_or_broken_config_falls_back_to_the_derived_uuid(
    config: bytes | None, tmp_path: Path
) -> None:
    cache = tmp_path / "common"
    cache.mkdir()
    (cache / "kitty-hooks-root-commit").write_text("0" * 40 + "\n")
    layout = RepoLayout(tmp_path, cache, cache, "main")
    first = project_identity(layout, config, None, node="n")
    assert first.project_uuid == project_identity(layout, None, None, node="n").project_uuid
    assert len(first.project_uuid) == 36
