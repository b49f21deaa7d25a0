"""The operators' answers: a link's and a file request's state (everything but the
token), pages of them, grants, presigned uploads, and the health check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.domain.filerequest import FileRequest
from chalicelib.domain.link import Link
from chalicelib.storage.stores import Grant, GrantPage, Page, RequestPage
from chalicelib.web.views import multipart
from chalicelib.web.views.common import JSON, PRIVATE, Headers, iso

if TYPE_CHECKING:
    from chalicelib.services.filerequests import MintedRequest
    from chalicelib.services.uploads import MultipartUpload, Upload


def link_state(link: Link, now: float) -> dict[str, Any]:
    """What an operator sees of a link: everything but the token.  A bundle adds its
    ``files`` (each with the key), and each redemption its ``fetches``: how often each
    file was fetched in its download session, by number (absent: never)."""
    state = _state(link, now)
    if link.bundle:
        state["files"] = [
            {"file": n, "key": f.object.key, "name": f.filename, "size": f.object.size}
            for n, f in enumerate(link.files, start=1)
        ]
        for record, use in zip(state["redemptions"], link.uses_log, strict=True):
            record["path"] = "bundle"
            record["fetches"] = {str(number): count for number, count in use.fetches}
    return state


def _state(link: Link, now: float) -> dict[str, Any]:
    return {
        "id": link.link_id,
        "file": link.object.key,
        "filename": link.filename,
        "size": link.object.size,
        "content_type": link.object.content_type,
        "max_uses": link.max_uses,
        "uses": link.uses,
        "remaining": link.remaining,
        "created_at": iso(link.created_at),
        "expires_at": iso(link.expires_at),
        "status": link.status(now),
        "revoked_at": iso(link.revoked_at) if link.revoked_at is not None else None,
        "note": link.note,
        "confirm": link.confirm,
        "redemptions": [
            {
                "id": use.claim_id,
                "at": iso(use.at),
                "ip": use.client_ip,
                "user_agent": use.user_agent,
                "path": link.delivery_of(use).value,
                "suspected_automation": _suspicion(link.suspicion(use)),
                "refunded_at": iso(use.refunded_at) if use.refunded_at is not None else None,
                "redeliveries": use.redeliveries,
                "redelivered_at": (
                    iso(use.redelivered_at) if use.redelivered_at is not None else None
                ),
            }
            for use in link.uses_log
        ],
        "visits": {
            "counts": dict(link.visit_counts),
            "recent": [
                {
                    "at": iso(visit.at),
                    "ip": visit.client_ip,
                    "user_agent": visit.user_agent,
                    "kind": visit.kind,
                }
                for visit in link.visits
            ],
        },
        # The newest HISTORY_KEPT records of each history, and how many there ever were.
        "refunds": [
            {"at": iso(refund.at), "redemption": refund.claim_id} for refund in link.refunds
        ],
        "refunds_total": link.refund_total,
        # Who it went to (personal data, deleted with the link by the table's TTL).
        "recipient": link.recipient,
        "message_id": link.message_id,
        "notify": link.notify,
        # The recipient check: never its answer, which is stored only as a keyed digest.
        "verify": link.check,
        "locked_at": iso(link.locked_at) if link.locked_at is not None else None,
        "wrong_answers": link.wrong_answers,
        "guesses": [
            {"at": iso(g.at), "ip": g.client_ip, "user_agent": g.user_agent} for g in link.guesses
        ],
        "guesses_total": link.guess_total,
        "unlocked_at": [iso(at) for at in link.unlocked],
        "unlocks_total": link.unlock_total,
        "replaces": link.replaces,
        "replaced_by": link.replaced_by,
    }


def _suspicion(reason: str | None) -> dict[str, str] | None:
    return None if reason is None else {"reason": reason}


def link_response(link: Link, now: float) -> Response:
    return Response(body=link_state(link, now), status_code=200, headers={**PRIVATE, **JSON})


def page_of_links_response(page: Page, now: float) -> Response:
    body = {
        "links": [link_state(link, now) for link in page.links],
        "next_cursor": page.cursor,
    }
    return Response(body=body, status_code=200, headers={**PRIVATE, **JSON})


def upload_response(upload: Upload | MultipartUpload) -> Response:
    from chalicelib.services.uploads import MultipartUpload  # loaded by the upload already

    if isinstance(upload, MultipartUpload):
        return multipart.started(upload)
    body = {
        "key": upload.key,
        "url": upload.url,
        "fields": upload.fields,
        "expires_at": iso(upload.expires_at),
    }
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON})


def grant_state(grant: Grant) -> dict[str, Any]:
    return {"subject": grant.subject, "file": grant.file, "created_at": iso(grant.created_at)}


def grant_response(grant: Grant, status: int = 200) -> Response:
    return Response(body=grant_state(grant), status_code=status, headers={**PRIVATE, **JSON})


def grants_response(page: GrantPage) -> Response:
    body = {"grants": [grant_state(g) for g in page.grants], "next_cursor": page.cursor}
    return Response(body=body, status_code=200, headers={**PRIVATE, **JSON})


def request_state(request: FileRequest, now: float) -> dict[str, Any]:
    """What an operator sees of a file request: everything but the token.  Each received
    file names its download link by id; the link's token is never stored, so to hand out
    another, mint one to the file's key."""
    state: dict[str, Any] = {
        "id": request.request_id,
        "status": request.status(now),
        "created_at": iso(request.created_at),
        "expires_at": iso(request.expires_at),
        "max_files": request.max_files,
        "files": request.files,
        "max_size": request.max_bytes,
        "content_types": list(request.content_types),
        "note": request.note,
        "show_link": request.show_link,
        "notify": request.notify,
        "link_uses": request.link_uses,
        "link_ttl": request.link_ttl,
        "received": [
            {
                "at": iso(r.at),
                "file": r.key,
                "filename": r.filename,
                "size": r.size,
                "content_type": r.content_type,
                "link_id": r.link_id,
            }
            for r in request.receipts
        ],
    }
    if request.revoked_at is not None:
        state["revoked_at"] = iso(request.revoked_at)
    if request.bundle:
        state["bundle"] = True
        state["bundle_link"] = request.bundle_link  # its id; the token only once, below
    return state


def request_response(request: FileRequest, now: float, bundle_url: str | None = None) -> Response:
    """A request's state; after a close that made a bundling request's one link, also that
    link's URL (``bundle_url``: given only this once, as a mint's is)."""
    body = request_state(request, now)
    if bundle_url is not None:
        body["bundle_url"] = bundle_url
    return Response(body=body, headers={**PRIVATE, **JSON})


def minted_request_response(minted: MintedRequest, url: str, now: float, location: str) -> Response:
    body = {"url": url, **request_state(minted.request, now)}
    if minted.message_id is not None:
        body["message_id"] = minted.message_id
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON, "Location": location})


def requests_response(page: RequestPage, now: float) -> Response:
    body = {"requests": [request_state(r, now) for r in page.requests], "next_cursor": page.cursor}
    return Response(body=body, headers={**PRIVATE, **JSON})


def health_response(checks: dict[str, bool]) -> Response:
    """Which dependency failed, in our words only: never AWS's text."""
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: "ok" if ok else "unavailable" for name, ok in checks.items()},
    }
    headers: Headers = {**PRIVATE, **JSON}
    if not healthy:
        headers["Retry-After"] = "5"
    return Response(body=body, status_code=200 if healthy else 503, headers=headers)
