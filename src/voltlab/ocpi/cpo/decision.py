"""The CPO's token decision, version-neutral: plain data in, plain data out.

A tag presented on a charger is decided in two steps, because the real-time call to the
eMSP (``POST {tokens}/{uid}/authorize``) happens in between and is the caller's business:

1. ``first_step(cached)`` looks at the CPO's token cache and returns a ``Plan``: either
   ``Decided`` (the cache is enough, no remote call) or ``AskEmsp`` (ask the token's eMSP,
   or every connected eMSP when the token is not cached).
2. ``resolve(cached, outcome, policy)`` turns what the eMSP did (``EmspAnswer``,
   ``EmspTimeout``, ``EmspError``, ``EmspUnknownToken``) into a ``Decision``, applying the
   CPO's fallback policy when the eMSP did not answer.

``ocpp_status`` and ``personal_message`` render a ``Decision`` for the charger's OCPP
version; ``token_type_to_ocpi`` / ``ocpi_type_to_ocpp`` map token types;
``RecentDecisions`` implements "one decision per start" (docs/ocpi.md).

Step 1, the cache (OCPI 2.2.1 WhitelistType; docs/protocols.md section 4):

==================  =======  ===========================================================
whitelist           valid    plan
==================  =======  ===========================================================
(not cached)        -        AskEmsp, every connected eMSP
ALWAYS              true     Decided: cache, accepted, WHITELIST (no remote call)
ALWAYS              false    Decided: cache, refused (spec leaves it open; voltlab
                             refuses, protocols.md "choice")
ALLOWED             true     Decided: cache, accepted, WHITELIST ("the CPO may choose";
                             voltlab whitelists, seed 003 step 3)
ALLOWED             false    Decided: cache, refused, no remote call. The spec asks for
                             a real-time check of an invalid token only "when the
                             whitelist field requires real-time authorization"; ALLOWED
                             does not, the eMSP pushes every change of the token, and
                             ocpi.md says "a token with valid: false is refused whatever
                             its whitelist".
ALLOWED_OFFLINE     any      AskEmsp, the token's eMSP (real time while it is reachable)
NEVER               any      AskEmsp, the token's eMSP (always real time)
==================  =======  ===========================================================

Step 2, the eMSP's outcome (path, accepted):

* ``EmspAnswer``: path ``realtime``, auth method ``AUTH_REQUEST``; accepted exactly when
  ``allowed`` is ``ALLOWED``. The eMSP's answer wins over the cached ``valid`` flag: the
  spec asks for the real-time call of an invalid NEVER/ALLOWED_OFFLINE token because "the
  state of the Token might have changed". "Refused whatever its whitelist" therefore
  applies to what the CPO decides on its own (cache and fallback), never to the eMSP.
* ``EmspUnknownToken`` (HTTP 404 + 2004; also an ``EmspError`` carrying status 2004):
  path ``realtime``, refused as unknown.
* ``EmspTimeout`` / ``EmspError``: path ``fallback`` (the fallback policy decided),
  auth method ``WHITELIST``:

  ===============  ===========================================================
  policy           accepted when
  ===============  ===========================================================
  ``whitelist``    the token is cached, valid, and its whitelist is ALWAYS,
                   ALLOWED or ALLOWED_OFFLINE (NEVER and unknown: refused)
  ``refuse``       never
  ``accept_known`` the token is cached and valid (any whitelist)
  ===============  ===========================================================

  A cached token with ``valid: false`` is never accepted by the fallback.

OCPP status (``ocpp_status``; protocols.md section 5 plus voltlab's choices):

=================================  ============  ==================  ======================
decision                           1.6           2.0.1               why
=================================  ============  ==================  ======================
accepted (cache/realtime/fallback) Accepted      Accepted
eMSP BLOCKED                       Blocked       Blocked             protocols.md 5
eMSP EXPIRED                       Expired       Expired             protocols.md 5
eMSP NO_CREDIT                     Invalid       NoCredit            protocols.md 5
eMSP NOT_ALLOWED                   Invalid       NotAtThisLocation   protocols.md 5
unknown token (404/2004)           Invalid       Unknown             protocols.md 5
cached token with valid: false     Blocked       Blocked             choice: ``valid:
                                                                     false`` is the eMSP
                                                                     saying "do not let it
                                                                     charge", the same
                                                                     thing a real-time
                                                                     BLOCKED says; both
                                                                     versions have Blocked
no answer, fallback refuses        Invalid       Invalid             choice: the token was
                                                                     not verified; Unknown
                                                                     would claim the eMSP
                                                                     does not know it
=================================  ============  ==================  ======================

Everything here is pure: no I/O, no clock (timestamps are passed in), no asyncio.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeAlias, TypeVar

# What RecentDecisions keeps: a Decision, or a caller's richer record of one.
D = TypeVar("D")

__all__ = [
    "ALLOWED_TYPES",
    "FALLBACK_POLICIES",
    "OCPP_VERSIONS",
    "ONE_DECISION_WINDOW_S",
    "WHITELIST_TYPES",
    "AllowedType",
    "AskEmsp",
    "AuthMethod",
    "CachedToken",
    "Decided",
    "Decision",
    "DecisionPath",
    "EmspAnswer",
    "EmspError",
    "EmspTimeout",
    "EmspUnknownToken",
    "FallbackPolicy",
    "OcppVersion",
    "Outcome",
    "Plan",
    "RecentDecisions",
    "Refusal",
    "Whitelist",
    "first_step",
    "merge_outcomes",
    "ocpi_type_to_ocpp",
    "ocpp_status",
    "personal_message",
    "resolve",
    "token_type_to_ocpi",
]

Whitelist: TypeAlias = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]
AllowedType: TypeAlias = Literal["ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"]
FallbackPolicy: TypeAlias = Literal["whitelist", "refuse", "accept_known"]
DecisionPath: TypeAlias = Literal["cache", "realtime", "fallback"]
AuthMethod: TypeAlias = Literal["WHITELIST", "AUTH_REQUEST"]
OcppVersion: TypeAlias = Literal["1.6", "2.0.1"]
# Why a decision refused the tag: the eMSP said so (see ``ocpi_allowed``), the eMSP does
# not know the token, the cached token is not valid, or the eMSP did not answer and the
# fallback policy refused.
Refusal: TypeAlias = Literal["emsp", "unknown", "invalid", "no_answer"]

WHITELIST_TYPES: tuple[str, ...] = ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER")
ALLOWED_TYPES: tuple[str, ...] = ("ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED")
FALLBACK_POLICIES: tuple[str, ...] = ("whitelist", "refuse", "accept_known")
OCPP_VERSIONS: tuple[str, ...] = ("1.6", "2.0.1")
ONE_DECISION_WINDOW_S = 60.0

# OCPI TokenType values.
_OCPI_TOKEN_TYPES = ("AD_HOC_USER", "APP_USER", "OTHER", "RFID")
# OCPP 2.0.1 IdTokenEnumType -> OCPI TokenType.
_OCPP_TO_OCPI_TYPE = {
    "ISO14443": "RFID",
    "ISO15693": "RFID",  # vicinity RFID cards: still RFID for OCPI
    "Central": "APP_USER",
    "eMAID": "OTHER",
    "KeyCode": "OTHER",
    "Local": "OTHER",
    "MacAddress": "OTHER",
    "NoAuthorization": "OTHER",
}
# OCPI TokenType -> OCPP 2.0.1 IdTokenEnumType.
_OCPI_TO_OCPP_TYPE = {
    "RFID": "ISO14443",
    "APP_USER": "Central",
    "AD_HOC_USER": "Central",
    "OTHER": "Local",
}

_STATUS_BY_ALLOWED: dict[str, tuple[str, str]] = {
    # allowed: (1.6, 2.0.1)
    "ALLOWED": ("Accepted", "Accepted"),
    "BLOCKED": ("Blocked", "Blocked"),
    "EXPIRED": ("Expired", "Expired"),
    "NO_CREDIT": ("Invalid", "NoCredit"),
    "NOT_ALLOWED": ("Invalid", "NotAtThisLocation"),
}
_STATUS_BY_REFUSAL: dict[str, tuple[str, str]] = {
    "unknown": ("Invalid", "Unknown"),
    "invalid": ("Blocked", "Blocked"),
    "no_answer": ("Invalid", "Invalid"),
}

PERSONAL_MESSAGE_MAX = 512  # OCPP 2.0.1 MessageContentType.content maxLength
LANGUAGE_MAX = 8  # OCPP 2.0.1 MessageContentType.language maxLength


def _check_version(ocpp_version: str) -> None:
    if ocpp_version not in OCPP_VERSIONS:
        raise ValueError(f"ocpp_version must be one of {OCPP_VERSIONS}, not {ocpp_version!r}")


def _check_display_text(info: Any, field: str) -> dict[str, Any] | None:
    if info is None:
        return None
    if not isinstance(info, Mapping) or not isinstance(info.get("text"), str):
        raise ValueError(f"{field} must be an OCPI DisplayText {{language, text}}, not {info!r}")
    language = info.get("language")
    if language is not None and not isinstance(language, str):
        raise ValueError(f"{field}.language must be a string, not {language!r}")
    return dict(info)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token the CPO holds in its cache (pushed or pulled from the eMSP).

    ``type`` is the OCPI TokenType (``RFID``, ``APP_USER``, ``AD_HOC_USER``, ``OTHER``);
    ``country_code``/``party_id`` name the eMSP that owns the token.
    """

    uid: str
    type: str
    country_code: str
    party_id: str
    valid: bool
    whitelist: Whitelist
    group_id: str | None = None

    def __post_init__(self) -> None:
        if self.whitelist not in WHITELIST_TYPES:
            raise ValueError(f"whitelist must be one of {WHITELIST_TYPES}, not {self.whitelist!r}")
        if not isinstance(self.valid, bool):
            raise ValueError(f"valid must be a bool, not {self.valid!r}")

    @classmethod
    def from_ocpi(cls, token: Mapping[str, Any]) -> CachedToken:
        """Build from an OCPI Token object (JSON shape); ValueError names a missing field."""
        for field in ("uid", "country_code", "party_id", "valid", "whitelist"):
            if field not in token:
                raise ValueError(f"OCPI Token is missing {field!r}")
        return cls(
            uid=token["uid"],
            type=token.get("type") or "RFID",
            country_code=token["country_code"],
            party_id=token["party_id"],
            valid=token["valid"],
            whitelist=token["whitelist"],
            group_id=token.get("group_id"),
        )


