"""Security token service core: keys, credentials, SigV4, the STS Query protocol (no Flask)."""
