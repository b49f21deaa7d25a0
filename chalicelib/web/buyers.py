"""Buyers: people signed in with an OIDC provider (Amazon Cognito or any issuer).

Their JWT is verified against the issuer's published keys (JWKS): signature,
``iss``, ``exp``, the audience (``aud`` on ID tokens, ``client_id`` on
Cognito access tokens) and ``token_use``.  The key set is fetched once per
container and cached by PyJWT; PyJWT is imported only when a JWT arrives.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.errors import UnauthorizedError, UnavailableError
from chalicelib.settings import JWKS_TIMEOUT

_JWT_SHAPE = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
JWKS_CACHE_SECONDS = 3600


def looks_like_jwt(credential: str) -> bool:
    return bool(_JWT_SHAPE.match(credential))


class BuyerTokens:
    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        from jwt import PyJWKClient

        self._issuer = issuer
        self._audience = audience
        # A short timeout: the whole request must end inside API Gateway's 29 s.
        self._keys = PyJWKClient(
            jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_TIMEOUT
        )

    def subject(self, token: str) -> str:
        """The verified ``sub`` of a buyer's token, or ``UnauthorizedError`` saying why."""
        import jwt

        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise UnavailableError("The sign-in service's keys could not be fetched.") from exc
        except jwt.PyJWTError as exc:
            raise UnauthorizedError("The sign-in token is not signed by a known key.") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise UnauthorizedError("The sign-in token has expired; sign in again.") from exc
        except jwt.PyJWTError as exc:
            raise UnauthorizedError("The sign-in token is not valid.") from exc
        # ID tokens name the app client in aud; Cognito access tokens in client_id.
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self._audience not in audiences:
            raise UnauthorizedError("The sign-in token was issued for another application.")
        if claims.get("token_use", "id") not in ("id", "access"):
            raise UnauthorizedError("The sign-in token is not an ID or access token.")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise UnauthorizedError("The sign-in token names no user.")
        return subject
