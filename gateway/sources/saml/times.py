"""SAML timestamps (xs:dateTime, always UTC in practice; AD FS writes 7 fractional digits)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_instant(text: str | None) -> datetime | None:
    """A timezone-aware datetime, or None when absent or unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_instant(moment: datetime) -> str:
    """SAML's form: UTC, seconds precision, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str | None) -> timedelta | None:
    """xs:duration as used by metadata cacheDuration (days and time parts only)."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if not match or text.strip() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )
