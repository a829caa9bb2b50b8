from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.gitutil import PROJECT_ROOT, Repo, drainers_done
from tests.wheelhouse import build_wheelhouse

# Property tests (tests/test_properties.py): few examples by default, so the whole suite stays
# quick on a 2-core CI machine; HYPOTHESIS_PROFILE=long for a thorough run on your own time.
# No deadline: examples do real HTTP and SQLite, whose time varies with the machine's load.
settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def make_hermetic(monkeypatch: pytest.MonkeyPatch, home: Path) -> Path:
    """HOME and kitty-hooks state in home, and a git that reads no user config."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "KITTY_HOOKS", "PRE_COMMIT", "SPEC_KITTY")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KITTY_HOOKS_HOME", str(home / ".spec-kitty" / "kitty-hooks"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Lovelace")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada Lovelace")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
    return home


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and kitty-hooks state, and a git that reads no user config."""
    return make_hermetic(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same for a module-scoped fixture, which is set up before any test's hermetic_env: a
    commit it makes through installed hooks would otherwise queue into the real home."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield make_hermetic(monkeypatch, tmp_path_factory.mktemp("module-home"))
        drainers_done()  # a capture its commits started, before the real HOME is back


@pytest.fixture(autouse=True)
def no_drainer_outlives_its_test(hermetic_env: Path) -> Iterator[None]:
    """A drainer the post-commit shim started (kitty_hooks/capture/journal.py) is done before the next
    test, so that it writes nothing into a later test's files (it removes its marker last)."""
    yield
    drainers_done()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of what installing kitty-hooks needs, repacked from the running environment.

    The inner environments of the slow tests install from here with no index: see tests/wheelhouse.
    """
    return build_wheelhouse(PROJECT_ROOT, tmp_path_factory.mktemp("wheelhouse"))
