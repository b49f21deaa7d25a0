"""``/health``: can this deployment reach its table and its bucket?"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import logs
from chalicelib.web.routes.request import deps
from chalicelib.web.views import operators as views

bp = Blueprint(__name__)
log = logs.get_logger("health")


@bp.route("/health", methods=["GET"])
def health() -> Response:
    try:
        checks = deps().services().health()
    except Exception:  # the services could not even be built (settings, clients)
        log.warning("health check failed", exc_info=True)
        checks = {"table": False, "bucket": False}
    return views.health_response(checks)