@dataclass(frozen=True, slots=True)
class EmspAnswer:
    """The eMSP answered the real-time authorization (OCPI AuthorizationInfo)."""

    allowed: AllowedType
    authorization_reference: str | None = None
    info: dict[str, Any] | None = None  # OCPI DisplayText {language, text}
    token: dict[str, Any] | None = None  # the Token object the eMSP returned, if any

    def __post_init__(self) -> None:
        if self.allowed not in ALLOWED_TYPES:
            raise ValueError(f"allowed must be one of {ALLOWED_TYPES}, not {self.allowed!r}")
        _check_display_text(self.info, "info")

    @classmethod
    def from_authorization_info(cls, data: Mapping[str, Any]) -> EmspAnswer:
        """Parse the ``data`` of the eMSP's authorize answer; ValueError on a bad shape."""
        if not isinstance(data, Mapping):
            raise ValueError(f"AuthorizationInfo must be an object, not {data!r}")
        if "allowed" not in data:
            raise ValueError("AuthorizationInfo is missing 'allowed'")
        reference = data.get("authorization_reference")
        if reference is not None and not isinstance(reference, str):
            raise ValueError(f"authorization_reference must be a string, not {reference!r}")
        token = data.get("token")
        if token is not None and not isinstance(token, Mapping):
            raise ValueError(f"token must be an object, not {token!r}")
        return cls(
            allowed=data["allowed"],
            authorization_reference=reference,
            info=_check_display_text(data.get("info"), "info"),
            token=dict(token) if token is not None else None,
        )


