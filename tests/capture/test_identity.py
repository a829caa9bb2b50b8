from __future__ import annotations

import getpass
import hashlib
import socket
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kitty_hooks.capture.identity import canonical_uuid, node_id, project_identity, repo_name
from kitty_hooks.gitrepo.repo import RepoLayout

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
        LAYOUT, b"project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n", lambda: url, node="n"
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
    first = project_identity(layout, config, lambda: None, node="n")
    assert first.project_uuid == project_identity(layout, None, lambda: None, node="n").project_uuid
    assert len(first.project_uuid) == 36


def test_the_config_is_read_through_a_cache_that_follows_its_edits(tmp_path: Path) -> None:
    common = tmp_path / "common"
    common.mkdir()
    layout = RepoLayout(tmp_path, common, common, "main")
    first = b"project:\n  uuid: 63c8d621-4b64-48e2-86fc-56c667068f2f\n  slug: one\n"
    second = b"project:\n  uuid: 0b6c3f1e-8d2a-4c1b-9e7f-2a5d6c8b9e01\n  slug: two\n"
    never = lambda: pytest.fail("the slug is in the config: no origin look-up")  # noqa: E731
    assert project_identity(layout, first, never, node="n").project_slug == "one"
    assert (common / "kitty-hooks-project.json").exists()
    assert project_identity(layout, first, never, node="n").project_slug == "one"
    changed = project_identity(layout, second, never, node="n")
    assert (changed.project_uuid, changed.project_slug) == (
        "0b6c3f1e-8d2a-4c1b-9e7f-2a5d6c8b9e01",
        "two",
    )


@given(
    st.uuids(), st.sampled_from(["{}", "{{{}}}", "urn:uuid:{}", "{}"]), st.booleans(), st.booleans()
)
def test_every_uuid_form_python_reads_becomes_the_canonical_form(
    value: uuid.UUID, shape: str, upper: bool, hyphens: bool
) -> None:
    text = str(value) if hyphens else value.hex
    text = shape.format(text.upper() if upper else text)
    assert uuid.UUID(text) == value  # a form Python reads...
    assert canonical_uuid(text) == str(value)  # ...is read alike, and emitted canonical


@given(st.text(max_size=48))
def test_canonical_uuid_never_accepts_what_python_refuses(text: str) -> None:
    canonical = canonical_uuid(text)
    if canonical is not None:
        assert str(uuid.UUID(text)) == canonical
