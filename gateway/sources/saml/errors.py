"""Why a SAML message was refused: a reason code, a message people read, and its HTTP status.

A refusal is a value. The browser edge renders it as an HTML page, the STS edge
maps it to the AWS error `sts_error()` names; both audit the code. `detail` is for
logs and audit only and never reaches the client (it may quote attacker input).
"""

from __future__ import annotations

from typing import Literal

from gateway.sts.errors import (
    ExpiredTokenException,
    IDPCommunicationError,
    IDPRejectedClaim,
    InvalidIdentityToken,
    StsError,
    ValidationError,
)

StsKind = Literal["invalid", "expired", "rejected", "validation", "communication"]


class SamlRefusal(Exception):
    """A SAML message the gateway will not act on."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 403,
        sts: StsKind = "invalid",
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sts = sts
        self.detail = detail
        self.provider: str | None = None  # the configured provider, once it is known

    def sts_error(self) -> StsError:
        """The AWS error AssumeRoleWithSAML answers this refusal with."""
        error: StsError
        if self.sts == "expired":
            error = ExpiredTokenException(self.message)
        elif self.sts == "rejected":
            error = IDPRejectedClaim(self.message)
        elif self.sts == "validation":
            error = ValidationError(self.message)
        elif self.sts == "communication":
            error = IDPCommunicationError(self.message)
        else:
            error = InvalidIdentityToken(self.message)
        error.detail = f"saml:{self.code}" + (f": {self.detail}" if self.detail else "")
        return error


def malformed(message: str, detail: str | None = None) -> SamlRefusal:
    """Input that is not an acceptable SAML document at all (HTTP 400)."""
    return SamlRefusal("malformed", message, status=400, detail=detail)


def bad_signature(message: str = "The response signature is invalid.",
                  detail: str | None = None) -> SamlRefusal:
    return SamlRefusal("signature_invalid", message, detail=detail)
