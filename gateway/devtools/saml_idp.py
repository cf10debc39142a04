"""A demo SAML 2.0 identity provider (pysaml2 as IdP) for `gateway demo` and the tests.

NEVER use in production: its signing key is test-only and its users sign in without a
password. It serves real HTTP on its own port:

    GET  /metadata             the IdP's metadata (signing certificate, SSO and SLO endpoints)
    GET  /sso/redirect         an SP's AuthnRequest (HTTP-Redirect) → the login form
    POST /sso/login            pick a demo user → signed Response auto-posted to the SP's ACS
    GET  /initiate             IdP-initiated sign-in: pick a user, the SP gets an unsolicited
                               Response (with an optional RelayState)
    GET  /slo/redirect, POST /slo/post
                               LogoutRequest from the SP (answered with a signed
                               LogoutResponse), or the SP's LogoutResponse to our request
    GET  /logout?user=alice    IdP-initiated logout: a signed LogoutRequest to the SP

Responses are signed (response and assertion) with RSA-SHA256 through the gateway's
in-process xmlsec backend; no xmlsec1 binary is needed.
"""

from __future__ import annotations

import base64
import html
import secrets
import tempfile
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from werkzeug.serving import BaseWSGIServer, make_server

from gateway.sources.saml import bindings, ns, times, xmlsafe
from gateway.sources.saml.backend import XmlsecBindingBackend

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "idp-fixtures" / "demo"
DEMO_PROVIDER_ARN = "arn:aws:iam::111111111111:saml-provider/demo-saml"
AWS = "https://aws.amazon.com/SAML/Attributes/"
AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


@dataclass(frozen=True)
class DemoUser:
    login: str
    name_id: str
    display: str
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _user(login: str, display: str, email: str, groups: tuple[str, ...],
          roles: tuple[str, ...] = (), tags: Mapping[str, str] | None = None) -> DemoUser:
    attributes: dict[str, tuple[str, ...]] = {
        "email": (email,),
        "groups": groups,
        "displayName": (display,),
        AWS + "RoleSessionName": (email,),
        AWS + "SessionDuration": ("3600",),
    }
    if roles:
        attributes[AWS + "Role"] = tuple(f"{r},{DEMO_PROVIDER_ARN}" for r in roles)
    for key, value in (tags or {}).items():
        attributes[AWS + "PrincipalTag:" + key] = (value,)
    return DemoUser(login, email, display, {k: v for k, v in attributes.items() if v})


# Matching gateway/demo_config.yaml: alice gets roles in both demo accounts (rules on
# admins/engineering/email plus a Role attribute), bob one role, carol none.
USERS: Mapping[str, DemoUser] = {
    u.login: u
    for u in (
        _user("alice", "Alice Admin", "alice@example.com", ("admins", "engineering"),
              roles=("arn:aws:iam::222222222222:role/ReadOnly",),
              tags={"department": "platform"}),
        _user("bob", "Bob Reader", "bob@example.com", ("staff",)),
        _user("carol", "Carol Contractor", "carol@partner.test", ("contractors",)),
    )
}