@dataclass(frozen=True, slots=True)
class EmspTimeout:
    """The eMSP did not answer within the CPO's ``realtime_timeout_ms``."""

    timeout_ms: int

    @property
    def message(self) -> str:
        return f"timeout after {self.timeout_ms} ms"


@dataclass(frozen=True, slots=True)
class EmspError:
    """The call failed: unreachable, HTTP error, or an OCPI error envelope.

    ``message`` is logged as is (e.g. ``"HTTP 500, status_code 3000"``). An error with
    ``status_code`` 2004 (unknown Token) is treated as ``EmspUnknownToken``.
    """

    message: str
    http_status: int | None = None
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class EmspUnknownToken:
    """The eMSP does not know the token (HTTP 404 + OCPI 2004), or no eMSP claims it."""

    http_status: int | None = 404
    status_code: int | None = 2004


Outcome: TypeAlias = EmspAnswer | EmspTimeout | EmspError | EmspUnknownToken


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Decision:
    """What the CPO decided for one presented token.

    * ``path``: ``cache`` (no remote call), ``realtime`` (the eMSP answered, including an
      unknown-token answer) or ``fallback`` (the eMSP did not answer, the fallback policy
      decided).
    * ``ocpi_allowed``: the eMSP's ``allowed``, ``None`` when it gave none.
    * ``refusal``: why a refused decision refused (``None`` when accepted), see ``Refusal``.
    * ``reason``: a short human text (``"whitelist ALWAYS"``, ``"BLOCKED"``, ``"unknown"``,
      ``"invalid"``, ``"fallback: whitelist ALLOWED_OFFLINE"``, ...).
    * ``error``: the timeout or error text when the eMSP did not answer
      (``"timeout after 1000 ms"``), for the authorization log's ``error`` column.
    * ``auth_method``: ``AUTH_REQUEST`` on the real-time path, ``WHITELIST`` otherwise.
    * ``authorization_reference``: the eMSP's; when ``None`` and accepted, the caller
      mints one (``needs_reference``).
    * ``info``: the eMSP's DisplayText ``{language, text}``, if any.
    * ``group_id``: from the token the eMSP returned, else from the cached token.
    """

    path: DecisionPath
    accepted: bool
    ocpi_allowed: AllowedType | None
    reason: str
    auth_method: AuthMethod
    refusal: Refusal | None = None
    error: str | None = None
    authorization_reference: str | None = None
    info: dict[str, Any] | None = None
    group_id: str | None = None

    @property
    def needs_reference(self) -> bool:
        """True when the CPO must mint the authorization_reference itself."""
        return self.accepted and self.authorization_reference is None


