"""Policy documents: parse and validate JSON into an immutable, compiled `Policy`."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Literal

from gateway.iam.arn import (
    compile_arn_patterns,
    compile_arn_segments,
    is_account_id,
    parse_arn,
    parse_role_arn,
    parse_session_arn,
)
from gateway.iam.conditions import Condition, compile_conditions
from gateway.iam.context import Principal
from gateway.iam.variables import (
    Template,
    TemplateError,
    Variable,
    Verbatim,
    has_variables,
    parse_template,
    resolve,
    static_segments,
    variable_value,
)
from gateway.iam.wildcard import Matcher, compile_patterns, has_wildcards
from gateway.problems import Invalid, Problem, join

PolicyKind = Literal["trust", "identity", "session", "resource"]
Effect = Literal["Allow", "Deny"]
Keys = Mapping[str, tuple[str, ...]]

KINDS: tuple[PolicyKind, ...] = ("trust", "identity", "session", "resource")
VERSIONS = ("2012-10-17", "2008-10-17")
# Characters without whitespace (aws-sts.md §7.6). Resource-based policies: S3's 20 KB.
DEFAULT_MAX_CHARS: dict[PolicyKind, int] = {
    "trust": 2048,
    "session": 2048,
    "identity": 10240,
    "resource": 20480,
}
MAX_POLICY_ARNS = 10
# Beyond this the text is not even parsed: its size alone is the answer.
_PARSE_LIMIT = 1_000_000

_TOP_KEYS = ("Version", "Id", "Statement")
_STATEMENT_KEYS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_PRINCIPAL_TYPES = ("AWS", "Federated", "Service", "CanonicalUser")
_ACTION = re.compile(r"[A-Za-z0-9-]+:[A-Za-z0-9*?_-]+")
_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[^\s*?]*)?")
_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:\d{12}|aws):policy/[\w+=,.@/-]+", re.ASCII)
_JSON_WHITESPACE = " \t\n\r"
_ACTION_INDEX_LIMIT = 512  # distinct actions remembered per policy (`Policy.statements_for`)


class PrincipalMatch(IntEnum):
    """How specifically a statement named the caller (higher is more specific)."""

    EVERYONE = 1
    ACCOUNT = 2
    ROLE = 3
    EXACT = 4


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """A compiled `Principal`/`NotPrincipal` element."""

    everyone: bool = False
    aws_any: bool = False
    accounts: frozenset[str] = frozenset()
    roles: frozenset[tuple[str, str]] = frozenset()
    arns: frozenset[str] = frozenset()
    federated: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    canonical_users: frozenset[str] = frozenset()

    def match(self, principal: Principal | None) -> PrincipalMatch | None:
        """The most specific way this set names `principal`, or None."""
        caller = principal if principal is not None else Principal.anonymous()
        if caller.type == "AWS":
            if caller.id in self.arns:
                return PrincipalMatch.EXACT
            if caller.role is not None and caller.role in self.roles:
                return PrincipalMatch.ROLE
            if caller.account is not None and caller.account in self.accounts:
                return PrincipalMatch.ACCOUNT
            if self.aws_any:
                return PrincipalMatch.EVERYONE
        elif caller.type in ("Federated", "Service"):
            named = self.federated if caller.type == "Federated" else self.services
            if caller.id in named:
                return PrincipalMatch.EXACT
        return PrincipalMatch.EVERYONE if self.everyone else None

    def excludes(self, principal: Principal | None) -> bool:
        """Whether a NotPrincipal with this set leaves `principal` out.

        As in AWS, only the caller's own ARN counts, together with its account: listing a
        role or an account root alone does not exclude that role's sessions.
        """
        caller = principal if principal is not None else Principal.anonymous()
        if self.everyone:
            return True
        if caller.type == "AWS":
            # Root is listed as its account; anyone else by their exact ARN.
            own = caller.id in self.arns or caller.id.endswith(":root")
            return own and caller.account is not None and caller.account in self.accounts
        if caller.type == "Federated":
            return caller.id in self.federated
        if caller.type == "Service":
            return caller.id in self.services
        return False


ResourceMatcher = Callable[[str, Keys], bool]


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement; `label` is its Sid, else its position (`Statement[2]`)."""

    index: int
    label: str
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    action_matcher: Matcher
    resources: tuple[str, ...] | None
    not_resource: bool
    resource_matcher: ResourceMatcher | None
    principals: PrincipalSet | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def allows(self) -> bool:
        """Whether the effect is Allow."""
        return self.effect == "Allow"

    def matches_action(self, action_lower: str) -> bool:
        """Action/NotAction against an already lower-cased action."""
        return self.action_matcher(action_lower) != self.not_action

    def matches_resource(self, resource: str, keys: Keys) -> bool:
        """Resource/NotResource (a statement without either applies to any resource)."""
        if self.resource_matcher is None:
            return True
        return self.resource_matcher(resource, keys) != self.not_resource

    def match_principal(self, principal: Principal | None) -> PrincipalMatch | None:
        """Principal/NotPrincipal; a statement without either matches as EVERYONE."""
        if self.principals is None:
            return PrincipalMatch.EVERYONE
        if self.not_principal:
            return None if self.principals.excludes(principal) else PrincipalMatch.EVERYONE
        return self.principals.match(principal)

    def failed_conditions(self, keys: Keys) -> tuple[Condition, ...]:
        """Every condition of this statement that does not hold."""
        return tuple(c for c in self.conditions if not c.check(keys))