class DemoIdp:
    """One demo IdP: pysaml2's Server plus a tiny Flask front end."""

    def __init__(self, base_url: str, sp_metadata_url: str, *,
                 key_file: Path | None = None, cert_file: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.sp_metadata_url = sp_metadata_url
        self.entity_id = f"{self.base_url}/metadata"
        key_file, cert_file = _key_files(key_file, cert_file)
        self.key_pem = key_file.read_bytes()
        self.cert_pem = cert_file.read_text()
        self.config = IdPConfig().load(self._config(key_file, cert_file))
        self.server = Server(config=self.config)
        # pysaml2's own backends need xmlsec1 or pyXMLSecurity; ours needs neither.
        self.server.sec.crypto = XmlsecBindingBackend()
        self._lock = threading.Lock()
        self._sp_loaded = False
        self.sessions: dict[str, tuple[str, str]] = {}  # login → (name id, session index)
        self.logged_out: list[str] = []  # LogoutRequests received from the SP (for tests)

    def _config(self, key_file: Path, cert_file: Path) -> dict[str, Any]:
        return {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "name": "Gateway demo IdP",
                    "endpoints": {
                        "single_sign_on_service": [
                            (f"{self.base_url}/sso/redirect", BINDING_HTTP_REDIRECT),
                        ],
                        "single_logout_service": [
                            (f"{self.base_url}/slo/redirect", BINDING_HTTP_REDIRECT),
                            (f"{self.base_url}/slo/post", BINDING_HTTP_POST),
                        ],
                    },
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        },
                    },
                    "sign_response": True,
                    "sign_assertion": True,
                },
            },
            "key_file": str(key_file),
            "cert_file": str(cert_file),
            "crypto_backend": "XMLSecurity",
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "metadata": {},
            "accepted_time_diff": 120,
        }

    # ------------------------------------------------------------------ SP metadata

    def _ensure_sp(self) -> None:
        """Load the SP's metadata on first need (the gateway may start after the IdP)."""
        with self._lock:
            if self._sp_loaded:
                return
            with urllib.request.urlopen(self.sp_metadata_url, timeout=5) as reply:  # noqa: S310
                xml = reply.read().decode()
            self.server.metadata.load("inline", xml)
            self._sp_loaded = True

    def sp_entity_id(self) -> str:
        self._ensure_sp()
        entity_id: str = next(iter(self.server.metadata.service_providers()))
        return entity_id

    def _sp_endpoint(self, service: str, binding: str) -> str:
        sp = self.sp_entity_id()
        lookup = getattr(self.server.metadata, service)
        if service == "single_logout_service":
            locations = lookup(sp, binding=binding, typ="spsso")
        else:
            locations = lookup(sp, binding=binding)
        if not locations:
            raise LookupError(f"the SP has no {service} for {binding}")
        location: str = locations[0]["location"]
        return location

    # ------------------------------------------------------------------ responses

    def response_xml(
        self, login: str, *, in_response_to: str | None = None,
        destination: str | None = None, audience: str | None = None,
    ) -> str:
        """A signed Response for a demo user (unsolicited when `in_response_to` is None)."""
        user = USERS[login]
        sp = audience or self.sp_entity_id()
        acs = destination or self._sp_endpoint("assertion_consumer_service", BINDING_HTTP_POST)
        now = datetime.now(UTC)
        xml = self.server.create_authn_response(
            identity={k: list(v) for k, v in user.attributes.items()},
            in_response_to=in_response_to,
            destination=acs,
            sp_entity_id=sp,
            name_id=saml.NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user.name_id),
            authn={"class_ref": AUTHN_CONTEXT, "authn_instant": now.timestamp()},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            session_not_on_or_after=times.format_instant(now + timedelta(hours=8)),
        )
        text = str(xml)
        statement = xmlsafe.parse(text.encode()).find(f".//{ns.q(ns.SAML, 'AuthnStatement')}")
        if statement is not None:
            self.sessions[login] = (user.name_id, statement.get("SessionIndex", ""))
        return text

    def response_b64(self, login: str, **kwargs: Any) -> str:
        return base64.b64encode(self.response_xml(login, **kwargs).encode()).decode()

    def metadata_xml(self) -> str:
        metadata: bytes = create_metadata_string(None, config=self.config, sign=False)
        return metadata.decode()

    def logout_url(self, login: str) -> str:
        """An IdP-initiated LogoutRequest for the user's last session, signed, to the SP."""
        name_id, session_index = self.sessions[login]
        location = self._sp_endpoint("single_logout_service", BINDING_HTTP_REDIRECT)
        request_xml = samlp.LogoutRequest(
            id="_" + secrets.token_hex(16), version="2.0",
            issue_instant=times.format_instant(datetime.now(UTC)), destination=location,
            issuer=saml.Issuer(text=self.entity_id, format=ns.NAMEID_ENTITY),
            name_id=saml.NameID(text=name_id, format=NAMEID_FORMAT_EMAILADDRESS),
            session_index=[samlp.SessionIndex(text=session_index)],
        ).to_string()
        return bindings.redirect_url(location, "SAMLRequest", request_xml, relay_state=None,
                                     private_pem=self.key_pem)

    # ------------------------------------------------------------------ web front end

    def app(self) -> Flask:
        app = Flask("gateway-demo-idp")
        app.add_url_rule("/metadata", "metadata", self._metadata)
        app.add_url_rule("/sso/redirect", "sso", self._sso)
        app.add_url_rule("/sso/login", "login", self._login, methods=["POST"])
        app.add_url_rule("/initiate", "initiate", self._initiate, methods=["GET", "POST"])
        app.add_url_rule("/slo/redirect", "slo_redirect", self._slo)
        app.add_url_rule("/slo/post", "slo_post", self._slo, methods=["POST"])
        app.add_url_rule("/logout", "logout", self._logout)
        return app

    def _metadata(self) -> Response:
        return Response(self.metadata_xml(), mimetype="application/samlmetadata+xml")

    def _sso(self) -> Response:
        saml_request = request.args.get("SAMLRequest", "")
        xml = xmlsafe.inflate(xmlsafe.b64decode(saml_request))
        authn = samlp.authn_request_from_string(xml.decode())
        if authn is None or not authn.id:
            return Response("not an AuthnRequest", 400)
        signed = "Signature" in request.args
        hidden = {"request_id": authn.id, "acs": authn.assertion_consumer_service_url or "",
                  "relay_state": request.args.get("RelayState", "")}
        return _page("Demo IdP sign-in", _user_form(
            "/sso/login", hidden,
            note=f"Request {html.escape(authn.id)} from {html.escape(authn.issuer.text)} "
                 f"({'signed' if signed else 'UNSIGNED'}).",
        ))

    def _login(self) -> Response:
        login = request.form.get("user", "")
        if login not in USERS:
            return Response("unknown demo user", 400)
        acs = request.form.get("acs") or None
        xml = self.response_xml(login, in_response_to=request.form.get("request_id") or None,
                                destination=acs)
        return _autopost(acs or self._sp_endpoint("assertion_consumer_service",
                                                  BINDING_HTTP_POST),
                         "SAMLResponse", xml, request.form.get("relay_state") or None)

    def _initiate(self) -> Response:
        if request.method == "GET":
            hidden = {"relay_state": request.args.get("RelayState", "")}
            return _page("Demo IdP: sign in to the gateway",
                         _user_form("/initiate", hidden, note="IdP-initiated sign-in."))
        login = request.form.get("user", "")
        if login not in USERS:
            return Response("unknown demo user", 400)
        xml = self.response_xml(login)
        acs = self._sp_endpoint("assertion_consumer_service", BINDING_HTTP_POST)
        return _autopost(acs, "SAMLResponse", xml, request.form.get("relay_state") or None)

    def _slo(self) -> Response:
        if request.method == "GET":
            kind = "SAMLRequest" if "SAMLRequest" in request.args else "SAMLResponse"
            xml = xmlsafe.inflate(xmlsafe.b64decode(request.args.get(kind, "")))
            relay = request.args.get("RelayState")
        else:
            kind = "SAMLRequest" if "SAMLRequest" in request.form else "SAMLResponse"
            xml = xmlsafe.b64decode(request.form.get(kind, ""))
            relay = request.form.get("RelayState")
        if kind == "SAMLResponse":
            message = samlp.logout_response_from_string(xml.decode())
            status = message.status.status_code.value if message is not None else "?"
            return _page("Demo IdP: signed out",
                         f"<p id='slo-result'>The gateway answered the logout: "
                         f"{html.escape(status.rsplit(':', 1)[-1])}.</p>")
        logout = samlp.logout_request_from_string(xml.decode())
        if logout is None:
            return Response("not a LogoutRequest", 400)
        self.logged_out.append(logout.name_id.text if logout.name_id is not None else "")
        location = self._sp_endpoint("single_logout_service", BINDING_HTTP_REDIRECT)
        answer = samlp.LogoutResponse(
            id="_" + secrets.token_hex(16), version="2.0",
            issue_instant=times.format_instant(datetime.now(UTC)), destination=location,
            in_response_to=logout.id,
            issuer=saml.Issuer(text=self.entity_id, format=ns.NAMEID_ENTITY),
            status=samlp.Status(status_code=samlp.StatusCode(value=ns.STATUS_SUCCESS)),
        ).to_string()
        url = bindings.redirect_url(location, "SAMLResponse", answer, relay_state=relay,
                                    private_pem=self.key_pem)
        return Response(status=303, headers={"Location": url})

    def _logout(self) -> Response:
        login = request.args.get("user", "")
        if login not in self.sessions:
            return Response("that demo user has no session here", 400)
        return Response(status=303, headers={"Location": self.logout_url(login)})


