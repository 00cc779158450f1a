"""What a station is: everything needed to run one simulated charge point."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ConnectorRef:
    evse_id: int
    connector_id: int


@dataclass(frozen=True, slots=True)
class StationSpec:
    charger_id: str
    org_id: str
    identity: str
    ocpp_version: str  # "1.6" | "2.0.1"
    ws_url: str
    vendor_name: str
    model_name: str
    connectors: tuple[ConnectorRef, ...]
    max_power_w: int
    password: str | None = None
    heartbeat_interval_s: int = 60
    meter_interval_s: int = 60
    firmware_version: str = "voltlab-0.1.0"
    serial_number: str | None = None
    # Security profile 2/3: PEM text of the CA bundle to trust, and the client certificate.
    ca_cert_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """``{ws_url}/{identity}``; identities are restricted to URL-safe characters."""
        return f"{self.ws_url.rstrip('/')}/{self.identity}"

    @property
    def subprotocol(self) -> str:
        return "ocpp1.6" if self.ocpp_version == "1.6" else "ocpp2.0.1"


def connectors_for(ocpp_version: str, count: int) -> tuple[ConnectorRef, ...]:
    """1.6 has no EVSE level, so connector n is shown as EVSE n; on 2.0.1 each outlet is
    its own EVSE with one connector, as most multi-outlet chargers model it."""
    if ocpp_version == "1.6":
        return tuple(ConnectorRef(evse_id=n, connector_id=n) for n in range(1, count + 1))
    return tuple(ConnectorRef(evse_id=n, connector_id=1) for n in range(1, count + 1))
