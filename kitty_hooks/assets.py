"""Where the data files that ship with the package are: the JSON Schemas and the hook shims."""

from __future__ import annotations

from pathlib import Path

from kitty_hooks.errors import FatalError

_PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    # An installed wheel carries them under kitty_hooks/_assets/ (see pyproject.toml); a source
    # checkout or an editable install has them at the top of the repository instead.
    for candidate in (_PACKAGE_DIR / "_assets" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FatalError(
        f"kitty-hooks is installed without its {name}/ directory: reinstall the package"
    )


def schema_dir() -> Path:
    return _asset_dir("schemas")


def hook_shim_dir() -> Path:
    return _asset_dir("hooks")


# The one shim template: `install` fills in the hook's name and the other placeholders.
SHIM_TEMPLATE = "shim"


def shim_template_path() -> Path:
    return hook_shim_dir() / SHIM_TEMPLATE


def shim_template() -> bytes:
    """The text of the shim template, as shipped (placeholders in)."""
    template = shim_template_path()
    try:
        return template.read_bytes()
    except OSError as exc:
        raise FatalError(
            f"cannot read the shim template {template}: reinstall kitty-hooks"
        ) from exc


def shim_template_id(template: bytes) -> str:
    """What a shim written from this template says it was written from (its `template=`): a
    checksum, cheap enough for every hook run that starts Python."""
    import zlib

    return f"{zlib.crc32(template):08x}"
