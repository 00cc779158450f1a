from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, model_validator

from voltlab.catalog import normalize_ocpp_version
from voltlab.domain.inputs import InputModel
from voltlab.simulator.tls import TlsMaterialError, check_material

IDENTITY_PATTERN = r"^[A-Za-z0-9._-]{1,48}$"
ProvisioningStatus = Literal["PENDING", "PROVISIONING", "READY", "FAILED"]


def _ws_url(value: str) -> str:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        # urlsplit drops tabs and newlines silently; a space would break the request line.
        raise ValueError("must not contain whitespace or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError("must start with ws:// or wss://")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. ws://csms.example.com/ocpp")
    if parts.username is not None or parts.password is not None:
        # The URL is shown by the API; a secret belongs in `password`, which is not.
        raise ValueError("must not carry credentials (user:password@); use the password field")
    try:
        parts.port  # noqa: B018  (raises on a non-numeric or out-of-range port)
    except ValueError as exc:
        raise ValueError(f"has an invalid port: {exc}") from exc
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment (the identity is appended)")
    return value.rstrip("/")


def _ocpp_version(value: str) -> str:
    normalized = normalize_ocpp_version(value)
    if normalized not in ("OCPP1.6", "OCPP2.0.1"):
        raise ValueError("must be 'OCPP1.6' or 'OCPP2.0.1'")
    return normalized


def _password(value: str) -> str:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain control characters")
    return value


WsUrl = Annotated[str, Field(max_length=2048), AfterValidator(_ws_url)]
OcppVersion = Annotated[
    str, Field(examples=["OCPP1.6", "OCPP2.0.1"]), AfterValidator(_ocpp_version)
]
Identity = Annotated[str, Field(pattern=IDENTITY_PATTERN, examples=["CP-001"])]
Password = Annotated[
    str,
    Field(min_length=1, max_length=128, description="HTTP Basic password (security profile 1/2)"),
    AfterValidator(_password),
]
Slug = Annotated[str, Field(min_length=1, max_length=64)]


Pem = Annotated[str, Field(min_length=1, max_length=65_536, description="PEM text")]


def _check_tls(ws_url: str | None, ca: str | None, cert: str | None, key: str | None) -> None:
    try:
        check_material(ca, cert, key)
    except TlsMaterialError as exc:
        raise ValueError(str(exc)) from exc
    if (ca or cert) and ws_url is not None and not ws_url.startswith("wss://"):
        raise ValueError("ca_cert / client_cert need a wss:// ws_url (security profile 2/3)")


class TlsFields(InputModel):
    ca_cert: Pem | None = Field(
        default=None, description="CA bundle the charger trusts for wss:// (security profile 2)"
    )
    client_cert: Pem | None = Field(
        default=None, description="client certificate for wss:// (security profile 3)"
    )
    client_key: Pem | None = Field(
        default=None, description="unencrypted private key of client_cert; never returned"
    )


class ChargerCreate(TlsFields):
    identity: Identity
    brand_slug: Slug
    model_slug: Slug
    connector_type: str = Field(min_length=1, max_length=32)
    ws_url: WsUrl
    ocpp_version: OcppVersion = "OCPP1.6"
    charge_point_name: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=255)
    location_id: str | None = Field(default=None, max_length=64)
    location_name: str | None = Field(default=None, min_length=1, max_length=255)
    password: Password | None = None
    heartbeat_interval_s: int | None = Field(default=None, ge=1, le=86_400)
    meter_interval_s: int | None = Field(default=None, ge=1, le=86_400)

    @model_validator(mode="after")
    def _one_location(self) -> ChargerCreate:
        if self.location_id is None and self.location_name is None:
            raise ValueError("give location_id or location_name")
        _check_tls(self.ws_url, self.ca_cert, self.client_cert, self.client_key)
        return self


class ChargerUpdate(TlsFields):
    name: str | None = Field(default=None, max_length=255)
    charge_point_name: str | None = Field(default=None, max_length=255)
    connector_type: str | None = Field(default=None, min_length=1, max_length=32)
    ocpp_version: OcppVersion | None = None
    ws_url: WsUrl | None = None
    location_id: str | None = Field(default=None, max_length=64)
    location_name: str | None = Field(default=None, min_length=1, max_length=255)
    password: Password | None = None
    heartbeat_interval_s: int | None = Field(default=None, ge=1, le=86_400)
    meter_interval_s: int | None = Field(default=None, ge=1, le=86_400)

    @model_validator(mode="after")
    def _tls_material(self) -> ChargerUpdate:
        # Against the new ws_url only; apply_update checks the combination with the row.
        _check_tls(self.ws_url, self.ca_cert, self.client_cert, self.client_key)
        return self


