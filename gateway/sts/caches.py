"""How many role sessions a worker keeps ready to verify: the size of the per-session memos.

A signed request's verification is remembered per credential, in several LRU memos: the
derived secret (`credentials.derive_secret_access_key`), the opened session token
(`credentials._open`), the credential scope and SigV4 signing key (`sigv4`), and what
`/api/v1/authorize` builds from the claims (`authorize._session_keys`, `_principal`,
`_principal_fields`, `api_authorize._principal_json`). Each credential costs ~6 KB of
a worker's memory across them, and every credential a client uses is new to them, so
they fill at the rate credentials are minted and used: at 4,096 entries they grew a
worker by ~23 MB over the first minutes of a soak (docs/decisions/0009, "Soak").

1,024 keeps the most recently used thousand sessions per worker (~6 MB) and reaches its
ceiling within the first minute of a soak. A session outside it costs ~90 µs of CPU to
verify from scratch (AES-GCM open, five HMACs, its condition keys), against ~750 µs a
request over HTTP.
"""

from __future__ import annotations

PER_SESSION = 1024
