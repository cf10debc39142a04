"""STS request parameters: the Query form read into typed requests, validated like AWS.

botocore checks only `required` and `min`; the limits, patterns and messages here
are the server's half (the 2011-06-15 model, with AWS's documented limits where
the model has none: 2048-character session policies, 10 policy ARNs, 64-character
SourceIdentity). Every constraint failure is collected and reported at once:
`N validation errors detected: Value '…' at 'roleSessionName' failed to satisfy
constraint: …; …` with AWS's camelCase member paths (`tags.1.member.key`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from gateway.problems import Problem
from gateway.sts.errors import (
    InvalidAction,
    InvalidParameterValue,
    MissingAction,
    ValidationError,
)

API_VERSION = "2011-06-15"
DEFAULT_DURATION = 3600
MIN_DURATION = 900
ROLE_CHAINING_MAX_DURATION = 3600

# LocalStack's check, recorded against real AWS: the shape an ARN must have at all.
_ARN_SHAPE = re.compile(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:[^:]+")
_INDEX = re.compile(r"[1-9][0-9]{0,5}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")


# --- shapes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """A string shape: length bounds (UTF-16 units, as AWS counts) and the model's pattern."""

    min: int
    max: int | None
    pattern: str | None = None  # as the model writes it, quoted in messages
    matches: Callable[[str], bool] | None = None
    sensitive: bool = False  # value never echoed in messages


@dataclass(frozen=True, slots=True)
class Number:
    min: int
    max: int


def _regex(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern, re.ASCII)
    return lambda value: compiled.fullmatch(value) is not None


def _tag_chars(allow_empty: bool) -> Callable[[str], bool]:
    extra = frozenset("_.:/=+-@")

    def matches(value: str) -> bool:
        if not value:
            return allow_empty
        return all(c in extra or unicodedata.category(c)[0] in "LZN" for c in value)

    return matches


