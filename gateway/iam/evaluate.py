"""Decisions: explicit deny wins, else an allow is needed; each decision explains itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.iam.arn import is_account_id, parse_arn
from gateway.iam.conditions import parse_date
from gateway.iam.context import RequestContext, format_time
from gateway.iam.document import Policy, PrincipalMatch, Statement, parse_policy

ASSUME_ACTIONS = frozenset(
    {"sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity"}
)
TAG_SESSION = "sts:TagSession"
SET_SOURCE_IDENTITY = "sts:SetSourceIdentity"

# Reason codes, stable for APIs and audit; the value is what the code means.
REASONS = {
    "allowed": "an applicable statement allows the request and none denies it",
    "explicit_deny": "a statement explicitly denies the request",
    "no_allow": "no statement allows the request (implicit deny)",
    "session_policy_no_allow": "the role's policies allow it but no session policy does",
    "resource_policy_no_allow": "the resource's policy does not allow this caller",
    "identity_no_allow": "the caller's own policies do not allow the request",
    "revoked": "the session was issued before the role's revoke-sessions time",
}
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


@dataclass(frozen=True, slots=True)
class MatchedStatement:
    """A statement that applied to the request: policy, Sid or position, effect."""

    policy: str
    statement: str
    effect: str
    principal_match: str | None = None

    def __str__(self) -> str:
        how = f", principal matched as {self.principal_match}" if self.principal_match else ""
        return f"{self.policy} / {self.statement} ({self.effect}{how})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "policy": self.policy,
            "statement": self.statement,
            "effect": self.effect,
            "principal_match": self.principal_match,
        }


@dataclass(frozen=True, slots=True)
class FailedCondition:
    """A condition that kept an Allow statement from applying, and why."""

    policy: str
    statement: str
    operator: str
    key: str
    expected: tuple[str, ...]
    actual: tuple[str, ...] | None
    why: str

    def __str__(self) -> str:
        actual = "absent" if self.actual is None else _list(self.actual)
        return (
            f"{self.policy} / {self.statement}: {self.operator} {self.key} "
            f"expected {_list(self.expected)}, got {actual}: {self.why}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "policy": self.policy,
            "statement": self.statement,
            "operator": self.operator,
            "key": self.key,
            "expected": list(self.expected),
            "actual": None if self.actual is None else list(self.actual),
            "why": self.why,
        }


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, the reason code, the rule that decided, and the evidence."""

    allowed: bool
    reason: str
    rule: str
    action: str
    resource: str
    principal: str | None = None
    matched: tuple[MatchedStatement, ...] = ()
    failed: tuple[FailedCondition, ...] = ()
    parts: tuple[Decision, ...] = ()

    def explain(self, indent: str = "") -> str:
        """Human multi-line explanation."""
        verdict = "ALLOWED" if self.allowed else "DENIED"
        lines = [f"{indent}{verdict} {self.action} on {self.resource}"]
        if self.principal:
            lines.append(f"{indent}  caller: {self.principal}")
        lines.append(f"{indent}  decided by: {self.reason}: {self.rule}")
        if self.matched:
            lines.append(f"{indent}  matched statements:")
            lines.extend(f"{indent}    - {m}" for m in self.matched)
        if self.failed:
            lines.append(f"{indent}  conditions that failed:")
            lines.extend(f"{indent}    - {f}" for f in self.failed)
        for part in self.parts:
            lines.append(part.explain(indent + "  "))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for APIs and audit."""
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "rule": self.rule,
            "action": self.action,
            "resource": self.resource,
            "principal": self.principal,
            "matched_statements": [m.to_dict() for m in self.matched],
            "failed_conditions": [f.to_dict() for f in self.failed],
            "parts": [p.to_dict() for p in self.parts],
        }


@dataclass(frozen=True, slots=True)
class SessionPermissions:
    """What a role session may do: role policies ∩ session policies, minus revocation.

    An empty `session` means no session policy was passed, which limits nothing.
    """

    identity: tuple[Policy, ...]
    session: tuple[Policy, ...] = ()
    revoke_before: datetime | None = None
    revoke_before_micros: int | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.revoke_before is not None:
            micros = parse_date(format_time(self.revoke_before))
            object.__setattr__(self, "revoke_before_micros", micros)


class _Scan:
    """What one pass over a set of policies found."""

    __slots__ = ("allows", "deny", "near")

    def __init__(self) -> None:
        self.deny: tuple[Policy, Statement, PrincipalMatch] | None = None
        self.allows: list[tuple[Policy, Statement, PrincipalMatch]] = []
        self.near: list[tuple[Policy, Statement]] = []

    @property
    def best_allow(self) -> PrincipalMatch | None:
        return max((how for _, _, how in self.allows), default=None)


def _scan(policies: Sequence[Policy], ctx: RequestContext) -> _Scan:
    action = ctx.action_lower
    resource = ctx.resource
    keys = ctx.keys
    principal = ctx.principal
    found = _Scan()
    for policy in policies:
        checks_principal = policy.checks_principal
        for st in policy.statements_for(action):
            matcher = st.resource_matcher
            if matcher is not None and matcher(resource, keys) == st.not_resource:
                continue
            how = PrincipalMatch.EVERYONE
            if checks_principal:
                matched = st.match_principal(principal)
                if matched is None:
                    continue
                how = matched
            holds = True
            for condition in st.conditions:
                if not condition.check(keys):
                    holds = False
                    break
            if not holds:
                if st.effect == "Allow":
                    found.near.append((policy, st))
                continue
            if st.effect == "Deny":
                # Explicit deny wins; nothing later can change the answer.
                found.deny = (policy, st, how)
                return found
            found.allows.append((policy, st, how))
    return found


_HOW = {how: how.name.lower() for how in PrincipalMatch}


_MATCHED: dict[tuple[str, str, str, str | None], MatchedStatement] = {}
_MATCHED_LIMIT = 4096


def _matched(policy: Policy, st: Statement, how: PrincipalMatch | None) -> MatchedStatement:
    principal_match = _HOW[how] if how is not None and policy.checks_principal else None
    key = (policy.label, st.label, st.effect, principal_match)
    # Immutable values, so one instance per distinct statement serves every decision.
    found = _MATCHED.get(key)
    if found is None:
        found = MatchedStatement(*key)
        if len(_MATCHED) < _MATCHED_LIMIT:
            _MATCHED[key] = found
    return found


def _failures(scans: Sequence[_Scan], ctx: RequestContext) -> tuple[FailedCondition, ...]:
    out: list[FailedCondition] = []
    for scan in scans:
        for policy, st in scan.near:
            for condition in st.failed_conditions(ctx.keys):
                out.append(
                    FailedCondition(
                        policy.label,
                        st.label,
                        condition.operator,
                        condition.key,
                        condition.values,
                        ctx.keys.get(condition.key_lower),
                        condition.explain_failure(ctx.keys),
                    )
                )
    return tuple(out)


def _principal_text(ctx: RequestContext) -> str | None:
    p = ctx.principal
    return None if p is None else f"{p.type} {p.id}"


def _decision(
    ctx: RequestContext,
    allowed: bool,
    reason: str,
    rule: str,
    matched: Sequence[MatchedStatement] = (),
    failed: Sequence[FailedCondition] = (),
    parts: Sequence[Decision] = (),
) -> Decision:
    return Decision(
        allowed,
        reason,
        rule,
        ctx.action,
        ctx.resource,
        _principal_text(ctx),
        tuple(matched),
        tuple(failed),
        tuple(parts),
    )


def _deny_decision(ctx: RequestContext, scan: _Scan) -> Decision:
    assert scan.deny is not None
    policy, st, how = scan.deny
    return _decision(
        ctx,
        False,
        "explicit_deny",
        f"explicitly denied by {policy.label} / {st.label}",
        [_matched(policy, st, how)],
    )


def evaluate(policies: Sequence[Policy], ctx: RequestContext) -> Decision:
    """One set of policies: an explicit deny wins, else any allow allows."""
    scan = _scan(policies, ctx)
    if scan.deny is not None:
        return _deny_decision(ctx, scan)
    if not scan.allows:
        return _decision(ctx, False, "no_allow", REASONS["no_allow"], (), _failures([scan], ctx))
    matched = [_matched(p, s, h) for p, s, h in scan.allows]
    return _decision(
        ctx, True, "allowed", f"allowed by {matched[0].policy} / {matched[0].statement}", matched
    )


def check_revocation(permissions: SessionPermissions, ctx: RequestContext) -> Decision | None:
    """A `revoked` denial when the session was issued before the role's revoke time, else None.

    Unlike the AWS policy this mirrors, a missing aws:TokenIssueTime counts as revoked: every
    credential this gateway issues is temporary, so a missing time means a broken context.
    """
    cutoff = permissions.revoke_before_micros
    if cutoff is None:
        return None
    issued_values = ctx.keys.get("aws:tokenissuetime")
    issued = parse_date(issued_values[0]) if issued_values else None
    if issued is not None and issued >= cutoff:
        return None
    before = format_time(permissions.revoke_before) if permissions.revoke_before else "?"
    when = issued_values[0] if issued_values else "unknown"
    return _decision(
        ctx,
        False,
        "revoked",
        f"{REVOKE_POLICY_NAME}: sessions issued before {before} are denied "
        f"(aws:TokenIssueTime {when})",
    )


def evaluate_session(permissions: SessionPermissions, ctx: RequestContext) -> Decision:
    """A role session's own permissions: role policies ∩ session policies, revocation first."""
    revoked = check_revocation(permissions, ctx)
    if revoked is not None:
        return revoked
    identity = _scan(permissions.identity, ctx)
    if identity.deny is not None:
        return _deny_decision(ctx, identity)
    session = _scan(permissions.session, ctx) if permissions.session else None
    if session is not None and session.deny is not None:
        return _deny_decision(ctx, session)
    return _identity_outcome(ctx, identity, session)


