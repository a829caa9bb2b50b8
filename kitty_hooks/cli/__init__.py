"""The command line: one module per command group, each with its rendering beside it."""
