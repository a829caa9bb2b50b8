"""The check wing: event files against the schemas, diagnose, the pre-commit gate, reporters."""
