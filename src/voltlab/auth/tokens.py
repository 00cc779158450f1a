"""Verifying and minting voltlab's JWTs.

Claims: ``sub``, ``role`` (``user`` | ``admin``), ``org`` (required for ``user``),
``exp``, ``iat``. The accepted algorithm is fixed by configuration, so a token that
says ``alg: none`` or switches HS256/RS256 is refused by PyJWT before its claims are read.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from voltlab.auth.principal import Principal
from voltlab.settings import Settings

SECRET_FILE = "jwt_secret"
ROLES = ("user", "admin")


def valid_org(org: object) -> bool:
    """A tenant id: 1-128 printable characters (it is stored on every row of the tenant)."""
    if not isinstance(org, str) or not org.strip() or len(org) > 128:
        return False
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in org):
        return False
    try:
        org.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class AuthError(Exception):
    """A token that does not authenticate (-> 401) or does not authorize (-> 403)."""

    def __init__(self, detail: str, *, status: int = 401) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def ensure_secret(settings: Settings) -> tuple[str, bool]:
    """The HS256 secret: configured, or generated once into the data dir (mode 0600).

    Returns the secret and whether it was created now.
    """
    if settings.jwt_secret:
        return settings.jwt_secret, False
    path = settings.data_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip(), False
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not overwrite each other's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret, True


class TokenVerifier:
    def __init__(
        self,
        *,
        algorithm: str,
        key: Any = None,
        jwks: jwt.PyJWKSet | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: int = 10,
    ) -> None:
        self.algorithm = algorithm
        self._key = key
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s

    def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self._key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as exc:
            raise AuthError("malformed bearer token") from exc
        keys = self._jwks.keys
        matching = [k for k in keys if k.key_id == kid] if kid else keys[:1]
        if not matching:
            raise AuthError("token signed with an unknown key id")
        return matching[0].key

    def verify(self, token: str) -> Principal:
        options: dict[str, Any] = {"require": ["exp", "iat", "sub"]}
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=[self.algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options=options,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthError("token signature is invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the '{exc.claim}' claim") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError(f"token algorithm is not allowed (expected {self.algorithm})") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError("token 'role' must be 'user' or 'admin'", status=403)
        org = claims.get("org")
        if org is not None and not valid_org(org):
            raise AuthError(
                "token 'org' must be a non-empty string of at most 128 printable characters"
            )
        if role == "user" and org is None:
            raise AuthError("user token has no 'org' claim (tenant scope)", status=403)
        return Principal(sub=str(claims["sub"]), role=role, org=org)


def load_verifier(settings: Settings) -> TokenVerifier:
    common = {
        "algorithm": settings.jwt_algorithm,
        "issuer": settings.jwt_issuer,
        "audience": settings.jwt_audience,
        "leeway_s": settings.jwt_leeway_s,
    }
    if settings.jwt_algorithm == "HS256":
        secret, _ = ensure_secret(settings)
        return TokenVerifier(key=secret, **common)
    if settings.jwt_jwks_file is not None:
        jwks = jwt.PyJWKSet.from_json(Path(settings.jwt_jwks_file).read_text())
        return TokenVerifier(jwks=jwks, **common)
    if settings.jwt_public_key_file is not None:
        return TokenVerifier(key=Path(settings.jwt_public_key_file).read_text(), **common)
    raise ValueError(
        f"VOLTLAB_JWT_ALGORITHM={settings.jwt_algorithm} needs VOLTLAB_JWT_PUBLIC_KEY_FILE "
        "or VOLTLAB_JWT_JWKS_FILE"
    )


def mint_token(
    *,
    key: Any,
    role: str,
    org: str | None,
    sub: str = "voltlab-cli",
    ttl_s: int = 86_400,
    algorithm: str = "HS256",
    extra: dict[str, Any] | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError("role must be 'user' or 'admin'")
    if role == "user" and not org:
        raise ValueError("a user token needs an organization (--org)")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl_s}
    if org:
        claims["org"] = org
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=algorithm)
