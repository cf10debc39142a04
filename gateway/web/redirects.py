"""The one check for `next` / RelayState targets: a same-origin path, or nothing.

Browsers (WHATWG URL parsing) and Werkzeug remove ASCII TAB, CR and LF from a URL, so
`/%09/evil.example` arrives as `/\\t/evil.example` and is followed as `//evil.example`, a
different host. Browsers also treat `\\` as `/`. The value is therefore judged after that
normalisation (and again after one round of percent-decoding, in case a later hop
decodes it); anything with control characters, a backslash, a scheme, an authority or a
leading `//` is refused. attacks.md W-07.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote, urlsplit

MAX_LENGTH: Final = 512
_STRIPPED: Final = re.compile(r"[\t\r\n]")
_FORBIDDEN: Final = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(value: str | None) -> str | None:
    """`value` if it is a path on this origin (e.g. `/console?x=1`), else None."""
    if not value or len(value) > MAX_LENGTH:
        return None
    for candidate in (value, unquote(value)):
        if _FORBIDDEN.search(candidate) or not _same_origin_path(_STRIPPED.sub("", candidate)):
            return None
    return value


def _same_origin_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//"):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc
