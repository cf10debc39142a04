"""Amazon Resource Names: parse, format, principals' ARNs and per-segment wildcard matching."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from gateway.iam.wildcard import (
    Matcher,
    Segment,
    Token,
    compile_patterns,
    compile_regex,
    compile_segments,
    tokens_regex,
)

DEFAULT_PARTITION = "aws"

# IAM role and session names.
_NAME = r"[\w+=,.@-]+"
# Role paths may hold any printable ASCII between slashes, as IAM allows.
_ROLE_RESOURCE = re.compile(rf"role(/(?:[\x21-\x7e]*/)?)({_NAME})", re.ASCII)
_SESSION_RESOURCE = re.compile(rf"assumed-role/({_NAME})/({_NAME})", re.ASCII)
_PARTITION = re.compile(r"aws(?:-[a-z]+)*")


@dataclass(frozen=True, slots=True)
class Arn:
    """`arn:partition:service:region:account:resource`; resource may contain `:` and `/`."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return ":".join(
            ("arn", self.partition, self.service, self.region, self.account, self.resource)
        )


@dataclass(frozen=True, slots=True)
class RoleRef:
    """An IAM role named by ARN: `arn:aws:iam::<account>:role<path><name>`."""

    partition: str
    account: str
    path: str
    name: str

    @property
    def arn(self) -> str:
        """The role ARN, path included."""
        return role_arn(self.account, self.name, path=self.path, partition=self.partition)


@dataclass(frozen=True, slots=True)
class SessionRef:
    """A role session: `arn:aws:sts::<account>:assumed-role/<role>/<session>` (no role path)."""

    partition: str
    account: str
    role_name: str
    session_name: str

    @property
    def arn(self) -> str:
        """The assumed-role session ARN."""
        return session_arn(self.account, self.role_name, self.session_name, self.partition)


def is_account_id(text: str) -> bool:
    """Whether `text` is a 12-digit AWS account id."""
    return len(text) == 12 and text.isascii() and text.isdigit()


def parse_arn(text: str) -> Arn | None:
    """The six segments of an ARN, or None when `text` is not shaped like one."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def account_root_arn(account: str, partition: str = DEFAULT_PARTITION) -> str:
    """`arn:aws:iam::<account>:root`, the principal that stands for the whole account."""
    return f"arn:{partition}:iam::{account}:root"


def role_arn(
    account: str, name: str, *, path: str = "/", partition: str = DEFAULT_PARTITION
) -> str:
    """A role ARN; `path` starts and ends with `/` (default `/`)."""
    if not path.startswith("/"):
        path = "/" + path
    if not path.endswith("/"):
        path += "/"
    return f"arn:{partition}:iam::{account}:role{path}{name}"


def session_arn(
    account: str, role_name: str, session_name: str, partition: str = DEFAULT_PARTITION
) -> str:
    """The assumed-role ARN AWS returns: the role's path is not part of it."""
    return f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{session_name}"


def parse_role_arn(text: str) -> RoleRef | None:
    """The parts of a role ARN, or None."""
    arn = parse_arn(text)
    if arn is None or arn.service != "iam" or arn.region or not is_account_id(arn.account):
        return None
    match = _ROLE_RESOURCE.fullmatch(arn.resource)
    if match is None or not _PARTITION.fullmatch(arn.partition):
        return None
    return RoleRef(arn.partition, arn.account, match.group(1), match.group(2))


def parse_session_arn(text: str) -> SessionRef | None:
    """The parts of an assumed-role session ARN, or None."""
    arn = parse_arn(text)
    if arn is None or arn.service != "sts" or arn.region or not is_account_id(arn.account):
        return None
    match = _SESSION_RESOURCE.fullmatch(arn.resource)
    if match is None or not _PARTITION.fullmatch(arn.partition):
        return None
    return SessionRef(arn.partition, arn.account, match.group(1), match.group(2))


def compile_arn_pattern(pattern: str) -> Matcher:
    """ArnLike matching: each of the six segments separately, `*` never crossing a `:` early on."""
    return compile_arn_segments(((pattern, True),))


@lru_cache(maxsize=4096)
def compile_arn_segments(segments: tuple[Segment, ...]) -> Matcher:
    """ArnLike matching for pattern pieces (literal pieces come from variables and escapes)."""
    text = "".join(piece for piece, _ in segments)
    if text.count(":") < 5:
        # Not an ARN (`*`, or a non-ARN resource name): plain wildcard match of the whole string.
        return compile_segments(segments)
    if not _wildcard_in_head(segments):
        # The first five segments are literal, so a whole-string match cannot cross a segment.
        return compile_segments(segments)
    return compile_regex(_arn_regex(segments))


def compile_arn_patterns(patterns: Sequence[str]) -> Matcher:
    """One matcher for several ArnLike patterns (OR), grouping the whole-string-safe ones."""
    simple = [p for p in patterns if _whole_string_safe(p)]
    segmented = [compile_arn_pattern(p) for p in patterns if not _whole_string_safe(p)]
    matchers = ([compile_patterns(simple)] if simple else []) + segmented
    if len(matchers) == 1:
        return matchers[0]
    found = tuple(matchers)
    return lambda text: any(m(text) for m in found)


def _whole_string_safe(pattern: str) -> bool:
    return pattern.count(":") < 5 or not _wildcard_in_head(((pattern, True),))


def _wildcard_in_head(segments: Sequence[Segment]) -> bool:
    """Whether an active wildcard sits before the fifth `:` (partition .. account)."""
    colons = 0
    for piece, active in segments:
        for char in piece:
            if char == ":":
                colons += 1
                if colons == 5:
                    return False
            elif active and char in "*?":
                return True
    return False


def _arn_regex(segments: Sequence[Segment]) -> str:
    """Per-segment regex: in the first five segments wildcards stop at `:`."""
    tokens: list[Token] = []
    colons = 0
    for piece, active in segments:
        for char in piece:
            cls = "[^:]" if colons < 5 else "."
            if char == ":":
                colons += 1
            if active and char == "*":
                tokens.append(("star", cls))
            elif active and char == "?":
                tokens.append(("one", cls))
            else:
                tokens.append(("lit", char))
    return tokens_regex(tokens)


def arn_matches(pattern: str, arn: str) -> bool:
    """Whether `arn` matches the ArnLike `pattern`."""
    return compile_arn_pattern(pattern)(arn)
