"""File requests in DynamoDB, in the links' table.  Their item format never leaves
this module.

One item per request, keyed ``pk = "request#<id>"``.  Receiving a file is one
conditional ``UpdateItem`` that checks the token, revocation, expiry, the files left,
the file's size and type, that this upload was not confirmed before, and that this
attempt (named by the download link minted for it) was not given up, and records the
receipt in the same write: concurrent confirmations can never take more files than the
request allows, nor confirm one upload twice.

Giving a file back (``release``) first fences the attempt off: its link id goes into the
``voided`` string set, which the receive's condition checks, so a receive that lands
after the service gave up on it takes nothing.  Then, if that attempt's receipt is
there, it is removed and the file counted back.  Both writes are safe to repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.domain import refusals
from chalicelib.domain.errors import UnavailableError
from chalicelib.domain.filerequest import FileRequest, OpenUpload, Receipt
from chalicelib.storage import dynamo
from chalicelib.storage.dynamo import ConditionFailed
from chalicelib.storage.linkstore import FILE_INDEX
from chalicelib.storage.stores import RequestPage

WHAT = "file request service"
_PREFIX = "request#"
# Requests are listed, newest first, from the links' ``by-file`` index under this one
# partition value (no S3 key is read from it: listing skips anything that is not a request).
LIST_PARTITION = "#file-requests"

_RECEIVE_CONDITION = (
    "attribute_exists(pk) AND token_digest = :digest AND attribute_not_exists(revoked_at)"
    " AND expires_at > :now AND files < max_files AND max_bytes >= :size"
    " AND attribute_not_exists(received.#nonce) AND NOT contains(voided, :link)"
)


class DynamoRequestStore(dynamo.Table):
    what = WHAT

    def create(self, request: FileRequest) -> None:
        item = _to_item(request)
        # Deleted by DynamoDB's TTL with the links, some time after it expires.
        item["purge_at"] = dynamo.attribute(request.expires_at + self._retention)
        try:
            self._put(item)
        except ConditionFailed as exc:  # an 80-bit id collision: nothing was made
            raise UnavailableError("The upload link could not be saved; try again.") from exc

    def receive(self, request_id: str, digest: str, receipt: Receipt) -> FileRequest:
        """Take one of the request's files for this upload, or raise why not (the
        refusal rule of ``chalicelib.domain.refusals``).  One DynamoDB request on success."""
        if receipt.size < 1:
            raise refusals.empty_upload()  # the condition compares the size with max_bytes only
        try:
            item = self._update(
                _key(request_id),
                "SET files = files + :one, received.#nonce = :receipt",
                # A request that names types takes only those; one that names none takes any.
                _RECEIVE_CONDITION
                + " AND (attribute_not_exists(content_types) OR contains(content_types, :type))",
                {
                    ":digest": digest,
                    ":now": receipt.at,
                    ":size": receipt.size,
                    ":one": 1,
                    ":receipt": _receipt(receipt),
                    ":link": receipt.link_id,
                    ":type": receipt.content_type.lower(),
                },
                {"#nonce": receipt.nonce},
                new=True,
                old=True,
            )
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(request_id))
            if old and receipt.link_id in (old.get("voided") or ()):
                raise refusals.confirmation_abandoned() from None
            request = _from_item(old) if old else None
            refusals.check_request(request, digest, receipt.at, receipt.nonce)
            assert request is not None
            refusals.check_file(request, receipt.size, receipt.content_type)
            # Changed between the write and the read: nothing was taken; try again.
            raise refusals.changed_meanwhile() from None
        return _from_item(item)

    def release(self, request_id: str, nonce: str, link_id: str) -> bool:
        """Give up the confirmation attempt whose download link is ``link_id``: fence it
        off, then give back the file its receipt took, if it took one.  True when a file
        was given back.  Safe to repeat, and a receive of that attempt landing at any
        moment around it ends up taking nothing."""
        try:
            # An UpdateItem's ADD creates the set on an item that has none yet.
            fenced = self._update(
                _key(request_id),
                "ADD voided :link",
                "attribute_exists(pk)",
                {":link": {link_id}},  # a string set
                new=True,
            )
        except ConditionFailed:
            return False
        received = fenced.get("received") or {}
        if (received.get(nonce) or {}).get("link_id") != link_id:
            return False  # that attempt's receive never landed, and now it never will
        try:
            self._update(
                _key(request_id),
                "SET files = files - :one REMOVE received.#nonce",
                "received.#nonce.link_id = :link_id",
                {":one": 1, ":link_id": link_id},
                {"#nonce": nonce},
            )
        except ConditionFailed:
            return False  # given back already, by a repeat of this undo
        return True

    def peek(
        self, request_id: str, digest: str, now: float, nonce: str | None = None
    ) -> FileRequest:
        """The request if it could take a file now (and ``nonce``'s upload, if named, is
        not confirmed yet), else the refusal; changes nothing.  One consistent GetItem."""
        item = self._read(_key(request_id))
        return refusals.check_request(_from_item(item) if item else None, digest, now, nonce)

    def open_upload(
        self,
        seen: FileRequest,
        digest: str,
        upload: OpenUpload,
        cap: int,
        gone: frozenset[str] = frozenset(),
    ) -> FileRequest:
        """Record a multipart upload started through the request: one conditional
        ``UpdateItem`` that checks what ``receive`` checks of the request, and that its
        uploads are still those ``seen`` (so that two starts racing cannot both take the
        last place), dropping the records of uploads that are over."""
        live = tuple(u for u in seen.open_uploads(upload.at) if u.nonce not in gone)
        if len(live) >= cap:
            raise refusals.too_many_uploads(cap)
        entry = {"key": upload.key, "id": upload.upload_id, "at": round(upload.at, 3)}
        condition = (
            "attribute_exists(pk) AND token_digest = :digest AND attribute_not_exists(revoked_at)"
            " AND expires_at > :now AND files < max_files"
        )
        values: dict[str, Any] = {":digest": digest, ":now": upload.at}
        names: dict[str, str] = {}
        if not seen.uploads:
            # The first: the map may not exist yet (requests made before issue 25).
            update = "SET uploads = :uploads"
            condition += " AND (attribute_not_exists(uploads) OR size(uploads) = :zero)"
            values.update({":uploads": {upload.nonce: entry}, ":zero": 0})
        else:
            # Exactly the uploads seen: as many, and each of them (the nonces are unique).
            names = {
                "#new": upload.nonce,
                **{f"#s{i}": u.nonce for i, u in enumerate(seen.uploads)},
            }
            update = "SET uploads.#new = :entry"
            over = [f"uploads.#s{i}" for i, u in enumerate(seen.uploads) if u not in live]
            if over:
                update += " REMOVE " + ", ".join(over)
            condition += " AND size(uploads) = :seen AND " + " AND ".join(
                f"attribute_exists(uploads.#s{i})" for i in range(len(seen.uploads))
            )
            values.update({":entry": entry, ":seen": len(seen.uploads)})
        try:
            item = self._update(
                _key(seen.request_id), update, condition, values, names or None, new=True
            )
        except ConditionFailed:
            # Why: the request's own refusal (withdrawn, filled, expired), else a race.
            self.peek(seen.request_id, digest, upload.at)
            raise refusals.changed_meanwhile() from None
        return _from_item(item)

    def get(self, request_id: str) -> FileRequest:
        return _from_item(self._found(_key(request_id), refusals.unknown_request(request_id)))

    def record_bundle(self, request_id: str, link_id: str) -> FileRequest:
        """Name the bundling request's one link to all its files: one conditional
        ``UpdateItem``, so of a fill and a close racing, one names its link."""
        try:
            item = self._update(
                _key(request_id),
                "SET bundle_link = :link",
                "attribute_exists(pk) AND bundle = :true"
                " AND (attribute_not_exists(bundle_link) OR bundle_link = :link)",
                {":link": link_id, ":true": True},
                new=True,
                old=True,
            )
        except ConditionFailed as failed:
            old = self._as_it_was(failed, _key(request_id))
            if old is None:
                raise refusals.unknown_request(request_id) from None
            named = old.get("bundle_link")
            if named is None:
                raise refusals.changed_meanwhile() from None  # not a bundling request
            raise refusals.bundle_minted(str(named)) from None
        return _from_item(item)

    def revoke(self, request_id: str, at: float) -> FileRequest:
        """Withdraw a request for good.  Revoking again keeps the first time."""
        return _from_item(
            self._withdraw(_key(request_id), at, refusals.unknown_request(request_id))
        )

    def recent(self, limit: int, cursor: str | None) -> RequestPage:
        """Requests, newest first, from the ``by-file`` index (never a scan)."""
        items, next_cursor = self._newest_first(FILE_INDEX, "file", LIST_PARTITION, limit, cursor)
        requests = [_from_item(item) for item in items if str(item["pk"]).startswith(_PREFIX)]
        return RequestPage(requests=requests, cursor=next_cursor)


def _key(request_id: str) -> dynamo.Item:
    return {"pk": {"S": _PREFIX + request_id}}


def _receipt(receipt: Receipt) -> dict[str, Any]:
    return {
        "at": round(receipt.at, 3),
        "key": receipt.key,
        "size": receipt.size,
        "content_type": receipt.content_type,
        "filename": receipt.filename,
        "link_id": receipt.link_id,
    }


def _to_item(request: FileRequest) -> dynamo.Item:
    values: dict[str, Any] = {
        "pk": _PREFIX + request.request_id,
        "file": LIST_PARTITION,
        "token_digest": request.token_digest,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "max_files": request.max_files,
        "files": request.files,
        "max_bytes": request.max_bytes,
        "note": request.note,
        "show_link": request.show_link,
        "link_uses": request.link_uses,
        "link_ttl": request.link_ttl,
        "received": {},
    }
    if request.content_types:
        values["content_types"] = list(request.content_types)
    if request.notify:
        values["notify"] = request.notify
    if request.bundle:
        values["bundle"] = True  # only bundling requests carry it: others' items unchanged
    return dynamo.to_item(values)


def _from_item(item: Mapping[str, Any]) -> FileRequest:
    received: Mapping[str, Any] = item.get("received") or {}
    receipts = sorted(
        (
            Receipt(
                nonce=nonce,
                at=float(r["at"]),
                key=str(r["key"]),
                size=int(r["size"]),
                content_type=str(r["content_type"]),
                filename=str(r["filename"]),
                link_id=str(r["link_id"]),
            )
            for nonce, r in received.items()
        ),
        key=lambda r: r.at,
    )
    revoked = item.get("revoked_at")
    return FileRequest(
        request_id=str(item["pk"])[len(_PREFIX) :],
        token_digest=str(item["token_digest"]),
        created_at=float(item["created_at"]),
        expires_at=int(item["expires_at"]),
        max_files=int(item["max_files"]),
        max_bytes=int(item["max_bytes"]),
        content_types=tuple(str(t) for t in item.get("content_types") or ()),
        note=str(item.get("note", "")),
        show_link=bool(item.get("show_link", True)),
        notify=str(item["notify"]) if item.get("notify") else None,
        link_uses=int(item["link_uses"]),
        link_ttl=int(item["link_ttl"]),
        files=int(item["files"]),
        revoked_at=float(revoked) if revoked is not None else None,
        receipts=tuple(receipts),
        bundle=bool(item.get("bundle", False)),
        bundle_link=str(item["bundle_link"]) if item.get("bundle_link") else None,
        uploads=tuple(
            sorted(
                (
                    OpenUpload(nonce, str(u["key"]), str(u["id"]), float(u["at"]))
                    for nonce, u in (item.get("uploads") or {}).items()
                ),
                key=lambda u: u.at,
            )
        ),
    )
