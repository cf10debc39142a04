"""A validated assertion as a FederatedIdentity: raw attributes, friendly aliases, AWS's
SAML attributes and the `saml:*` condition keys.

Every attribute is kept under the name the IdP used; well-known names from AD FS,
Entra ID, Okta and eduPerson also appear under a short alias (`email`, `groups`, …)
so mapping rules read the same whichever IdP a person came through.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime

from gateway.iam.context import saml_keys
from gateway.identity import FederatedIdentity
from gateway.sources.saml import ns
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.response import Validated
from gateway.store import names

AWS = "https://aws.amazon.com/SAML/Attributes/"
AWS_ROLE = AWS + "Role"
AWS_SESSION_NAME = AWS + "RoleSessionName"
AWS_SESSION_DURATION = AWS + "SessionDuration"
AWS_PRINCIPAL_TAG = AWS + "PrincipalTag:"
AWS_TRANSITIVE = AWS + "TransitiveTagKeys"
AWS_SOURCE_IDENTITY = AWS + "SourceIdentity"

_ADFS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
_MS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/"
_ENTRA = "http://schemas.microsoft.com/identity/claims/"
_EDU = "urn:oid:1.3.6.1.4.1.5923.1.1.1."
_EDU_ORG = "urn:oid:1.3.6.1.4.1.5923.1.2.1."

# Raw attribute name → alias. Lower-cased lookups for the plain (Okta-style) names.
ALIASES: Mapping[str, str] = {
    # AD FS claim types
    _ADFS + "emailaddress": "email",
    _ADFS + "upn": "upn",
    _ADFS + "name": "name",
    _ADFS + "givenname": "given_name",
    _ADFS + "surname": "family_name",
    _ADFS + "nameidentifier": "name_identifier",
    "http://schemas.xmlsoap.org/claims/CommonName": "cn",
    "http://schemas.xmlsoap.org/claims/Group": "groups",
    _MS + "groups": "groups",
    _MS + "role": "roles",
    _MS + "windowsaccountname": "windows_account_name",
    _MS + "primarygroupsid": "primary_group_sid",
    _MS + "wids": "wids",
    # Entra ID
    _ENTRA + "objectidentifier": "oid",
    _ENTRA + "tenantid": "tid",
    _ENTRA + "displayname": "display_name",
    _ENTRA + "identityprovider": "idp",
    "http://schemas.microsoft.com/claims/authnmethodsreferences": "amr",
    # X.500 / eduPerson (SAML2 URI name format)
    "urn:oid:0.9.2342.19200300.100.1.3": "email",
    "urn:oid:1.2.840.113549.1.9.1.1": "email",
    "urn:oid:0.9.2342.19200300.100.1.1": "uid",
    "urn:oid:2.5.4.3": "cn",
    "urn:oid:2.5.4.42": "given_name",
    "urn:oid:2.5.4.4": "family_name",
    "urn:oid:2.16.840.1.113730.3.1.241": "display_name",
    "urn:oid:1.3.6.1.4.1.5923.1.5.1.1": "groups",
    _EDU + "1": "affiliation",
    _EDU + "6": "eppn",
    _EDU + "7": "entitlement",
    _EDU + "9": "scoped_affiliation",
    _EDU + "10": "targeted_id",
    # Okta and other plain names
    "email": "email",
    "mail": "email",
    "emailaddress": "email",
    "firstname": "given_name",
    "givenname": "given_name",
    "lastname": "family_name",
    "surname": "family_name",
    "sn": "family_name",
    "group": "groups",
    "groups": "groups",
    "memberof": "groups",
    "login": "username",
    "username": "username",
    "displayname": "display_name",
}

# Raw attribute name → AWS `saml:*` condition key (AWS's table; list keys end in []).
CONDITION_KEYS: Mapping[str, str] = {
    _EDU + "1": "edupersonaffiliation[]",
    _EDU + "11": "edupersonassurance[]",
    _EDU + "7": "edupersonentitlement[]",
    _EDU + "2": "edupersonnickname[]",
    _EDU + "3": "edupersonorgdn",
    _EDU + "4": "edupersonorgunitdn[]",
    _EDU + "5": "edupersonprimaryaffiliation",
    _EDU + "8": "edupersonprimaryorgunitdn",
    _EDU + "6": "edupersonprincipalname",
    _EDU + "9": "edupersonscopedaffiliation[]",
    _EDU + "10": "edupersontargetedid[]",
    _EDU_ORG + "2": "eduorghomepageuri[]",
    _EDU_ORG + "3": "eduorgidentityauthnpolicyuri[]",
    _EDU_ORG + "4": "eduorglegalname[]",
    _EDU_ORG + "5": "eduorgsuperioruri[]",
    _EDU_ORG + "6": "eduorgwhitepagesuri[]",
    "urn:oid:2.5.4.3": "cn[]",
    _ADFS + "name": "name",
    "http://schemas.xmlsoap.org/claims/CommonName": "commonName",
    _ADFS + "givenname": "givenName",
    _ADFS + "surname": "surname",
    _ADFS + "emailaddress": "mail",
    "urn:oid:0.9.2342.19200300.100.1.1": "uid",
    "urn:oid:2.5.4.45": "x500UniqueIdentifier",
    "urn:oid:0.9.2342.19200300.100.1.45": "organizationStatus",
    _MS + "primarygroupsid": "primaryGroupSID",
}

_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_TAG_KEY = re.compile(r"[\w.:/=+\-@ ]{1,128}")
_TAG_VALUE = re.compile(r"[\w.:/=+\-@ ]{0,256}")
MAX_TAGS = 50


def name_qualifier(issuer: str, account_id: str, provider_name: str) -> str:
    """AWS's NameQualifier: base64(SHA1(issuer + account id + "/" + provider name))."""
    digest = hashlib.sha1(  # noqa: S324 - AWS defines this value with SHA-1; not a signature
        f"{issuer}{account_id}/{provider_name}".encode()
    ).digest()
    return base64.b64encode(digest).decode()


