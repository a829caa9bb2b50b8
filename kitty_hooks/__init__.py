"""kitty-hooks: git hooks that turn spec-kitty work-package lane changes into synced events."""

__version__ = "0.1.0"
