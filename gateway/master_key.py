"""The master key that wraps signing keys in the database."""

from __future__ import annotations

import logging

from gateway.settings import Settings, decode_master_key
from gateway.sts.keyring import create_master_key_file, load_master_key

log = logging.getLogger(__name__)


def load_or_create(settings: Settings) -> bytes:
    """GATEWAY_MASTER_KEY, else the key file, else a new key file (with a warning)."""
    if settings.master_key:
        return decode_master_key(settings.master_key)
    path = settings.master_key_file
    if not path.exists():
        try:
            create_master_key_file(path)
        except FileExistsError:
            pass  # another worker created it first; read theirs
        else:
            log.warning(
                "created a new master key at %s; in production set GATEWAY_MASTER_KEY "
                "or GATEWAY_MASTER_KEY_FILE to a key kept outside the data directory",
                path,
            )
    return load_master_key(path)
