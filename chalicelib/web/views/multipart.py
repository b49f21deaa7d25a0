"""The JSON of a multipart upload's steps, the same for operators (``/uploads``) and for
uploaders (``/upload/...``): started, a batch of part URLs, the parts S3 holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.web.views.common import JSON, PRIVATE, iso

if TYPE_CHECKING:
    from chalicelib.domain.multipart import HeldPart, Ticket
    from chalicelib.services.uploads import MultipartUpload, SignedParts


def started(upload: MultipartUpload, **extra: Any) -> Response:
    body = {
        "key": upload.key,
        "upload": upload.ticket,
        "size": upload.plan.size,
        "part_size": upload.plan.part_size,
        "parts": upload.plan.parts,
        **extra,
    }
    return Response(body=body, status_code=201, headers={**PRIVATE, **JSON})


def signed(batch: SignedParts) -> Response:
    body = {
        "parts": [{"number": p.number, "size": p.size, "url": p.url} for p in batch.parts],
        "expires_at": iso(batch.expires_at),
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def held(ticket: Ticket, parts: list[HeldPart]) -> Response:
    body = {
        "key": ticket.key,
        "size": ticket.size,
        "part_size": ticket.part_size,
        "parts": ticket.plan.parts,
        "held": [{"number": p.number, "size": p.size, "etag": p.etag} for p in parts],
    }
    return Response(body=body, headers={**PRIVATE, **JSON})


def completed(key: str, size: int, **extra: Any) -> Response:
    return Response(body={"key": key, "size": size, **extra}, headers={**PRIVATE, **JSON})
