"""Condition operators (aws-sts.md §7.4), compiled once into closures over the context keys."""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, TypeVar

from gateway.iam.arn import compile_arn_segments
from gateway.iam.variables import (
    Template,
    TemplateError,
    has_variables,
    is_plain,
    parse_template,
    resolve,
    resolve_text,
)
from gateway.iam.wildcard import Matcher, compile_patterns, compile_segments
from gateway.problems import Problem, join

Values = tuple[str, ...]
Keys = Mapping[str, Values]
SetOperator = Literal["ForAnyValue", "ForAllValues"]
# Does one request value match any of the condition's policy values?
ValueTest = Callable[[str], bool]

Number = int | Decimal
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")
Family = Literal["String", "Numeric", "Date", "Bool", "Binary", "Ip", "Arn", "Null"]


@dataclass(frozen=True, slots=True)
class _Base:
    """A base operator: its family, the comparison, and whether it is the negated form."""

    family: Family
    kind: str
    negated: bool = False


BASE_OPERATORS: dict[str, _Base] = {
    "StringEquals": _Base("String", "equals"),
    "StringNotEquals": _Base("String", "equals", negated=True),
    "StringEqualsIgnoreCase": _Base("String", "equals_ignore_case"),
    "StringNotEqualsIgnoreCase": _Base("String", "equals_ignore_case", negated=True),
    "StringLike": _Base("String", "like"),
    "StringNotLike": _Base("String", "like", negated=True),
    "NumericEquals": _Base("Numeric", "eq"),
    "NumericNotEquals": _Base("Numeric", "eq", negated=True),
    "NumericLessThan": _Base("Numeric", "lt"),
    "NumericLessThanEquals": _Base("Numeric", "le"),
    "NumericGreaterThan": _Base("Numeric", "gt"),
    "NumericGreaterThanEquals": _Base("Numeric", "ge"),
    "DateEquals": _Base("Date", "eq"),
    "DateNotEquals": _Base("Date", "eq", negated=True),
    "DateLessThan": _Base("Date", "lt"),
    "DateLessThanEquals": _Base("Date", "le"),
    "DateGreaterThan": _Base("Date", "gt"),
    "DateGreaterThanEquals": _Base("Date", "ge"),
    "Bool": _Base("Bool", "eq"),
    "BinaryEquals": _Base("Binary", "eq"),
    "IpAddress": _Base("Ip", "in"),
    "NotIpAddress": _Base("Ip", "in", negated=True),
    "ArnEquals": _Base("Arn", "like"),
    "ArnLike": _Base("Arn", "like"),
    "ArnNotEquals": _Base("Arn", "like", negated=True),
    "ArnNotLike": _Base("Arn", "like", negated=True),
    "Null": _Base("Null", "null"),
}
SET_OPERATORS: tuple[SetOperator, ...] = ("ForAnyValue", "ForAllValues")
# Families whose policy values may contain `${...}` variables.
_VARIABLE_FAMILIES = frozenset({"String", "Arn"})

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def _all_operator_names() -> tuple[str, ...]:
    names: list[str] = []
    for base in BASE_OPERATORS:
        forms = [base] if base == "Null" else [base, base + "IfExists"]
        names.extend(forms)
        if base != "Null":
            names.extend(f"{prefix}:{form}" for prefix in SET_OPERATORS for form in forms)
    return tuple(names)


OPERATOR_NAMES = _all_operator_names()
_OPERATORS_BY_LOWER = {name.lower(): name for name in OPERATOR_NAMES}


@dataclass(frozen=True, slots=True)
class Operator:
    """A parsed operator name: optional set prefix, base operator, IfExists."""

    name: str
    base_name: str
    base: _Base
    set_op: SetOperator | None
    if_exists: bool


def parse_operator(name: str) -> Operator | str:
    """The operator, or a human message saying what is wrong (with a suggestion)."""
    prefix: str | None = None
    rest = name
    if ":" in name:
        prefix, _, rest = name.partition(":")
    if_exists = rest.endswith("IfExists") and rest != "IfExists"
    base_name = rest.removesuffix("IfExists") if if_exists else rest
    base = BASE_OPERATORS.get(base_name)
    valid = base is not None and (prefix is None or prefix in SET_OPERATORS)
    if valid and base is not None and base.family == "Null":
        if if_exists:
            return "Null cannot be combined with IfExists: Null already tests for absence"
        if prefix is not None:
            return f"Null cannot be combined with {prefix}: Null tests the whole key"
    if not valid or base is None:
        return "unknown operator" + _suggestion(name)
    set_op: SetOperator | None = None
    if prefix == "ForAnyValue":
        set_op = "ForAnyValue"
    elif prefix == "ForAllValues":
        set_op = "ForAllValues"
    return Operator(name, base_name, base, set_op, if_exists)


