"""Presigned S3 GET URLs, signed here rather than by botocore on every redirect.

botocore's ``generate_presigned_url`` runs its endpoint rules, its event hooks and its
general SigV4 machinery on every call: about 0.5 ms of CPU, most of a redirect's margin.
The URL itself is a fixed recipe (AWS, "Authenticating Requests: Using Query Parameters
(AWS Signature Version 4)"), so this module follows it with ``hmac`` and ``hashlib``, for
exactly the one request the service presigns: a GET of one object of one bucket, SigV4,
on the client's own endpoint in its own addressing style.

Its URLs are botocore's, byte for byte (tests/unit/test_presigner.py compares them over
keys, dispositions, versions, session tokens, regions, styles and expiries).  Where the
client is set up in a way not reproduced here (another signature version, accelerate,
dual-stack or FIPS endpoints, a bucket name that is not plain DNS, no credentials),
botocore signs.  And since the runtime's botocore and its environment may differ from
the tests', the first URL of each container is botocore's, compared with ours for the
same instant: only if they are equal does this module sign the rest.
"""

from __future__ import annotations

import calendar
import hmac
import re
import time
from collections.abc import Callable
from hashlib import sha256
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from chalicelib.logs import get_logger

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

log = get_logger("presigner")

_ALGORITHM = "AWS4-HMAC-SHA256"
_STAMP = "%Y%m%dT%H%M%SZ"  # SigV4's X-Amz-Date
_DATE_FIELD = "X-Amz-Date="
# Lower-case letters, digits and inner hyphens, 3 to 63 long: a bucket that is one DNS
# label.  botocore sends any other name (dots, capitals, ARNs) its own way.
_PLAIN_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# Client settings under Config(s3=...) that leave a presigned GET as signed here:
# the address (which endpoint_url already shows) or only uploads' payload hashing.
_NEUTRAL_S3_SETTINGS = {
    "addressing_style",
    "us_east_1_regional_endpoint",
    "payload_signing_enabled",
}


def _encoded(value: str) -> str:
    # RFC 3986 unreserved characters stay, every other byte of the UTF-8 is %XX:
    # SigV4's encoding, and botocore's percent_encode.
    return quote(value, safe="-_.~")


class _Address:
    """Where a bucket's objects are, and the parts of it that get signed."""

    __slots__ = ("host", "origin", "prefix")

    def __init__(self, origin: str, prefix: str, host: str) -> None:
        self.origin = origin  # scheme://authority, as the URL shows it
        self.prefix = prefix  # the path before the key, "/" or ".../BUCKET/"
        self.host = host  # the Host header as SigV4 signs it