@dataclass(frozen=True, slots=True)
class Decided:
    """Step 1 decided from the cache alone: no remote call."""

    decision: Decision

    @property
    def path(self) -> DecisionPath:
        return self.decision.path

    @property
    def accepted(self) -> bool:
        return self.decision.accepted


@dataclass(frozen=True, slots=True)
class AskEmsp:
    """Step 1 needs the eMSP in real time.

    ``country_code``/``party_id`` name the token's eMSP; both are ``None`` when the token is
    not cached, meaning "ask every connected eMSP" (combine the answers with
    ``merge_outcomes``). ``reason`` says why (``"not cached"``, ``"whitelist NEVER"``,
    ``"whitelist ALLOWED_OFFLINE"``).
    """

    country_code: str | None
    party_id: str | None
    reason: str

    @property
    def every_emsp(self) -> bool:
        return self.country_code is None


Plan: TypeAlias = Decided | AskEmsp


# --------------------------------------------------------------------------- the steps


def _cache_decision(cached: CachedToken) -> Decision:
    if cached.valid:
        return Decision(
            path="cache",
            accepted=True,
            ocpi_allowed=None,
            reason=f"whitelist {cached.whitelist}",
            auth_method="WHITELIST",
            group_id=cached.group_id,
        )
    return Decision(
        path="cache",
        accepted=False,
        ocpi_allowed=None,
        reason="invalid",
        auth_method="WHITELIST",
        refusal="invalid",
        group_id=cached.group_id,
    )


def first_step(cached: CachedToken | None) -> Plan:
    """Decide from the cache, or say whom to ask (see the module's first table)."""
    if cached is None:
        return AskEmsp(country_code=None, party_id=None, reason="not cached")
    if cached.whitelist in ("ALWAYS", "ALLOWED"):
        return Decided(_cache_decision(cached))
    return AskEmsp(
        country_code=cached.country_code,
        party_id=cached.party_id,
        reason=f"whitelist {cached.whitelist}",
    )


def _fallback_accepts(cached: CachedToken | None, policy: FallbackPolicy) -> bool:
    if cached is None or not cached.valid:
        return False
    if policy == "whitelist":
        return cached.whitelist in ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE")
    return policy == "accept_known"  # "refuse" never falls back


