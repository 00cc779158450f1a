"""Bearer tokens, roles and tenant scope (api.md "Authentication and tenants", "Errors")."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from support.live import SECRET, Voltlab, token

TENANT_ROUTE = "/ocpp/locations"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "role": "user", "org": "acme", "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def get_with(voltlab: Voltlab, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=voltlab.base_url, timeout=10) as anonymous:
        return await anonymous.get(path, headers=headers)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(voltlab: Voltlab):
    response = await get_with(voltlab, TENANT_ROUTE)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "bearer" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer",
        "Basic YWxpY2U6c2VjcmV0",
        f"Token {hs256()}",
    ],
    ids=["garbage", "three-garbage-parts", "no-credentials", "basic-scheme", "other-scheme"],
)
async def test_a_malformed_authorization_header_is_401(voltlab: Voltlab, authorization: str):
    response = await get_with(voltlab, TENANT_ROUTE, Authorization=authorization)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_signed_with_another_secret_is_401(voltlab: Voltlab):
    forged = jwt.encode(claims(), "another-secret-" + "y" * 40, algorithm="HS256")

    response = await get_with(voltlab, TENANT_ROUTE, **bearer(forged))

    assert response.status_code == 401
    assert "signature" in response.json()["detail"]


async def test_an_expired_token_is_401(voltlab: Voltlab):
    expired = token(ttl_s=-3600)

    response = await get_with(voltlab, TENANT_ROUTE, **bearer(expired))

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_an_unsigned_alg_none_token_is_401(voltlab: Voltlab):
    unsigned = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims())}."

    response = await get_with(voltlab, TENANT_ROUTE, **bearer(unsigned))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_signed_with_rs256_when_hs256_is_expected_is_401(voltlab: Voltlab):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rs256 = jwt.encode(claims(), key, algorithm="RS256")

    response = await get_with(voltlab, TENANT_ROUTE, **bearer(rs256))

    assert response.status_code == 401
    assert "algorithm" in response.json()["detail"]


@pytest.mark.parametrize("claim", ["exp", "sub", "iat"])
async def test_a_token_without_a_required_claim_is_401(voltlab: Voltlab, claim: str):
    response = await get_with(voltlab, TENANT_ROUTE, **bearer(hs256(**{claim: None})))

    assert response.status_code == 401
    assert claim in response.json()["detail"]


@pytest.mark.parametrize("org", ["", 42, "x" * 129, "acme\x00", "acme\n"])
async def test_a_token_with_an_unusable_org_claim_is_401(voltlab: Voltlab, org: Any):
    response = await get_with(voltlab, TENANT_ROUTE, **bearer(hs256(org=org)))

    assert response.status_code == 401
    assert "org" in response.json()["detail"]


@pytest.mark.parametrize("role", ["guest", "ADMIN", None])
async def test_a_role_other_than_user_or_admin_is_403(voltlab: Voltlab, role: str | None):
    response = await get_with(voltlab, TENANT_ROUTE, **bearer(hs256(role=role)))

    assert response.status_code == 403
    assert "role" in response.json()["detail"]


async def test_a_user_token_without_an_org_is_403(voltlab: Voltlab):
    response = await get_with(voltlab, TENANT_ROUTE, **bearer(hs256(org=None)))

    assert response.status_code == 403
    assert "org" in response.json()["detail"]


async def test_a_user_token_that_sends_x_organization_id_is_403(voltlab: Voltlab):
    response = await get_with(
        voltlab, TENANT_ROUTE, **bearer(token("acme")), **{"X-Organization-Id": "acme"}
    )

    assert response.status_code == 403
    assert "X-Organization-Id" in response.json()["detail"]


@pytest.mark.parametrize("header", [None, ""])
async def test_an_admin_without_x_organization_id_on_a_tenant_route_is_403(
    voltlab: Voltlab, header: str | None
):
    headers = bearer(token(None, "admin"))
    if header is not None:
        headers["X-Organization-Id"] = header

    response = await get_with(voltlab, TENANT_ROUTE, **headers)

    assert response.status_code == 403
    assert "X-Organization-Id" in response.json()["detail"]


async def test_an_admin_with_x_organization_id_sees_that_tenants_data(
    voltlab: Voltlab, client: httpx.AsyncClient, globex: httpx.AsyncClient
):
    await client.post("/ocpp/locations", json={"name": "Acme Depot"})
    await globex.post("/ocpp/locations", json={"name": "Globex Depot"})

    async with voltlab.client_for(None, "admin", **{"X-Organization-Id": "globex"}) as admin:
        listed = (await admin.get("/ocpp/locations")).json()
        created = await admin.post("/ocpp/locations", json={"name": "Made By Admin"})

    assert [row["name"] for row in listed["data"]] == ["Globex Depot"]
    assert created.status_code == 201
    names = {row["name"] for row in (await globex.get("/ocpp/locations")).json()["data"]}
    assert names == {"Globex Depot", "Made By Admin"}


async def test_the_catalog_takes_an_admin_token_without_a_tenant_header(voltlab: Voltlab):
    async with voltlab.client_for(None, "admin") as admin:
        brands = await admin.get("/ocpp/catalog/brands")
        templates = await admin.get("/ocpp/templates/locations")

    assert brands.status_code == 200
    assert templates.status_code == 200


async def test_the_catalog_still_needs_a_token(voltlab: Voltlab):
    response = await get_with(voltlab, "/ocpp/catalog/brands")

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/", "/openapi.json", "/docs"])
async def test_health_index_and_docs_need_no_token(voltlab: Voltlab, path: str):
    response = await get_with(voltlab, path)

    assert response.status_code == 200


async def test_health_reports_ok_and_the_index_links_the_docs(voltlab: Voltlab):
    health = await get_with(voltlab, "/health")
    index = await get_with(voltlab, "/")

    assert health.json()["status"] == "ok"
    lag = health.json()["event_loop_lag"]  # the probe runs from start-up on
    assert set(lag) == {"probes", "p50_ms", "p99_ms", "max_ms", "stalls_over_50ms", "worst_ms"}
    assert index.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in index.text