def _key_files(key_file: Path | None, cert_file: Path | None) -> tuple[Path, Path]:
    if key_file and cert_file:
        return key_file, cert_file
    if (FIXTURES / "idp.key").exists():
        return FIXTURES / "idp.key", FIXTURES / "idp.crt"
    # Installed without the repository's fixtures: a throwaway key for this process.
    from gateway.sources.saml.sp_keys import generate

    private_pem, cert_pem = generate("Gateway demo IdP (TEST ONLY)")
    directory = Path(tempfile.mkdtemp(prefix="gateway-demo-idp-"))
    (directory / "idp.key").write_bytes(private_pem)
    (directory / "idp.crt").write_text(cert_pem)
    return directory / "idp.key", directory / "idp.crt"


def _page(title: str, body: str) -> Response:
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(text, mimetype="text/html")


def _user_form(action: str, hidden: Mapping[str, str], *, note: str) -> str:
    fields = "".join(
        f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in hidden.items()
    )
    buttons = "".join(
        f"<button type='submit' name='user' value='{u.login}' id='user-{u.login}'>"
        f"{html.escape(u.display)} ({html.escape(u.name_id)})</button><br>"
        for u in USERS.values()
    )
    return f"<p>{note}</p><form method='post' action='{action}'>{fields}{buttons}</form>"


