"""Identity providers: list, add (SAML by metadata; OpenID and social by issuer and app id),
edit, enable/disable, delete, and the admin rules that say who signing in through one is
an admin."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Response, g, redirect, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as BaseResponse

from gateway.admin.edit import Document, current_document, find_provider, relative
from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.sources.saml import metadata as saml_metadata
from gateway.sources.saml.errors import SamlRefusal
from gateway.sources.saml.service import service
from gateway.store.config_schema import (
    DEFAULT_ISSUERS,
    OPTIONS,
    PROVIDER_KINDS,
    validate_identity_provider,
)
from gateway.store.snapshot import IdentityProvider
from gateway.web.admin import bp
from gateway.web.admin.access import current_admin, flash_report, page, write
from gateway.web.admin.forms import (
    FieldProblems,
    block,
    condition_documents,
    condition_rows,
    lines,
    operators,
    rows_of,
    text,
)

KIND_LABELS = {
    "saml": "SAML 2.0 (AD FS, Entra ID, Okta, …)",
    "oidc": "OpenID Connect",
    "google": "Google",
    "facebook": "Facebook",
    "amazon": "Login with Amazon",
}
MAX_METADATA_UPLOAD = saml_metadata.MAX_METADATA
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
FORM_FIELDS = (
    "name", "kind", "account", "display_name", "metadata_xml", "metadata_url", "issuer",
    "client_ids", "client_secret", "scopes", "options", "admin_rules", "mapping_rules",
)


@dataclass(frozen=True, slots=True)
class Certificate:
    subject: str
    not_after: datetime
    sha256: str

    @property
    def expired(self) -> bool:
        return self.not_after <= datetime.now(UTC)

    @property
    def days_left(self) -> int:
        return (self.not_after - datetime.now(UTC)).days


@dataclass(frozen=True, slots=True)
class MetadataView:
    """What the admin sees of a SAML provider's metadata, or why it is unusable."""

    source: str  # "pasted" or the URL
    entity_id: str | None = None
    certificates: tuple[Certificate, ...] = ()
    sso: tuple[saml_metadata.Endpoint, ...] = ()
    slo: tuple[saml_metadata.Endpoint, ...] = ()
    valid_until: datetime | None = None
    error: str | None = None
    cached_copy: bool | None = None  # URL metadata: a last good copy is kept in Redis


def _certificate(pem: str) -> Certificate:
    cert = x509.load_pem_x509_certificate(pem.encode())
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    return Certificate(cert.subject.rfc4514_string(), cert.not_valid_after_utc,
                       ":".join(digest[i:i + 2] for i in range(0, 16, 2)).upper() + "…")


def _view(parsed: saml_metadata.IdpMetadata, source: str) -> MetadataView:
    return MetadataView(
        source=source, entity_id=parsed.entity_id,
        certificates=tuple(_certificate(c) for c in parsed.signing_certificates),
        sso=parsed.sso, slo=parsed.slo, valid_until=parsed.valid_until,
    )


def parse_metadata(xml: str, trusted_signers: tuple[str, ...] = ()) -> MetadataView:
    """Pasted metadata, parsed by the SAML source's own parser."""
    try:
        parsed = saml_metadata.parse(xml.encode(), trusted_signers=trusted_signers,
                                     now=datetime.now(UTC))
    except SamlRefusal as exc:
        return MetadataView(source="pasted", error=exc.message)
    return _view(parsed, "pasted")


def metadata_view(provider: IdentityProvider) -> MetadataView | None:
    """The metadata the SAML source would use now (fetching a URL if it must)."""
    if provider.kind != "saml":
        return None
    if provider.metadata_xml is None and provider.metadata_url is None:
        return MetadataView(source="none", error="No metadata is configured.")
    source = provider.metadata_url or "pasted"
    rt = runtime()
    cached = (
        bool(rt.redis.exists(rt.keys.saml_metadata(provider.metadata_url)))
        if provider.metadata_url and not provider.metadata_xml else None
    )
    try:
        idp = service().idp(provider, datetime.now(UTC))
    except SamlRefusal as exc:
        return MetadataView(source=source, error=exc.message, cached_copy=cached)
    view = _view(idp.metadata, source)
    return MetadataView(**{**_fields(view), "cached_copy": cached})


