"""The simulator with a pasted SAML response from the demo IdP: validated as the ACS does,
or with signature and time ignored and the result marked NOT validated."""

from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.sources.saml import forge
from tests.web.admin.support import AdminBrowser
from tests.web.saml_support import ADMIN, READONLY_PROD, Browser, World, demo_signer, spec_for


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def simulate(admin: AdminBrowser, response: str, mode: str = "validate",
             provider: str = "demo-saml") -> tuple[int, str]:
    answer = admin.post("/admin/simulator/saml", {"saml_provider": provider,
                                                  "saml_response": response, "mode": mode},
                        page="/admin/simulator")
    return answer.status_code, text_of(answer.text)


def roles_in(page: str) -> set[str]:
    result = page[page.find("Result for"):]
    return set(re.findall(r"arn:aws:iam::\d{12}:role/[\w/+=,.@-]+", result))


def tampered(b64: str) -> str:
    """bob's response with his group changed to admins after the IdP signed it."""
    xml = base64.b64decode(b64).decode()
    changed = xml.replace(">staff<", ">admins<")
    assert changed != xml
    return base64.b64encode(changed.encode()).decode()


def test_a_response_signed_by_the_demo_idp_is_validated_and_mapped(
    admin: AdminBrowser, w: World
) -> None:
    status, page = simulate(admin, w.idp.idp.response_b64("bob"))
    assert status == 200
    assert "Result for bob@example.com via demo-saml" in page
    assert "Validated : the signature verifies with demo-saml's metadata certificate" in page
    assert "NOT VALIDATED" not in page
    assert roles_in(page) == {READONLY_PROD}
    assert 'rule 3: email matches "*@example.com"' in page
    assert re.search(r"Allowed : [^.]*allowed", page), page[page.find("Result for"):][:600]
    # The duration bound: bob's IdP asserts SessionDuration 3600 (the role allows 1 h too).
    assert "1.0 h" in page
    assert "would be an administrator" not in page


def test_a_tampered_response_is_refused_when_validated(admin: AdminBrowser, w: World) -> None:
    status, page = simulate(admin, tampered(w.idp.idp.response_b64("bob")))
    assert status == 422
    assert ("the gateway would refuse this response: The response signature does not verify "
            "with the identity provider's certificate.") in page
    assert "Result for" not in page


def test_a_tampered_response_with_checks_off_is_mapped_and_marked_not_validated(
    admin: AdminBrowser, w: World
) -> None:
    status, page = simulate(admin, tampered(w.idp.idp.response_b64("bob")), "unverified")
    assert status == 200
    assert "NOT VALIDATED : the signature and the time window were not checked" in page
    assert ("Full validation would refuse it: The response signature does not verify with "
            "the identity provider's certificate.") in page
    assert "Validated :" not in page
    # What the edited attributes would map to: the admins rule fires.
    assert roles_in(page) == {ADMIN, READONLY_PROD}
    assert 'rule 1: groups equals "admins"' in page


def test_an_expired_response_is_refused_when_validated_and_read_with_time_ignored(
    admin: AdminBrowser, w: World
) -> None:
    old = forge.b64(forge.signed(spec_for(
        w, name_id="bob@example.com", now=datetime.now(UTC) - timedelta(days=3),
        assertion_id="_old00000000000000000000000000001",
        response_id="_oldr0000000000000000000000000001",
        attributes={"email": ["bob@example.com"], "groups": ["staff"]}), demo_signer()))
    status, page = simulate(admin, old)
    assert status == 422 and "the gateway would refuse this response:" in page
    assert "too old" in page or "expired" in page
    status, page = simulate(admin, old, "unverified")
    assert status == 200
    assert "NOT VALIDATED" in page and "Full validation would refuse it:" in page
    assert roles_in(page) == {READONLY_PROD}


def test_checks_off_still_says_when_full_validation_would_accept(
    admin: AdminBrowser, w: World
) -> None:
    status, page = simulate(admin, w.idp.idp.response_b64("bob"), "unverified")
    assert status == 200
    assert "NOT VALIDATED" in page and "Full validation would accept it." in page


