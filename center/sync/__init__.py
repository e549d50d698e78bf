"""Places that run on their own and send their records upstream exactly once (docs/federation.md)."""