def subject_type(name_id_format: str | None) -> str:
    """`persistent`/`transient` for SAML 2.0 formats, any other format URI unchanged."""
    fmt = name_id_format or ns.NAMEID_UNSPECIFIED
    return fmt.removeprefix(ns.NAMEID_PREFIX_20)


def to_identity(validated: Validated, *, strict_aws: bool = False) -> FederatedIdentity:
    """The FederatedIdentity of a validated assertion.

    With `strict_aws` (AssumeRoleWithSAML), malformed AWS attributes are refused as AWS
    refuses them; for browser sign-in they are only left out.
    """
    provider = validated.idp.provider
    raw: dict[str, list[str]] = {}
    for attribute in validated.attributes:
        raw.setdefault(attribute.name, []).extend(attribute.values)
    attributes: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in raw.items()}
    aliased: dict[str, list[str]] = {}
    for attribute in validated.attributes:
        alias = ALIASES.get(attribute.name) or ALIASES.get(attribute.name.lower())
        if alias is None and attribute.friendly_name:
            alias = ALIASES.get(attribute.friendly_name.lower())
        for name in {alias, attribute.friendly_name} - {None, attribute.name}:
            assert name is not None
            aliased.setdefault(name, []).extend(attribute.values)
    for name, friendly_values in validated.friendly.items():
        aliased.setdefault(name, []).extend(friendly_values)
    for name, alias_values in aliased.items():
        if name not in attributes:
            attributes[name] = tuple(dict.fromkeys(alias_values))
    attributes.setdefault("nameid", (validated.name_id,))

    account = provider.account_id
    qualifier = name_qualifier(validated.issuer, account, provider.name)
    condition_attributes: dict[str, tuple[str, ...]] = {}
    for name, key in CONDITION_KEYS.items():
        found = attributes.get(name)
        if found:
            condition_attributes[key] = found if key.endswith("[]") else found[:1]
    sub_type = subject_type(validated.name_id_format)
    keys = saml_keys(
        aud=validated.recipient,
        iss=validated.issuer,
        sub=validated.name_id,
        sub_type=sub_type,
        namequalifier=qualifier,
        doc=f"{account}/{provider.name}",
        attributes=condition_attributes,
    )
    session_name = _session_name(raw.get(AWS_SESSION_NAME), strict_aws)
    tags = _tags(raw, strict_aws)
    transitive: tuple[str, ...] = tuple(
        dict.fromkeys(k for v in raw.get(AWS_TRANSITIVE, []) for k in _split(v))
    )
    if transitive and not {k.lower() for k in transitive} <= {k.lower() for k in tags}:
        if strict_aws:
            raise _invalid("TransitiveTagKeys names a tag the assertion does not set.")
        transitive = tuple(k for k in transitive if k.lower() in {t.lower() for t in tags})
    return FederatedIdentity(
        provider=provider.name,
        kind="saml",
        issuer=validated.issuer,
        subject=validated.name_id,
        subject_type=sub_type,
        audience=(validated.recipient,),
        attributes=attributes,
        auth_time=validated.authn_instant,
        session_not_on_or_after=validated.session_not_on_or_after,
        upstream_id=validated.assertion_id,
        condition_keys=keys,
        session_name=session_name,
        session_duration=_duration(raw.get(AWS_SESSION_DURATION), strict_aws),
        session_tags=tags,
        transitive_tag_keys=transitive,
        source_identity=_source_identity(raw.get(AWS_SOURCE_IDENTITY), strict_aws),
        asserted_roles=_roles(raw.get(AWS_ROLE, []), provider.arn),
    )


