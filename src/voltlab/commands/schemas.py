"""Bodies and answers of ``POST /ocpp/commands/<name>`` (api.md, "Commands")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from voltlab.simulator.model.connector import FAULTS

IdTag = Annotated[str, Field(min_length=1, max_length=36, description="1.6 allows 20 chars")]
EvseId = Annotated[int | None, Field(default=None, ge=0, le=100)]
ConnectorId = Annotated[int | None, Field(default=None, ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChargerTarget(_Strict):
    charger_id: str = Field(min_length=1, max_length=64)


class AnyTarget(_Strict):
    charger_id: str | None = Field(default=None, min_length=1, max_length=64)
    location_id: str | None = Field(default=None, min_length=1, max_length=64)
    charger_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=10_000
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> AnyTarget:
        if (self.charger_id is None) == (self.location_id is None):
            raise ValueError("give exactly one of charger_id or location_id")
        if self.charger_ids is not None and self.location_id is None:
            raise ValueError("charger_ids goes with location_id only")
        return self


class EmptyEvent(_Strict):
    pass


class ProxyMessageEvent(_Strict):
    action: str = Field(min_length=1, max_length=64, examples=["boot_notification", "Heartbeat"])
    ocpp_version: Literal["ocpp1.6", "ocpp2.0.1"] | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


# 2.0.1 attribute values go up to 2500 characters (1.6 values to 500: checked per charger).
ConfigText = Annotated[str, Field(max_length=2500)]
ConfigValue = (
    ConfigText
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | Annotated[list[ConfigText], Field(max_length=100)]
)


class ConfigurationEvent(_Strict):
    configuration: dict[Annotated[str, Field(min_length=1, max_length=100)], ConfigValue] = Field(
        min_length=1, max_length=200
    )


class LocalAuthListEntry(_Strict):
    id_tag: IdTag
    expiry_date: datetime | None = None
    parent_id_tag: IdTag | None = None
    status: Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"] = "Accepted"
    delete: bool = Field(default=False, description="Differential only: remove this id tag")


class LocalAuthListEvent(_Strict):
    list_version: int = Field(ge=1, le=2**31 - 1)
    entries: list[LocalAuthListEntry] = Field(default_factory=list, max_length=10_000)
    update_type: Literal["Full", "Differential"] = "Full"


class InjectFaultEvent(_Strict):
    fault_type: Literal[tuple(FAULTS)]  # type: ignore[valid-type]
    evse_id: EvseId = None
    connector_id: ConnectorId = None


class ConnectorEvent(_Strict):
    evse_id: EvseId = None
    connector_id: ConnectorId = None


class StartTransactionEvent(ConnectorEvent):
    id_tag: IdTag


class StopTransactionEvent(_Strict):
    transaction_id: Annotated[str, Field(max_length=36)] | int | None = None


class StartSessionEvent(ConnectorEvent):
    id_tag: IdTag
    duration_seconds: int | None = Field(default=None, gt=0, le=7 * 86_400)
    target_energy_kwh: float | None = Field(default=None, gt=0, le=10_000, allow_inf_nan=False)


class AuthorizeEvent(_Strict):
    id_tag: IdTag


class PowerUpdateEvent(ConnectorEvent):
    power_w: float = Field(ge=0, le=2_000_000, allow_inf_nan=False)


class QueuedCommand(BaseModel):
    id: str
    event_type: str
    ocpp_version: str
    payload: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = None


class FanOutResult(BaseModel):
    charger_id: str
    identity: str
    command: QueuedCommand


class FanOutFailure(BaseModel):
    charger_id: str | None = None
    identity: str | None
    error: str


class FanOutReport(BaseModel):
    targeted_count: int
    queued_count: int
    failed_count: int
    results: list[FanOutResult]
    failed: list[FanOutFailure]


class CommandRecord(BaseModel):
    id: str
    charger_id: str
    event_type: str
    ocpp_version: str
    payload: dict[str, Any]
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# name in the URL -> (event model, single-charger only)
COMMANDS: dict[str, tuple[type[BaseModel], bool]] = {
    "proxy-message": (ProxyMessageEvent, True),
    "configuration": (ConfigurationEvent, True),
    "cache/reset": (EmptyEvent, True),
    "local-auth-list": (LocalAuthListEvent, True),
    "clear-local-auth-list": (EmptyEvent, True),
    "inject-fault": (InjectFaultEvent, True),
    "clear-fault": (ConnectorEvent, True),
    "plug-connector": (ConnectorEvent, False),
    "unplug-connector": (ConnectorEvent, False),
    "unlock-connector": (ConnectorEvent, False),
    "start-transaction": (StartTransactionEvent, False),
    "stop-transaction": (StopTransactionEvent, False),
    "start-session": (StartSessionEvent, False),
    "stop-session": (ConnectorEvent, False),
    "authorize-id-tag": (AuthorizeEvent, False),
    "ev-requests-energy": (ConnectorEvent, False),
    "ev-stops-energy": (ConnectorEvent, False),
    "power-update": (PowerUpdateEvent, False),
}


def event_type(name: str) -> str:
    """``cache/reset`` -> ``cache_reset``; ``start-session`` -> ``start_session``."""
    return name.replace("/", "_").replace("-", "_")