def _identity_outcome(ctx: RequestContext, identity: _Scan, session: _Scan | None) -> Decision:
    if not identity.allows:
        scans = [identity] if session is None else [identity, session]
        return _decision(ctx, False, "no_allow", REASONS["no_allow"], (), _failures(scans, ctx))
    if session is not None and not session.allows:
        return _decision(
            ctx,
            False,
            "session_policy_no_allow",
            REASONS["session_policy_no_allow"],
            [_matched(p, s, h) for p, s, h in identity.allows],
            _failures([session], ctx),
        )
    allows = identity.allows + (session.allows if session is not None else [])
    first = identity.allows[0]
    rule = f"allowed by {first[0].label} / {first[1].label}"
    if session is not None:
        rule += (
            f" within session policy {session.allows[0][0].label} / {session.allows[0][1].label}"
        )
    return _decision(ctx, True, "allowed", rule, [_matched(p, s, h) for p, s, h in allows])


def evaluate_resource(
    permissions: SessionPermissions,
    resource_policy: Policy | None,
    ctx: RequestContext,
    *,
    resource_account: str | None = None,
) -> Decision:
    """A session acting on a resource that may carry a resource-based policy.

    Same account: an allow naming the session ARN suffices; one naming the role (or `*`) is
    still cut by session policies; one naming the account delegates to the role's policies.
    Another (or unknown) account: the resource policy and the caller's permissions must both
    allow (aws-sts.md §7.1 and §7.2).
    """
    revoked = check_revocation(permissions, ctx)
    if revoked is not None:
        return revoked
    rbp = _scan((resource_policy,), ctx) if resource_policy is not None else _Scan()
    identity = _scan(permissions.identity, ctx)
    session = _scan(permissions.session, ctx) if permissions.session else None
    for scan in (rbp, identity, session):
        if scan is not None and scan.deny is not None:
            return _deny_decision(ctx, scan)
    caller_account = ctx.principal.account if ctx.principal is not None else None
    if resource_account is None:
        arn = parse_arn(ctx.resource)
        if arn is not None and is_account_id(arn.account):
            resource_account = arn.account
    same_account = resource_account is not None and resource_account == caller_account
    session_ok = session is None or bool(session.allows)
    best = rbp.best_allow
    rbp_matched = [_matched(p, s, h) for p, s, h in rbp.allows]
    if same_account:
        if best == PrincipalMatch.EXACT:
            return _decision(
                ctx,
                True,
                "allowed",
                f"allowed by {rbp_matched[0].policy}, which names the session directly",
                rbp_matched,
            )
        if best in (PrincipalMatch.ROLE, PrincipalMatch.EVERYONE) and session_ok:
            extra = [_matched(p, s, h) for p, s, h in session.allows] if session else []
            return _decision(
                ctx,
                True,
                "allowed",
                f"allowed by {rbp_matched[0].policy} within the session policies",
                rbp_matched + extra,
            )
        outcome = _identity_outcome(ctx, identity, session)
        if not outcome.allowed and best in (PrincipalMatch.ROLE, PrincipalMatch.EVERYONE):
            # The resource policy would allow, but a session policy limits it.
            return _decision(
                ctx,
                False,
                "session_policy_no_allow",
                f"{rbp_matched[0].policy} allows the role, but no session policy allows it",
                rbp_matched,
                _failures([session] if session is not None else [], ctx),
            )
        return outcome
    if best is not None and identity.allows and session_ok:
        # Both sides allow: the caller's own outcome would be "allowed" with exactly these
        # matches, so it is not built.
        own = identity.allows + (session.allows if session is not None else [])
        return _decision(
            ctx,
            True,
            "allowed",
            f"cross-account: allowed by {rbp_matched[0].policy} and by the caller's own policies",
            rbp_matched + [_matched(p, s, h) for p, s, h in own],
        )
    outcome = _identity_outcome(ctx, identity, session)
    if best is None:
        failed = _failures([rbp], ctx) + outcome.failed
        rule = (
            "cross-account: the resource account's policy does not allow this caller"
            if resource_policy is not None
            else "cross-account: the resource has no policy allowing other accounts"
        )
        return _decision(ctx, False, "resource_policy_no_allow", rule, outcome.matched, failed)
    # The resource policy allows, the caller's own permissions do not.
    reason = "identity_no_allow" if outcome.reason == "no_allow" else outcome.reason
    return _decision(
        ctx,
        False,
        reason,
        "cross-account: the resource policy allows it but the caller's account does not ("
        + REASONS[outcome.reason]
        + ")",
        rbp_matched + list(outcome.matched),
        outcome.failed,
    )


