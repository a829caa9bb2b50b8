"""Who emits an event: the project every clone agrees on, and this machine and user."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kitty_hooks.gitrepo import history as git_history
from kitty_hooks.gitrepo import repo as git_repo
from kitty_hooks.model.events import Identity, is_lower_hex
from kitty_hooks.queue.schema import machine_and_user

# Derived project ids are UUIDv5 in a namespace of our own, from the repository's root commit.
_PROJECT_NAMESPACE = "kitty-hooks:project:root-commit"
_ROOT_CACHE = "kitty-hooks-root-commit"
_CONFIG_CACHE = "kitty-hooks-project.json"
# .kittify/config.yaml is a few hundred bytes; past this it is not read.
_MAX_CONFIG_BYTES = 1 << 20


def node_id() -> str:
    """12 hex characters for this machine and user: the spec-kitty CLI's recipe (sha256 of
    "host:user").

    Only what an envelope says before it is queued: the queue writes its own node id into
    every envelope it takes in, with its Lamport clock (one node, one clock; queue/schema.py).
    """
    host, user = machine_and_user()
    return hashlib.sha256(f"{host}:{user}".encode()).hexdigest()[:12]


def project_identity(
    layout: git_repo.RepoLayout,
    config_text: bytes | None,
    origin_url: Callable[[], str | None],
    *,
    node: str | None = None,
) -> Identity:
    """The project from .kittify/config.yaml (project.uuid, project.slug) when it names one.

    Otherwise derived so that every clone agrees: the uuid from the root commit, the slug the
    way spec-kitty derives it (the origin remote's name, else the folder's). origin_url is
    called only when the slug has to be derived.
    """
    configured, slug = _project_fields(layout, config_text)
    uuid = canonical_uuid(configured) or _derived_uuid(layout)
    if not (isinstance(slug, str) and slug.strip()):
        slug = _derived_slug(layout, origin_url())
    return Identity(project_uuid=uuid, project_slug=slug, node_id=node or node_id())


def canonical_uuid(value: Any) -> str | None:
    """The 8-4-4-4-12 lower-case form of a UUID written as Python's uuid.UUID reads it (braces,
    urn:uuid:, upper case, hyphens or none), None for anything else. Without importing uuid,
    which costs a hook ~8 ms."""
    if not isinstance(value, str):
        return None
    digits = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "").lower()
    if len(digits) != 32 or not is_lower_hex(digits):
        return None
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _project_fields(layout: git_repo.RepoLayout, config_text: bytes | None) -> tuple[Any, Any]:
    """project.uuid and project.slug of the config, through a cache beside the repository.

    The config rarely changes and parsing it means importing PyYAML (~9 ms of every hook run
    that queues something): the cache is keyed by a hash of the config's bytes.
    """
    if not config_text:
        return None, None
    import json

    key = hashlib.sha256(config_text).hexdigest()
    cache = layout.common_dir / _CONFIG_CACHE
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("config_sha256") == key:
            return cached.get("uuid"), cached.get("slug")
    except (OSError, ValueError, AttributeError):
        pass
    project = _project_section(config_text)
    # Only text is an identity: a slug that is a YAML alias to a huge list must not be cached.
    fields = tuple(
        value if isinstance(value, str) else None
        for value in (project.get("uuid"), project.get("slug"))
    )
    with contextlib.suppress(OSError, TypeError, ValueError):
        cache.write_text(
            json.dumps({"config_sha256": key, "uuid": fields[0], "slug": fields[1]}),
            encoding="utf-8",
        )
    return fields


def _project_section(config_text: bytes) -> dict[str, Any]:
    import yaml

    if len(config_text) > _MAX_CONFIG_BYTES:
        return {}
    try:
        document = yaml.load(config_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        # A broken config (nested 100,000 deep, say) is no reason to lose a lane change:
        # derive the identity instead.
        return {}
    project = document.get("project") if isinstance(document, dict) else None
    return project if isinstance(project, dict) else {}


def _derived_uuid(layout: git_repo.RepoLayout) -> str:
    """A UUIDv5 of the root commit, cached beside the repository with the root it was made of.

    `git rev-list --max-parents=0` walks the whole history, and importing uuid costs a hook
    ~3 ms (it loads platform): both are paid once per repository (roots do not change unless
    history is rewritten from the very start).
    """
    cache = layout.common_dir / _ROOT_CACHE
    try:
        root, derived = [*cache.read_text(encoding="ascii").split(), "", ""][:2]
    except (OSError, ValueError):
        root = derived = ""
    if len(root) not in (40, 64) or not is_lower_hex(root):  # a sha-1 or sha-256 id
        roots = git_history.root_commits(layout.top)
        root, derived = (roots[0] if roots else "no-commits"), ""
    elif canonical_uuid(derived) == derived:
        return derived
    import uuid

    derived = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{_PROJECT_NAMESPACE}:{root}"))
    if root != "no-commits":
        with contextlib.suppress(OSError):
            cache.write_text(f"{root}\n{derived}\n", encoding="ascii")
    return derived


def _derived_slug(layout: git_repo.RepoLayout, origin_url: str | None) -> str:
    name = Path(layout.top).name
    if origin_url:
        tail = re.split(r"[/:]", origin_url.rstrip("/"))[-1]
        name = tail.removesuffix(".git") or name
    return re.sub(r"[\s_]+", "-", name.strip().lower()) or "project"


def repo_name(layout: git_repo.RepoLayout, origin_url: str | None) -> str:
    """owner/name of the origin remote (as evidence names a repo), else the folder name."""
    if origin_url:
        parts = [p for p in re.split(r"[/:]", origin_url.rstrip("/").removesuffix(".git")) if p]
        if len(parts) >= 2:
            return f"{parts[-2]}/{parts[-1]}"
        if parts:
            return parts[-1]
    return Path(layout.top).name
