"""The JavaScript example in docs/mobile-token-exchange.md, run with node against the gateway."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from gateway.devtools.emulators import DEMO_USERS, OIDC_CLIENT, Emulators
from tests.conftest import LiveServer
from tests.sources.oidc.world import OIDC_READER

DOC = Path(__file__).resolve().parents[3] / "docs" / "mobile-token-exchange.md"


def test_the_javascript_example_gets_credentials(
    gateway: LiveServer, emulators: Emulators, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node, "node is needed for this test (Debian: apt-get install nodejs)"
    blocks = re.findall(r"```js\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    script = tmp_path / "exchange.mjs"
    script.write_text(blocks[0])
    env = {**os.environ, "GATEWAY_URL": gateway.url, "ROLE_ARN": OIDC_READER,
           "ID_TOKEN": emulators.oidc.id_token(DEMO_USERS[0], OIDC_CLIENT[0])}
    out = subprocess.run([node, str(script)], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    credentials = json.loads(out.stdout)
    assert credentials["AccessKeyId"].startswith("ASIA") and credentials["Version"] == 1
    env["ID_TOKEN"] = "not-a-token"
    failed = subprocess.run([node, str(script)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert failed.returncode != 0 and "invalid_grant" in failed.stderr
