"""Keys for the values the service signs and hands to browsers (a landing page's render
stamp, an upload page's terms), derived from the deployment's API key digests
(``ONETIME_API_KEY_SHA256``).

That material is a secret every container already holds and never sends to a client, so
signing needs no extra call or setting.  Each use has its own label, so a value signed
for one purpose never verifies for another.  Rotating the API keys invalidates what was
signed before; each user of a key says what that costs.
"""

from __future__ import annotations

import hashlib
import hmac


def derive_key(label: str, material: tuple[str, ...]) -> bytes:
    joined = "\0".join(sorted(material)).encode()
    return hashlib.sha256(label.encode() + b"\0" + joined).digest()


def mac(key: bytes, message: str, length: int = 32) -> str:
    """The first ``length`` hex digits of HMAC-SHA256 over ``message``."""
    return hmac.new(key, _bytes(message), hashlib.sha256).hexdigest()[:length]


def mac_matches(key: bytes, message: str, signature: str) -> bool:
    """Whether ``signature`` is ``mac(key, message)``, compared in constant time.  As
    bytes: a client's signature may hold any character, and ``hmac.compare_digest``
    raises on text beyond ASCII (a 500 where a forged value must be refused)."""
    return hmac.compare_digest(_bytes(signature), mac(key, message).encode())


def _bytes(text: str) -> bytes:
    # Lone surrogates (a client's undecodable bytes) too: they are text to refuse.
    return text.encode("utf-8", "surrogatepass")