class Presigner:
    """Presigned GETs of one bucket's objects, signed as botocore signs them."""

    def __init__(
        self, client: S3Client, bucket: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._clock = clock
        signer = getattr(client, "_request_signer", None)
        # botocore's own object, not a copy: it may refresh itself (Lambda's carry a
        # session token), so it is asked for a frozen set on every URL.
        self._credentials: Any = getattr(signer, "_credentials", None)
        self._region: str | None = getattr(signer, "region_name", None)
        self._address = _address(client, bucket) if self._credentials and self._region else None
        self._checked = False
        self._signing = ("", "", b"")  # a UTC day, a secret, and their signing key

    @property
    def signs(self) -> bool:
        """Whether URLs are signed here (else botocore signs each)."""
        return self._address is not None and self._checked

    def url(
        self, key: str, disposition: str, content_type: str, version_id: str | None, expires: int
    ) -> str:
        """A URL that GETs ``key`` (that version, if given) for ``expires`` seconds, and
        has S3 answer with this Content-Disposition and Content-Type."""
        if self.signs:
            return self.sign(key, disposition, content_type, version_id, expires, self._clock())
        params: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": key,
            "ResponseContentDisposition": disposition,
            "ResponseContentType": content_type,
        }
        if version_id:
            params["VersionId"] = version_id
        url: str = self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires
        )
        if self._address is not None and not self._checked:
            self._check(url, key, disposition, content_type, version_id, expires)
        return url

    def _check(
        self,
        theirs: str,
        key: str,
        disposition: str,
        content_type: str,
        version_id: str | None,
        expires: int,
    ) -> None:
        at = theirs.find(_DATE_FIELD) + len(_DATE_FIELD)
        stamp = theirs[at : at + 16]  # YYYYMMDDTHHMMSSZ, read by hand: time.strptime
        try:  # would import _strptime (1.2 ms) into a cold start
            fields = (stamp[0:4], stamp[4:6], stamp[6:8], stamp[9:11], stamp[11:13], stamp[13:15])
            instant = calendar.timegm((*(int(field) for field in fields), 0, 0, 0))
            ours = self.sign(key, disposition, content_type, version_id, expires, instant)
        except ValueError:
            ours = ""
        if ours == theirs:
            self._checked = True
            return
        self._address = None
        # No URL in the log (logs.py): only that botocore signs from now on.
        log.warning("presigned URLs differ from botocore's; botocore signs them")

    def sign(
        self,
        key: str,
        disposition: str,
        content_type: str,
        version_id: str | None,
        expires: int,
        now: float,
    ) -> str:
        """The URL signed here at ``now`` (seconds since the epoch), unchecked: ``url``
        decides whether it may be used."""
        address = self._address
        if address is None:
            raise ValueError("This client's URLs are signed by botocore only.")
        credentials = self._credentials.get_frozen_credentials()
        stamp = time.strftime(_STAMP, time.gmtime(now))
        day = stamp[:8]
        scope = f"{day}/{self._region}/s3/aws4_request"
        path = address.prefix + quote(key, safe="/~")
        # The object's parameters first, in botocore's order, then the signature's.
        fields = [
            ("response-content-disposition", _encoded(disposition)),
            ("response-content-type", _encoded(content_type)),
        ]
        if version_id:
            fields.append(("versionId", _encoded(version_id)))
        fields += [
            ("X-Amz-Algorithm", _ALGORITHM),
            ("X-Amz-Credential", _encoded(f"{credentials.access_key}/{scope}")),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if credentials.token is not None:
            fields.append(("X-Amz-Security-Token", _encoded(credentials.token)))
        query = "&".join(f"{name}={value}" for name, value in fields)
        canonical = "&".join(f"{name}={value}" for name, value in sorted(fields))
        request = f"GET\n{path}\n{canonical}\nhost:{address.host}\n\nhost\nUNSIGNED-PAYLOAD"
        digest = sha256(request.encode()).hexdigest()
        to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{digest}"
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day), to_sign.encode(), sha256
        ).hexdigest()
        return f"{address.origin}{path}?{query}&X-Amz-Signature={signature}"

    def _signing_key(self, secret: str, day: str) -> bytes:
        # Four HMACs that change only with the day or the credentials: kept, as one
        # tuple, so a thread never pairs one day's key with another's date.
        kept_day, kept_secret, key = self._signing
        if day != kept_day or secret != kept_secret:
            key = hmac.new(f"AWS4{secret}".encode(), day.encode(), sha256).digest()
            for part in (self._region or "", "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), sha256).digest()
            self._signing = (day, secret, key)
        return key


def _address(client: S3Client, bucket: str) -> _Address | None:
    """Where botocore would send a GET of ``bucket``'s objects, where that is plain to
    see from the client's settings; None otherwise (botocore then signs)."""
    meta = getattr(client, "meta", None)
    config = getattr(meta, "config", None)
    endpoint = getattr(meta, "endpoint_url", None)
    if config is None or not isinstance(endpoint, str) or not _PLAIN_BUCKET.fullmatch(bucket):
        return None
    if getattr(config, "signature_version", None) != "s3v4":
        return None
    if any(getattr(config, name, None) for name in ("use_dualstack_endpoint", "use_fips_endpoint")):
        return None
    s3: dict[str, Any] = getattr(config, "s3", None) or {}
    if set(s3) - _NEUTRAL_S3_SETTINGS:
        return None  # accelerate, dual-stack, or a setting unknown here
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None and parts.port != {"http": 80, "https": 443}[parts.scheme]:
        host = f"{host}:{parts.port}"
    base = parts.path.rstrip("/")
    style = s3.get("addressing_style") or "auto"
    on_aws = parts.hostname.endswith(_AWS_HOSTS)
    if style == "path" or (style == "auto" and not on_aws):
        # The stand-ins: an endpoint set in the environment, the bucket in the path.
        return _Address(f"{parts.scheme}://{parts.netloc}", f"{base}/{bucket}/", host)
    if style == "virtual" and not base:
        return _Address(f"{parts.scheme}://{bucket}.{parts.netloc}", "/", f"{bucket}.{host}")
    return None  # "auto" on AWS: botocore chooses a name of its own