_NAME_PATTERN = r"[\w+=,.@-]*"
ARN = Text(
    20,
    2048,
    r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+",
    _regex("[\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+"),
)
ROLE_SESSION_NAME = Text(2, 64, _NAME_PATTERN, _regex(_NAME_PATTERN))
SOURCE_IDENTITY = Text(2, 64, _NAME_PATTERN, _regex(_NAME_PATTERN))
SESSION_POLICY = Text(
    1, 2048, r"[\u0009\u000A\u000D\u0020-\u00FF]+", _regex("[\t\n\r\x20-\xff]+")
)
EXTERNAL_ID = Text(2, 1224, r"[\w+=,.@:\/-]*", _regex(r"[\w+=,.@:/-]*"))
SERIAL_NUMBER = Text(9, 256, r"[\w+=/:,.@-]*", _regex(r"[\w+=/:,.@-]*"))
TOKEN_CODE = Text(6, 6, r"[\d]*", _regex(r"[0-9]*"))
TAG_KEY = Text(1, 128, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", _tag_chars(allow_empty=False))
TAG_VALUE = Text(0, 256, r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", _tag_chars(allow_empty=True))
SAML_ASSERTION = Text(4, 100000, sensitive=True)
WEB_IDENTITY_TOKEN = Text(4, 20000, sensitive=True)
PROVIDER_ID = Text(4, 2048)
CONTEXT_ASSERTION = Text(4, 2048)
ACCESS_KEY_ID = Text(16, 128, r"[\w]*", _regex(r"\w*"))
ENCODED_MESSAGE = Text(1, 10240)
USER_NAME = Text(2, 32, _NAME_PATTERN, _regex(_NAME_PATTERN))
ROLE_DURATION = Number(MIN_DURATION, 43200)
TOKEN_DURATION = Number(MIN_DURATION, 129600)
MINIMUM_TOKEN_SIZE = Number(0, 4096)
MAX_POLICY_ARNS = 10
MAX_TAGS = 50
MAX_PROVIDED_CONTEXTS = 5


# --- requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProvidedContext:
    provider_arn: str
    context_assertion: str


@dataclass(frozen=True, slots=True)
class AssumeRoleRequest:
    ACTION: ClassVar[str] = "AssumeRole"
    role_arn: str
    role_session_name: str
    policy_arns: tuple[str, ...] = ()
    policy: str | None = None
    duration_seconds: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    external_id: str | None = None
    serial_number: str | None = None
    token_code: str | None = None
    source_identity: str | None = None
    provided_contexts: tuple[ProvidedContext, ...] = ()
    minimum_session_token_size: int | None = None


@dataclass(frozen=True, slots=True)
class AssumeRoleWithSAMLRequest:
    ACTION: ClassVar[str] = "AssumeRoleWithSAML"
    role_arn: str
    principal_arn: str
    saml_assertion: str
    policy_arns: tuple[str, ...] = ()
    policy: str | None = None
    duration_seconds: int | None = None
    minimum_session_token_size: int | None = None


@dataclass(frozen=True, slots=True)
class AssumeRoleWithWebIdentityRequest:
    ACTION: ClassVar[str] = "AssumeRoleWithWebIdentity"
    role_arn: str
    role_session_name: str
    web_identity_token: str
    provider_id: str | None = None
    policy_arns: tuple[str, ...] = ()
    policy: str | None = None
    duration_seconds: int | None = None
    minimum_session_token_size: int | None = None


@dataclass(frozen=True, slots=True)
class GetCallerIdentityRequest:
    ACTION: ClassVar[str] = "GetCallerIdentity"


@dataclass(frozen=True, slots=True)
class GetAccessKeyInfoRequest:
    ACTION: ClassVar[str] = "GetAccessKeyInfo"
    access_key_id: str


@dataclass(frozen=True, slots=True)
class DecodeAuthorizationMessageRequest:
    ACTION: ClassVar[str] = "DecodeAuthorizationMessage"
    encoded_message: str


@dataclass(frozen=True, slots=True)
class GetSessionTokenRequest:
    ACTION: ClassVar[str] = "GetSessionToken"
    duration_seconds: int | None = None
    serial_number: str | None = None
    token_code: str | None = None
    minimum_session_token_size: int | None = None


@dataclass(frozen=True, slots=True)
class GetFederationTokenRequest:
    ACTION: ClassVar[str] = "GetFederationToken"
    name: str
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    duration_seconds: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    minimum_session_token_size: int | None = None


StsRequest = (
    AssumeRoleRequest
    | AssumeRoleWithSAMLRequest
    | AssumeRoleWithWebIdentityRequest
    | GetCallerIdentityRequest
    | GetAccessKeyInfoRequest
    | DecodeAuthorizationMessageRequest
    | GetSessionTokenRequest
    | GetFederationTokenRequest
)


# --- entry point ----------------------------------------------------------------------


def parse_request(params: Mapping[str, str]) -> StsRequest:
    """The typed, validated request `params` (Query parameters, query and body merged) ask for.

    Raises `MissingAction`, `InvalidAction` (unknown action or Version),
    `ValidationError` (every constraint failure at once) or `InvalidParameterValue`.
    """
    action = params.get("Action")
    if not action:
        raise MissingAction()
    version = params.get("Version")
    parser = _PARSERS.get(action)
    if parser is None or version != API_VERSION:
        raise InvalidAction(
            f"Could not find operation {action} for version {version or 'NO_VERSION_SPECIFIED'}"
        )
    # Each parser calls `finish` before its cross-member checks: AWS reports constraint
    # failures first.
    return parser(_Reader(params, action))


def _assume_role(r: _Reader) -> AssumeRoleRequest:
    role_arn = r.text("RoleArn", ARN, required=True)
    session = r.text("RoleSessionName", ROLE_SESSION_NAME, required=True)
    policy_arns = r.policy_arns()
    policy = r.text("Policy", SESSION_POLICY)
    duration = r.number("DurationSeconds", ROLE_DURATION)
    tags = r.tags()
    transitive = r.scalar_list("TransitiveTagKeys", TAG_KEY, MAX_TAGS)
    external_id = r.text("ExternalId", EXTERNAL_ID)
    serial = r.text("SerialNumber", SERIAL_NUMBER)
    code = r.text("TokenCode", TOKEN_CODE)
    source = r.text("SourceIdentity", SOURCE_IDENTITY)
    contexts = r.provided_contexts()
    minimum = r.number("MinimumSessionTokenSize", MINIMUM_TOKEN_SIZE)
    r.finish()
    _check_arns(role_arn, *policy_arns)
    _check_tags(tags, transitive)
    return AssumeRoleRequest(
        _given(role_arn), _given(session), policy_arns, policy, duration, tags, transitive,
        external_id, serial, code, source, contexts, minimum,
    )


def _assume_role_with_saml(r: _Reader) -> AssumeRoleWithSAMLRequest:
    role_arn = r.text("RoleArn", ARN, required=True)
    principal = r.text("PrincipalArn", ARN, required=True)
    assertion = r.text("SAMLAssertion", SAML_ASSERTION, required=True)
    policy_arns = r.policy_arns()
    policy = r.text("Policy", SESSION_POLICY)
    duration = r.number("DurationSeconds", ROLE_DURATION)
    minimum = r.number("MinimumSessionTokenSize", MINIMUM_TOKEN_SIZE)
    r.finish()
    _check_arns(role_arn, principal, *policy_arns)
    return AssumeRoleWithSAMLRequest(
        _given(role_arn), _given(principal), _given(assertion), policy_arns, policy, duration,
        minimum,
    )


def _assume_role_with_web_identity(r: _Reader) -> AssumeRoleWithWebIdentityRequest:
    role_arn = r.text("RoleArn", ARN, required=True)
    session = r.text("RoleSessionName", ROLE_SESSION_NAME, required=True)
    token = r.text("WebIdentityToken", WEB_IDENTITY_TOKEN, required=True)
    provider = r.text("ProviderId", PROVIDER_ID)
    policy_arns = r.policy_arns()
    policy = r.text("Policy", SESSION_POLICY)
    duration = r.number("DurationSeconds", ROLE_DURATION)
    minimum = r.number("MinimumSessionTokenSize", MINIMUM_TOKEN_SIZE)
    r.finish()
    _check_arns(role_arn, *policy_arns)
    return AssumeRoleWithWebIdentityRequest(
        _given(role_arn), _given(session), _given(token), provider, policy_arns, policy,
        duration, minimum,
    )


def _get_caller_identity(r: _Reader) -> GetCallerIdentityRequest:
    r.finish()
    return GetCallerIdentityRequest()


def _get_access_key_info(r: _Reader) -> GetAccessKeyInfoRequest:
    key = r.text("AccessKeyId", ACCESS_KEY_ID, required=True)
    r.finish()
    return GetAccessKeyInfoRequest(_given(key))


def _decode_authorization_message(r: _Reader) -> DecodeAuthorizationMessageRequest:
    message = r.text("EncodedMessage", ENCODED_MESSAGE, required=True)
    r.finish()
    return DecodeAuthorizationMessageRequest(_given(message))


def _get_session_token(r: _Reader) -> GetSessionTokenRequest:
    duration = r.number("DurationSeconds", TOKEN_DURATION)
    serial = r.text("SerialNumber", SERIAL_NUMBER)
    code = r.text("TokenCode", TOKEN_CODE)
    minimum = r.number("MinimumSessionTokenSize", MINIMUM_TOKEN_SIZE)
    r.finish()
    return GetSessionTokenRequest(duration, serial, code, minimum)


def _get_federation_token(r: _Reader) -> GetFederationTokenRequest:
    name = r.text("Name", USER_NAME, required=True)
    policy = r.text("Policy", SESSION_POLICY)
    policy_arns = r.policy_arns()
    duration = r.number("DurationSeconds", TOKEN_DURATION)
    tags = r.tags()
    minimum = r.number("MinimumSessionTokenSize", MINIMUM_TOKEN_SIZE)
    r.finish()
    _check_arns(*policy_arns)
    _check_tags(tags, ())
    return GetFederationTokenRequest(_given(name), policy, policy_arns, duration, tags, minimum)


_PARSERS: dict[str, Callable[[_Reader], StsRequest]] = {
    "AssumeRole": _assume_role,
    "AssumeRoleWithSAML": _assume_role_with_saml,
    "AssumeRoleWithWebIdentity": _assume_role_with_web_identity,
    "GetCallerIdentity": _get_caller_identity,
    "GetAccessKeyInfo": _get_access_key_info,
    "DecodeAuthorizationMessage": _decode_authorization_message,
    "GetSessionToken": _get_session_token,
    "GetFederationToken": _get_federation_token,
}
ACTIONS = frozenset(_PARSERS)


def _given(value: str | None) -> str:
    # Required members were checked by the reader: a None here would have raised.
    assert value is not None
    return value


# --- the reader: every problem collected, then raised together ---------------------------


class _Reader:
    """Reads members off the flat Query parameters, noting each constraint failure."""

    def __init__(self, params: Mapping[str, str], action: str) -> None:
        self.params = params
        self.action = action
        self.problems: list[Problem] = []
        self.used = {"Action", "Version"}

    def text(self, name: str, shape: Text, *, required: bool = False) -> str | None:
        self.used.add(name)
        value = self.params.get(name)
        self._check_text(_camel(name), value, shape, required=required)
        return value

    def number(self, name: str, shape: Number) -> int | None:
        self.used.add(name)
        raw = self.params.get(name)
        if raw is None:
            return None
        path = _camel(name)
        if not _INTEGER.fullmatch(raw):
            self._fail(path, raw, "Member must be a number", shape_sensitive=False)
            return None
        value = int(raw)
        if value < shape.min:
            self._fail(path, raw, f"Member must have value greater than or equal to {shape.min}")
        elif value > shape.max:
            self._fail(path, raw, f"Member must have value less than or equal to {shape.max}")
        return value

    def policy_arns(self) -> tuple[str, ...]:
        items = self._members("PolicyArns", ("arn",))
        self._check_count("policyArns", len(items), MAX_POLICY_ARNS)
        arns = []
        for index, fields in items:
            value = fields.get("arn")
            self._check_text(f"policyArns.{index}.member.arn", value, ARN, required=True)
            arns.append(value or "")
        return tuple(arns)

    def tags(self) -> tuple[tuple[str, str], ...]:
        items = self._members("Tags", ("Key", "Value"))
        self._check_count("tags", len(items), MAX_TAGS)
        tags = []
        for index, fields in items:
            key, value = fields.get("Key"), fields.get("Value")
            self._check_text(f"tags.{index}.member.key", key, TAG_KEY, required=True)
            self._check_text(f"tags.{index}.member.value", value, TAG_VALUE, required=True)
            tags.append((key or "", value or ""))
        return tuple(tags)

    def scalar_list(self, name: str, shape: Text, limit: int) -> tuple[str, ...]:
        items = self._members(name, None)
        path = _camel(name)
        self._check_count(path, len(items), limit)
        values = []
        for index, fields in items:
            value = fields.get("")
            self._check_text(f"{path}.{index}.member", value, shape, required=True)
            values.append(value or "")
        return tuple(values)

    def provided_contexts(self) -> tuple[ProvidedContext, ...]:
        items = self._members("ProvidedContexts", ("ProviderArn", "ContextAssertion"))
        if "ProvidedContexts" in self.params and not items:
            self._fail("providedContexts", None, "Member must have length greater than or "
                       "equal to 1", list_value=True)
        self._check_count("providedContexts", len(items), MAX_PROVIDED_CONTEXTS)
        contexts = []
        for index, fields in items:
            arn, assertion = fields.get("ProviderArn"), fields.get("ContextAssertion")
            base = f"providedContexts.{index}.member"
            self._check_text(f"{base}.providerArn", arn, ARN, required=True)
            self._check_text(f"{base}.contextAssertion", assertion, CONTEXT_ASSERTION,
                             required=True)
            contexts.append(ProvidedContext(arn or "", assertion or ""))
        return tuple(contexts)

    def finish(self) -> None:
        """Raise what was found; unknown parameters are refused rather than ignored."""
        if self.problems:
            raise ValidationError(problems=self.problems)
        unknown = sorted(
            name for name in self.params
            if name not in self.used and not name.startswith("X-Amz-")
        )
        if unknown:
            raise InvalidParameterValue(
                f"Unknown parameter{'s' if len(unknown) > 1 else ''} for operation "
                f"{self.action}: {', '.join(unknown)}"
            )

    # -- helpers --

    def _members(
        self, name: str, fields: tuple[str, ...] | None
    ) -> list[tuple[int, dict[str, str]]]:
        """`Name.member.N[.Field]` parameters grouped by N, in index order."""
        self.used.add(name)
        if name in self.params and self.params[name] != "":
            raise InvalidParameterValue(f"Invalid value for list parameter {name}: expected "
                                        f"{name}.member.N")
        prefix = f"{name}.member."
        grouped: dict[int, dict[str, str]] = {}
        for key, value in self.params.items():
            if not key.startswith(prefix):
                continue
            self.used.add(key)
            index_text, _, field = key[len(prefix):].partition(".")
            allowed = ("",) if fields is None else fields
            if not _INDEX.fullmatch(index_text) or field not in allowed:
                raise InvalidParameterValue(f"Invalid list member parameter: {key}")
            grouped.setdefault(int(index_text), {})[field] = value
        return sorted(grouped.items())

    def _check_text(self, path: str, value: str | None, shape: Text, *, required: bool) -> None:
        if value is None:
            if required:
                self.problems.append(Problem(path, f"Value null at '{path}' failed to satisfy "
                                                   "constraint: Member must not be null"))
            return
        if shape.matches is not None and not shape.matches(value):
            self._fail(path, value, f"Member must satisfy regular expression pattern: "
                                    f"{shape.pattern}", shape_sensitive=shape.sensitive)
        length = _utf16_length(value)
        if shape.max is not None and length > shape.max:
            self._fail(path, value, f"Member must have length less than or equal to {shape.max}",
                       shape_sensitive=shape.sensitive)
        elif length < shape.min:
            self._fail(path, value, f"Member must have length greater than or equal to "
                                    f"{shape.min}", shape_sensitive=shape.sensitive)

    def _check_count(self, path: str, count: int, limit: int) -> None:
        if count > limit:
            self._fail(path, None, f"Member must have length less than or equal to {limit}",
                       list_value=True)

    def _fail(
        self,
        path: str,
        value: str | None,
        constraint: str,
        *,
        shape_sensitive: bool = False,
        list_value: bool = False,
    ) -> None:
        subject = "Value" if shape_sensitive or list_value else f"Value '{value}'"
        self.problems.append(
            Problem(path, f"{subject} at '{path}' failed to satisfy constraint: {constraint}")
        )


def _camel(name: str) -> str:
    """AWS's member path: the parameter name with its first letter lower-cased."""
    return name[:1].lower() + name[1:]


def _utf16_length(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode("utf-16-le")) // 2


def _check_arns(*arns: str | None) -> None:
    for arn in arns:
        if arn is not None and not _ARN_SHAPE.fullmatch(arn):
            raise ValidationError(f"{arn} is invalid")


def _check_tags(tags: tuple[tuple[str, str], ...], transitive: tuple[str, ...]) -> None:
    keys = [key.lower() for key, _ in tags]
    if len(set(keys)) != len(keys):
        raise InvalidParameterValue(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    if any(key.lower() not in keys for key in transitive):
        raise InvalidParameterValue(
            "The specified transitive tag key must be included in the requested tags."
        )


# --- rules the actions apply once they know the role and the caller ----------------------


def resolve_duration(
    requested: int | None, *, max_session_duration: int, role_chaining: bool = False
) -> int:
    """The session length: the request (default 3600 s) within the role's maximum, never clamped.

    Role chaining (a role session assuming a role) is capped at one hour.
    """
    duration = DEFAULT_DURATION if requested is None else requested
    if role_chaining and duration > ROLE_CHAINING_MAX_DURATION:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
            "by role chaining."
        )
    if duration > max_session_duration:
        raise ValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    if duration < MIN_DURATION:  # only a caller bypassing parse_request gets here
        raise ValidationError(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            f"satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"
        )
    return duration


def chain_session_tags(
    inherited: tuple[tuple[str, str], ...],
    inherited_transitive: tuple[str, ...],
    tags: tuple[tuple[str, str], ...],
    transitive: tuple[str, ...],
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The new session's tags and transitive keys when a session with `inherited` assumes a role.

    The caller's transitive tags carry over and cannot be overridden; its other tags do
    not carry over. Keys compare case-insensitively, the caller's case is kept.
    """
    carried = {key.lower() for key in inherited_transitive}
    if any(key.lower() in carried for key, _ in tags):
        raise InvalidParameterValue(
            "One of the specified transitive tag keys can't be set because it conflicts with a "
            "transitive tag key from the calling session."
        )
    kept = tuple((key, value) for key, value in inherited if key.lower() in carried)
    keys = tuple(inherited_transitive) + tuple(
        key for key in transitive if key.lower() not in carried
    )
    return kept + tags, keys