def resolve(cached: CachedToken | None, outcome: Outcome, policy: FallbackPolicy) -> Decision:
    """Turn the eMSP's outcome into a Decision (see the module's second table).

    ``cached`` is the token as step 1 saw it (``None`` when not cached); ``policy`` is the
    CPO's ``fallback_policy``, used only when the eMSP did not answer.
    """
    if policy not in FALLBACK_POLICIES:
        raise ValueError(f"policy must be one of {FALLBACK_POLICIES}, not {policy!r}")
    cached_group = cached.group_id if cached is not None else None

    if isinstance(outcome, EmspError) and outcome.status_code == 2004:
        outcome = EmspUnknownToken(outcome.http_status, outcome.status_code)

    if isinstance(outcome, EmspAnswer):
        accepted = outcome.allowed == "ALLOWED"
        token_group = (outcome.token or {}).get("group_id")
        return Decision(
            path="realtime",
            accepted=accepted,
            ocpi_allowed=outcome.allowed,
            reason=outcome.allowed,
            auth_method="AUTH_REQUEST",
            refusal=None if accepted else "emsp",
            authorization_reference=outcome.authorization_reference,
            info=outcome.info,
            group_id=token_group or cached_group,
        )
    if isinstance(outcome, EmspUnknownToken):
        return Decision(
            path="realtime",
            accepted=False,
            ocpi_allowed=None,
            reason="unknown",
            auth_method="AUTH_REQUEST",
            refusal="unknown",
            group_id=cached_group,
        )
    if isinstance(outcome, EmspTimeout | EmspError):
        error = outcome.message
    else:
        raise TypeError(f"not an eMSP outcome: {outcome!r}")

    if _fallback_accepts(cached, policy):
        assert cached is not None
        reason = (
            f"fallback: whitelist {cached.whitelist}"
            if policy == "whitelist"
            else "fallback: accept_known"
        )
        return Decision(
            path="fallback",
            accepted=True,
            ocpi_allowed=None,
            reason=reason,
            auth_method="WHITELIST",
            error=error,
            group_id=cached_group,
        )
    if cached is not None and not cached.valid:
        refusal: Refusal = "invalid"
        reason = "invalid"
    else:
        refusal = "no_answer"
        if cached is None:
            reason = f"fallback refused ({policy}): token not cached"
        else:
            reason = f"fallback refused ({policy}): whitelist {cached.whitelist}"
    return Decision(
        path="fallback",
        accepted=False,
        ocpi_allowed=None,
        reason=reason,
        auth_method="WHITELIST",
        refusal=refusal,
        error=error,
        group_id=cached_group,
    )


def merge_outcomes(outcomes: Sequence[Outcome]) -> Outcome:
    """One outcome from asking every connected eMSP about an uncached token.

    The first ``ALLOWED`` answer wins; else the first other answer (the token's owner
    refused it); else the first timeout or error (the owner may be the one that did not
    answer, so the fallback policy applies); else (every eMSP said unknown, or none is
    connected) ``EmspUnknownToken``.
    """
    answers = [o for o in outcomes if isinstance(o, EmspAnswer)]
    for answer in answers:
        if answer.allowed == "ALLOWED":
            return answer
    if answers:
        return answers[0]
    for outcome in outcomes:
        if isinstance(outcome, EmspError) and outcome.status_code == 2004:
            continue
        if isinstance(outcome, EmspTimeout | EmspError):
            return outcome
    return EmspUnknownToken()


# --------------------------------------------------------------------------- OCPP side


def ocpp_status(decision: Decision, ocpp_version: OcppVersion) -> str:
    """The AuthorizationStatus to send to the charger (see the module's third table)."""
    _check_version(ocpp_version)
    column = 0 if ocpp_version == "1.6" else 1
    if decision.accepted:
        return "Accepted"
    if decision.ocpi_allowed is not None:
        return _STATUS_BY_ALLOWED[decision.ocpi_allowed][column]
    return _STATUS_BY_REFUSAL[decision.refusal or "no_answer"][column]


def personal_message(decision: Decision, ocpp_version: OcppVersion) -> dict[str, str] | None:
    """2.0.1 ``personalMessage`` (MessageContentType) from the eMSP's ``info``.

    ``None`` for 1.6 (no such field) and when the eMSP sent no ``info``. The content is
    cut to 512 characters and the language to 8, the 2.0.1 limits.
    """
    _check_version(ocpp_version)
    if ocpp_version == "1.6" or decision.info is None:
        return None
    message = {"format": "UTF8"}
    language = decision.info.get("language")
    if language:
        message["language"] = language[:LANGUAGE_MAX]
    message["content"] = decision.info["text"][:PERSONAL_MESSAGE_MAX]
    return message