@dataclass(frozen=True, slots=True)
class Policy:
    """A compiled policy: immutable, built once at config load, evaluated per request."""

    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None
    name: str = ""
    source: str = ""
    size: int = 0
    # Derived once, read on every evaluation: the name used in explanations (else the kind),
    # and whether statements name principals (trust and resource-based policies do).
    label: str = field(init=False, compare=False)
    checks_principal: bool = field(init=False, compare=False)
    # Lower-cased action → the statements whose Action/NotAction applies to it, filled on
    # first use: a process asks about few distinct actions, each many times.
    _by_action: dict[str, tuple[Statement, ...]] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.name or f"{self.kind} policy")
        object.__setattr__(self, "checks_principal", self.kind in ("trust", "resource"))
        object.__setattr__(self, "_by_action", {})

    def statements_for(self, action_lower: str) -> tuple[Statement, ...]:
        """The statements whose Action/NotAction applies to an already lower-cased action,
        in document order (remembered for up to `_ACTION_INDEX_LIMIT` actions)."""
        found = self._by_action.get(action_lower)
        if found is None:
            found = tuple(st for st in self.statements if st.matches_action(action_lower))
            if len(self._by_action) < _ACTION_INDEX_LIMIT:
                self._by_action[action_lower] = found
        return found

    def named(self, name: str) -> Policy:
        """The same policy under a name used in explanations."""
        return replace(self, name=name)


def validate_policy(
    document: str | Mapping[str, Any],
    *,
    kind: PolicyKind,
    path: str = "",
    max_chars: int | None = None,
) -> list[Problem]:
    """Every problem with a policy document, each with a path under `path`."""
    return _compile(document, kind, path, max_chars)[1]


def parse_policy(
    document: str | Mapping[str, Any],
    *,
    kind: PolicyKind,
    path: str = "",
    max_chars: int | None = None,
) -> Policy:
    """Parse and compile a policy; raises Invalid with every problem."""
    policy, problems = _compile(document, kind, path, max_chars)
    if problems or policy is None:
        raise Invalid(problems or [Problem(path, "invalid policy")])
    return policy


def validate_policy_arns(arns: Sequence[str], *, path: str = "") -> list[Problem]:
    """Session `PolicyArns`: at most ten managed-policy ARNs."""
    problems: list[Problem] = []
    if len(arns) > MAX_POLICY_ARNS:
        problems.append(
            Problem(path, f"at most {MAX_POLICY_ARNS} policy ARNs are allowed, got {len(arns)}")
        )
    for index, arn in enumerate(arns):
        if not isinstance(arn, str) or not _POLICY_ARN.fullmatch(arn):
            problems.append(
                Problem(join(path, index), 'expected "arn:aws:iam::<account>:policy/<name>"')
            )
    return problems


