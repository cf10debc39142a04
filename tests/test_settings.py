"""Settings: every problem reported at once, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.settings import FIELDS, Settings, SettingsError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_are_valid_and_resolve_paths_under_the_var_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEWAY_VAR_DIR": str(tmp_path)})
    assert settings.bind == "127.0.0.1:8000"
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/gateway.db"
    assert settings.master_key_file == tmp_path / "master.key"
    assert settings.redis_url == ""
    assert settings.workers == 2


def test_every_invalid_setting_is_reported_in_one_error() -> None:
    env = {
        "GATEWAY_BASE_URL": "ftp://x",
        "GATEWAY_BIND": "nonsense",
        "GATEWAY_WORKERS": "0",
        "GATEWAY_LOG_FORMAT": "xml",
        "GATEWAY_MASTER_KEY": "too-short",
        "GATEWAY_REDIS_URL": "http://localhost",
        "GATEWAY_SESION_LIFETIME": "5",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    for name in ("GATEWAY_BASE_URL", "GATEWAY_BIND", "GATEWAY_WORKERS", "GATEWAY_LOG_FORMAT",
                 "GATEWAY_MASTER_KEY", "GATEWAY_REDIS_URL"):
        assert name in message
    assert "GATEWAY_SESION_LIFETIME: unknown setting" in message
    assert len(caught.value.problems) == 7


def test_master_key_accepts_hex_and_base64_of_32_bytes() -> None:
    Settings.from_env({"GATEWAY_MASTER_KEY": "ab" * 32})
    Settings.from_env({"GATEWAY_MASTER_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="})
    with pytest.raises(SettingsError, match="expected 32 bytes"):
        Settings.from_env({"GATEWAY_MASTER_KEY": "q83vEjRWeJA="})


def test_readme_documents_every_setting_with_its_default() -> None:
    text = README.read_text()
    for setting in FIELDS:
        row = re.search(rf"^\| `{setting.env}` \| (.*?) \|", text, re.MULTILINE)
        assert row, f"{setting.env} missing from the README settings table"
        documented = row.group(1).strip("` ")
        assert documented == (setting.default or "(empty)"), setting.env


def test_rate_limits_are_validated() -> None:
    assert Settings.from_env({"GATEWAY_RATE_LIMIT_ADDRESS": "5/second"}).rate_limit_address == (
        "5/second")
    with pytest.raises(SettingsError, match="GATEWAY_RATE_LIMIT_SUBJECT"):
        Settings.from_env({"GATEWAY_RATE_LIMIT_SUBJECT": "lots"})
