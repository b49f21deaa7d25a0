"""Sending a local file to S3 through the presigned POST form ``POST /uploads`` hands out.

The file is streamed, never read whole: ``FormBody`` is the multipart/form-data
body as a file-like object whose length is known in advance, so requests sends
a Content-Length (an S3 POST refuses a chunked body) and reads it block by block.
"""

from __future__ import annotations

import html
import mimetypes
import re
import secrets
from collections.abc import Callable, Mapping
from typing import BinaryIO

import requests
import requests.auth
from urllib3.fields import format_multipart_header_param

from onetime_cli.client import Unreachable, connection_failure

# S3 takes at most 5 GiB in one PUT or POST; beyond that only multipart uploads
# work, and a presigned POST form cannot do those.
MAX_FORM_UPLOAD_BYTES = 5 * 1024**3
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# mimetypes reports "x.tar.gz" as a tar file with gzip *encoding*; what travels
# is the compressed file, so its type is the compression's.
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz"}
_XML_ELEMENT = "<{0}>([^<]*)</{0}>"

Progress = Callable[[int], None]


def guess_content_type(filename: str) -> str:
    kind, encoding = mimetypes.guess_type(filename, strict=False)
    if encoding is not None:
        return _COMPRESSED.get(encoding, DEFAULT_CONTENT_TYPE)
    return kind or DEFAULT_CONTENT_TYPE


class StorageError(Exception):
    """S3 refused the upload (its XML error, in words)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class FileChanged(Exception):
    """The local file ended before the size declared for the upload."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"expected {expected} bytes, read {got}")
        self.expected = expected
        self.got = got


class FormBody:
    """A multipart/form-data body: every field of the form, then the file as ``file``.

    ``len()`` is the exact size of the body and ``read(n)`` hands it out a block
    at a time, taking exactly ``size`` bytes from the file (``FileChanged`` if it
    ends sooner) and reporting each block of the file to ``on_progress``.
    """

    def __init__(
        self,
        fields: Mapping[str, str],
        file: BinaryIO,
        *,
        filename: str,
        content_type: str,
        size: int,
        on_progress: Progress | None = None,
    ) -> None:
        self.boundary = secrets.token_hex(16)
        head = bytearray()
        for name, value in fields.items():
            head += self._part_header(format_multipart_header_param("name", name))
            head += str(value).encode("utf-8") + b"\r\n"
        disposition = format_multipart_header_param("name", "file")
        disposition += "; " + format_multipart_header_param("filename", filename)
        head += self._part_header(disposition, content_type)
        self._head = bytes(head)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode("ascii")
        self._file = file
        self._size = size
        self._on_progress = on_progress
        self._sent_head = 0
        self._read_file = 0
        self._sent_tail = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1024 * 1024), b""))
        if size == 0:
            return b""
        if self._sent_head < len(self._head):
            block = self._head[self._sent_head : self._sent_head + size]
            self._sent_head += len(block)
            return block
        if self._read_file < self._size:
            block = self._file.read(min(size, self._size - self._read_file))
            if not block:
                raise FileChanged(self._size, self._read_file)
            self._read_file += len(block)
            if self._on_progress is not None:
                self._on_progress(len(block))
            return block
        block = self._tail[self._sent_tail : self._sent_tail + size]
        self._sent_tail += len(block)
        return block

    def _part_header(self, disposition: str, content_type: str | None = None) -> bytes:
        lines = [f"--{self.boundary}", f"Content-Disposition: form-data; {disposition}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class NoCredentials(requests.auth.AuthBase):
    """Sends no credentials: the form's signature is the only authorization S3 gets.
    Set explicitly, it also keeps requests from adding ~/.netrc's."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def post_form(
    url: str,
    fields: Mapping[str, str],
    file: BinaryIO,
    *,
    filename: str,
    content_type: str,
    size: int,
    timeout: float,
    on_progress: Progress | None = None,
) -> None:
    """POST the form with the file to S3; ``StorageError`` if S3 refuses it.

    The API key is never sent here: this goes to S3, not to the onetime API.
    """
    body = FormBody(
        fields,
        file,
        filename=filename,
        content_type=content_type,
        size=size,
        on_progress=on_progress,
    )
    try:
        with requests.Session() as session:
            response = session.post(
                url,
                data=body,
                headers={"Content-Type": body.content_type},
                auth=NoCredentials(),
                timeout=timeout,
                allow_redirects=False,
            )
    except requests.Timeout as error:
        raise Unreachable(url, f"no answer within {timeout:g} s", what="S3") from error
    except requests.ConnectionError as error:
        raise Unreachable(url, connection_failure(error), what="S3") from error
    if response.status_code in (200, 201, 204):
        return
    raise storage_error(response)


def storage_error(response: requests.Response) -> StorageError:
    """S3's ``<Error><Code>..</Code><Message>..</Message></Error>``, or the bare status."""
    text = response.text if "xml" in response.headers.get("Content-Type", "xml") else ""
    found = {name: re.search(_XML_ELEMENT.format(name), text) for name in ("Code", "Message")}
    code = html.unescape(found["Code"].group(1).strip()) if found["Code"] else ""
    message = html.unescape(found["Message"].group(1).strip()) if found["Message"] else ""
    status = response.status_code
    if not message:
        message = f"S3 answered {status} {response.reason or ''}".rstrip() + "."
    return StorageError(status, code or f"http_{status}", message)
