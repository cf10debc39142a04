"""`/api/v1/openapi.json`: the JSON APIs described in `openapi.yaml`, loaded once."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response

bp = Blueprint("openapi", __name__)

DOCUMENT = Path(__file__).with_name("openapi.yaml")


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document as data (each API adds its paths to the YAML file)."""
    import yaml  # on first use: the document is asked for rarely, yaml weighs ~1 MB

    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@cache
def _rendered() -> bytes:
    return json.dumps(document(), indent=2).encode()


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    resp = Response(_rendered(), mimetype="application/json")
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Access-Control-Allow-Origin"] = "*"  # readable by API explorers
    return resp
