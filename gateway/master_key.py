"""The master key that wraps signing keys in the database."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from gateway.settings import Settings, decode_master_key

log = logging.getLogger(__name__)


def load_or_create(settings: Settings) -> bytes:
    """GATEWAY_MASTER_KEY, else the key file, else a new key file (with a warning)."""
    if settings.master_key:
        return decode_master_key(settings.master_key)
    path = Path(settings.master_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two workers racing to create it cannot both win with different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_bytes(32).hex() + "\n")
            log.warning(
                "created a new master key at %s; in production set GATEWAY_MASTER_KEY "
                "or GATEWAY_MASTER_KEY_FILE to a key kept outside the data directory",
                path,
            )
    return decode_master_key(path.read_text())
