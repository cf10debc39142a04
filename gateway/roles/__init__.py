"""Which roles a federated identity may take, and why (or why not)."""

from gateway.roles.resolve import Candidate, Eligibility, eligible_roles, trust_context

__all__ = ["Candidate", "Eligibility", "eligible_roles", "trust_context"]