def _suggestion(name: str) -> str:
    same_but_case = _OPERATORS_BY_LOWER.get(name.lower())
    if same_but_case is not None:
        return f"; did you mean {same_but_case}? (operators are case-sensitive)"
    close = difflib.get_close_matches(name, OPERATOR_NAMES, n=1, cutoff=0.6)
    if not close:
        lowered = {n.lower(): n for n in OPERATOR_NAMES}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, n=1)]
    return f"; did you mean {close[0]}?" if close else ""


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled test: `operator` applied to condition key `key` with the policy `values`."""

    operator: str
    key: str
    values: tuple[str, ...]
    set_op: SetOperator | None
    negated: bool
    if_exists: bool
    # check(keys) → whether the condition holds; value_test(keys) → the per-value test used.
    check: Callable[[Keys], bool]
    value_test: Callable[[Keys], ValueTest]

    @property
    def key_lower(self) -> str:
        """The key as looked up in a context."""
        return self.key.lower()

    def explain_failure(self, keys: Keys) -> str:
        """Why the condition does not hold for `keys` (only meaningful when check() is False)."""
        values = keys.get(self.key_lower)
        if self.operator == "Null":
            return "key present in the request" if values else "key absent from the request"
        if not values:
            return "key absent from the request"
        test = self.value_test(keys)
        matched = [v for v in values if test(v)]
        if self.set_op == "ForAllValues":
            odd = [v for v in values if test(v) == self.negated]
            return f"not every value passes; failing: {_quote(odd)}"
        if self.set_op == "ForAnyValue":
            return "no request value passes"
        if self.negated:
            return f"{_quote(matched)} matched a listed value"
        return "no listed value matched"


def _quote(values: Sequence[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def compile_conditions(
    block: Any, *, path: str, variables: bool
) -> tuple[tuple[Condition, ...], list[Problem]]:
    """Compile a `Condition` element; every problem is reported with its path."""
    problems: list[Problem] = []
    out: list[Condition] = []
    if not isinstance(block, Mapping):
        return (), [Problem(path, "expected an object of operator → {key: value(s)}")]
    for op_name, entries in block.items():
        op_path = join(path, str(op_name))
        if not isinstance(op_name, str):
            problems.append(Problem(op_path, "operator must be a string"))
            continue
        parsed = parse_operator(op_name)
        if isinstance(parsed, str):
            problems.append(Problem(op_path, parsed))
            continue
        if not isinstance(entries, Mapping):
            problems.append(Problem(op_path, "expected an object of condition key → value(s)"))
            continue
        if not entries:
            problems.append(Problem(op_path, "expected at least one condition key"))
        for key, raw in entries.items():
            key_path = join(op_path, str(key))
            if not isinstance(key, str) or not _valid_key(key):
                problems.append(Problem(key_path, 'condition key must look like "prefix:name"'))
                continue
            values = _condition_values(raw, key_path, problems)
            if values is None:
                continue
            condition = _compile_one(parsed, key, values, key_path, problems, variables)
            if condition is not None:
                out.append(condition)
    return tuple(out), problems


def _valid_key(key: str) -> bool:
    prefix, colon, name = key.partition(":")
    return bool(colon and prefix and name) and key.strip() == key and " " not in prefix


def _condition_values(raw: Any, path: str, problems: list[Problem]) -> tuple[str, ...] | None:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        problems.append(Problem(path, "expected at least one value"))
        return None
    out: list[str] = []
    ok = True
    for index, item in enumerate(items):
        item_path = join(path, index) if isinstance(raw, list) else path
        text = _scalar_text(item)
        if text is None:
            problems.append(Problem(item_path, "expected a string, number or boolean"))
            ok = False
        else:
            out.append(text)
    return tuple(out) if ok else None


def _scalar_text(item: Any) -> str | None:
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, str):
        return item
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float) and math.isfinite(item):
        return repr(item)
    return None


def _compile_one(
    op: Operator,
    key: str,
    values: tuple[str, ...],
    path: str,
    problems: list[Problem],
    variables: bool,
) -> Condition | None:
    base = op.base
    key_lower = key.lower()
    if base.family == "Null":
        flags = []
        for value in values:
            if value.lower() not in ("true", "false"):
                problems.append(Problem(path, f'Null expects "true" or "false", not "{value}"'))
                return None
            flags.append(value.lower() == "true")
        return _null_condition(op, key, values, frozenset(flags))
    templates: list[Template] | None = None
    if not variables and base.family in _VARIABLE_FAMILIES and any("${" in v for v in values):
        # Under 2008-10-17 the text would be compared literally, which is never what was meant.
        problems.append(Problem(path, 'policy variables need "Version": "2012-10-17"'))
        return None
    if variables and base.family in _VARIABLE_FAMILIES:
        templates = []
        for value in values:
            try:
                templates.append(parse_template(value))
            except TemplateError as exc:
                problems.append(Problem(path, str(exc)))
                return None
    factory = _value_test_factory(base, values, templates, path, problems)
    if factory is None:
        return None
    static = factory({}) if templates is None or not any(map(has_variables, templates)) else None
    check = _make_check(key_lower, op, static, factory)
    return Condition(op.name, key, values, op.set_op, base.negated, op.if_exists, check, factory)


def _make_check(
    key: str, op: Operator, static: ValueTest | None, factory: Callable[[Keys], ValueTest]
) -> Callable[[Keys], bool]:
    negated = op.base.negated
    set_op = op.set_op
    # What an absent (or empty) key gives: ForAllValues is vacuously true, IfExists passes,
    # a negated operator passes (nothing equals it), every other operator fails.
    if set_op == "ForAllValues" or op.if_exists:
        absent = True
    elif set_op == "ForAnyValue":
        absent = False
    else:
        absent = negated

    if set_op is None:

        def check(keys: Keys) -> bool:
            values = keys.get(key)
            if not values:
                return absent
            test = static if static is not None else factory(keys)
            if len(values) == 1:
                return test(values[0]) != negated
            return any(map(test, values)) != negated

    elif set_op == "ForAnyValue":

        def check(keys: Keys) -> bool:
            values = keys.get(key)
            if not values:
                return absent
            test = static if static is not None else factory(keys)
            return any(test(v) != negated for v in values)

    else:

        def check(keys: Keys) -> bool:
            values = keys.get(key)
            if not values:
                return absent
            test = static if static is not None else factory(keys)
            return all(test(v) != negated for v in values)

    return check


def _null_condition(
    op: Operator, key: str, values: tuple[str, ...], flags: frozenset[bool]
) -> Condition:
    key_lower = key.lower()

    def check(keys: Keys) -> bool:
        # "true" means the key must be absent; several values OR together.
        return (not keys.get(key_lower)) in flags

    def value_test(_: Keys) -> ValueTest:
        return lambda _value: False in flags

    return Condition(op.name, key, values, None, False, False, check, value_test)


def _value_test_factory(
    base: _Base,
    values: tuple[str, ...],
    templates: list[Template] | None,
    path: str,
    problems: list[Problem],
) -> Callable[[Keys], ValueTest] | None:
    family = base.family
    if family == "String":
        return _string_factory(base.kind, values, templates)
    if family == "Arn":
        return _arn_factory(values, templates)
    if family == "Numeric":
        numbers = _parse_all(values, parse_number, "a number", path, problems)
        if numbers is None:
            return None
        return _constant(_ordered_test(numbers, _COMPARE[base.kind], parse_number))
    if family == "Date":
        dates = _parse_all(values, parse_date, "a date (ISO 8601 or epoch seconds)", path, problems)
        if dates is None:
            return None
        return _constant(_ordered_test(dates, _COMPARE[base.kind], parse_date))
    if family == "Bool":
        flags = _parse_all(values, _parse_bool, '"true" or "false"', path, problems)
        if flags is None:
            return None
        wanted = frozenset(flags)
        return _constant(lambda value: _parse_bool(value) in wanted)
    if family == "Binary":
        blobs = _parse_all(values, _parse_base64, "base64", path, problems)
        if blobs is None:
            return None
        wanted_bytes = frozenset(blobs)
        return _constant(lambda value: _parse_base64(value) in wanted_bytes)
    networks: list[IpNetwork] | None = _parse_all(
        values, _parse_network, "an IP address or CIDR block", path, problems
    )
    if networks is None:
        return None
    return _constant(_ip_test(networks))


def _constant(test: ValueTest) -> Callable[[Keys], ValueTest]:
    return lambda _keys: test


def _parse_all(
    values: tuple[str, ...],
    parse: Callable[[str], T | None],
    expected: str,
    path: str,
    problems: list[Problem],
) -> list[T] | None:
    out: list[T] = []
    for value in values:
        parsed = parse(value)
        if parsed is None:
            problems.append(Problem(path, f'expected {expected}, not "{value}"'))
            return None
        out.append(parsed)
    return out


def _string_factory(
    kind: str, values: tuple[str, ...], templates: list[Template] | None
) -> Callable[[Keys], ValueTest]:
    if templates is None or not any(map(has_variables, templates)):
        texts = values if templates is None else tuple(_static_text(t) for t in templates)
        if kind == "like" and templates is not None and not all(map(is_plain, templates)):
            # Escapes such as ${*} make a piece literal, so compile pieces rather than text.
            matchers = [compile_segments(_static(t)) for t in templates]
            return _constant(_any_of(matchers))
        return _constant(_string_test(kind, texts))

    resolved_templates = templates

    def factory(keys: Keys) -> ValueTest:
        if kind == "like":
            matchers = []
            for template in resolved_templates:
                segments = resolve(template, keys)
                if segments is not None:
                    matchers.append(compile_segments(segments))
            return _any_of(matchers)
        texts = [resolve_text(t, keys) for t in resolved_templates]
        return _string_test(kind, tuple(t for t in texts if t is not None))

    return factory


def _static(template: Template) -> tuple[tuple[str, bool], ...]:
    segments = resolve(template, {})
    return segments if segments is not None else ()


def _static_text(template: Template) -> str:
    return "".join(text for text, _ in _static(template))


def _string_test(kind: str, texts: tuple[str, ...]) -> ValueTest:
    if kind == "equals":
        if len(texts) == 1:
            return texts[0].__eq__
        return frozenset(texts).__contains__
    if kind == "equals_ignore_case":
        folded = frozenset(t.casefold() for t in texts)
        return lambda value: value.casefold() in folded
    return compile_patterns(texts)


def _arn_factory(
    values: tuple[str, ...], templates: list[Template] | None
) -> Callable[[Keys], ValueTest]:
    if templates is None:
        return _constant(_any_of([compile_arn_segments(((v, True),)) for v in values]))
    if not any(map(has_variables, templates)):
        return _constant(_any_of([compile_arn_segments(_static(t)) for t in templates]))
    arn_templates = templates

    def factory(keys: Keys) -> ValueTest:
        matchers = []
        for template in arn_templates:
            segments = resolve(template, keys)
            if segments is not None:
                matchers.append(compile_arn_segments(segments))
        return _any_of(matchers)

    return factory


def _never(_: str) -> bool:
    return False


def _any_of(matchers: Sequence[Matcher]) -> ValueTest:
    if not matchers:
        # Every policy value was a null variable: nothing equals null.
        return _never
    if len(matchers) == 1:
        return matchers[0]
    found = tuple(matchers)
    return lambda value: any(m(value) for m in found)


def _ordered_test(
    wanted: list[T], compare: Callable[[Any, Any], bool], parse: Callable[[str], T | None]
) -> ValueTest:
    def test(value: str) -> bool:
        parsed = parse(value)
        if parsed is None:
            return False
        return any(compare(parsed, w) for w in wanted)

    return test


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def parse_number(text: str) -> Number | None:
    """An exact number (int or Decimal) from a policy or context value, or None."""
    text = text.strip()
    if len(text) > 64 or not _NUMBER.fullmatch(text):
        return None
    try:
        return int(text) if _INTEGER.fullmatch(text) else Decimal(text)
    except (ValueError, InvalidOperation):
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH_SECONDS = re.compile(r"\d{1,12}(?:\.\d{1,9})?")


@lru_cache(maxsize=4096)
def parse_date(text: str) -> int | None:
    """Microseconds since the epoch from W3C/ISO 8601 (UTC if no offset) or epoch seconds.

    Cached: the same issue and current times recur across a session's requests.
    """
    text = text.strip()
    if _EPOCH_SECONDS.fullmatch(text):
        return int(Decimal(text) * 1_000_000)
    if len(text) > 64:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return (moment - _EPOCH) // _MICROSECOND
    except OverflowError:
        return None


def _parse_bool(text: str) -> bool | None:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def _parse_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse_network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def parse_ip(text: str) -> tuple[int, int] | None:
    """(IP version, address as int) with IPv4-mapped IPv6 read as IPv4, or None.

    Cached: a client's address repeats across its requests and parsing dominates the test.
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version, int(address)


def _ip_test(networks: list[IpNetwork]) -> ValueTest:
    # Integer ranges per IP version: one parse of the request address, then integer compares.
    ranges: dict[int, tuple[tuple[int, int], ...]] = {
        version: tuple(
            (int(n.network_address), int(n.broadcast_address))
            for n in networks
            if n.version == version
        )
        for version in (4, 6)
    }

    def test(value: str) -> bool:
        parsed = parse_ip(value)
        if parsed is None:
            return False
        version, number = parsed
        return any(low <= number <= high for low, high in ranges[version])

    return test