def _invalid(message: str) -> SamlRefusal:
    return SamlRefusal("aws_attribute", message, sts="invalid")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _roles(values: list[str] | tuple[str, ...], provider_arn: str) -> tuple[tuple[str, str], ...]:
    """(role ARN, provider ARN) pairs, either order in the value; malformed values dropped."""
    pairs: list[tuple[str, str]] = []
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2:
            continue
        first, second = parts
        if ":saml-provider/" in first:
            first, second = second, first
        if names.parse_role_arn(first) is None or ":saml-provider/" not in second:
            continue
        pair = (first, second)
        if pair not in pairs:
            pairs.append(pair)
    return tuple(pairs)


def _session_name(values: list[str] | None, strict: bool) -> str | None:
    value = values[0] if values else None
    if value is None:
        if strict:
            raise _invalid("RoleSessionName is required in AuthnResponse")
        return None
    if not _SESSION_NAME.fullmatch(value):
        if strict:
            raise _invalid("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
        # A browser sign-in falls back to a derived name rather than failing.
        return None
    return value


def _duration(values: list[str] | None, strict: bool) -> int | None:
    if not values:
        return None
    try:
        seconds = int(values[0])
    except ValueError:
        seconds = -1
    if not 900 <= seconds <= 43200:
        if strict:
            raise _invalid("SessionDuration in AuthnResponse must be between 900 and 43200.")
        return None
    return seconds


def _source_identity(values: list[str] | None, strict: bool) -> str | None:
    value = values[0] if values else None
    if value is None:
        return None
    if not _SESSION_NAME.fullmatch(value) or value.lower().startswith("aws:"):
        if strict:
            raise _invalid('Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin '
                           'with "aws:"')
        return None
    return value


def _tags(raw: Mapping[str, list[str]], strict: bool) -> dict[str, str]:
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for name, values in raw.items():
        if not name.startswith(AWS_PRINCIPAL_TAG):
            continue
        key = name[len(AWS_PRINCIPAL_TAG):]
        value = values[0] if values else ""
        ok = (_TAG_KEY.fullmatch(key) and _TAG_VALUE.fullmatch(value) and len(values) <= 1
              and key.lower() not in seen and not key.lower().startswith("aws:"))
        if not ok:
            if strict:
                raise _invalid(f"The session tag {key[:128]!r} in AuthnResponse is not valid.")
            continue
        seen.add(key.lower())
        tags[key] = value
    if len(tags) > MAX_TAGS:
        if strict:
            raise _invalid("AuthnResponse asserts more than 50 session tags.")
        tags = dict(list(tags.items())[:MAX_TAGS])
    return tags


def session_name_for(identity: FederatedIdentity) -> str:
    """The asserted RoleSessionName, else one derived from the subject (browser sign-in)."""
    if identity.session_name:
        return identity.session_name
    cleaned = re.sub(r"[^\w+=,.@-]", "-", identity.subject, flags=re.ASCII)[:64]
    return cleaned if len(cleaned) >= 2 else f"{cleaned}--"[:2]


def expires(validated: Validated) -> datetime:
    """When the replay-cache entry for this assertion may be forgotten."""
    return validated.not_on_or_after
