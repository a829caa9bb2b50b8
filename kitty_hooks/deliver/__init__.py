"""Queue to server: the HTTP client, batches, credentials and their refresh, the flush backoff state."""
