"""The durable local event queue: one SQLite file per user, its schema, entries and statuses; no payload logic."""
