"""Security profiles 2 and 3 against a TLS CSMS on loopback, with a CA made in the test."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.live import Voltlab, eventually
from voltlab.csms import CsmsServer


@dataclass
class Pki:
    ca_pem: str
    server_cert_pem: str
    server_key_pem: str
    client_cert_pem: str
    client_key_pem: str
    other_key_pem: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool, san=None) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _cert("voltlab test CA", ca_key, "voltlab test CA", ca_key, ca=True)
    server = _cert(
        "csms",
        server_key,
        "voltlab test CA",
        ca_key,
        ca=False,
        san=[x509.IPAddress(IPv4Address("127.0.0.1"))],
    )
    client = _cert("CP-TLS3", client_key, "voltlab test CA", ca_key, ca=False)

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    return Pki(
        pem(ca),
        pem(server),
        _pem_key(server_key),
        pem(client),
        _pem_key(client_key),
        _pem_key(_key()),
    )


def _server_context(pki: Pki, tmp: Path, *, require_client_cert: bool) -> ssl.SSLContext:
    chain = tmp / "server.pem"
    chain.write_text(pki.server_cert_pem + pki.server_key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=pki.ca_pem)
    return context


def _charger(identity: str, url: str, **extra: object) -> dict[str, object]:
    return {
        "identity": identity,
        "brand_slug": "abb",
        "model_slug": "terra-184",
        "connector_type": "CCS2",
        "ws_url": url,
        "ocpp_version": "OCPP2.0.1",
        "location_name": "TLS depot",
        **extra,
    }


async def _boot_status(voltlab: Voltlab, charger_id: str) -> dict:
    return (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()["runtime"]


async def test_profile_2_trusts_the_configured_ca_and_boots_over_wss(
    voltlab: Voltlab, pki: Pki, tmp_path: Path
):
    context = _server_context(pki, tmp_path, require_client_cert=False)
    async with CsmsServer(ssl=context) as csms:
        created = await voltlab.client.post(
            "/ocpp/chargers",
            json=_charger("CP-TLS2", csms.url, password="0123456789abcdef", ca_cert=pki.ca_pem),
        )
        assert created.status_code == 202, created.text
        charger_id = created.json()["charger_id"]
        await eventually(lambda: csms.stations.get("CP-TLS2") and csms.stations["CP-TLS2"].boots)
        charger = (await voltlab.client.get(f"/ocpp/chargers/{charger_id}")).json()
        assert charger["security_profile"] == 2
        assert charger["has_ca_cert"] is True
        assert "client_key" not in charger and "ca_cert" not in charger


async def test_profile_2_without_the_ca_refuses_the_unknown_server_certificate(
    voltlab: Voltlab, pki: Pki, tmp_path: Path
):
    context = _server_context(pki, tmp_path, require_client_cert=False)
    async with CsmsServer(ssl=context) as csms:
        created = await voltlab.client.post("/ocpp/chargers", json=_charger("CP-NOCA", csms.url))
        charger_id = created.json()["charger_id"]

        async def failed() -> bool:
            runtime = await _boot_status(voltlab, charger_id)
            return "CERTIFICATE_VERIFY_FAILED" in (runtime["last_error"] or "")

        await eventually(failed)
        assert "CP-NOCA" not in csms.stations


async def test_profile_3_presents_the_client_certificate_the_csms_requires(
    voltlab: Voltlab, pki: Pki, tmp_path: Path
):
    context = _server_context(pki, tmp_path, require_client_cert=True)
    async with CsmsServer(ssl=context) as csms:
        with_cert = await voltlab.client.post(
            "/ocpp/chargers",
            json=_charger(
                "CP-TLS3",
                csms.url,
                ca_cert=pki.ca_pem,
                client_cert=pki.client_cert_pem,
                client_key=pki.client_key_pem,
            ),
        )
        without = await voltlab.client.post(
            "/ocpp/chargers", json=_charger("CP-TLS3-NO", csms.url, ca_cert=pki.ca_pem)
        )
        await eventually(lambda: csms.stations.get("CP-TLS3") and csms.stations["CP-TLS3"].boots)
        charger = await voltlab.client.get(f"/ocpp/chargers/{with_cert.json()['charger_id']}")
        assert charger.json()["security_profile"] == 3

        async def refused() -> bool:
            runtime = await _boot_status(voltlab, without.json()["charger_id"])
            return runtime["last_error"] is not None and runtime["boot_status"] is None

        await eventually(refused)
        assert "CP-TLS3-NO" not in csms.stations


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"ca_cert": "not a certificate"}, "ca_cert is not a PEM certificate bundle"),
        ({"client_cert": "x"}, "client_cert and client_key go together"),
        ({"client_cert": "x", "client_key": "y"}, "client_cert is not a PEM certificate"),
        ({"use_other_key": True}, "client_key does not belong to client_cert"),
        ({"plain_ws": True}, "need a wss:// ws_url"),
    ],
)
async def test_tls_material_is_validated_on_create(
    voltlab: Voltlab, pki: Pki, fields: dict, reason: str
):
    body = _charger("CP-BAD", "wss://127.0.0.1:9/ocpp")
    if fields.pop("use_other_key", False):
        fields = {"client_cert": pki.client_cert_pem, "client_key": pki.other_key_pem}
    if fields.pop("plain_ws", False):
        body["ws_url"] = "ws://127.0.0.1:9/ocpp"
        fields = {"ca_cert": pki.ca_pem}
    response = await voltlab.client.post("/ocpp/chargers", json={**body, **fields})
    assert response.status_code == 422
    assert reason in response.text