def _fields(view: MetadataView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in MetadataView.__slots__}


def _sp_urls() -> dict[str, str]:
    base = runtime().settings.base_url
    return {"metadata": f"{base}/saml/metadata", "acs": f"{base}/saml/acs",
            "entity_id": f"{base}/saml/metadata"}


# ---------------------------------------------------------------- list


@bp.get("/providers")
def providers() -> Response:
    snapshot = runtime().snapshot
    listed = sorted(snapshot.providers_by_name.values(), key=lambda p: p.name)
    return page("admin/providers.html", title="Identity providers", section="admin.providers",
                providers=listed, kinds=KIND_LABELS, sp=_sp_urls(),
                accounts=snapshot.accounts_by_id)


# ---------------------------------------------------------------- add / edit


def _option_value(form: Any, key: str, kind_of_value: str, current: Any) -> Any:
    """The option's new value, or None to leave it unset (the provider's default)."""
    if kind_of_value == "bool":
        choice = form.get(f"opt-{key}", "default")
        return {"on": True, "off": False}.get(choice)
    raw = block(form, f"opt-{key}")
    if kind_of_value == "certificates":
        return _PEM.findall(raw) or ([raw] if raw else None)
    if kind_of_value in ("urls", "domains"):
        return lines(raw) or None
    return current  # an option kind this page does not know how to edit: kept as it is


def apply_form(document: Document, kind: str, *, creating: bool) -> list[Problem]:
    """Set the fields this form manages on a provider document; other keys are kept."""
    form = request.form
    problems: list[Problem] = []
    if creating:
        document["name"] = text(form, "name")
        document["kind"] = kind
    document["account"] = text(form, "account")
    _set(document, "display_name", text(form, "display_name"))
    if kind == "saml":
        xml = block(form, "metadata_xml")
        upload = request.files.get("metadata_file")
        if isinstance(upload, FileStorage) and upload.filename:
            data = upload.read(MAX_METADATA_UPLOAD + 1)
            if len(data) > MAX_METADATA_UPLOAD:
                problems.append(Problem("metadata_xml", "the uploaded file is too large"))
            else:
                try:
                    xml = data.decode("utf-8").strip()
                except UnicodeDecodeError:
                    problems.append(Problem("metadata_xml", "the uploaded file is not UTF-8 XML"))
        _set(document, "metadata_xml", xml)
        _set(document, "metadata_url", text(form, "metadata_url"))
        if not xml and not text(form, "metadata_url"):
            problems.append(Problem("metadata_xml",
                                    "paste or upload the IdP's metadata, or give its URL"))
    else:
        _set(document, "issuer", text(form, "issuer") or DEFAULT_ISSUERS.get(kind, ""))
        document["client_ids"] = lines(block(form, "client_ids"))
        secret = form.get("client_secret", "")
        if secret.strip():
            document["client_secret"] = secret.strip()
        elif form.get("clear_client_secret"):
            document.pop("client_secret", None)
        _set(document, "scopes", text(form, "scopes").split())
    options: dict[str, Any] = dict(document.get("options") or {})
    for key, kind_of_value in OPTIONS.get(kind, {}).items():
        value = _option_value(form, key, kind_of_value, options.get(key))
        if value is None:
            options.pop(key, None)
        else:
            options[key] = value
    _set(document, "options", options)
    return problems


def _set(document: Document, key: str, value: Any) -> None:
    if value in (None, "", [], {}):
        document.pop(key, None)
    else:
        document[key] = value


def check_metadata(document: Document) -> list[Problem]:
    """Pasted metadata must be usable: parsed by the same parser sign-in uses."""
    xml = document.get("metadata_xml")
    if not isinstance(xml, str) or not xml:
        return []
    signers = tuple((document.get("options") or {}).get("metadata_signing_certificates") or ())
    view = parse_metadata(xml, signers)
    return [Problem("metadata_xml", view.error)] if view.error else []


