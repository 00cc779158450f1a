"""FastAPI dependencies: who calls, and for which tenant.

They are ``async`` although they do not await: FastAPI runs sync dependencies in a worker
thread, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voltlab.auth.principal import Principal
from voltlab.auth.tokens import AuthError, TokenVerifier, valid_org

_bearer = HTTPBearer(auto_error=False, description="JWT minted by `voltlab token create`")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise AuthError("missing bearer token (Authorization: Bearer <jwt>)")
    verifier: TokenVerifier = request.app.state.services.verifier
    return verifier.verify(credentials.credentials)


async def tenant(
    who: Annotated[Principal, Depends(principal)],
    x_organization_id: Annotated[
        str | None,
        Header(
            description="Admin tokens only: the tenant to act on. User tokens must not send it."
        ),
    ] = None,
) -> str:
    """The organization id every tenant-scoped query filters on."""
    if who.role == "user":
        if x_organization_id is not None:
            raise AuthError("user tokens must not send X-Organization-Id", status=403)
        assert who.org is not None  # guaranteed by TokenVerifier
        return who.org
    if x_organization_id is None or not x_organization_id.strip():
        raise AuthError("admin tokens must send X-Organization-Id on this route", status=403)
    org = x_organization_id.strip()
    if not valid_org(org):
        raise AuthError("X-Organization-Id must be 1-128 printable characters", status=403)
    return org


Authenticated = Annotated[Principal, Depends(principal)]
TenantId = Annotated[str, Depends(tenant)]