def token_type_to_ocpi(ocpp_id_token_type: str | None) -> str:
    """OCPP ``idToken.type`` -> OCPI TokenType.

    ``None`` (OCPP 1.6 has no token type) -> ``RFID``; ``ISO14443``/``ISO15693`` -> ``RFID``;
    ``Central`` -> ``APP_USER``; every other 2.0.1 type (``eMAID``, ``KeyCode``, ``Local``,
    ``MacAddress``, ``NoAuthorization``) -> ``OTHER``.
    """
    if ocpp_id_token_type is None:
        return "RFID"
    try:
        return _OCPP_TO_OCPI_TYPE[ocpp_id_token_type]
    except KeyError:
        raise ValueError(f"unknown OCPP idToken type {ocpp_id_token_type!r}") from None


def ocpi_type_to_ocpp(ocpi_type: str, ocpp_version: OcppVersion = "2.0.1") -> str | None:
    """OCPI TokenType -> OCPP 2.0.1 IdTokenEnumType; ``None`` for 1.6 (no type there).

    ``RFID`` -> ``ISO14443``; ``APP_USER``/``AD_HOC_USER`` -> ``Central``; ``OTHER`` ->
    ``Local`` (voltlab's choice: no 2.0.1 type says "other").
    """
    _check_version(ocpp_version)
    if ocpi_type not in _OCPI_TOKEN_TYPES:
        raise ValueError(f"unknown OCPI token type {ocpi_type!r}")
    if ocpp_version == "1.6":
        return None
    return _OCPI_TO_OCPP_TYPE[ocpi_type]


# --------------------------------------------------------------------------- one per start


def _seconds(now: float | datetime) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)


class RecentDecisions(Generic[D]):
    """Decisions of the last ``window_s`` seconds, per (charger, token), bounded in size.

    "One decision per start" (docs/ocpi.md): ``remember`` each Authorize decision; when a
    1.6 StartTransaction or 2.0.1 TransactionEvent Started for the same token on the same
    charger follows within the window (inclusive), ``take`` hands that decision back,
    with its ``authorization_reference``, and forgets it so a later start decides anew.

    Timestamps are passed in (seconds on any one clock, or datetimes; do not mix the two);
    an entry older than the window, or stamped in the future of ``now``, is not reused.
    Token uids are compared case-insensitively (OCPP IdToken and OCPI uid are CiStrings).
    At ``max_entries`` the oldest entry is dropped.
    """

    def __init__(self, window_s: float = ONE_DECISION_WINDOW_S, max_entries: int = 1024) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.window_s = float(window_s)
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, D]] = OrderedDict()

    @staticmethod
    def _key(charger_id: str, token_uid: str) -> tuple[str, str]:
        return (charger_id, token_uid.casefold())

    def __len__(self) -> int:
        return len(self._entries)

    def _fresh(self, stamp: float, now: float) -> bool:
        return 0.0 <= now - stamp <= self.window_s

    def prune(self, now: float | datetime) -> None:
        """Forget every entry that is no longer reusable at ``now``."""
        t = _seconds(now)
        for key in [k for k, (stamp, _) in self._entries.items() if not self._fresh(stamp, t)]:
            del self._entries[key]

    def remember(self, charger_id: str, token_uid: str, decision: D, now: float | datetime) -> None:
        """Record ``decision`` (taken at ``now``), replacing an older one for the same key."""
        t = _seconds(now)
        self.prune(t)
        key = self._key(charger_id, token_uid)
        self._entries.pop(key, None)
        self._entries[key] = (t, decision)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def peek(self, charger_id: str, token_uid: str, now: float | datetime) -> D | None:
        """The reusable decision for this key at ``now``, without consuming it."""
        entry = self._entries.get(self._key(charger_id, token_uid))
        if entry is None or not self._fresh(entry[0], _seconds(now)):
            return None
        return entry[1]

    def take(self, charger_id: str, token_uid: str, now: float | datetime) -> D | None:
        """The reusable decision for this key at ``now``, consumed (None when there is none)."""
        key = self._key(charger_id, token_uid)
        entry = self._entries.pop(key, None)
        if entry is None or not self._fresh(entry[0], _seconds(now)):
            return None
        return entry[1]
