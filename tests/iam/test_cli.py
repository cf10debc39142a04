"""`gateway policy validate|simulate` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway.iam.cli import policy

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Dev"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/ADFS"


def write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(
        document if isinstance(document, str) else json.dumps(document), encoding="utf-8"
    )
    return str(path)


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(policy, list(args), input=stdin)


TRUST = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"saml:aud": "https://signin.aws.amazon.com/saml"}},
    },
}
HOME = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::b/home/${aws:username}/*",
    },
}


def test_validate_accepts_a_good_policy(tmp_path: Path) -> None:
    result = run("validate", "--kind", "trust", write(tmp_path, "trust.json", TRUST))
    assert result.exit_code == 0, result.output
    assert "valid trust policy, 1 statement(s)" in result.output


def test_validate_prints_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "allow",
                "Action": "s3:x",
                "Resource": "*",
                "Condition": {"StringLikee": {"a:b": "c"}},
            }
        ],
    }
    result = run("validate", write(tmp_path, "bad.json", bad))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert 'Statement[0].Effect: expected "Allow" or "Deny" (case-sensitive)' in lines
    assert "Statement[0].Condition.StringLikee: unknown operator; did you mean StringLike?" in lines


def test_validate_reads_stdin_and_reports_bad_json() -> None:
    result = run("validate", "-", stdin="{not json")
    assert result.exit_code == 1
    assert result.stdout.startswith("not valid JSON")


def test_validate_kind_changes_the_rules(tmp_path: Path) -> None:
    result = run("validate", "--kind", "identity", write(tmp_path, "trust.json", TRUST))
    assert result.exit_code == 1
    assert "Statement.Principal: not allowed in identity policies" in result.stdout
    tiny = run("validate", "--kind", "trust", "--max-chars", "20", write(tmp_path, "t.json", TRUST))
    assert tiny.exit_code == 1 and "the limit is 20" in tiny.stdout


def test_simulate_allowed_exits_zero_with_explanation(tmp_path: Path) -> None:
    result = run(
        "simulate",
        "--policy",
        write(tmp_path, "home.json", HOME),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/home/alice/x",
        "--context",
        "aws:username=alice",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ALLOWED s3:GetObject on arn:aws:s3:::b/home/alice/x")
    assert "home.json / Statement (Allow)" in result.stdout


def test_simulate_denied_exits_two(tmp_path: Path) -> None:
    result = run(
        "simulate",
        "--policy",
        write(tmp_path, "home.json", HOME),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/home/bob/x",
        "--context",
        "aws:username=alice",
    )
    assert result.exit_code == 2
    assert "decided by: no_allow" in result.stdout


def test_simulate_trust_policy_with_json_output(tmp_path: Path) -> None:
    args = [
        "simulate",
        "--policy",
        write(tmp_path, "trust.json", TRUST),
        "--action",
        "sts:AssumeRoleWithSAML",
        "--resource",
        ROLE,
        "--principal",
        PROVIDER,
        "--json",
    ]
    good = run(*args, "--context", "saml:aud=https://signin.aws.amazon.com/saml")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["allowed"] is True
    bad = run(*args, "--context", "saml:aud=https://evil.example")
    assert bad.exit_code == 2
    data = json.loads(bad.stdout)
    assert data["failed_conditions"][0]["actual"] == ["https://evil.example"]
    untagged = run(
        *args, "--tag-session", "--context", "saml:aud=https://signin.aws.amazon.com/saml"
    )
    assert untagged.exit_code == 2
    assert json.loads(untagged.stdout)["parts"][1]["action"] == "sts:TagSession"


def test_simulate_resource_policy_across_accounts(tmp_path: Path) -> None:
    bucket = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT},
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::shared/*",
        },
    }
    reader = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    }
    base = [
        "simulate",
        "--policy",
        write(tmp_path, "bucket.json", bucket),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::shared/k",
        "--principal",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/alice",
    ]
    assert run(*base).exit_code == 2
    allowed = run(*base, "--policy", write(tmp_path, "reader.json", reader))
    assert allowed.exit_code == 0, allowed.output


def test_simulate_session_policy_limits(tmp_path: Path) -> None:
    everything = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"},
    }
    listing = {
        "Version": "2012-10-17",
        "Statement": {"Effect": "Allow", "Action": "s3:List*", "Resource": "*"},
    }
    result = run(
        "simulate",
        "--policy",
        write(tmp_path, "all.json", everything),
        "--session-policy",
        write(tmp_path, "list.json", listing),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/k",
    )
    assert result.exit_code == 2
    assert "session_policy_no_allow" in result.stdout


def test_simulate_rejects_invalid_policy_files_and_context(tmp_path: Path) -> None:
    broken = run(
        "simulate",
        "--policy",
        write(tmp_path, "x.json", "{"),
        "--action",
        "s3:GetObject",
        "--resource",
        "*",
    )
    assert broken.exit_code == 1
    assert "not valid JSON" in broken.stderr
    pair = run(
        "simulate",
        "--policy",
        write(tmp_path, "h.json", HOME),
        "--action",
        "a:b",
        "--resource",
        "*",
        "--context",
        "novalue",
    )
    assert pair.exit_code == 2 and "expected KEY=VALUE" in pair.output


def test_simulate_warns_about_unknown_context_keys(tmp_path: Path) -> None:
    result = run(
        "simulate",
        "--policy",
        write(tmp_path, "home.json", HOME),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::b/home/alice/x",
        "--context",
        "aws:usernme=alice",
    )
    assert "warning: aws:usernme is not a key this gateway sets" in result.stderr
    assert result.exit_code == 2


@pytest.mark.parametrize("command", ["validate", "simulate"])
def test_help_describes_each_command(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
