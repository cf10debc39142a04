"""The one Redis key scheme. Every key starts with the configured prefix and has a TTL.

| key                              | holds                              | TTL                     |
|----------------------------------|------------------------------------|-------------------------|
| `<p>session:<sha256(sid)>`       | browser session (JSON)             | session lifetime        |
| `<p>saml:req:<request id>`       | outstanding AuthnRequest           | 10 minutes              |
| `<p>saml:seen:<assertion id>`    | assertion replay cache             | until assertion expiry  |
| `<p>saml:logout:<request id>`    | outstanding SP LogoutRequest       | 10 minutes              |
| `<p>saml:md:<sha256(url)>`       | last good IdP metadata from a URL  | 7 days                  |
| `<p>signin:idx:<sha256(subject)>`| SAML session index → sign-in id    | session lifetime        |
| `<p>signin:ended:<sign-in id>`   | sign-in ended by IdP logout        | session lifetime        |
| `<p>signin:creds:<sign-in id>`   | credentials minted in a sign-in    | session lifetime        |
| `<p>oidc:state:<sha256(state)>`  | OIDC provider, nonce, PKCE, binding| 10 minutes, taken once  |
| `<p>admin:link:<sha256(token)>`  | unused break-glass admin link      | 1-60 minutes            |
| `<p>revoked` (sorted set)        | revoked access key ids by expiry   | members pruned at expiry|
| `<p>revoked:version`             | revocation change token (random)   | none                    |
| `<p>rl:<scope>:<hash>`           | rate-limit counters (fixed window) | the limit's window      |
| `<p>config:version`              | config version (no TTL: a counter) | none                    |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds every Redis key from one prefix so the scheme lives in one place."""

    prefix: str

    def session(self, sid: str) -> str:
        # Hashing the cookie value means a Redis dump does not hand out live sessions.
        return f"{self.prefix}session:{hashlib.sha256(sid.encode()).hexdigest()}"

    def saml_request(self, request_id: str) -> str:
        return f"{self.prefix}saml:req:{request_id}"

    def saml_seen(self, assertion_id: str) -> str:
        return f"{self.prefix}saml:seen:{assertion_id}"

    def saml_logout(self, request_id: str) -> str:
        return f"{self.prefix}saml:logout:{request_id}"

    def saml_metadata(self, source: str) -> str:
        return f"{self.prefix}saml:md:{hashlib.sha256(source.encode()).hexdigest()}"

    def signin_index(self, subject: str) -> str:
        # Issuer, NameID and SessionIndex come from outside: hashed, never spliced in.
        return f"{self.prefix}signin:idx:{hashlib.sha256(subject.encode()).hexdigest()}"

    def signin_ended(self, signin_id: str) -> str:
        return f"{self.prefix}signin:ended:{signin_id}"

    def signin_credentials(self, signin_id: str) -> str:
        return f"{self.prefix}signin:creds:{signin_id}"

    def oidc_state(self, state: str) -> str:
        return f"{self.prefix}oidc:state:{state}"

    def admin_link(self, token: str) -> str:
        # Only the hash is stored: a Redis dump must not hold usable sign-in links.
        return f"{self.prefix}admin:link:{hashlib.sha256(token.encode()).hexdigest()}"

    @property
    def revoked(self) -> str:
        return f"{self.prefix}revoked"

    @property
    def revoked_version(self) -> str:
        return f"{self.prefix}revoked:version"

    def rate_limit(self, scope: str, key: str) -> str:
        return f"{self.prefix}rl:{scope}:{key}"

    @property
    def config_version(self) -> str:
        return f"{self.prefix}config:version"
