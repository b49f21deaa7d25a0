"""The landing page's render time, signed, so that a POST from the page can tell how long
after the page was shown the button was pressed.

A form field ``shown = "<milliseconds>.<mac>"`` where the MAC is HMAC-SHA256 over the link
id and the time.  The key is derived from the deployment's API key digests
(``ONETIME_API_KEY_SHA256``): a secret every container already holds, never sent to a
client, needing no extra call or setting.  Rotating the API keys only makes pages shown
before the rotation ask for one more press.  What it buys: a scanner that edits the field
to look patient is refused like one that was not; a scanner that waits is not stopped
here (docs/COUNTING.md says what is).
"""

from __future__ import annotations

import hashlib
import hmac

FIELD = "shown"


class Stamps:
    def __init__(self, secret_material: tuple[str, ...]) -> None:
        material = "\0".join(sorted(secret_material)).encode()
        self._key = hashlib.sha256(b"onetime landing form\0" + material).digest()

    def make(self, link_id: str, at: float) -> str:
        millis = int(at * 1000)
        return f"{millis}.{self._mac(link_id, millis)}"

    def shown_at(self, link_id: str, stamp: str) -> float | None:
        """When the page carrying ``stamp`` was shown, or None if the stamp is not one we
        made for this link."""
        millis, _, mac = stamp.partition(".")
        if not (millis.isascii() and millis.isdigit() and len(millis) <= 15):
            return None
        if not hmac.compare_digest(mac, self._mac(link_id, int(millis))):
            return None
        return int(millis) / 1000

    def _mac(self, link_id: str, millis: int) -> str:
        message = f"{link_id}.{millis}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]
