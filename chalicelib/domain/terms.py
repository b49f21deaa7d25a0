"""An upload link's terms, signed into its URL: when the request expires, the largest
file, the types it accepts and how many files.

No longer read: since issue 20 the page reads the stored request (one consistent
``GetItem``), so that a withdrawn or filled request offers no form.  Upload links still
carry ``terms=`` so that the URLs already sent keep their shape; the signer can go once
nothing needs that shape (a follow-up, not done here).

``terms = <base64url JSON>.<mac>``, the MAC taken over the request token's digest and the
JSON, keyed as ``chalicelib.domain.signing`` says.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from chalicelib.domain.signing import derive_key, mac, mac_matches

_LABEL = "onetime upload terms"


@dataclass(frozen=True)
class Terms:
    expires_at: int
    max_bytes: int
    content_types: tuple[str, ...]
    max_files: int = 1


class TermsSigner:
    def __init__(self, secret_material: tuple[str, ...]) -> None:
        self._key = derive_key(_LABEL, secret_material)

    def sign(self, token_digest: str, terms: Terms) -> str:
        body = json.dumps(
            [terms.expires_at, terms.max_bytes, list(terms.content_types), terms.max_files],
            separators=(",", ":"),
        )
        encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{encoded}.{mac(self._key, f'{token_digest}.{encoded}')}"

    def verify(self, token_digest: str, signed: str | None) -> Terms | None:
        """The terms, if ``signed`` is what ``sign`` made for this token; else None."""
        encoded, _, signature = (signed or "").partition(".")
        if not encoded or len(encoded) > 2048:
            return None
        if not mac_matches(self._key, f"{token_digest}.{encoded}", signature):
            return None
        try:
            expires_at, max_bytes, types, files = json.loads(
                base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            )
        except (ValueError, TypeError, binascii.Error):
            return None  # signed by us, so unreachable unless the format changes
        return Terms(int(expires_at), int(max_bytes), tuple(str(t) for t in types), int(files))
