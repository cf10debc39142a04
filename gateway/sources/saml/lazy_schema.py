"""pysaml2's xmlschema validator, compiled only when something calls it.

Importing `saml2.sigver` imports `saml2.xml.schema`, which compiles pysaml2's XSDs with
the pure-Python `xmlschema` package on the spot: about 11 MB in every worker and half a
second. The gateway never calls that validator: its security context replaces the one
pysaml2 step that would (`protocol.VerifiedContext._check_signature`), and it checks
documents against the same XSDs with libxml2 itself (`schema.py`).

`defer()` registers this module under pysaml2's module name, with the same interface.
The first call to `validate` (or to anything else of that module) executes pysaml2's own
module, so another pysaml2 user in the process (the demo IdP) validates exactly as
before, only later.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

NAME = "saml2.xml.schema"

_lock = threading.Lock()
_loaded: list[ModuleType] = []  # pysaml2's module once executed


class XMLSchemaError(Exception):
    """A document failed pysaml2's schema validation (its error re-raised as this one)."""


def defer() -> None:
    """Stand in for `saml2.xml.schema` unless pysaml2 has imported it already."""
    if NAME in sys.modules:
        return
    import saml2.xml

    this = sys.modules[__name__]
    sys.modules[NAME] = this
    saml2.xml.schema = this


def validate(doc: Any, validator: Any = None) -> None:
    """pysaml2's `validate`; its XMLSchemaError is raised as this module's."""
    module = _pysaml2()
    try:
        module.validate(doc, validator)
    except module.XMLSchemaError as exc:
        raise XMLSchemaError(*exc.args) from exc


def __getattr__(name: str) -> Any:
    """Whatever else pysaml2's module offers (`_create_xml_schema_validator`, ...)."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_pysaml2(), name)


def _pysaml2() -> ModuleType:
    """pysaml2's own `saml2.xml.schema`, executed once (it stays out of sys.modules)."""
    with _lock:
        if not _loaded:
            import saml2.xml

            source = Path(saml2.xml.__path__[0]) / "schema" / "__init__.py"
            spec = importlib.util.spec_from_file_location(NAME, source)
            if spec is None or spec.loader is None:
                raise ImportError(f"pysaml2's {NAME} is not at {source}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _loaded.append(module)
        return _loaded[0]
