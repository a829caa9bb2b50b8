"""How this installation is doing: `status` (queue, last flush, credentials) and `doctor` (one check a line)."""
