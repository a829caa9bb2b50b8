"""The local ingest server (a reference peer of the SaaS contract) and the demo that drives it."""
