"""``CsmsHub``: the built-in CSMS without a transport.

The hub owns realms (namespaces of identities: one per OCPI CPO bundle, ``""`` for the
standalone server), their credentials and hooks, the stations and the live OCPP
sessions, all keyed by ``(realm, identity)``. Sockets reach it through an attachment:
``CsmsServer`` (its own ``websockets`` port) or ``asgi.websocket_endpoint`` (a route of
the REST app). An attachment checks ``admit``, picks the version with
``choose_subprotocol``, then hands the accepted socket to ``attach``::

    hub = CsmsHub(heartbeat_interval_s=300)
    hub.add_realm("cpo-1", hooks=CpoHooks(...))          # closed: passwords required
    hub.set_password("cpo-1", "CP-001", "s3cret-s3cret")
    ...
    hub.stations("cpo-1")["CP-001"].connectors          # {(1, 1): "Available"}
    answer = await hub.call(
        "cpo-1", "CP-001", "RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1}
    )                                                     # {"status": "Accepted"}
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from voltlab.csms.connection import ConnectionEnded, CsmsConnection
from voltlab.csms.errors import StationOffline, UnknownRealm
from voltlab.csms.hooks import DEFAULT_HOOKS, CsmsHooks, HookRunner
from voltlab.csms.state import CsmsStation
from voltlab.csms.v16 import CsmsSession16
from voltlab.csms.v201 import CsmsSession201
from voltlab.ids import utcnow
from voltlab.tasks import TaskSet

log = logging.getLogger(__name__)

DEFAULT_REALM = ""
# Server preference when a station offers both, as ``websockets`` picks: the first here.
SUBPROTOCOLS = ("ocpp1.6", "ocpp2.0.1")
VERSIONS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}

CsmsSession = CsmsSession16 | CsmsSession201


def choose_subprotocol(offered: Iterable[str]) -> str | None:
    """The OCPP subprotocol to answer a station that offered ``offered``, or ``None``."""
    offered = set(offered)
    return next((p for p in SUBPROTOCOLS if p in offered), None)


def basic_auth_matches(authorization: str | None, identity: str, password: str) -> bool:
    """``Authorization: Basic`` of security profile 1: user = identity, the password."""
    if not authorization or not authorization.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(authorization[6:]).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, given = decoded.partition(":")
    same_password = hmac.compare_digest(given.encode(), password.encode())
    return user == identity and same_password


class Admission(enum.Enum):
    ADMITTED = "admitted"
    UNKNOWN_REALM = "unknown realm"
    UNAUTHORIZED = "unknown identity or wrong password"


@dataclass(slots=True)
class _Realm:
    require_auth: bool
    hooks: CsmsHooks | None = None
    passwords: dict[str, str] = field(default_factory=dict)
    stations: dict[str, CsmsStation] = field(default_factory=dict)
    sessions: dict[str, CsmsSession] = field(default_factory=dict)


class CsmsHub:
    """Realms, credentials, hooks, stations and live sessions of the built-in CSMS.

    ``hooks`` are the default for realms without their own. ``session_classes`` maps
    ``"1.6"`` / ``"2.0.1"`` to the session class to run (tests substitute recording ones).
    """

    def __init__(
        self,
        *,
        heartbeat_interval_s: int = 60,
        hooks: CsmsHooks | None = None,
        authorize_timeout_s: float = 25.0,
        response_timeout_s: float = 30.0,
        session_classes: Mapping[str, type[CsmsSession]] | None = None,
    ) -> None:
        self.heartbeat_interval_s = heartbeat_interval_s
        self.default_hooks = hooks or DEFAULT_HOOKS
        self.authorize_timeout_s = authorize_timeout_s
        self.response_timeout_s = response_timeout_s
        self.session_classes: dict[str, type[CsmsSession]] = {
            "1.6": CsmsSession16,
            "2.0.1": CsmsSession201,
            **(session_classes or {}),
        }
        self._realms: dict[str, _Realm] = {}
        self._tasks = TaskSet()

    # -- realms and credentials ----------------------------------------------------------
    def add_realm(
        self, realm: str, *, require_auth: bool = True, hooks: CsmsHooks | None = None
    ) -> None:
        """Create ``realm``, or change an existing one's auth and (if given) hooks.

        In an open realm (``require_auth=False``) any identity may connect without
        credentials, except one that has a password set. In a closed realm only
        identities with a password connect, and only with it.
        """
        space = self._realms.get(realm)
        if space is None:
            self._realms[realm] = _Realm(require_auth=require_auth, hooks=hooks)
            return
        space.require_auth = require_auth
        if hooks is not None:
            space.hooks = hooks

    async def remove_realm(self, realm: str) -> None:
        """Forget ``realm`` entirely, disconnecting its live stations."""
        space = self._realms.pop(realm, None)
        if space is not None:
            await asyncio.gather(*(self._hang_up(s) for s in list(space.sessions.values())))

    def realms(self) -> list[str]:
        return list(self._realms)

    def requires_auth(self, realm: str) -> bool:
        return self._realm(realm).require_auth

    def set_hooks(self, realm: str, hooks: CsmsHooks | None) -> None:
        """Hooks of ``realm`` (``None``: the hub's default); live sessions use them at once.

        Creates a closed realm if there is none.
        """
        self._realms.setdefault(realm, _Realm(require_auth=True)).hooks = hooks

    def hooks(self, realm: str) -> CsmsHooks:
        space = self._realms.get(realm)
        return (space.hooks if space else None) or self.default_hooks

    def set_password(self, realm: str, identity: str, password: str) -> None:
        """Require ``password`` from ``identity``; creates a closed realm if there is none."""
        self._realms.setdefault(realm, _Realm(require_auth=True)).passwords[identity] = password

    def passwords(self, realm: str) -> dict[str, str]:
        """The live identity -> password mapping of ``realm`` (changes take effect)."""
        return self._realm(realm).passwords

    def set_passwords(self, realm: str, passwords: dict[str, str]) -> None:
        """Adopt ``passwords`` as the realm's mapping (kept live, not copied)."""
        self._realm(realm).passwords = passwords

    async def forget(self, realm: str, identity: str) -> None:
        """Drop the identity's password and station, disconnecting it if connected."""
        space = self._realms.get(realm)
        if space is None:
            return
        space.passwords.pop(identity, None)
        space.stations.pop(identity, None)
        session = space.sessions.get(identity)
        if session is not None:
            await self._hang_up(session)

    def admit(self, realm: str, identity: str, authorization: str | None) -> Admission:
        """May ``identity`` connect to ``realm`` with this ``Authorization`` header?"""
        space = self._realms.get(realm)
        if space is None:
            return Admission.UNKNOWN_REALM
        password = space.passwords.get(identity)
        if password is None:
            return Admission.UNAUTHORIZED if space.require_auth else Admission.ADMITTED
        if basic_auth_matches(authorization, identity, password):
            return Admission.ADMITTED
        return Admission.UNAUTHORIZED

    # -- state ---------------------------------------------------------------------------
    def stations(self, realm: str) -> dict[str, CsmsStation]:
        """The live identity -> station mapping of ``realm`` (read it, do not edit it)."""
        return self._realm(realm).stations

    def station(self, realm: str, identity: str) -> CsmsStation | None:
        space = self._realms.get(realm)
        return space.stations.get(identity) if space else None

    def session(self, realm: str, identity: str) -> CsmsSession | None:
        """The live ``ocpp`` session, for ``ocpp``-style calls; prefer ``call``."""
        space = self._realms.get(realm)
        return space.sessions.get(identity) if space else None

    # -- sessions ------------------------------------------------------------------------
    async def attach(
        self, realm: str, identity: str, ocpp_version: str, connection: CsmsConnection
    ) -> None:
        """Run the OCPP session of an accepted, admitted socket until it closes.

        A second connection of the same identity replaces the first, which is closed.
        """
        space = self._realm(realm)
        station = space.stations.get(identity)
        if station is None or station.ocpp_version != ocpp_version:
            station = CsmsStation(identity=identity, ocpp_version=ocpp_version, realm=realm)
            space.stations[identity] = station
        hooks = HookRunner(lambda: self.hooks(realm), authorize_timeout_s=self.authorize_timeout_s)
        session = self.session_classes[ocpp_version](
            identity,
            connection,
            station=station,
            heartbeat_interval_s=self.heartbeat_interval_s,
            hooks=hooks,
            response_timeout_s=self.response_timeout_s,
        )
        previous = space.sessions.get(identity)
        space.sessions[identity] = session
        if previous is not None:
            # Usually a half-open socket the station gave up on; it must not linger.
            self._tasks.spawn(self._hang_up(previous), name=f"csms-replace-{identity}")
        station.connected = True
        station.connected_changed_at = utcnow()
        try:
            await hooks.connection_changed(station, True)
            await session.start()
        except ConnectionEnded as ended:
            log.debug("%s/%s disconnected: %s", realm, identity, ended)
        except Exception:
            log.exception("OCPP session of %s/%s failed", realm, identity)
        finally:
            session.ended.set()
            if space.sessions.get(identity) is session:
                del space.sessions[identity]
                station.connected = False
                station.connected_changed_at = utcnow()
                await hooks.connection_changed(station, False)

    async def call(
        self,
        realm: str,
        identity: str,
        action: str,
        payload: dict[str, Any],
        *,
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        """Send a CSMS-initiated CALL; the CALLRESULT payload.

        ``action`` is the spec's name (``RemoteStartTransaction``, ``UnlockConnector``,
        ``RequestStartTransaction``, ...) and ``payload`` and the answer are camelCase, as
        on the wire (``ocpp`` translates to its snake_case dataclasses and back).

        Raises ``StationOffline`` when the station is not connected (or disconnects before
        answering), ``ValueError`` for an action or field its OCPP version lacks, the
        ``ocpp.exceptions.OCPPError`` subclass of a CALLERROR (or of a payload that fails
        the official schema) and ``TimeoutError``. The effective timeout is the smaller of
        ``timeout_s`` and the hub's ``response_timeout_s``. Calls to one station queue:
        OCPP allows one outstanding CALL per direction. Never await this from a hook for
        the same station (see ``hooks.py``).
        """
        session = self.session(realm, identity)
        if session is None:
            raise StationOffline(realm, identity)
        return await session.request(action, payload, timeout_s=timeout_s)

    async def close(self) -> None:
        """Disconnect every station (at shutdown)."""
        sessions = [s for space in self._realms.values() for s in space.sessions.values()]
        await asyncio.gather(*(self._hang_up(s, 1001, "CSMS going away") for s in sessions))
        await self._tasks.drain(timeout=5)

    def _realm(self, realm: str) -> _Realm:
        try:
            return self._realms[realm]
        except KeyError:
            raise UnknownRealm(realm) from None

    async def _hang_up(
        self, session: CsmsSession, code: int = 1000, reason: str = "closed by the CSMS"
    ) -> None:
        # The peer may be gone already, or never answer the close handshake.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await session.close(code, reason)
