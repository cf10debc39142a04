"""pysaml2's xmlschema validator, deferred: never compiled on the gateway's path, and
unchanged for anything that does call it (each case in a fresh interpreter, whose
modules no other test has imported)."""

from __future__ import annotations

import subprocess
import sys

VALID = (
    '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" '
    'Version="2.0" IssueInstant="2024-01-01T00:00:00Z"><samlp:Status><samlp:StatusCode '
    'Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
)
NO_VERSION = VALID.replace(' Version="2.0"', "")


def run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_protocol_checks_load_pysaml2_without_its_schema_validator() -> None:
    out = run(
        "import sys\n"
        "from gateway.sources.saml import lazy_schema, protocol\n"
        "protocol._pysaml2()  # what the SAML warm-up thread imports\n"
        "import saml2.sigver\n"
        "print(saml2.sigver.validate_doc_with_schema is lazy_schema.validate,\n"
        "      'xmlschema' in sys.modules)\n"
    )
    assert out == "True False"


def test_a_call_validates_with_pysaml2s_own_schemas_and_errors() -> None:
    out = run(
        "import sys\n"
        "from gateway.sources.saml import lazy_schema\n"
        "lazy_schema.defer()\n"
        "from saml2.sigver import XMLSchemaError, validate_doc_with_schema\n"
        f"validate_doc_with_schema({VALID!r})\n"
        "try:\n"
        f"    validate_doc_with_schema({NO_VERSION!r})\n"
        "    print('accepted')\n"
        "except XMLSchemaError as exc:\n"
        "    print('refused', 'Version' in str(exc), 'xmlschema' in sys.modules)\n"
    )
    assert out == "refused True True"


def test_pysaml2s_module_stays_when_it_was_imported_first() -> None:
    out = run(
        "import sys\n"
        "import saml2.xml.schema as real\n"
        "from gateway.sources.saml import lazy_schema\n"
        "lazy_schema.defer()\n"
        "print(sys.modules['saml2.xml.schema'] is real)\n"
    )
    assert out == "True"