def evaluate_trust(
    trust: Policy,
    ctx: RequestContext,
    *,
    tag_session: bool = False,
    set_source_identity: bool = False,
    caller: SessionPermissions | None = None,
) -> Decision:
    """May `ctx.principal` assume the role `ctx.resource` with `ctx.action`?

    Passing session tags also needs `sts:TagSession`, setting a source identity also needs
    `sts:SetSourceIdentity`; each must be allowed. `caller` is the calling session's own
    permissions for AssumeRole (role chaining): its explicit denies and revocation always
    count, and its allow is needed unless the trust policy names the caller in the same
    account (naming its role instead still leaves the caller's session policies in force).
    """
    if ctx.action not in ASSUME_ACTIONS:
        raise ValueError(f"trust decisions are for {', '.join(sorted(ASSUME_ACTIONS))}")
    actions = [ctx.action]
    if tag_session:
        actions.append(TAG_SESSION)
    if set_source_identity:
        actions.append(SET_SOURCE_IDENTITY)
    parts = [
        _trust_part(trust, ctx if a == ctx.action else ctx.with_action(a), caller) for a in actions
    ]
    if len(parts) == 1:
        return parts[0]
    refused = next((p for p in parts if not p.allowed), None)
    if refused is None:
        rule = "every required action is allowed: " + ", ".join(actions)
        return _decision(ctx, True, "allowed", rule, parts=parts)
    return _decision(
        ctx, False, refused.reason, f"{refused.action} is not allowed: {refused.rule}", parts=parts
    )