def policy_size(text: str) -> int:
    """Characters that count against AWS's limits: everything except JSON whitespace."""
    return len(text) - sum(text.count(c) for c in _JSON_WHITESPACE)


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj:
            seen.append(key)
        obj[key] = value
    if seen:
        obj.duplicates = tuple(seen)
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(document: Any, path: str, max_chars: int) -> tuple[Any, str, list[Problem]]:
    """The decoded document, its compact text, and problems (size, syntax)."""
    problems: list[Problem] = []
    if isinstance(document, str):
        text = document
        size = policy_size(text)
        if size > max_chars:
            problems.append(_too_big(path, size, max_chars))
        if len(text) > _PARSE_LIMIT:
            return None, text, problems
        try:
            decoded = json.loads(
                text, object_pairs_hook=_object_pairs, parse_constant=_reject_constant
            )
        except RecursionError:
            return None, text, [*problems, Problem(path, "not valid JSON: nested too deeply")]
        except ValueError as exc:
            return None, text, [*problems, Problem(path, f"not valid JSON: {exc}")]
        return decoded, text, problems
    if not isinstance(document, Mapping):
        return None, "", [Problem(path, "expected a JSON object")]
    try:
        text = json.dumps(
            document, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except RecursionError:
        return None, "", [Problem(path, "document is nested too deeply")]
    except (TypeError, ValueError) as exc:
        return None, "", [Problem(path, f"not representable as JSON: {exc}")]
    size = policy_size(text)
    if size > max_chars:
        problems.append(_too_big(path, size, max_chars))
    return document, text, problems


def _too_big(path: str, size: int, limit: int) -> Problem:
    return Problem(path, f"policy is {size} characters without whitespace; the limit is {limit}")


def _compile(
    document: Any, kind: PolicyKind, path: str, max_chars: int | None
) -> tuple[Policy | None, list[Problem]]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    limit = DEFAULT_MAX_CHARS[kind] if max_chars is None else max_chars
    decoded, text, problems = _load(document, path, limit)
    if decoded is None:
        return None, problems
    if not isinstance(decoded, Mapping):
        return None, [*problems, Problem(path, "expected a JSON object")]
    builder = _Builder(kind, problems)
    policy = builder.policy(decoded, path, text)
    return (policy if not problems else None), problems


class _Builder:
    """Walks one document, collecting problems and compiled statements."""

    def __init__(self, kind: PolicyKind, problems: list[Problem]) -> None:
        self.kind: PolicyKind = kind
        self.problems = problems
        self.variables = True

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def check_keys(self, obj: Mapping[Any, Any], allowed: Sequence[str], path: str) -> None:
        for key in getattr(obj, "duplicates", ()):
            self.report(join(path, key), "duplicate key; JSON keeps only the last one")
        for key in obj:
            if not isinstance(key, str):
                self.report(join(path, str(key)), "keys must be strings")
            elif key not in allowed:
                self.report(join(path, key), "unknown element" + _did_you_mean(key, allowed))

    def policy(self, doc: Mapping[Any, Any], path: str, text: str) -> Policy | None:
        self.check_keys(doc, _TOP_KEYS, path)
        version = doc.get("Version", "2008-10-17")
        if version not in VERSIONS or not isinstance(version, str):
            self.report(join(path, "Version"), 'expected "2012-10-17" or "2008-10-17"')
            version = "2012-10-17"
        self.variables = version == "2012-10-17"
        policy_id = doc.get("Id")
        if policy_id is not None and not isinstance(policy_id, str):
            self.report(join(path, "Id"), "expected a string")
            policy_id = None
        statements = self.statements(doc, path)
        return Policy(
            self.kind,
            version,
            statements,
            id=policy_id,
            source=text,
            size=policy_size(text),
        )

    def statements(self, doc: Mapping[Any, Any], path: str) -> tuple[Statement, ...]:
        stmt_path = join(path, "Statement")
        if "Statement" not in doc:
            self.report(stmt_path, "required: a statement object or a list of them")
            return ()
        raw = doc["Statement"]
        if isinstance(raw, Mapping):
            items = [(stmt_path, raw)]
        elif isinstance(raw, list):
            if not raw:
                self.report(stmt_path, "expected at least one statement")
            items = [(join(stmt_path, i), item) for i, item in enumerate(raw)]
        else:
            self.report(stmt_path, "expected a statement object or a list of them")
            return ()
        out: list[Statement] = []
        sids: dict[str, str] = {}
        for index, (item_path, item) in enumerate(items):
            if not isinstance(item, Mapping):
                self.report(item_path, "expected a statement object")
                continue
            sid = item.get("Sid")
            if isinstance(sid, str) and sid:
                if sid in sids:
                    self.report(
                        join(item_path, "Sid"), f'duplicate Sid "{sid}" (also at {sids[sid]})'
                    )
                sids.setdefault(sid, item_path)
            statement = self.statement(item, item_path, index)
            if statement is not None:
                out.append(statement)
        return tuple(out)

    def statement(self, item: Mapping[Any, Any], path: str, index: int) -> Statement | None:
        before = len(self.problems)
        self.check_keys(item, _STATEMENT_KEYS, path)
        sid = item.get("Sid")
        if sid is not None and not isinstance(sid, str):
            self.report(join(path, "Sid"), "expected a string")
            sid = None
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            message = 'expected "Allow" or "Deny"'
            if isinstance(effect, str) and effect.lower() in ("allow", "deny"):
                message += " (case-sensitive)"
            if effect is None:
                message = 'required: "Allow" or "Deny"'
            self.report(join(path, "Effect"), message)
        actions, not_action = self.actions(item, path)
        resources, not_resource, resource_matcher = self.resources(item, path)
        principals, not_principal = self.principals(item, path)
        conditions: tuple[Condition, ...] = ()
        if "Condition" in item:
            cond_path = join(path, "Condition")
            block = item["Condition"]
            if isinstance(block, Mapping):
                self.check_duplicates(block, cond_path)
                for op, entries in block.items():
                    if isinstance(entries, Mapping):
                        self.check_duplicates(entries, join(cond_path, str(op)))
            conditions, problems = compile_conditions(
                block, path=cond_path, variables=self.variables
            )
            self.problems.extend(problems)
        if len(self.problems) > before or effect not in ("Allow", "Deny"):
            return None
        label = sid if sid else (path.rpartition(".")[2] or f"Statement[{index}]")
        return Statement(
            index=index,
            label=label,
            sid=sid,
            effect="Allow" if effect == "Allow" else "Deny",
            actions=actions,
            not_action=not_action,
            action_matcher=compile_patterns(a.lower() for a in actions),
            resources=resources,
            not_resource=not_resource,
            resource_matcher=resource_matcher,
            principals=principals,
            not_principal=not_principal,
            conditions=conditions,
        )

    def check_duplicates(self, obj: Mapping[Any, Any], path: str) -> None:
        for key in getattr(obj, "duplicates", ()):
            self.report(join(path, key), "duplicate key; JSON keeps only the last one")

    def strings(self, raw: Any, path: str) -> tuple[str, ...] | None:
        """A string or a non-empty list of non-empty strings."""
        if isinstance(raw, str):
            if not raw:
                self.report(path, "must not be empty")
                return None
            return (raw,)
        if not isinstance(raw, list):
            self.report(path, "expected a string or a list of strings")
            return None
        if not raw:
            self.report(path, "expected at least one value")
            return None
        out: list[str] = []
        for index, item in enumerate(raw):
            if not isinstance(item, str) or not item:
                self.report(join(path, index), "expected a non-empty string")
            else:
                out.append(item)
        return tuple(out) if len(out) == len(raw) else None

    def pick(self, item: Mapping[Any, Any], name: str, path: str) -> tuple[str, bool] | None:
        """Which of `name` / `Not<name>` is present; reports both-present."""
        has, has_not = name in item, f"Not{name}" in item
        if has and has_not:
            self.report(path, f"has both {name} and Not{name}; use one")
            return None
        if has:
            return name, False
        if has_not:
            return f"Not{name}", True
        return None

    def actions(self, item: Mapping[Any, Any], path: str) -> tuple[tuple[str, ...], bool]:
        chosen = self.pick(item, "Action", path)
        if chosen is None:
            if "Action" not in item and "NotAction" not in item:
                self.report(join(path, "Action"), "required: Action or NotAction")
            return (), False
        element, negated = chosen
        element_path = join(path, element)
        values = self.strings(item[element], element_path)
        if values is None:
            return (), negated
        for index, action in enumerate(values):
            if action != "*" and not _ACTION.fullmatch(action):
                at = join(element_path, index) if isinstance(item[element], list) else element_path
                self.report(
                    at,
                    f'"{action}": expected "service:Action" (wildcards allowed after the colon)'
                    ' or "*"',
                )
        return values, negated

    def resources(
        self, item: Mapping[Any, Any], path: str
    ) -> tuple[tuple[str, ...] | None, bool, ResourceMatcher | None]:
        present = "Resource" in item or "NotResource" in item
        if self.kind == "trust":
            if present:
                element = "Resource" if "Resource" in item else "NotResource"
                self.report(
                    join(path, element),
                    "not allowed in a trust policy: it applies to the role it is attached to",
                )
            return None, False, None
        chosen = self.pick(item, "Resource", path)
        if chosen is None:
            if not present:
                self.report(join(path, "Resource"), "required: Resource or NotResource")
            return None, False, None
        element, negated = chosen
        element_path = join(path, element)
        values = self.strings(item[element], element_path)
        if values is None:
            return None, negated, None
        templates: list[Template] = []
        for index, value in enumerate(values):
            at = join(element_path, index) if isinstance(item[element], list) else element_path
            template = self.template(value, at)
            if template is None:
                continue
            shape = _shape(template)
            if shape != "*" and (not shape.startswith("arn:") or shape.count(":") < 5):
                self.report(
                    at,
                    f'"{value}": expected an ARN (arn:partition:service:region:account:resource)'
                    ' or "*"',
                )
                continue
            templates.append(template)
        if len(templates) != len(values):
            return None, negated, None
        return values, negated, _resource_matcher(templates)

    def template(self, value: str, path: str) -> Template | None:
        if not self.variables:
            if "${" in value:
                self.report(path, 'policy variables need "Version": "2012-10-17"')
                return None
            return (value,)
        try:
            return parse_template(value)
        except TemplateError as exc:
            self.report(path, str(exc))
            return None

    def principals(self, item: Mapping[Any, Any], path: str) -> tuple[PrincipalSet | None, bool]:
        has, has_not = "Principal" in item, "NotPrincipal" in item
        if has_not and self.kind != "resource":
            self.report(
                join(path, "NotPrincipal"),
                "NotPrincipal is only allowed in resource-based policies",
            )
            return None, False
        if self.kind in ("identity", "session"):
            if has:
                self.report(
                    join(path, "Principal"),
                    f"not allowed in {self.kind} policies: they apply to whoever holds them",
                )
            return None, False
        if self.kind == "trust" and not has:
            self.report(
                join(path, "Principal"), "required in a trust policy: who may assume the role"
            )
            return None, False
        chosen = self.pick(item, "Principal", path)
        if chosen is None:
            if not has and not has_not:
                self.report(join(path, "Principal"), "required: Principal or NotPrincipal")
            return None, False
        element, negated = chosen
        return self.principal_set(item[element], join(path, element)), negated

    def principal_set(self, raw: Any, path: str) -> PrincipalSet | None:
        if raw == "*":
            return PrincipalSet(everyone=True)
        if not isinstance(raw, Mapping):
            self.report(path, 'expected "*" or an object such as {"AWS": "<account or ARN>"}')
            return None
        self.check_keys(raw, _PRINCIPAL_TYPES, path)
        if not raw:
            self.report(path, "expected at least one of " + ", ".join(_PRINCIPAL_TYPES))
            return None
        collected: dict[str, set[Any]] = {
            "accounts": set(),
            "roles": set(),
            "arns": set(),
            "federated": set(),
            "services": set(),
            "canonical_users": set(),
        }
        aws_any = False
        for principal_type in _PRINCIPAL_TYPES:
            if principal_type not in raw:
                continue
            type_path = join(path, principal_type)
            values = self.strings(raw[principal_type], type_path)
            if values is None:
                continue
            for index, value in enumerate(values):
                at = join(type_path, index) if isinstance(raw[principal_type], list) else type_path
                if principal_type == "AWS" and value == "*":
                    aws_any = True
                elif has_wildcards(value):
                    self.report(
                        at,
                        'wildcards are not allowed in a principal except "*" alone; '
                        "use a condition on aws:PrincipalArn",
                    )
                elif principal_type == "AWS":
                    self.aws_principal(value, at, collected)
                elif principal_type == "Federated":
                    if not _federated_ok(value):
                        self.report(
                            at,
                            "expected a SAML or OIDC provider ARN or a provider host such as "
                            "accounts.google.com",
                        )
                    collected["federated"].add(value)
                elif principal_type == "Service":
                    collected["services"].add(value)
                else:
                    collected["canonical_users"].add(value)
        return PrincipalSet(
            aws_any=aws_any,
            accounts=frozenset(collected["accounts"]),
            roles=frozenset(collected["roles"]),
            arns=frozenset(collected["arns"]),
            federated=frozenset(collected["federated"]),
            services=frozenset(collected["services"]),
            canonical_users=frozenset(collected["canonical_users"]),
        )

    def aws_principal(self, value: str, path: str, collected: dict[str, set[Any]]) -> None:
        if is_account_id(value):
            collected["accounts"].add(value)
            return
        role = parse_role_arn(value)
        if role is not None:
            collected["roles"].add((role.account, role.name.lower()))
            return
        if parse_session_arn(value) is not None:
            collected["arns"].add(value)
            return
        arn = parse_arn(value)
        if arn is not None and is_account_id(arn.account) and not arn.region:
            if arn.service == "iam" and arn.resource == "root":
                collected["accounts"].add(arn.account)
                return
            if (arn.service == "iam" and arn.resource.startswith("user/")) or (
                arn.service == "sts" and arn.resource.startswith("federated-user/")
            ):
                collected["arns"].add(value)
                return
        self.report(
            path,
            f'"{value}": expected "*", a 12-digit account id, or an account root, role, '
            "assumed-role, user or federated-user ARN",
        )


def _federated_ok(value: str) -> bool:
    arn = parse_arn(value)
    if arn is not None:
        return arn.service == "iam" and (
            arn.resource.startswith("saml-provider/") or arn.resource.startswith("oidc-provider/")
        )
    return _HOST.fullmatch(value) is not None


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=1)]
    return f"; did you mean {close[0]}?" if close else f"; expected one of {', '.join(choices)}"


