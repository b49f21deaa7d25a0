"""The landing page's render stamp, signed, so that a POST from the page can tell how long
after the page was shown the button was pressed, and that the press comes from the client
the page was shown to.

A form field ``shown = "<milliseconds>.<nonce>.<mac>"`` where the MAC is HMAC-SHA256 over
the link id, the time, a random nonce and the SHA-256 of the client's *form key*: a random
secret the landing page sets as a cookie (HttpOnly, ``SameSite=Lax``, path the download
route), which the browser sends back with the form.  So:

* every render has its own stamp, even two in the same millisecond (the nonce), and a
  page's press is claimed under its own stamp (``services/redemption.py``);
* a stamp is worth nothing to a client that does not hold the cookie it was made for: a
  form copied to another client, or a stamp fetched by someone else during the person's
  visit, proves no wait and names no claim of theirs.

A client that already holds a form key keeps it (several tabs share one), so a page shown
earlier still verifies.  Rotating the API keys only makes pages shown before the rotation
ask for one more press.  A scanner that edits the time is refused like one that was not
patient; one that waits, in a real browser, is not stopped here (docs/COUNTING.md).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from chalicelib.domain.signing import derive_key, mac, mac_matches

FIELD = "shown"
COOKIE = "onetime_form"  # no link id in it: one key per client serves every link's page
_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
_NONCE = re.compile(r"[0-9a-f]{16}")


def new_form_key() -> str:
    return secrets.token_urlsafe(32)


def parse_form_key(value: str | None) -> str | None:
    """The form key in a cookie's value, or None if it is not the shape of one."""
    return value if value is not None and _KEY.fullmatch(value) else None


class Stamps:
    def __init__(self, secret_material: tuple[str, ...]) -> None:
        self._key = derive_key("onetime landing form", secret_material)

    def make(self, link_id: str, at: float, form_key: str) -> str:
        millis = int(at * 1000)
        nonce = secrets.token_hex(8)
        return f"{millis}.{nonce}.{mac(self._key, self._message(link_id, millis, nonce, form_key))}"

    def shown_at(self, link_id: str, stamp: str, form_key: str | None) -> float | None:
        """When the page carrying ``stamp`` was shown, or None if the stamp is not one we
        made for this link and for the client holding ``form_key``."""
        millis, nonce, signature = [*stamp.split("."), "", ""][:3]
        if not (millis.isascii() and millis.isdigit() and len(millis) <= 15):
            return None
        if form_key is None or not _NONCE.fullmatch(nonce):
            return None
        if not mac_matches(
            self._key, self._message(link_id, int(millis), nonce, form_key), signature
        ):
            return None
        return int(millis) / 1000

    def _message(self, link_id: str, millis: int, nonce: str, form_key: str) -> str:
        # The key's hash, not the key: the MAC's input never holds a client's secret.
        bound_to = hashlib.sha256(form_key.encode("ascii")).hexdigest()
        return f"{link_id}.{millis}.{nonce}.{bound_to}"
