"""What every worker imports as it starts, whatever the configuration.

A worker's memory is mostly its start-up imports (docs/decisions/0009-performance.md,
"Memory"): libraries that only some providers or pages use are imported by those paths
on first use, not by the modules the master imports for the workers
(`share_with_workers`) nor by the SAML warm-up.
"""

from __future__ import annotations

import subprocess
import sys

# requests/urllib3 and joserfc: OpenID Connect providers; yaml: the admin config page and
# the OpenAPI document; xmlschema/elementpath: pysaml2's validator, never called
# (gateway.sources.saml.lazy_schema); alembic: migrations, run by `gateway db upgrade`.
ON_FIRST_USE = {"requests", "urllib3", "joserfc", "yaml", "xmlschema", "elementpath", "alembic"}


def test_workers_start_without_the_libraries_only_some_paths_use() -> None:
    code = (
        "import sys\n"
        "from gateway.server import share_with_workers\n"
        "share_with_workers()\n"
        "from gateway.sources.saml import protocol\n"
        "protocol._pysaml2()  # what the SAML warm-up thread imports\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert {"flask", "sqlalchemy", "saml2", "lxml"} <= loaded  # the app's modules were imported
    assert loaded.isdisjoint(ON_FIRST_USE), sorted(loaded & ON_FIRST_USE)
