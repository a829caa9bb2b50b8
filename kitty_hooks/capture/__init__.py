"""The capture wing: commit -> lane changes -> envelopes -> the queue."""