def test_raw_xml_and_url_encoded_base64_are_accepted(admin: AdminBrowser, w: World) -> None:
    xml = w.idp.idp.response_xml("bob")
    status, page = simulate(admin, xml)
    assert status == 200 and "Validated :" in page
    encoded = quote(w.idp.idp.response_b64("bob"), safe="")
    assert "%2B" in encoded or "%3D" in encoded or "%2F" in encoded
    status, page = simulate(admin, encoded)
    assert status == 200 and "Validated :" in page


def test_a_solicited_response_validates_without_its_request(
    admin: AdminBrowser, w: World
) -> None:
    """A response captured from a real sign-in answers a request only that browser made."""
    status, page = simulate(admin, w.idp.idp.response_b64("bob", in_response_to="_req123"))
    assert status == 200 and "Validated :" in page
    assert "_req123 (not checked here" in page


def test_a_response_from_another_idp_is_refused_in_both_modes(
    admin: AdminBrowser, w: World
) -> None:
    other = forge.b64(forge.signed(spec_for(w, issuer="https://evil.example/idp"),
                                   forge.Signer.fixture("attacker", "attacker")))
    for mode in ("validate", "unverified"):
        status, page = simulate(admin, other, mode)
        assert status == 422, mode
        assert ("The response was issued by another identity provider than the one "
                "configured.") in page


@pytest.mark.parametrize(("change", "message"), [
    ({"audience": "https://another-sp.example/metadata"}, "issued for another service"),
    ({"destination": "https://another-sp.example/acs"}, "addressed to another endpoint"),
    ({"recipient": "https://another-sp.example/acs"}, "meant for another recipient"),
    ({"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"}, "did not sign you in"),
])
def test_only_signature_and_time_are_ignored_everything_else_is_checked(
    admin: AdminBrowser, w: World, change: dict[str, str], message: str
) -> None:
    """"Ignore signature and time" ignores exactly those two: a response addressed to another
    service, or a failed sign-in, is refused as the ACS would refuse it."""
    response = forge.b64(forge.signed(spec_for(w, **change), demo_signer()))
    for mode in ("validate", "unverified"):
        status, page = simulate(admin, response, mode)
        assert status == 422, (mode, page[-300:])
        assert message in page


def test_an_assertion_already_used_to_sign_in_is_reported(
    admin: AdminBrowser, w: World
) -> None:
    browser = Browser(w)
    action, fields = browser.idp_login(browser.start(), "bob")
    status, page = simulate(admin, fields["SAMLResponse"])
    assert status == 200 and "already used" not in page
    assert browser.post(action, fields).status_code == 303  # the real ACS consumes it
    status, page = simulate(admin, fields["SAMLResponse"])
    assert status == 200
    assert "This assertion was already used once" in page


@pytest.mark.parametrize(("pasted", "status", "message"), [
    ("", 400, "Paste a SAML response"),
    ("not base64 at all!", 400, "The SAML message is not valid base64."),
    (base64.b64encode(b"hello, not xml").decode(), 400, "not well-formed XML"),
    ("<samlp:Response", 400, "not well-formed XML"),
    (base64.b64encode(b"<a>an XML document that is no SAML response</a>").decode(), 400,
     "The SAML message is not a Response."),
    # Billion laughs and external entities never reach the parser.
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
     "<r>&b;</r>", 400, "contains a DOCTYPE"),
    (base64.b64encode(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
     .decode(), 400, "contains a DOCTYPE"),
])
def test_bad_input_is_a_clear_message_on_the_page_never_a_500(
    admin: AdminBrowser, pasted: str, status: int, message: str
) -> None:
    for mode in ("validate", "unverified"):
        got, page = simulate(admin, pasted, mode)
        assert got == status, (mode, page[-500:])
        assert "The simulation could not run" in page
        assert message in page


def test_the_form_refuses_an_unknown_provider_or_mode(admin: AdminBrowser, w: World) -> None:
    response = w.idp.idp.response_b64("bob")
    status, page = simulate(admin, response, provider="demo-oidc")
    assert status == 400 and "choose a configured SAML identity provider" in page
    status, page = simulate(admin, response, mode="trust-me")
    assert status == 400 and "choose full validation" in page
