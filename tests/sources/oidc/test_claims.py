"""Claims → identity rules that need no network: unverified email, tags, session names."""

from __future__ import annotations

from gateway.sources.oidc.claims import attributes, session_name, session_tags


def test_unverified_email_is_kept_out_of_reach_of_mapping_rules() -> None:
    claims = {"email": "alice@example.com", "email_verified": False, "groups": ["a", "b"],
              "nested": {"x": 1}, "n": 3}
    attrs = attributes(claims, email_is_verified=False)
    assert "email" not in attrs and attrs["email_unverified"] == ("alice@example.com",)
    assert attrs["groups"] == ("a", "b") and attrs["n"] == ("3",) and "nested" not in attrs
    assert attributes(claims, email_is_verified=True)["email"] == ("alice@example.com",)


def test_aws_tags_claim_and_session_names() -> None:
    tags, transitive = session_tags({"https://aws.amazon.com/tags": {
        "principal_tags": {"Project": ["Atlas"], "Bad": ["a", "b"]},
        "transitive_tag_keys": ["Project"]}})
    assert tags == {"Project": "Atlas"} and transitive == ("Project",)
    assert session_name("alice smith@example.com") == "alice-smith@example.com"
    assert session_name(None, "x", "user-1") == "user-1"
    assert session_name(None) == "federated-user"
