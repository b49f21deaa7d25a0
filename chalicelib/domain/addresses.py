"""The service's public addresses: what each link, page and resource is called under the
base URL a customer's browser sees.

A value, not a callback: a route reads the base URL from its request
(``chalicelib/web/urls.py``) and hands ``Addresses`` to the service, which builds the
address it emails without calling back into web code.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Addresses:
    base: str  # absolute, with API Gateway's stage or base-path prefix, no trailing "/"

    def download(self, token: str) -> str:
        return f"{self.base}/download?{urlencode({'token': token})}"

    def upload(self, token: str, terms: str) -> str:
        """A file request's page; the signed ``terms`` let it show without a read."""
        return f"{self.base}/upload?{urlencode({'token': token, 'terms': terms})}"

    def upload_form(self, token: str) -> str:
        """Where the upload page's script gets a freshly signed form when Upload is pressed."""
        return f"{self.base}/upload/form?{urlencode({'token': token})}"

    def upload_step(self, token: str, step: str) -> str:
        """A multipart upload's step for the upload page's script: ``multipart`` (start),
        ``parts`` (sign or list parts), ``complete``."""
        return f"{self.base}/upload/{step}?{urlencode({'token': token})}"

    def received(self, token: str) -> str:
        """Where S3 sends the browser after an upload (S3 appends ``bucket``, ``key``,
        ``etag``)."""
        return f"{self.base}/upload/done?{urlencode({'token': token})}"

    def link(self, link_id: str) -> str:
        """A link's state, for operators."""
        return f"{self.base}/links/{link_id}"

    def request(self, request_id: str) -> str:
        """A file request's state, for operators."""
        return f"{self.base}/requests/{request_id}"
