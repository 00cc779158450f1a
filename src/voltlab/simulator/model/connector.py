"""A connector's facts and the OCPP status they imply.

Events (plug, unplug, fault, ...) change facts; ``status`` derives the OCPP 1.6 status
from them in one place, in the spec's precedence (Faulted over Unavailable over a
transaction's charging state over the cable). 2.0.1 maps these to its five
ConnectorStatus values (Preparing..Finishing -> Occupied) plus the ChargingState it
reports in TransactionEvent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# OCPP 1.6 connector statuses, and the 2.0.1 ConnectorStatus each becomes.
STATUS_201 = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

# 2.0.1 TransactionEvent chargingState for the 1.6-style status of a connector in a tx.
CHARGING_STATE_201 = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected",
    "Finishing": "EVConnected",
}

# REST fault types -> (1.6 ChargePointErrorCode, whether the connector becomes Faulted).
# EVCommunicationError and WeakSignal are warnings in 1.6: reported, not Faulted.
FAULTS = {
    "GroundFault": ("GroundFailure", True),
    "OverCurrent": ("OverCurrentFailure", True),
    "OverVoltage": ("OverVoltage", True),
    "UnderVoltage": ("UnderVoltage", True),
    "OverTemperature": ("HighTemperature", True),
    "InternalError": ("InternalError", True),
    "ConnectorLockFailure": ("ConnectorLockFailure", True),
    "EVCommunicationError": ("EVCommunicationError", False),
    "PowerMeterFailure": ("PowerMeterFailure", True),
    "WeakSignal": ("WeakSignal", False),
}


@dataclass(slots=True)
class Connector:
    evse_id: int
    connector_id: int
    plugged: bool = False
    locked: bool = False
    ev_requesting: bool = True  # an EV that is plugged in wants energy unless told otherwise
    evse_suspended: bool = False  # the charger withholds energy (limit 0, invalid id, ...)
    finishing: bool = False  # transaction over, cable still in
    tag_presented: bool = False  # authorized before the cable (Preparing without plug)
    fault: str | None = None  # REST fault type
    error_code: str = "NoError"
    operative: bool = True  # ChangeAvailability
    pending_inoperative: bool = False  # ChangeAvailability Scheduled until the tx ends
    reservation_id: int | None = None
    transaction_key: str | None = None  # local key of the running transaction
    # 2.0.1 TxStartPoint EVConnected: the transaction began with the cable, no tag yet;
    # no energy flows until one is authorized (chargingState EVConnected).
    awaiting_authorization: bool = False

    @property
    def status(self) -> str:
        if self.fault is not None and FAULTS[self.fault][1]:
            return "Faulted"
        if not self.operative and self.transaction_key is None:
            return "Unavailable"
        if self.transaction_key is not None:
            if self.awaiting_authorization:
                return "Preparing"
            if self.evse_suspended:
                return "SuspendedEVSE"
            return "Charging" if self.ev_requesting and self.plugged else "SuspendedEV"
        if self.plugged:
            return "Finishing" if self.finishing else "Preparing"
        if self.reservation_id is not None:
            return "Reserved"
        if self.tag_presented:
            return "Preparing"
        return "Available"

    @property
    def status_201(self) -> str:
        status = self.status
        if status == "Preparing" and not self.plugged and self.transaction_key is None:
            # 2.0.1 ConnectorStatus is about the connector: authorized, awaiting the cable,
            # it is still free (no EV, no transaction).
            return "Available"
        return STATUS_201[status]

    @property
    def charging_state_201(self) -> str:
        return CHARGING_STATE_201.get(self.status, "Idle")

    @property
    def available_for_transaction(self) -> bool:
        return self.operative and self.fault is None and self.transaction_key is None

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "plugged": self.plugged,
            "locked": self.locked,
            "ev_requesting": self.ev_requesting,
            "finishing": self.finishing,
            "fault": self.fault,
            "error_code": self.error_code,
            "operative": self.operative,
            "pending_inoperative": self.pending_inoperative,
            "reservation_id": self.reservation_id,
            "transaction_key": self.transaction_key,
            "awaiting_authorization": self.awaiting_authorization,
        }

    def restore(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if key in self.__slots__:  # type: ignore[attr-defined]
                setattr(self, key, value)