def _trust_part(trust: Policy, ctx: RequestContext, caller: SessionPermissions | None) -> Decision:
    if caller is not None:
        revoked = check_revocation(caller, ctx)
        if revoked is not None:
            return revoked
    scan = _scan((trust,), ctx)
    if scan.deny is not None:
        return _deny_decision(ctx, scan)
    if caller is None:
        if not scan.allows:
            return _decision(
                ctx,
                False,
                "no_allow",
                "the trust policy does not allow this caller",
                (),
                _failures([scan], ctx),
            )
        matched = [_matched(p, s, h) for p, s, h in scan.allows]
        return _decision(
            ctx,
            True,
            "allowed",
            f"allowed by {matched[0].policy} / {matched[0].statement}",
            matched,
        )
    identity = _scan(caller.identity, ctx)
    session = _scan(caller.session, ctx) if caller.session else None
    for own in (identity, session):
        if own is not None and own.deny is not None:
            return _deny_decision(ctx, own)
    if not scan.allows:
        return _decision(
            ctx,
            False,
            "resource_policy_no_allow",
            "the trust policy does not allow this caller",
            (),
            _failures([scan], ctx),
        )
    matched = [_matched(p, s, h) for p, s, h in scan.allows]
    role = parse_arn(ctx.resource)
    caller_account = ctx.principal.account if ctx.principal is not None else None
    same_account = role is not None and role.account == caller_account
    best = scan.best_allow
    named = f"allowed by {matched[0].policy} / {matched[0].statement}, which names the caller"
    if same_account and best == PrincipalMatch.EXACT:
        return _decision(ctx, True, "allowed", named, matched)
    if same_account and best in (PrincipalMatch.ROLE, PrincipalMatch.EVERYONE):
        # Naming the role (not the session) is still cut by the caller's session policies.
        if session is None or session.allows:
            return _decision(ctx, True, "allowed", named + " within its session policies", matched)
        return _decision(
            ctx,
            False,
            "session_policy_no_allow",
            f"the trust policy allows the caller's role, but no session policy allows {ctx.action}",
            matched,
            _failures([session], ctx),
        )
    outcome = _identity_outcome(ctx, identity, session)
    if not outcome.allowed:
        reason = "identity_no_allow" if outcome.reason == "no_allow" else outcome.reason
        return _decision(
            ctx,
            False,
            reason,
            "the trust policy allows this caller, but the caller's own policies do not allow "
            f"{ctx.action} on the role",
            matched + list(outcome.matched),
            outcome.failed,
        )
    return _decision(
        ctx,
        True,
        "allowed",
        f"allowed by {matched[0].policy} and by the caller's own policies",
        matched + list(outcome.matched),
    )


def revoke_older_sessions_policy(before: datetime) -> Policy:
    """The inline policy AWS's "Revoke active sessions" attaches (aws-sts.md §6.4)."""
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": format_time(before)}},
        },
    }
    return parse_policy(document, kind="identity").named(REVOKE_POLICY_NAME)
