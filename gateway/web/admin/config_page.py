"""Configuration as code from the browser: export YAML, import it through the CLI's path."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, g, request
from werkzeug.datastructures import FileStorage

from gateway.problems import Invalid, Problem
from gateway.runtime import runtime
from gateway.store.config_db import ImportReport
from gateway.web.admin import bp
from gateway.web.admin.access import page
from gateway.web.admin.forms import block

MAX_UPLOAD = 1024 * 1024


def _page(*, status: int = 200, text: str = "", problems: list[Problem] | None = None,
          report: ImportReport | None = None) -> Response:
    # config_io (and yaml with it) on first use: few workers ever serve this page.
    from gateway.store.config_io import export_config

    return page("admin/config.html", status=status, title="Config", section="admin.config",
                exported=export_config(runtime().engine), text=text, problems=problems or [],
                report=report)


@bp.get("/config")
def config() -> Response:
    return _page()


@bp.get("/config/export.yaml")
def export_yaml() -> Response:
    from gateway.store.config_io import export_config

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    response = Response(export_config(runtime().engine), mimetype="application/yaml")
    response.headers["Content-Disposition"] = f'attachment; filename="gateway-config-{stamp}.yaml"'
    return response


@bp.post("/config")
def import_yaml() -> Response:
    """`gateway config import` from the browser: dry run first unless asked to apply."""
    from gateway.store.config_io import import_config

    text = block(request.form, "yaml")
    upload = request.files.get("file")
    if isinstance(upload, FileStorage) and upload.filename:
        data = upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return _page(status=413, problems=[Problem("file", "the file is larger than 1 MiB")])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return _page(status=400, problems=[Problem("file", "the file is not UTF-8 text")])
    if not text.strip():
        return _page(status=400, problems=[Problem("", "paste a configuration or choose a file")])
    apply = request.form.get("action") == "import"
    rt = runtime()
    try:
        report = import_config(rt.engine, text, actor=g.admin.actor, dry_run=not apply)
    except Invalid as exc:
        return _page(status=400, text=text, problems=exc.problems)
    if apply and report.changed:
        rt.config.bump()
    return _page(text="" if apply else text, report=report)