def _shape(template: Template) -> str:
    """The template's text with each variable as `x`, to check the ARN's shape."""
    return "".join(
        p if isinstance(p, str) else (p.text if isinstance(p, Verbatim) else "x") for p in template
    )


def _resource_matcher(templates: list[Template]) -> ResourceMatcher:
    dynamic = [t for t in templates if has_variables(t)]
    plain: list[str] = []
    escaped: list[Matcher] = []
    for template in templates:
        if has_variables(template):
            continue
        if len(template) == 1 and isinstance(template[0], str):
            plain.append(template[0])
        else:
            escaped.append(compile_arn_segments(static_segments(template)))
    matchers: list[Matcher] = ([compile_arn_patterns(plain)] if plain else []) + escaped
    if not dynamic:
        if len(matchers) == 1:
            only = matchers[0]
            return lambda resource, _keys: only(resource)
        found = tuple(matchers)
        return lambda resource, _keys: any(m(resource) for m in found)
    fixed = tuple(matchers)
    dynamic_matchers = tuple(_dynamic_matcher(t) for t in dynamic)

    def match(resource: str, keys: Keys) -> bool:
        for matcher in fixed:
            if matcher(resource):
                return True
        return any(m(resource, keys) for m in dynamic_matchers)

    if not fixed and len(dynamic_matchers) == 1:
        return dynamic_matchers[0]
    return match


_CACHE_LIMIT = 1024


def _dynamic_matcher(template: Template) -> ResourceMatcher:
    """A pattern with variables, its compiled form cached by the variables' values."""
    variables = tuple(p for p in template if isinstance(p, Variable))
    cache: dict[tuple[str | None, ...], Matcher] = {}

    def resolve_cached(values: tuple[str | None, ...], keys: Keys) -> Matcher:
        matcher = cache.get(values)
        if matcher is None:
            segments = resolve(template, keys)
            # A null variable makes the pattern match nothing (aws-sts.md §7.5).
            matcher = _never if segments is None else compile_arn_segments(segments)
            if len(cache) < _CACHE_LIMIT:
                cache[values] = matcher
        return matcher

    if len(variables) == 1:
        only = variables[0]

        def match(resource: str, keys: Keys) -> bool:
            return resolve_cached((variable_value(only, keys),), keys)(resource)

    else:

        def match(resource: str, keys: Keys) -> bool:
            values = tuple(variable_value(v, keys) for v in variables)
            return resolve_cached(values, keys)(resource)

    return match


def _never(_: str) -> bool:
    return False
