"""The `gateway` command as operators use it, in a subprocess each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

GATEWAY = str(Path(sys.executable).with_name("gateway"))
DEMO = Path(__file__).resolve().parent.parent / "gateway" / "demo_config.yaml"


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_VAR_DIR"] = str(tmp_path / "var")
    env["GATEWAY_MASTER_KEY"] = "22" * 32
    return subprocess.run([GATEWAY, *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=120)


@pytest.mark.parametrize(
    "args",
    [(), ("serve",), ("demo",), ("db", "upgrade"), ("config", "import"), ("config", "export"),
     ("keys", "rotate"), ("keys", "rotate-saml"), ("keys", "list"), ("policy", "validate"),
     ("policy", "simulate")],
)
def test_every_command_explains_itself(args: tuple[str, ...]) -> None:
    from click.testing import CliRunner

    from gateway.cli import cli
    from gateway.iam.cli import policy

    cli.add_command(policy)
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="gateway")
    assert result.exit_code == 0
    assert "Usage: gateway" in result.output
    assert len(result.output.splitlines()) > 3


def test_config_round_trip_is_byte_identical_and_idempotent(tmp_path: Path) -> None:
    assert run(tmp_path, "config", "import", str(DEMO)).returncode == 0
    first = run(tmp_path, "config", "export", "-")
    assert first.returncode == 0 and "acme-prod" in first.stdout
    again = run(tmp_path, "config", "import", "-", stdin=first.stdout)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout.lower() or "0 " in again.stdout
    second = run(tmp_path, "config", "export", "-")
    assert second.stdout == first.stdout


def test_bad_config_reports_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, "config", "import", str(DEMO)).returncode == 0
    before = run(tmp_path, "config", "export", "-").stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "accounts:\n"
        "  - id: '12345'\n"
        "    alias: ok-alias\n"
        "    colour: blue\n"
        "    roles:\n"
        "      - name: R\n"
        "        max_session_duration: 99999\n"
        "        trust_policy: {Version: '2012-10-17', Statement: [{Effect: Maybe, "
        "Principal: '*', Action: 'sts:AssumeRole'}]}\n"
    )
    result = run(tmp_path, "config", "import", str(bad))
    assert result.returncode != 0
    err = result.stderr
    assert "accounts[0].id:" in err
    assert "accounts[0].colour:" in err
    assert "accounts[0].roles[0].max_session_duration:" in err
    assert "accounts[0].roles[0].trust_policy.Statement[0].Effect:" in err
    assert "nothing was written" in err
    assert "Traceback" not in err
    assert run(tmp_path, "config", "export", "-").stdout == before


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("accounts:\n  - id: [unclosed\n")
    result = run(tmp_path, "config", "import", str(bad))
    assert result.returncode != 0
    assert "line" in result.stderr and "Traceback" not in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "config", "import", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0
    assert "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_keys_rotate_and_list(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "keys", "rotate").returncode == 0
    first = run(tmp_path, "keys", "rotate")
    assert first.returncode == 0 and first.stdout.startswith("new active key ")
    kid = first.stdout.split()[-1]
    listing = run(tmp_path, "keys", "list").stdout.splitlines()
    assert listing[0].startswith(f"{kid}  active")
    assert any("verifying" in line for line in listing[1:])


def test_wrong_master_key_is_one_clear_line(tmp_path: Path) -> None:
    assert run(tmp_path, "keys", "rotate").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "var"), GATEWAY_MASTER_KEY="33" * 32,
               GATEWAY_BIND="127.0.0.1:1")
    result = subprocess.run([GATEWAY, "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "GATEWAY_MASTER_KEY" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_saml_sp_key_rotation_promotes_the_next_key(tmp_path: Path) -> None:
    first = run(tmp_path, "keys", "rotate-saml")
    assert first.returncode == 0, first.stderr
    second = run(tmp_path, "keys", "rotate-saml")
    assert second.returncode == 0
    promoted = [line.split()[3] for line in (first.stdout, second.stdout)]
    assert promoted[0] != promoted[1]
