"""Ephemeral state in Redis: sessions, replay caches, revocations, config version."""