def _autopost(url: str, name: str, xml: str, relay_state: str | None) -> Response:
    """The POST binding: a form the browser submits by itself (a button without scripts)."""
    value = base64.b64encode(xml.encode()).decode()
    relay = (f"<input type='hidden' name='RelayState' value='{html.escape(relay_state)}'>"
             if relay_state else "")
    body = (
        f"<form id='post' method='post' action='{html.escape(url)}'>"
        f"<input type='hidden' name='{name}' value='{value}'>{relay}"
        "<button type='submit' id='continue'>Continue</button></form>"
        "<script>document.getElementById('post').submit()</script>"
    )
    return _page("Signing you in", body)


@dataclass
class Running:
    idp: DemoIdp
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def metadata_url(self) -> str:
        return self.idp.entity_id

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def serve(gateway_base_url: str, port: int = 0, host: str = "127.0.0.1") -> Running:
    """Start the demo IdP over HTTP in a daemon thread (port 0: any free port)."""
    server = make_server(host, port, Flask("placeholder"), threaded=True)
    idp = DemoIdp(f"http://{host}:{server.server_port}",
                  f"{gateway_base_url.rstrip('/')}/saml/metadata")
    server.app = idp.app()
    thread = threading.Thread(target=server.serve_forever, name="demo-saml-idp", daemon=True)
    thread.start()
    return Running(idp, server, thread)


def start_demo_idp(base_url: str, port: int) -> str:
    """Serve the demo IdP on `port` (0: any free port); returns its metadata URL."""
    return serve(base_url, port).metadata_url


def demo_config(text: str, base_url: str, host: str = "127.0.0.1",
                port: int = 0) -> tuple[str, Running]:
    """For `gateway demo`: start the demo IdP and point the demo-saml provider at it.

    Returns the configuration (YAML) with the provider's metadata URL filled in and the
    ACS URL in trust policies and the RelayState allow-list following GATEWAY_BASE_URL,
    and the running IdP.
    """
    import yaml

    base = base_url.rstrip("/")
    running = serve(base, port, host)
    metadata_url = running.metadata_url
    document = _replace_strings(yaml.safe_load(text), {
        "http://127.0.0.1:8000/saml/acs": f"{base}/saml/acs",
    })
    for provider in document.get("identity_providers", []):
        if provider.get("name") == "demo-saml":
            provider["metadata_url"] = metadata_url
            options = provider.setdefault("options", {})
            if "relay_state_allowlist" in options:
                options["relay_state_allowlist"] = [f"{base}/"]
    return yaml.safe_dump(document, sort_keys=False), running


def _replace_strings(value: Any, replacements: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [_replace_strings(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _replace_strings(v, replacements) for k, v in value.items()}
    return value


def initiate_url(running_metadata_url: str, relay_state: str | None = None) -> str:
    base = running_metadata_url.rsplit("/metadata", 1)[0]
    return f"{base}/initiate" + (f"?{urlencode({'RelayState': relay_state})}"
                                 if relay_state else "")
