"""The landing page's render time, signed, so that a POST from the page can tell how long
after the page was shown the button was pressed.

A form field ``shown = "<milliseconds>.<mac>"`` where the MAC is HMAC-SHA256 over the link
id and the time, keyed as ``chalicelib.signing`` says.  Rotating the API keys only makes
pages shown before the rotation ask for one more press.  What it buys: a scanner that
edits the field to look patient is refused like one that was not; a scanner that waits is
not stopped here (docs/COUNTING.md says what is).
"""

from __future__ import annotations

import hmac

from chalicelib.signing import derive_key, mac

FIELD = "shown"


class Stamps:
    def __init__(self, secret_material: tuple[str, ...]) -> None:
        self._key = derive_key("onetime landing form", secret_material)

    def make(self, link_id: str, at: float) -> str:
        millis = int(at * 1000)
        return f"{millis}.{self._mac(link_id, millis)}"

    def shown_at(self, link_id: str, stamp: str) -> float | None:
        """When the page carrying ``stamp`` was shown, or None if the stamp is not one we
        made for this link."""
        millis, _, signature = stamp.partition(".")
        if not (millis.isascii() and millis.isdigit() and len(millis) <= 15):
            return None
        if not hmac.compare_digest(signature, self._mac(link_id, int(millis))):
            return None
        return int(millis) / 1000

    def _mac(self, link_id: str, millis: int) -> str:
        return mac(self._key, f"{link_id}.{millis}")