def _form_page(kind: str, document: Document, *, creating: bool, problems: list[Problem],
               status: int = 200, **extra: Any) -> Response:
    snapshot = runtime().snapshot
    fields = FieldProblems(problems, FORM_FIELDS)
    pasted = (
        parse_metadata(document["metadata_xml"])
        if kind == "saml" and isinstance(document.get("metadata_xml"), str) and creating
        and document.get("metadata_xml") else None
    )
    return page(
        "admin/provider_form.html", title=("Add " if creating else "Edit ") + KIND_LABELS[kind],
        section="admin.providers", status=status, kind=kind, kinds=KIND_LABELS,
        creating=creating, doc=document, accounts=sorted(snapshot.accounts_by_id),
        options=OPTIONS.get(kind, {}), field_problems=fields, problems=fields.all,
        default_issuer=DEFAULT_ISSUERS.get(kind), sp=_sp_urls(), pasted=pasted,
        operators=operators(), **extra,
    )


@bp.get("/providers/new")
def new_provider() -> Response:
    kind = request.args.get("kind", "")
    if kind not in PROVIDER_KINDS:
        return page("admin/provider_kinds.html", title="Add an identity provider",
                    section="admin.providers", kinds=KIND_LABELS,
                    status=400 if kind else 200,
                    problems=[Problem("kind", f"unknown kind {kind[:32]!r}")] if kind else [])
    return _form_page(kind, {"kind": kind}, creating=True, problems=[])


@bp.post("/providers")
def create_provider() -> BaseResponse:
    kind = text(request.form, "kind")
    if kind not in PROVIDER_KINDS:
        return new_provider_problem(kind)
    document: Document = {}
    problems = apply_form(document, kind, creating=True)
    name = document["name"]
    return _save(document, kind, name, problems, creating=True)


def new_provider_problem(kind: str) -> Response:
    return page("admin/provider_kinds.html", title="Add an identity provider",
                section="admin.providers", kinds=KIND_LABELS, status=400,
                problems=[Problem("kind", f"unknown kind {kind[:32]!r}")])


def _save(document: Document, kind: str, name: str, problems: list[Problem], *,
          creating: bool) -> BaseResponse:
    rt = runtime()
    current = current_document(rt.engine)
    accounts = [a["id"] for a in current["accounts"]]
    role_arns = [r.arn for r in rt.snapshot.roles_by_arn.values()]
    problems = problems + validate_identity_provider(
        document, account_ids=accounts, role_arns=role_arns
    ) + check_metadata(document)
    if creating and any(p["name"] == name for p in current["identity_providers"]):
        problems.append(Problem("name", f"an identity provider named {name} exists already"))
    if problems:
        return _form_page(kind, document, creating=creating, problems=problems, status=400)
    position: list[int] = []

    def change(config: Document) -> None:
        if creating:
            config["identity_providers"].append(document)
            position.append(len(config["identity_providers"]) - 1)
        else:
            index, _ = find_provider(config, name)
            config["identity_providers"][index] = document
            position.append(index)

    try:
        report, _ = write(change)
    except Invalid as exc:
        prefix = f"identity_providers[{position[0]}]" if position else "identity_providers"
        return _form_page(kind, document, creating=creating,
                          problems=relative(exc.problems, prefix), status=400)
    flash_report(report, f"Identity provider {name} saved.")
    return redirect(url_for("admin.provider", name=name), 303)


def stored_provider(name: str) -> tuple[Document, IdentityProvider] | None:
    """The provider's stored document and its snapshot entry, or None if unknown."""
    rt = runtime()
    provider = rt.snapshot.providers_by_name.get(name)
    if provider is None:
        return None
    try:
        _, document = find_provider(current_document(rt.engine), name)
    except Invalid:
        return None
    return document, provider


def unknown_provider(name: str) -> Response:
    """The 404 page for a provider name that does not exist."""
    return page("admin/not_found.html", title="No such identity provider", status=404,
                section="admin.providers",
                message=f"There is no identity provider named {name[:128]!r}.")


@bp.get("/providers/<name>")
def provider(name: str) -> Response:
    stored = stored_provider(name)
    if stored is None:
        return unknown_provider(name)
    document, configured = stored
    return _form_page(configured.kind, document, creating=False, problems=[],
                      provider=configured, metadata=metadata_view(configured),
                      admin_rules=document.get("admin_rules") or [],
                      admin_rows=rows_of([]))


@bp.post("/providers/<name>")
def save_provider(name: str) -> BaseResponse:
    stored = stored_provider(name)
    if stored is None:
        return unknown_provider(name)
    document, configured = stored
    problems = apply_form(document, configured.kind, creating=False)
    return _save(document, configured.kind, name, problems, creating=False)


