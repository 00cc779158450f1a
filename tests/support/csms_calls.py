"""The test CSMS asking a running station things, and the wire shapes both versions use.

``ask`` sends a CALL through ``RecordingCsms.call`` and checks the answer the way a strict
CSMS would: a CALLRESULT (not a CALLERROR, not silence) whose payload passes the official
response schema, validated by the ``ocpp`` library itself::

    answer = await ask(csms, station, "GetLocalListVersion", {})
    assert answer["listVersion"] == 3
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from ocpp.messages import CallResult, validate_payload

from support.csms import RecordingCsms
from support.frames import check_sent_frames
from support.live import eventually
from voltlab.ids import isoformat
from voltlab.simulator import Station

# 1.6 configuration key -> 2.0.1 Component.Variable with the same meaning.
KEYS_201 = {
    "AllowOfflineTxForUnknownId": "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    "AuthorizationCacheEnabled": "AuthCacheCtrlr.Enabled",
    "AuthorizeRemoteTxRequests": "AuthCtrlr.AuthorizeRemoteStart",
    "ConnectionTimeOut": "TxCtrlr.EVConnectionTimeOut",
    "HeartbeatInterval": "OCPPCommCtrlr.HeartbeatInterval",
    "LocalAuthListEnabled": "LocalAuthListCtrlr.Enabled",
    "LocalAuthorizeOffline": "AuthCtrlr.LocalAuthorizeOffline",
    "LocalPreAuthorize": "AuthCtrlr.LocalPreAuthorize",
    "StopTransactionOnInvalidId": "TxCtrlr.StopTxOnInvalidId",
}


async def ask(
    csms: RecordingCsms, station: Station, action: str, payload: dict[str, Any], timeout=3.0
) -> dict[str, Any]:
    """The station's answer to the CSMS's ``action``, checked against its official schema."""
    version = station.spec.ocpp_version
    answer = await csms.call(station.spec.identity, action, payload, timeout=timeout)
    assert isinstance(answer, CallResult), f"{action}: expected a CALLRESULT, got {answer!r}"
    # ocpp's own validator, as a CSMS built on it checks the answers to its calls.
    await validate_payload(CallResult(answer.unique_id, answer.payload, action=action), version)
    return answer.payload  # type: ignore[no-any-return]


def configure(station: Station, **keys: str | int | bool) -> None:
    """Set 1.6 keys (translated to their 2.0.1 variables on a 2.0.1 station) as the CSMS could."""
    for key, value in keys.items():
        name = key if station.spec.ocpp_version == "1.6" else KEYS_201[key]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        status, reason = station.set_configuration(name, text)
        assert status == "Accepted", (name, status, reason)


def id_info(
    version: str,
    status: str = "Accepted",
    *,
    expiry: datetime | None = None,
    parent: str | None = None,
) -> dict[str, Any]:
    """An idTagInfo (1.6) / idTokenInfo (2.0.1) as the CSMS sends it."""
    if version == "1.6":
        info: dict[str, Any] = {"status": status}
        if expiry is not None:
            info["expiryDate"] = isoformat(expiry)
        if parent is not None:
            info["parentIdTag"] = parent
        return info
    info = {"status": status}
    if expiry is not None:
        info["cacheExpiryDateTime"] = isoformat(expiry)
    if parent is not None:
        info["groupIdToken"] = {"idToken": parent, "type": "Central"}
    return info


def local_list(
    version: str,
    list_version: int,
    update_type: str,
    entries: dict[str, dict[str, Any] | None],
) -> dict[str, Any]:
    """A SendLocalList payload; an entry whose info is None is a Differential delete."""
    items: list[dict[str, Any]] = []
    for tag, info in entries.items():
        if version == "1.6":
            item: dict[str, Any] = {"idTag": tag}
            if info is not None:
                item["idTagInfo"] = info
        else:
            item = {"idToken": {"idToken": tag, "type": "ISO14443"}}
            if info is not None:
                item["idTokenInfo"] = info
        items.append(item)
    key = "listVersion" if version == "1.6" else "versionNumber"
    payload: dict[str, Any] = {key: list_version, "updateType": update_type}
    if items:  # 2.0.1: an empty Full leaves the list out (minItems 1)
        payload["localAuthorizationList"] = items
    return payload


def list_version_of(version: str, answer: dict[str, Any]) -> int:
    """GetLocalListVersion's number, whatever the version calls it."""
    return int(answer["listVersion" if version == "1.6" else "versionNumber"])


async def booted(csms: RecordingCsms, station: Station) -> None:
    """Until the station is Accepted and has reported every connector (and 1.6 connector 0)."""
    identity = station.spec.identity
    statuses = len(station.connectors) + (1 if station.spec.ocpp_version == "1.6" else 0)
    await csms.wait_for(identity, "BootNotification", timeout=5)
    await csms.wait_for(identity, "StatusNotification", count=statuses, timeout=5)
    await eventually(lambda: station.online, timeout=5)


@contextlib.asynccontextmanager
async def csms_down(csms: RecordingCsms, station: Station) -> AsyncIterator[None]:
    """The CSMS is unreachable inside the block; it is back (and the station too) after."""
    await csms.stop()
    await eventually(lambda: not station.online and station.adapter is None, timeout=5)
    try:
        yield
    finally:
        await csms.start()
        await eventually(lambda: station.online, timeout=5)


def statuses(csms: RecordingCsms, station: Station, connector_id: int = 1) -> list[str]:
    """Every status the station reported for one connector (1.6) / EVSE (2.0.1), in order."""
    identity = station.spec.identity
    if station.spec.ocpp_version == "1.6":
        return [
            p["status"]
            for p in csms.payloads(identity, "StatusNotification")
            if p["connector_id"] == connector_id
        ]
    return [
        p["connector_status"]
        for p in csms.payloads(identity, "StatusNotification")
        if p["evse_id"] == connector_id
    ]


def assert_frames_valid(csms: RecordingCsms, station: Station) -> None:
    """Every frame the station sent (CALLs and answers) passes the official schemas."""
    identity = station.spec.identity
    assert check_sent_frames(station.spec.ocpp_version, csms.frames[identity], csms.sent_calls)
