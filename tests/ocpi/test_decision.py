"""The CPO's token decision (voltlab.ocpi.cpo.decision): the full decision table.

``EXPECTED`` is written out by hand from docs/ocpi.md, docs/protocols.md sections 4-5 and
OCPI 2.2.1 mod_tokens; the test does not recompute it. A ``*`` means "any": for cache
rows the eMSP is never asked, so neither the answer nor the fallback policy matters; for
answer rows the fallback policy is not consulted.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from voltlab.ocpi.cpo.decision import (
    AskEmsp,
    CachedToken,
    Decided,
    Decision,
    EmspAnswer,
    EmspError,
    EmspTimeout,
    EmspUnknownToken,
    RecentDecisions,
    first_step,
    merge_outcomes,
    ocpi_type_to_ocpp,
    ocpp_status,
    personal_message,
    resolve,
    token_type_to_ocpi,
)

TOKEN_STATES = [
    "not-cached",
    "ALWAYS/valid",
    "ALWAYS/invalid",
    "ALLOWED/valid",
    "ALLOWED/invalid",
    "ALLOWED_OFFLINE/valid",
    "ALLOWED_OFFLINE/invalid",
    "NEVER/valid",
    "NEVER/invalid",
]
OUTCOMES = [
    "ALLOWED",
    "BLOCKED",
    "EXPIRED",
    "NO_CREDIT",
    "NOT_ALLOWED",
    "unknown",
    "error",
    "timeout",
]
POLICIES = ["whitelist", "refuse", "accept_known"]

EXPECTED = """
# token                  outcome      policy        path      accepted  ocpp-1.6  ocpp-2.0.1
ALWAYS/valid             *            *             cache     yes       Accepted  Accepted
ALWAYS/invalid           *            *             cache     no        Blocked   Blocked
ALLOWED/valid            *            *             cache     yes       Accepted  Accepted
ALLOWED/invalid          *            *             cache     no        Blocked   Blocked

not-cached               ALLOWED      *             realtime  yes       Accepted  Accepted
not-cached               BLOCKED      *             realtime  no        Blocked   Blocked
not-cached               EXPIRED      *             realtime  no        Expired   Expired
not-cached               NO_CREDIT    *             realtime  no        Invalid   NoCredit
not-cached               NOT_ALLOWED  *             realtime  no        Invalid   NotAtThisLocation
not-cached               unknown      *             realtime  no        Invalid   Unknown
not-cached               error        whitelist     fallback  no        Invalid   Invalid
not-cached               error        refuse        fallback  no        Invalid   Invalid
not-cached               error        accept_known  fallback  no        Invalid   Invalid
not-cached               timeout      whitelist     fallback  no        Invalid   Invalid
not-cached               timeout      refuse        fallback  no        Invalid   Invalid
not-cached               timeout      accept_known  fallback  no        Invalid   Invalid

ALLOWED_OFFLINE/valid    ALLOWED      *             realtime  yes       Accepted  Accepted
ALLOWED_OFFLINE/valid    BLOCKED      *             realtime  no        Blocked   Blocked
ALLOWED_OFFLINE/valid    EXPIRED      *             realtime  no        Expired   Expired
ALLOWED_OFFLINE/valid    NO_CREDIT    *             realtime  no        Invalid   NoCredit
ALLOWED_OFFLINE/valid    NOT_ALLOWED  *             realtime  no        Invalid   NotAtThisLocation
ALLOWED_OFFLINE/valid    unknown      *             realtime  no        Invalid   Unknown
ALLOWED_OFFLINE/valid    error        whitelist     fallback  yes       Accepted  Accepted
ALLOWED_OFFLINE/valid    error        refuse        fallback  no        Invalid   Invalid
ALLOWED_OFFLINE/valid    error        accept_known  fallback  yes       Accepted  Accepted
ALLOWED_OFFLINE/valid    timeout      whitelist     fallback  yes       Accepted  Accepted
ALLOWED_OFFLINE/valid    timeout      refuse        fallback  no        Invalid   Invalid
ALLOWED_OFFLINE/valid    timeout      accept_known  fallback  yes       Accepted  Accepted

ALLOWED_OFFLINE/invalid  ALLOWED      *             realtime  yes       Accepted  Accepted
ALLOWED_OFFLINE/invalid  BLOCKED      *             realtime  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  EXPIRED      *             realtime  no        Expired   Expired
ALLOWED_OFFLINE/invalid  NO_CREDIT    *             realtime  no        Invalid   NoCredit
ALLOWED_OFFLINE/invalid  NOT_ALLOWED  *             realtime  no        Invalid   NotAtThisLocation
ALLOWED_OFFLINE/invalid  unknown      *             realtime  no        Invalid   Unknown
ALLOWED_OFFLINE/invalid  error        whitelist     fallback  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  error        refuse        fallback  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  error        accept_known  fallback  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  timeout      whitelist     fallback  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  timeout      refuse        fallback  no        Blocked   Blocked
ALLOWED_OFFLINE/invalid  timeout      accept_known  fallback  no        Blocked   Blocked