@bp.post("/providers/<name>/delete")
def delete_provider(name: str) -> BaseResponse:
    if stored_provider(name) is None:
        return unknown_provider(name)

    def change(config: Document) -> None:
        index, _ = find_provider(config, name)
        del config["identity_providers"][index]

    try:
        report, _ = write(change)
    except Invalid as exc:
        return page("admin/not_found.html", title="Cannot delete", status=409,
                    section="admin.providers", problems=exc.problems,
                    message=f"The identity provider {name} cannot be deleted.")
    flash_report(report, f"Identity provider {name} deleted.")
    return redirect(url_for("admin.providers"), 303)


# ---------------------------------------------------------------- enable / disable


@bp.post("/providers/<name>/disable")
def disable_provider(name: str) -> BaseResponse:
    return _set_enabled(name, enabled=False)


@bp.post("/providers/<name>/enable")
def enable_provider(name: str) -> BaseResponse:
    return _set_enabled(name, enabled=True)


def _set_enabled(name: str, *, enabled: bool) -> BaseResponse:
    """Through the shared write path: validated, one logged provider update, live at once."""
    if stored_provider(name) is None:
        return unknown_provider(name)
    if not enabled and not g.admin.break_glass:
        _, signed_in = current_admin()
        if signed_in is not None and signed_in.identity.provider == name:
            # Admin rights follow the provider (gateway.admin.authz): this would lock the
            # admin out in the middle of the click.
            return page("admin/not_found.html", title="Not disabled", status=409,
                        section="admin.providers",
                        message=f"You are signed in through {name}; disabling it would end "
                        "your own admin access. Ask another administrator, or use a "
                        "break-glass link (gateway admin link).")

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        if enabled:
            current.pop("enabled", None)
        else:
            current["enabled"] = False

    report, _ = write(change)
    flash_report(report, f"Identity provider {name} enabled: people can sign in through it "
                 "again." if enabled else f"Identity provider {name} disabled: nobody can sign "
                 "in through it, and its tokens are refused.")
    back = request.form.get("back")
    return redirect(url_for("admin.providers") if back == "list"
                    else url_for("admin.provider", name=name), 303)


# ---------------------------------------------------------------- admin rules


@bp.post("/providers/<name>/admin-rules")
def add_admin_rule(name: str) -> BaseResponse:
    stored = stored_provider(name)
    if stored is None:
        return unknown_provider(name)
    document, configured = stored
    rows = condition_rows(request.form, "admin")
    rule: Document = {"when": condition_documents(rows)}
    description = text(request.form, "admin_description")
    if description:
        rule = {"description": description, **rule}
    rules = [*(document.get("admin_rules") or []), rule]
    candidate = {**document, "admin_rules": rules}
    problems = validate_identity_provider(candidate)
    if problems:
        return _form_page(configured.kind, document, creating=False, status=400,
                          problems=problems, provider=configured,
                          metadata=metadata_view(configured),
                          admin_rules=document.get("admin_rules") or [],
                          admin_rows=rows, admin_description=description)

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        current["admin_rules"] = [*(current.get("admin_rules") or []), rule]

    report, _ = write(change)
    flash_report(report, f"Admin rule added to {name}.")
    return redirect(url_for("admin.provider", name=name) + "#admin-rules", 303)


@bp.post("/providers/<name>/admin-rules/<int:index>/delete")
def delete_admin_rule(name: str, index: int) -> BaseResponse:
    if stored_provider(name) is None:
        return unknown_provider(name)

    def change(config: Document) -> None:
        _, current = find_provider(config, name)
        rules = list(current.get("admin_rules") or [])
        if not 0 <= index < len(rules):
            raise Invalid([Problem(f"admin_rules[{index}]", "there is no such admin rule")])
        del rules[index]
        if rules:
            current["admin_rules"] = rules
        else:
            current.pop("admin_rules", None)

    try:
        report, _ = write(change)
    except Invalid as exc:
        return page("admin/not_found.html", title="No such admin rule", status=404,
                    section="admin.providers", problems=exc.problems,
                    message=f"{name} has no admin rule {index + 1}.")
    flash_report(report, f"Admin rule {index + 1} of {name} removed.")
    return redirect(url_for("admin.provider", name=name) + "#admin-rules", 303)
