"""STS errors: an AWS error code, the HTTP status AWS answers it with, and a message.

Each error is an exception class named after its wire code, so callers catch
exactly what they handle and the edge renders any of them the same way
(`gateway.sts.protocol.render_error`). `detail` is for logs and audit events
only; it never reaches the client, whose message stays AWS's wording.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.problems import Problem


class StsError(Exception):
    """Base of every STS error; subclasses fix `code`, `status` and a default message."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.detail = detail
        super().__init__(self.message)

    @property
    def fault(self) -> str:
        """`Sender` for 4xx, `Receiver` for 5xx: the envelope's `<Type>`."""
        return "Sender" if self.status < 500 else "Receiver"


# --- authentication (SigV4 and credentials) -------------------------------------------


class MissingAuthenticationToken(StsError):
    code = "MissingAuthenticationToken"
    status = 403
    default_message = "Request is missing Authentication Token"


class IncompleteSignature(StsError):
    code = "IncompleteSignature"
    status = 400
    default_message = "The request signature does not conform to AWS standards."


class SignatureDoesNotMatch(StsError):
    code = "SignatureDoesNotMatch"
    status = 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class InvalidClientTokenId(StsError):
    code = "InvalidClientTokenId"
    status = 403
    default_message = "The security token included in the request is invalid"


class ExpiredToken(StsError):
    """Signed with temporary credentials that have expired (not `ExpiredTokenException`)."""

    code = "ExpiredToken"
    status = 403
    default_message = "The security token included in the request is expired"


class AccessDenied(StsError):
    code = "AccessDenied"
    status = 403
    default_message = "Access denied"


# --- query protocol and parameters ----------------------------------------------------


class MissingAction(StsError):
    code = "MissingAction"
    status = 400
    default_message = "Missing Action"


class InvalidAction(StsError):
    code = "InvalidAction"
    status = 400


class MalformedQueryString(StsError):
    code = "MalformedQueryString"
    status = 404  # AWS's Common Errors table lists it as 404.


class InvalidParameterValue(StsError):
    code = "InvalidParameterValue"
    status = 400


class ValidationError(StsError):
    """AWS's aggregated constraint report, or one of its fixed sentences.

    Built from problems it reads `N validation error(s) detected: A; B`; each
    problem's path is the camelCase member (`roleSessionName`, `tags.1.member.key`)
    and its message the whole clause (`Value 'x' at '…' failed to satisfy …`).
    """

    code = "ValidationError"
    status = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: list[Problem] | None = None,
        detail: str | None = None,
    ) -> None:
        self.problems = list(problems or ())
        if message is None:
            count = len(self.problems)
            noun = "error" if count == 1 else "errors"
            clauses = "; ".join(p.message for p in self.problems)
            message = f"{count} validation {noun} detected: {clauses}"
        super().__init__(message, detail=detail)


# --- errors the actions raise (modelled STS errors and common ones) --------------------


class MalformedPolicyDocument(StsError):
    code = "MalformedPolicyDocument"
    status = 400


class PackedPolicyTooLarge(StsError):
    code = "PackedPolicyTooLarge"
    status = 400


class RegionDisabled(StsError):
    code = "RegionDisabledException"
    status = 403


class ExpiredTokenException(StsError):
    """The IdP's assertion or token expired (not the caller's credentials)."""

    code = "ExpiredTokenException"
    status = 400


class InvalidIdentityToken(StsError):
    code = "InvalidIdentityToken"
    status = 400


class IDPRejectedClaim(StsError):
    code = "IDPRejectedClaim"
    status = 403


class IDPCommunicationError(StsError):
    code = "IDPCommunicationError"
    status = 400


class InvalidAuthorizationMessage(StsError):
    code = "InvalidAuthorizationMessageException"
    status = 400


class Throttling(StsError):
    code = "Throttling"
    status = 400
    default_message = "Rate exceeded"
    # False when an earlier refusal of the same counter and window was audited already:
    # a flood of throttled requests must not become a flood of audit rows.
    audit: bool = True


class InternalFailure(StsError):
    pass


class ServiceUnavailable(StsError):
    code = "ServiceUnavailable"
    status = 503
    default_message = "Service is unavailable. Please try again later."


def session_credentials_not_allowed(action: str) -> AccessDenied:
    """AWS's answer to GetSessionToken / GetFederationToken called with temporary credentials."""
    return AccessDenied(f"Cannot call {action} with session credentials")
