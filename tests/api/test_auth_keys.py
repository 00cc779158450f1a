"""RS256 verification with a PEM public key file or a JWKS file (tokens minted elsewhere)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support.live import SECRET, LiveServer
from voltlab.auth.tokens import mint_token
from voltlab.settings import Settings

RsaKey = rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def signing_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger_key() -> RsaKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: RsaKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def rs256(key: RsaKey, *, kid: str | None = None, **claims: Any) -> str:
    if kid is None:
        return mint_token(key=key, role="user", org="acme", algorithm="RS256", **claims)
    unsigned = jwt.decode(
        mint_token(key=SECRET, role="user", org="acme"), options={"verify_signature": False}
    )
    return jwt.encode(unsigned, key, algorithm="RS256", headers={"kid": kid})


async def status_with(base_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        return (await client.get("/ocpp/locations")).status_code


@pytest.fixture
async def pem_server(settings: Settings, tmp_path: Path, signing_key: RsaKey) -> AsyncIterator[str]:
    key_file = tmp_path / "public.pem"
    key_file.write_bytes(public_pem(signing_key))
    rs_settings = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_secret": "", "jwt_public_key_file": key_file}
    )
    async with LiveServer(rs_settings) as base_url:
        yield base_url


@pytest.fixture
async def jwks_server(
    settings: Settings, tmp_path: Path, signing_key: RsaKey, stranger_key: RsaKey
) -> AsyncIterator[str]:
    keys = []
    for kid, key in (("primary", signing_key), ("secondary", stranger_key)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": keys}))
    rs_settings = settings.model_copy(
        update={"jwt_algorithm": "RS256", "jwt_secret": "", "jwt_jwks_file": jwks_file}
    )
    async with LiveServer(rs_settings) as base_url:
        yield base_url


async def test_a_token_signed_with_the_configured_rsa_key_is_accepted(
    pem_server: str, signing_key: RsaKey
):
    assert await status_with(pem_server, rs256(signing_key)) == 200


async def test_a_token_signed_with_another_rsa_key_is_401(pem_server: str, stranger_key: RsaKey):
    assert await status_with(pem_server, rs256(stranger_key)) == 401


async def test_an_hs256_token_is_401_when_rs256_is_configured(pem_server: str):
    assert await status_with(pem_server, mint_token(key=SECRET, role="user", org="acme")) == 401


async def test_an_hs256_token_keyed_with_the_public_pem_is_401(
    pem_server: str, signing_key: RsaKey
):
    # The classic algorithm confusion: HMAC "signed" with the server's public key.
    claims = jwt.decode(
        mint_token(key=SECRET, role="user", org="acme"), options={"verify_signature": False}
    )
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        jwt.utils.base64url_encode(json.dumps(header).encode())
        + b"."
        + jwt.utils.base64url_encode(json.dumps(claims).encode())
    )
    signature = hmac.new(public_pem(signing_key), signing_input, hashlib.sha256).digest()
    confused = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()

    assert await status_with(pem_server, confused) == 401


async def test_an_expired_rs256_token_is_401(pem_server: str, signing_key: RsaKey):
    assert await status_with(pem_server, rs256(signing_key, ttl_s=-3600)) == 401


async def test_a_jwks_key_is_chosen_by_the_tokens_kid(
    jwks_server: str, signing_key: RsaKey, stranger_key: RsaKey
):
    assert await status_with(jwks_server, rs256(signing_key, kid="primary")) == 200
    assert await status_with(jwks_server, rs256(stranger_key, kid="secondary")) == 200


async def test_a_jwks_token_whose_kid_names_another_key_is_401(
    jwks_server: str, signing_key: RsaKey
):
    assert await status_with(jwks_server, rs256(signing_key, kid="secondary")) == 401


async def test_a_jwks_token_with_an_unknown_kid_is_401(jwks_server: str, signing_key: RsaKey):
    assert await status_with(jwks_server, rs256(signing_key, kid="retired")) == 401


async def test_a_jwks_token_without_a_kid_is_checked_against_the_first_key(
    jwks_server: str, signing_key: RsaKey, stranger_key: RsaKey
):
    assert await status_with(jwks_server, rs256(signing_key)) == 200
    assert await status_with(jwks_server, rs256(stranger_key)) == 401


async def test_a_malformed_token_is_401_with_a_jwks(jwks_server: str):
    assert await status_with(jwks_server, "not-a-jwt") == 401
