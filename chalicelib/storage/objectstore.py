"""The private S3 objects that links deliver, in S3."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import FileChangedError, ObjectNotFoundError, UnavailableError
from chalicelib.domain.link import StoredObject
from chalicelib.domain.multipart import MAX_PARTS, HeldPart, UploadGoneError
from chalicelib.settings import base64_length
from chalicelib.storage.failures import Failure, translated
from chalicelib.storage.presigner import Presigner
from chalicelib.storage.stores import UploadForm

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


DEFAULT_CONTENT_TYPE = "application/octet-stream"
HEALTH_PROBE = ".onetime-health"  # under the upload prefix: see S3ObjectStore.ping
_CHUNK = 3 * 64 * 1024  # a multiple of 3, so most chunks encode without a carry
_NOT_ANSWERING = "The file store is not answering; try again shortly."
_GONE = {"NoSuchKey", "NoSuchVersion", "404", "PreconditionFailed", "412", "InvalidArgument"}


class S3ObjectStore:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        probe_key: str = "uploads/.onetime-health",
        completer: Callable[[], S3Client] | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._probe = probe_key  # the health check's own object (see ping)
        self._presigner = Presigner(client, bucket)
        # CompleteMultipartUpload may take seconds for a large object, far longer than
        # the other calls' read timeout: a client of its own, made when first needed.
        self._completer = completer

    def describe(self, key: str) -> StoredObject:
        """What the object is now: one ``HeadObject``."""

        def missing(failure: Failure) -> Exception | None:
            # Without s3:ListBucket, S3 answers 403 rather than 404 for a missing key.
            if failure.status in (403, 404):
                return ObjectNotFoundError(f"There is no file {key!r} to link to.")
            return None

        with translated(_NOT_ANSWERING, missing):
            head = self._client.head_object(Bucket=self._bucket, Key=key)
        return StoredObject(
            key=key,
            size=int(head["ContentLength"]),
            content_type=head.get("ContentType") or DEFAULT_CONTENT_TYPE,
            etag=head["ETag"],
            version_id=_real_version(head.get("VersionId")),
            owner=head.get("Metadata", {}).get("owner"),
        )

    def fetch_base64(self, obj: StoredObject, byte_range: tuple[int, int] | None = None) -> str:
        """The object's bytes exactly as minted -- never a replacement -- base64-encoded,
        the form a Lambda response carries them in.

        Encoding while reading, into one buffer of the final size, means the raw
        bytes never exist whole next to their encoding: the peak is the encoded
        copy twice (buffer and string), about 2.7x the file, instead of raw +
        encoded + decoded (3.7x) when Chalice encodes a finished body.
        """
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": obj.key, "IfMatch": obj.etag}
        if obj.version_id:
            params["VersionId"] = obj.version_id
        expected = obj.size
        if byte_range is not None:  # a resumed download: only these bytes (inclusive)
            params["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
            expected = byte_range[1] - byte_range[0] + 1
        encoded = bytearray(base64_length(expected))
        written = received = 0
        carry = b""
        # Timeouts, resets and bodies cut short are unavailability too.
        with translated("The file could not be read; try again shortly.", _changed):
            response = self._client.get_object(**params)
            for chunk in response["Body"].iter_chunks(_CHUNK):
                received += len(chunk)
                if received > expected:
                    break
                data = carry + chunk
                whole = len(data) - len(data) % 3  # only whole 3-byte groups encode alone
                piece = base64.b64encode(data[:whole])
                encoded[written : written + len(piece)] = piece
                written += len(piece)
                carry = data[whole:]
        if received != expected:
            raise UnavailableError("The file arrived incomplete; try again shortly.")
        if carry:
            piece = base64.b64encode(carry)
            encoded[written : written + len(piece)] = piece
        return encoded.decode("ascii")

    def presign(self, obj: StoredObject, disposition: str, lifetime: int) -> str:
        """A GET of exactly this object (its version, if any), no AWS call: see presigner.py."""
        return self._presigner.url(obj.key, disposition, obj.content_type, obj.version_id, lifetime)

    def presign_upload(
        self, key: str, content_type: str, size: int, lifetime: int
    ) -> dict[str, Any]:
        """An S3 presigned POST for exactly this key, type and size (``url`` and ``fields``)."""
        post: dict[str, Any] = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                # S3 refuses a body of any other length: no more than declared, ever.
                ["content-length-range", size, size],
            ],
            ExpiresIn=lifetime,
        )
        return post

    def presign_form(self, form: UploadForm) -> dict[str, Any]:
        """A presigned POST for a browser form: signing is local, no AWS call."""
        tag_key, tag_value = form.tag
        tagging = (
            f"<Tagging><TagSet><Tag><Key>{tag_key}</Key><Value>{tag_value}</Value></Tag>"
            "</TagSet></Tagging>"
        )
        fields: dict[str, str] = {"tagging": tagging}
        conditions: list[Any] = [
            {"tagging": tagging},
            ["content-length-range", 1, form.max_bytes],
        ]
        if form.content_type is not None:
            fields["Content-Type"] = form.content_type
            conditions.append({"Content-Type": form.content_type})
        else:  # the form chooses; the confirmation checks it against the request
            conditions.append(["starts-with", "$Content-Type", ""])
        if form.redirect is not None:
            fields["success_action_redirect"] = form.redirect
            conditions.append({"success_action_redirect": form.redirect})
        else:
            fields["success_action_status"] = "201"
            conditions.append({"success_action_status": "201"})
        # A key ending in ${filename} gets the file's own name from S3, and boto3 turns
        # the key's condition into "starts-with" the prefix.
        post: dict[str, Any] = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=form.key_prefix + "${filename}",
            Fields=fields,
            Conditions=conditions,
            ExpiresIn=form.lifetime,
        )
        return post

    def mark(self, obj: StoredObject, tag: str, value: str) -> None:
        """Replace the object version's tags with ``tag=value``: one ``PutObjectTagging``."""
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": obj.key,
            "Tagging": {"TagSet": [{"Key": tag, "Value": value}]},
        }
        if obj.version_id:
            params["VersionId"] = obj.version_id
        with translated(_NOT_ANSWERING):
            self._client.put_object_tagging(**params)

    def start_multipart(self, key: str, content_type: str, tag: tuple[str, str] | None) -> str:
        """A new multipart upload for ``key``; its upload id.  One ``CreateMultipartUpload``."""
        params: dict[str, Any] = {"Bucket": self._bucket, "Key": key, "ContentType": content_type}
        if tag is not None:
            params["Tagging"] = f"{tag[0]}={tag[1]}"
        with translated(_NOT_ANSWERING):
            answer = self._client.create_multipart_upload(**params)
        return str(answer["UploadId"])

    def presign_part(
        self, key: str, upload_id: str, number: int, length: int, lifetime: int
    ) -> str:
        """A presigned ``PUT`` of part ``number``, for a body of exactly ``length`` bytes:
        the length is signed, so S3 refuses any other (local, no AWS call)."""
        url: str = self._client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": number,
                "ContentLength": length,
            },
            ExpiresIn=lifetime,
        )
        return url

    def list_parts(self, key: str, upload_id: str) -> list[HeldPart]:
        """The parts S3 holds, by number: one ``ListParts`` (an upload has at most
        ``MAX_PARTS``, one answer's worth; parts beyond it would be refused anyway)."""
        with translated(_NOT_ANSWERING, _upload_gone):
            page = self._client.list_parts(
                Bucket=self._bucket, Key=key, UploadId=upload_id, MaxParts=MAX_PARTS
            )
        parts = [
            HeldPart(int(p["PartNumber"]), int(p["Size"]), str(p["ETag"]))
            for p in page.get("Parts", [])
        ]
        return sorted(parts, key=lambda p: p.number)

    def complete_multipart(self, key: str, upload_id: str, parts: list[HeldPart]) -> None:
        """Join the parts into the object: one ``CompleteMultipartUpload``."""
        client = self._completer() if self._completer is not None else self._client
        with translated(_NOT_ANSWERING, _upload_gone):
            client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]
                },
            )

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; one already gone is not an error.  One
        ``AbortMultipartUpload``."""
        try:
            with translated(_NOT_ANSWERING, _upload_gone):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
        except UploadGoneError:
            pass

    def ping(self) -> None:
        """Raise unless the role can read the bucket's objects.

        Without ``s3:ListBucket`` (which the role rightly lacks), S3 answers a missing key
        with ``AccessDenied``, exactly as it answers a role that may read nothing, so a
        probe of a key that need not exist proves nothing.  The probe is therefore an object
        the service keeps itself, under the upload prefix (where the role may write and the
        lifecycle rule eventually removes it): read it; if that is refused, write it again
        and read it once more.  Only a refusal after the write means the role cannot read.
        One ``GetObject`` while the probe is there.
        """
        try:
            with translated("The file store does not answer.", _no_probe):
                self._client.get_object(Bucket=self._bucket, Key=self._probe)
            return
        except _NoProbe:
            pass
        with translated("The file store cannot be read or written."):
            self._client.put_object(Bucket=self._bucket, Key=self._probe, Body=b"onetime health")
            self._client.get_object(Bucket=self._bucket, Key=self._probe)


def _changed(failure: Failure) -> Exception | None:
    if failure.code in _GONE:
        return FileChangedError(
            "The file behind this link was removed or replaced after the link was made. "
            "Ask the sender for a new link."
        )
    return None


def _upload_gone(failure: Failure) -> Exception | None:
    if failure.code == "NoSuchUpload" or failure.status == 404:
        return UploadGoneError(
            "This upload is over: it was completed or given up. Start the upload again."
        )
    return None


class _NoProbe(Exception):
    """The probe object is not there to read, or looks so (see ``ping``)."""


def _no_probe(failure: Failure) -> Exception | None:
    return _NoProbe() if failure.code in ("NoSuchKey", "AccessDenied") else None


def _real_version(version: str | None) -> str | None:
    # Unversioned buckets report no version, or the literal "null".
    return version if version and version != "null" else None