NEVER/valid              ALLOWED      *             realtime  yes       Accepted  Accepted
NEVER/valid              BLOCKED      *             realtime  no        Blocked   Blocked
NEVER/valid              EXPIRED      *             realtime  no        Expired   Expired
NEVER/valid              NO_CREDIT    *             realtime  no        Invalid   NoCredit
NEVER/valid              NOT_ALLOWED  *             realtime  no        Invalid   NotAtThisLocation
NEVER/valid              unknown      *             realtime  no        Invalid   Unknown
NEVER/valid              error        whitelist     fallback  no        Invalid   Invalid
NEVER/valid              error        refuse        fallback  no        Invalid   Invalid
NEVER/valid              error        accept_known  fallback  yes       Accepted  Accepted
NEVER/valid              timeout      whitelist     fallback  no        Invalid   Invalid
NEVER/valid              timeout      refuse        fallback  no        Invalid   Invalid
NEVER/valid              timeout      accept_known  fallback  yes       Accepted  Accepted

NEVER/invalid            ALLOWED      *             realtime  yes       Accepted  Accepted
NEVER/invalid            BLOCKED      *             realtime  no        Blocked   Blocked
NEVER/invalid            EXPIRED      *             realtime  no        Expired   Expired
NEVER/invalid            NO_CREDIT    *             realtime  no        Invalid   NoCredit
NEVER/invalid            NOT_ALLOWED  *             realtime  no        Invalid   NotAtThisLocation
NEVER/invalid            unknown      *             realtime  no        Invalid   Unknown
NEVER/invalid            error        whitelist     fallback  no        Blocked   Blocked
NEVER/invalid            error        refuse        fallback  no        Blocked   Blocked
NEVER/invalid            error        accept_known  fallback  no        Blocked   Blocked
NEVER/invalid            timeout      whitelist     fallback  no        Blocked   Blocked
NEVER/invalid            timeout      refuse        fallback  no        Blocked   Blocked
NEVER/invalid            timeout      accept_known  fallback  no        Blocked   Blocked
"""


def _expand_table() -> dict[tuple[str, str, str], tuple[str, bool, str, str]]:
    cases: dict[tuple[str, str, str], tuple[str, bool, str, str]] = {}
    for line in EXPECTED.strip().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        token, outcome, policy, path, accepted, s16, s201 = line.split()
        assert accepted in ("yes", "no"), line
        outcomes = OUTCOMES if outcome == "*" else [outcome]
        policies = POLICIES if policy == "*" else [policy]
        for key in itertools.product([token], outcomes, policies):
            assert key not in cases, f"row listed twice: {key}"
            cases[key] = (path, accepted == "yes", s16, s201)
    return cases


CASES = _expand_table()


def test_the_table_covers_every_combination_exactly_once():
    every = set(itertools.product(TOKEN_STATES, OUTCOMES, POLICIES))
    assert set(CASES) == every
    assert len(CASES) == 9 * 8 * 3


def _cached(state: str) -> CachedToken | None:
    if state == "not-cached":
        return None
    whitelist, validity = state.split("/")
    return CachedToken(
        uid="0102030405",
        type="RFID",
        country_code="NL",
        party_id="EMS",
        valid=validity == "valid",
        whitelist=whitelist,
        group_id="GROUP-1",
    )


INFO = {"language": "en", "text": "Welcome, Jane"}


def _outcome(name: str):
    if name == "unknown":
        return EmspUnknownToken()
    if name == "error":
        return EmspError("HTTP 500, status_code 3000", http_status=500, status_code=3000)
    if name == "timeout":
        return EmspTimeout(1000)
    return EmspAnswer(allowed=name, authorization_reference="REF-42", info=INFO)


@pytest.mark.parametrize(
    ("token", "outcome", "policy"), sorted(CASES), ids=["-".join(k) for k in sorted(CASES)]
)
def test_decision_table(token: str, outcome: str, policy: str):
    path, accepted, status_16, status_201 = CASES[(token, outcome, policy)]
    cached = _cached(token)
    plan = first_step(cached)
    if path == "cache":
        assert isinstance(plan, Decided)
        decision = plan.decision
        assert plan.path == "cache"
        assert plan.accepted is accepted
    else:
        assert isinstance(plan, AskEmsp)
        decision = resolve(cached, _outcome(outcome), policy)

    assert decision.path == path
    assert decision.accepted is accepted
    assert ocpp_status(decision, "1.6") == status_16
    assert ocpp_status(decision, "2.0.1") == status_201
    answered = outcome not in ("unknown", "error", "timeout") and path == "realtime"
    assert decision.ocpi_allowed == (outcome if answered else None)
    assert decision.auth_method == ("AUTH_REQUEST" if path == "realtime" else "WHITELIST")
    assert decision.accepted == (decision.refusal is None)
    if path == "fallback":
        expected_error = "timeout after 1000 ms" if outcome == "timeout" else "HTTP 500"
        assert decision.error is not None and decision.error.startswith(expected_error)
    else:
        assert decision.error is None


# --------------------------------------------------------------------------- step 1


def test_an_uncached_token_asks_every_connected_emsp():
    plan = first_step(None)
    assert plan == AskEmsp(country_code=None, party_id=None, reason="not cached")
    assert plan.every_emsp


@pytest.mark.parametrize("whitelist", ["NEVER", "ALLOWED_OFFLINE"])
@pytest.mark.parametrize("valid", [True, False])
def test_real_time_tokens_ask_their_own_emsp(whitelist: str, valid: bool):
    cached = CachedToken("U1", "RFID", "DE", "ABC", valid, whitelist)
    plan = first_step(cached)
    assert plan == AskEmsp(country_code="DE", party_id="ABC", reason=f"whitelist {whitelist}")
    assert not plan.every_emsp


def test_a_cache_acceptance_has_no_reference_so_the_cpo_mints_one():
    cached = CachedToken("U1", "RFID", "DE", "ABC", True, "ALWAYS", group_id="G")
    plan = first_step(cached)
    assert isinstance(plan, Decided)
    decision = plan.decision
    assert decision.authorization_reference is None
    assert decision.needs_reference
    assert decision.auth_method == "WHITELIST"
    assert decision.reason == "whitelist ALWAYS"
    assert decision.group_id == "G"
    refused = first_step(CachedToken("U1", "RFID", "DE", "ABC", False, "ALLOWED"))
    assert isinstance(refused, Decided)
    assert refused.decision.refusal == "invalid"
    assert not refused.decision.needs_reference


# --------------------------------------------------------------------------- step 2


def test_the_emsp_answer_carries_reference_info_and_group():
    cached = CachedToken("U1", "RFID", "DE", "ABC", True, "NEVER", group_id="CACHED")
    answer = EmspAnswer(
        allowed="ALLOWED",
        authorization_reference="REF-9",
        info={"language": "nl", "text": "Welkom"},
        token={"uid": "U1", "group_id": "FROM-EMSP"},
    )
    decision = resolve(cached, answer, "whitelist")
    assert decision == Decision(
        path="realtime",
        accepted=True,
        ocpi_allowed="ALLOWED",
        reason="ALLOWED",
        auth_method="AUTH_REQUEST",
        authorization_reference="REF-9",
        info={"language": "nl", "text": "Welkom"},
        group_id="FROM-EMSP",
    )
    assert not decision.needs_reference


def test_without_a_group_in_the_answer_the_cached_group_is_kept():
    cached = CachedToken("U1", "RFID", "DE", "ABC", True, "NEVER", group_id="CACHED")
    decision = resolve(cached, EmspAnswer("BLOCKED"), "whitelist")
    assert decision.group_id == "CACHED"
    assert decision.refusal == "emsp"
    assert resolve(None, EmspAnswer("ALLOWED"), "whitelist").group_id is None


def test_an_ocpi_error_2004_is_an_unknown_token():
    decision = resolve(None, EmspError("HTTP 404, 2004", 404, 2004), "accept_known")
    assert decision.refusal == "unknown"
    assert decision.path == "realtime"
    assert ocpp_status(decision, "2.0.1") == "Unknown"


def test_a_fallback_keeps_the_timeout_text_for_the_log():
    cached = CachedToken("U1", "RFID", "DE", "ABC", True, "ALLOWED_OFFLINE")
    accepted = resolve(cached, EmspTimeout(2500), "whitelist")
    assert accepted.error == "timeout after 2500 ms"
    assert accepted.reason == "fallback: whitelist ALLOWED_OFFLINE"
    assert accepted.needs_reference
    refused = resolve(cached, EmspError("connection refused"), "refuse")
    assert refused.error == "connection refused"
    assert refused.refusal == "no_answer"
    assert refused.reason == "fallback refused (refuse): whitelist ALLOWED_OFFLINE"


def test_resolve_checks_its_arguments():
    with pytest.raises(ValueError, match="policy"):
        resolve(None, EmspTimeout(1), "sometimes")
    with pytest.raises(TypeError):
        resolve(None, "timeout", "whitelist")  # type: ignore[arg-type]


def test_merging_the_answers_of_every_emsp():
    allowed = EmspAnswer("ALLOWED", authorization_reference="R")
    blocked = EmspAnswer("BLOCKED")
    timeout = EmspTimeout(1000)
    unknown = EmspUnknownToken()
    assert merge_outcomes([unknown, blocked, allowed]) is allowed
    assert merge_outcomes([unknown, timeout, blocked]) is blocked
    assert merge_outcomes([unknown, timeout]) is timeout
    assert merge_outcomes([EmspError("x", 404, 2004), unknown]) == EmspUnknownToken()
    assert merge_outcomes([]) == EmspUnknownToken()


# --------------------------------------------------------------------------- inputs


def test_authorization_info_is_parsed_and_checked():
    answer = EmspAnswer.from_authorization_info(
        {
            "allowed": "NO_CREDIT",
            "token": {"uid": "U1", "group_id": "G"},
            "authorization_reference": "REF",
            "info": {"language": "en", "text": "Top up first"},
        }
    )
    assert answer.allowed == "NO_CREDIT"
    assert answer.authorization_reference == "REF"
    assert answer.token == {"uid": "U1", "group_id": "G"}
    with pytest.raises(ValueError, match="allowed"):
        EmspAnswer.from_authorization_info({"token": {}})
    with pytest.raises(ValueError, match="allowed"):
        EmspAnswer.from_authorization_info({"allowed": "MAYBE"})
    with pytest.raises(ValueError, match="info"):
        EmspAnswer.from_authorization_info({"allowed": "ALLOWED", "info": "hello"})
    with pytest.raises(ValueError, match="authorization_reference"):
        EmspAnswer.from_authorization_info({"allowed": "ALLOWED", "authorization_reference": 7})


def test_cached_tokens_are_checked_and_built_from_ocpi():
    with pytest.raises(ValueError, match="whitelist"):
        CachedToken("U1", "RFID", "DE", "ABC", True, "SOMETIMES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid"):
        CachedToken("U1", "RFID", "DE", "ABC", "yes", "NEVER")  # type: ignore[arg-type]
    token = CachedToken.from_ocpi(
        {
            "country_code": "DE",
            "party_id": "ABC",
            "uid": "012345678",
            "type": "APP_USER",
            "contract_id": "DE8ACC12E46L89",
            "issuer": "TheNewMotion",
            "valid": True,
            "whitelist": "ALLOWED",
            "group_id": "DF000-2001-8999",
            "last_updated": "2015-06-29T22:39:09Z",
        }
    )
    assert token == CachedToken(
        "012345678", "APP_USER", "DE", "ABC", True, "ALLOWED", "DF000-2001-8999"
    )
    with pytest.raises(ValueError, match="whitelist"):
        CachedToken.from_ocpi({"uid": "U", "country_code": "DE", "party_id": "A", "valid": True})


# --------------------------------------------------------------------------- OCPP side


def _answered(info=None) -> Decision:
    return resolve(None, EmspAnswer("ALLOWED", info=info), "whitelist")


def test_personal_message_is_for_2_0_1_only():
    decision = _answered({"language": "en", "text": "Welcome, Jane"})
    assert personal_message(decision, "2.0.1") == {
        "format": "UTF8",
        "language": "en",
        "content": "Welcome, Jane",
    }
    assert personal_message(decision, "1.6") is None
    assert personal_message(_answered(), "2.0.1") is None


def test_personal_message_respects_the_2_0_1_limits():
    decision = _answered({"text": "x" * 600})
    message = personal_message(decision, "2.0.1")
    assert message == {"format": "UTF8", "content": "x" * 512}


def test_an_unknown_ocpp_version_is_refused():
    with pytest.raises(ValueError, match="ocpp_version"):
        ocpp_status(_answered(), "2.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ocpp_version"):
        personal_message(_answered(), "1.5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ocpp_type", "ocpi_type"),
    [
        (None, "RFID"),
        ("ISO14443", "RFID"),
        ("ISO15693", "RFID"),
        ("Central", "APP_USER"),
        ("eMAID", "OTHER"),
        ("KeyCode", "OTHER"),
        ("Local", "OTHER"),
        ("MacAddress", "OTHER"),
        ("NoAuthorization", "OTHER"),
    ],
)
def test_ocpp_token_types_to_ocpi(ocpp_type: str | None, ocpi_type: str):
    assert token_type_to_ocpi(ocpp_type) == ocpi_type


@pytest.mark.parametrize(
    ("ocpi_type", "ocpp_type"),
    [("RFID", "ISO14443"), ("APP_USER", "Central"), ("AD_HOC_USER", "Central"), ("OTHER", "Local")],
)
def test_ocpi_token_types_to_ocpp(ocpi_type: str, ocpp_type: str):
    assert ocpi_type_to_ocpp(ocpi_type, "2.0.1") == ocpp_type
    assert ocpi_type_to_ocpp(ocpi_type) == ocpp_type
    assert ocpi_type_to_ocpp(ocpi_type, "1.6") is None


def test_unknown_token_types_are_refused():
    with pytest.raises(ValueError, match="Barcode"):
        token_type_to_ocpi("Barcode")
    with pytest.raises(ValueError, match="CARD"):
        ocpi_type_to_ocpp("CARD")


# --------------------------------------------------------------------------- one per start

ACCEPTED = Decision(
    path="realtime",
    accepted=True,
    ocpi_allowed="ALLOWED",
    reason="ALLOWED",
    auth_method="AUTH_REQUEST",
    authorization_reference="REF-1",
)
OTHER = Decision(
    path="cache",
    accepted=True,
    ocpi_allowed=None,
    reason="whitelist ALWAYS",
    auth_method="WHITELIST",
)


def test_a_start_within_60_s_reuses_the_authorize_decision_once():
    recent = RecentDecisions()
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=1000.0)
    assert recent.peek("CP-1", "TAG-1", now=1030.0) is ACCEPTED
    assert recent.take("CP-1", "TAG-1", now=1060.0) is ACCEPTED  # 60 s: still inside
    assert recent.take("CP-1", "TAG-1", now=1061.0) is None  # consumed
    assert len(recent) == 0


def test_after_the_window_the_decision_is_not_reused():
    recent = RecentDecisions()
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=1000.0)
    assert recent.peek("CP-1", "TAG-1", now=1060.001) is None
    assert recent.take("CP-1", "TAG-1", now=1060.001) is None


def test_only_the_same_token_on_the_same_charger_reuses():
    recent = RecentDecisions()
    recent.remember("CP-1", "tag-1", ACCEPTED, now=0.0)
    assert recent.take("CP-2", "tag-1", now=1.0) is None
    assert recent.take("CP-1", "tag-2", now=1.0) is None
    assert recent.take("CP-1", "TAG-1", now=1.0) is ACCEPTED  # CiString: case-insensitive


def test_a_new_authorize_replaces_the_older_decision():
    recent = RecentDecisions()
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=0.0)
    recent.remember("CP-1", "TAG-1", OTHER, now=50.0)
    assert recent.take("CP-1", "TAG-1", now=100.0) is OTHER


def test_a_decision_stamped_after_now_is_not_reused():
    recent = RecentDecisions()
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=100.0)
    assert recent.peek("CP-1", "TAG-1", now=99.0) is None


def test_datetimes_work_as_timestamps():
    recent = RecentDecisions()
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=at)
    assert recent.peek("CP-1", "TAG-1", now=at + timedelta(seconds=59)) is ACCEPTED
    assert recent.peek("CP-1", "TAG-1", now=at + timedelta(seconds=61)) is None


def test_the_structure_is_bounded_and_pruned():
    recent = RecentDecisions(max_entries=3)
    for i in range(5):
        recent.remember("CP-1", f"TAG-{i}", ACCEPTED, now=float(i))
    assert len(recent) == 3
    assert recent.peek("CP-1", "TAG-0", now=5.0) is None  # evicted, oldest first
    assert recent.peek("CP-1", "TAG-1", now=5.0) is None
    assert recent.peek("CP-1", "TAG-4", now=5.0) is ACCEPTED
    recent.remember("CP-9", "LATE", ACCEPTED, now=1000.0)  # prunes the expired ones
    assert len(recent) == 1
    recent.prune(now=2000.0)
    assert len(recent) == 0


def test_a_custom_window():
    recent = RecentDecisions(window_s=5)
    recent.remember("CP-1", "TAG-1", ACCEPTED, now=0.0)
    assert recent.peek("CP-1", "TAG-1", now=5.0) is ACCEPTED
    assert recent.peek("CP-1", "TAG-1", now=5.5) is None
    with pytest.raises(ValueError):
        RecentDecisions(window_s=0)
    with pytest.raises(ValueError):
        RecentDecisions(max_entries=0)