class ChargerAccepted(BaseModel):
    charger_id: str
    identity: str
    status: ProvisioningStatus
    status_url: str
    workflow_run_id: str


class ProvisioningError(BaseModel):
    code: str
    message: str
    step: str
    param: str | None = None
    doc_url: str | None = None
    retryable: bool = False


class ChargerStatus(BaseModel):
    charger_id: str
    status: ProvisioningStatus
    workflow_run_id: str
    error: ProvisioningError | None
    provisioned_at: datetime | None


class ConnectorRuntime(BaseModel):
    evse_id: int
    connector_id: int
    status: str
    error_code: str
    transaction_id: str | None
    energy_wh: float
    power_w: float


class Runtime(BaseModel):
    state: Literal["running", "stopped"]
    connection: Literal["connecting", "connected", "disconnected"]
    boot_status: Literal["Accepted", "Pending", "Rejected"] | None
    last_message_at: datetime | None
    connectors: list[ConnectorRuntime]
    findings: int = Field(description="CSMS mistakes seen (invalid answers, CALLERRORs, timeouts)")
    connects: int
    last_error: str | None


class ChargerOut(BaseModel):
    id: str
    identity: str
    name: str | None
    charge_point_name: str | None
    vendor_name: str
    model: str
    brand_slug: str
    model_slug: str
    image_url: str | None
    ocpp_version: str
    number_of_connectors: int
    max_charging_power: int = Field(description="kW")
    connector_type: str
    location_id: str
    # Chargers of an OCPI CPO bundle: the bundle, its OCPI location, one EVSE per connector.
    ocpi_cpo_id: str | None = None
    ocpi_location_id: str | None = None
    evse_uids: list[str] | None = None
    ws_url: str
    has_password: bool
    security_profile: int = Field(
        description="1 HTTP Basic, 2 TLS + Basic (wss://), 3 TLS with a client certificate; 0 none"
    )
    has_ca_cert: bool
    has_client_cert: bool
    heartbeat_interval_s: int
    meter_interval_s: int
    status: ProvisioningStatus
    created_at: datetime
    updated_at: datetime
    runtime: Runtime


class LogEntry(BaseModel):
    direction: Literal["cp_to_csms", "csms_to_cp"]
    action: str
    message: str
    timestamp: datetime
    finding: str | None = None


class LogPage(BaseModel):
    data: list[LogEntry]
    total: int
    limit: int
    offset: int
    pruned: int = Field(default=0, description="older frames removed by retention")


class QueuedCommand(BaseModel):
    id: str
    event_type: str
    ocpp_version: str
    payload: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed"]


# -- bulk, per location -------------------------------------------------------------
class ChargerTemplateIn(InputModel):
    brand_slug: Slug
    model_slug: Slug
    connector_type: str = Field(min_length=1, max_length=32)
    ocpp_version: OcppVersion = "OCPP1.6"
    ws_url: WsUrl
    identity_prefix: str | None = Field(default=None, max_length=40, pattern=r"^[A-Za-z0-9._-]*$")
    template_name: str | None = Field(default=None, max_length=200)
    password: Password | None = None
    ca_cert: Pem | None = Field(
        default=None, description="CA bundle for wss:// (security profile 2), for the whole group"
    )
    heartbeat_interval_s: int | None = Field(default=None, ge=1, le=86_400)
    meter_interval_s: int | None = Field(default=None, ge=1, le=86_400)

    @model_validator(mode="after")
    def _tls_material(self) -> ChargerTemplateIn:
        _check_tls(self.ws_url, self.ca_cert, None, None)
        return self


class ChargerGroupIn(InputModel):
    template: ChargerTemplateIn
    charger_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,48}$")]] | None = Field(
        default=None, max_length=10_000
    )
    chargers_number: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _has_count(self) -> ChargerGroupIn:
        if not self.charger_ids and self.chargers_number is None:
            raise ValueError("give charger_ids, chargers_number, or both")
        return self


class JobAccepted(BaseModel):
    job_id: str
    status: ProvisioningStatus
    workflow_run_id: str
    status_url: str


class JobStatus(BaseModel):
    job_id: str
    job_type: str
    status: ProvisioningStatus
    workflow_run_id: str
    error: ProvisioningError | None
    results: dict[str, list[dict[str, Any]]]
    provisioned_at: datetime | None


class ChargerUpdateItem(ChargerUpdate):
    charger_id: str = Field(min_length=1, max_length=64)


class BulkUpdate(InputModel):
    chargers: list[ChargerUpdateItem] = Field(max_length=10_000)


class BulkUpdateResult(BaseModel):
    updated_count: int
    failed_count: int
    updated: list[ChargerOut]
    failed: list[dict[str, str]]


class BulkDeleteResult(BaseModel):
    deleted_count: int
    failed_count: int
    deleted: list[str]
    failed: list[dict[str, str]]
