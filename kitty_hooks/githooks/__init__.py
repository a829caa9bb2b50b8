"""The git hooks: what each does when its shim calls `kitty-hooks hook <name>`, and installing the shims."""
