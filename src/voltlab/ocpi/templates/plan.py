"""Turning a bundle template and a seed into a complete plan: pure, no I/O, no clock.

The same template, inputs and ``seed`` give a byte-identical plan (names, location ids,
charger identities and passwords, token uids, tariffs), so a lab run can be replayed::

    plan = plan_bundle("small-urban-ac", role="cpo", country_code="NL", party_id="ABC",
                       name_prefix="Acme", seed=7, overrides=None)
    plan.locations[0].chargers[0].identity      # 'Acme-NLABC-L001-C01'
    plan.locations[0].chargers[0].evse_uids     # ('Acme-NLABC-L001-C01_C1', '..._C2')

``seed=None`` draws a random seed; ``plan.seed`` records it so the plan can be rebuilt.
"""

from __future__ import annotations

import random
import re
import secrets
import string
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from voltlab import catalog
from voltlab.ocpi.templates.gallery import (
    BundleTemplate,
    ChargerGroupSpec,
    SiteSpec,
    TemplateRoleError,
    TokenSpec,
    bundle_template,
)
from voltlab.ocpi.templates.party import (
    BundleFieldError,
    validate_country_code,
    validate_party_id,
)

__all__ = [
    "MAX_NAME_PREFIX",
    "BundlePlan",
    "PlannedCharger",
    "PlannedLocation",
    "evse_id_for",
    "evse_uid_for",
    "plan_bundle",
]

MAX_NAME_PREFIX = 64
# The part of name_prefix that goes into charger identities: short enough that an identity
# stays <= 31 chars, its EVSE uids <= 36 (OCPI uid) and its EVSE ids <= 48 (OCPI evse_id).
_IDENTITY_PREFIX = 16
_PASSWORD_LENGTH = 24
_PASSWORD_ALPHABET = string.ascii_letters + string.digits
_BASE36 = string.digits + string.ascii_uppercase
# Letters a Dutch postal code may carry (no F, I, O, Q, U, Y, and S avoided entirely).
_POSTAL_LETTERS = "ABCEGHJKLMNPRTVWXZ"
# last_updated is drawn from the seed within 2025: reproducible and never in the future.
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_YEAR_S = 365 * 24 * 3600

# Catalog connector type -> OCPI 2.2.1 ConnectorType.
OCPI_STANDARD = {
    "Type1": "IEC_62196_T1",
    "Type2": "IEC_62196_T2",
    "CCS1": "IEC_62196_T1_COMBO",
    "CCS2": "IEC_62196_T2_COMBO",
    "CHAdeMO": "CHADEMO",
}


@dataclass(frozen=True, slots=True)
class PlannedCharger:
    """One simulated charger, registered at the built-in CSMS as ``identity``.

    ``evse_uids`` has one OCPI EVSE per connector (OCPP 1.x style): ``identity`` itself for a
    one-connector model, ``f"{identity}_C{n}"`` otherwise. ``evse_ids`` are the matching eMI3
    EVSE ids (``NL*ABC*E...*{n}``). The ``connector_*``/``power_type``/``max_*`` fields are what
    an OCPI Connector needs (``max_voltage`` is line-to-neutral for AC, as OCPI defines it).
    """

    identity: str
    charge_point_name: str
    brand_slug: str
    model_slug: str
    connector_type: str
    ocpp_version: str
    connector_count: int
    max_power_w: int
    password: str
    evse_uids: tuple[str, ...]
    evse_ids: tuple[str, ...]
    tariff_id: str
    connector_standard: str
    connector_format: str
    power_type: str
    max_voltage: int
    max_amperage: int


@dataclass(frozen=True, slots=True)
class PlannedLocation:
    """One OCPI Location of a CPO bundle. ``country`` is ISO 3166-1 alpha-3 as OCPI wants;
    ``coordinates`` holds OCPI's strings (6 decimals), ``latitude``/``longitude`` the floats."""

    ocpi_id: str
    name: str
    address: str
    city: str
    postal_code: str
    country: str
    country_alpha2: str
    coordinates: dict[str, str]
    time_zone: str
    parking_type: str
    facilities: tuple[str, ...]
    tariff_id: str
    chargers: tuple[PlannedCharger, ...]

    @property
    def latitude(self) -> float:
        return float(self.coordinates["latitude"])

    @property
    def longitude(self) -> float:
        return float(self.coordinates["longitude"])

    @property
    def evse_uids(self) -> tuple[str, ...]:
        return tuple(uid for charger in self.chargers for uid in charger.evse_uids)


@dataclass(frozen=True, slots=True)
class BundlePlan:
    """Everything a bundle will create. A CPO plan has ``locations`` and ``tariffs`` (OCPI Tariff
    objects); an eMSP plan has ``tokens`` (OCPI Token objects) and ``labels`` (uid -> why the
    token exists). ``seed`` is the seed actually used; ``last_updated`` stamps every object."""

    template: str
    template_version: int
    role: str
    country_code: str
    party_id: str
    business_name: str
    name_prefix: str
    seed: int
    last_updated: str
    locations: tuple[PlannedLocation, ...]
    tokens: tuple[dict[str, Any], ...]
    labels: dict[str, str]
    tariffs: tuple[dict[str, Any], ...]

    @property
    def chargers(self) -> tuple[PlannedCharger, ...]:
        return tuple(charger for location in self.locations for charger in location.chargers)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (tuples become lists)."""
        return _jsonable(self)


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


# -- inputs ---------------------------------------------------------------------------------


def _check_name_prefix(value: object) -> str:
    if not isinstance(value, str):
        raise BundleFieldError("name_prefix", f"must be a string, got {value!r}")
    value = " ".join(value.split())
    if len(value) > MAX_NAME_PREFIX:
        raise BundleFieldError("name_prefix", f"must be at most {MAX_NAME_PREFIX} characters")
    if not value.isprintable():
        raise BundleFieldError("name_prefix", "must not contain control characters")
    return value


def _identity_prefix(name_prefix: str) -> str:
    """``"Café Noir!"`` -> ``"Cafe-Noir"``: the identity charset ``[A-Za-z0-9._-]``, short."""
    ascii_text = unicodedata.normalize("NFKD", name_prefix).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-._")
    return cleaned[:_IDENTITY_PREFIX].rstrip("-._")


# -- drawing from the seed ------------------------------------------------------------------


def _unique(draw: Callable[[], str], used: set[str]) -> str:
    while (value := draw()) in used:
        pass
    used.add(value)
    return value


def _postal_code(pattern: str, rng: random.Random) -> str:
    chars = []
    for char in pattern:
        if char == "#":
            chars.append(rng.choice(string.digits))
        elif char == "@":
            chars.append(rng.choice(_POSTAL_LETTERS))
        else:
            chars.append(char)
    return "".join(chars)


def _password(rng: random.Random) -> str:
    return "".join(rng.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_LENGTH))


def _check_character(text: str) -> str:
    """A base-36 check character over ``text`` (position-weighted sum). eMI3-like only: the
    real eMI3 contract-id check digit uses a different, matrix-based algorithm."""
    total = sum((i + 1) * _BASE36.index(c) for i, c in enumerate(text) if c in _BASE36)
    return _BASE36[total % 36]


def _contract_id(country_code: str, party_id: str, rng: random.Random) -> str:
    """``NL-ABC-C12AB34CD-7``: country, provider, ``C``, 8-char instance, check character."""
    instance = "".join(rng.choice(_BASE36) for _ in range(8))
    check = _check_character(f"{country_code}{party_id}C{instance}")
    return f"{country_code}-{party_id}-C{instance}-{check}"


# -- locations and chargers -----------------------------------------------------------------


def evse_uid_for(identity: str, n: int, connector_count: int) -> str:
    """The OCPI EVSE uid of connector ``n`` (1-based) of a charger: one EVSE per connector,
    ``identity`` itself when the charger has one connector, ``f"{identity}_C{n}"`` otherwise."""
    return identity if connector_count == 1 else f"{identity}_C{n}"


def evse_id_for(country_code: str, party_id: str, identity: str, n: int) -> str:
    """The eMI3 EVSE id of connector ``n``: ``"NL*ABC*EACME*NLABC*L001*C01*1"`` for identity
    ``"Acme-NLABC-L001-C01"`` (upper case, every run of other characters becomes ``*``)."""
    outlet = re.sub(r"[^A-Z0-9]+", "*", identity.upper()).strip("*")
    return f"{country_code}*{party_id}*E{outlet}*{n}"


def _allocate(groups: tuple[ChargerGroupSpec, ...], wanted: int | None) -> list[int]:
    """How many chargers each group gets when a location has ``wanted`` chargers: the
    template's counts scaled by largest remainder (ties to the earlier group), and every
    group at least one when ``wanted`` allows it."""
    counts = [g.count for g in groups]
    total = sum(counts)
    if wanted is None or wanted == total:
        return counts
    quotas = [wanted * c / total for c in counts]
    shares = [int(q) for q in quotas]
    by_remainder = sorted(range(len(groups)), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[: wanted - sum(shares)]:
        shares[i] += 1
    if wanted >= len(groups):
        for i, share in enumerate(shares):
            if share == 0:
                donor = max(range(len(shares)), key=lambda j: (shares[j], -j))
                shares[donor] -= 1
                shares[i] = 1
    return shares


def connector_details(connector_type: str, current_type: str, power_w: int) -> dict[str, Any]:
    """What an OCPI Connector needs beside its standard: format, power type, voltage and
    amperage (line-to-neutral voltage for AC, as OCPI defines it)."""
    if current_type.lower() == "dc":
        voltage = 500 if connector_type == "CHAdeMO" else 920
        return {
            "connector_format": "CABLE",
            "power_type": "DC",
            "max_voltage": voltage,
            "max_amperage": -(-power_w // voltage),
        }
    phases = 1 if connector_type == "Type1" else 3
    return {
        "connector_format": "CABLE" if connector_type == "Type1" else "SOCKET",
        "power_type": "AC_1_PHASE" if phases == 1 else "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": -(-power_w // (230 * phases)),
    }


def _plan_charger(
    group: ChargerGroupSpec,
    *,
    identity: str,
    name: str,
    country_code: str,
    party_id: str,
    rng: random.Random,
) -> PlannedCharger:
    model = catalog.model(group.brand_slug, group.model_slug)
    assert model is not None  # the gallery checked every group against the catalog
    n = model.connector_count
    evse_uids = tuple(evse_uid_for(identity, i, n) for i in range(1, n + 1))
    evse_ids = tuple(evse_id_for(country_code, party_id, identity, i) for i in range(1, n + 1))
    power_w = round(group.power_kw * 1000)
    return PlannedCharger(
        identity=identity,
        charge_point_name=name,
        brand_slug=group.brand_slug,
        model_slug=group.model_slug,
        connector_type=group.connector_type,
        ocpp_version=group.ocpp_version,
        connector_count=n,
        max_power_w=power_w,
        password=_password(rng),
        evse_uids=evse_uids,
        evse_ids=evse_ids,
        tariff_id=group.tariff_id,
        connector_standard=OCPI_STANDARD[group.connector_type],
        **connector_details(group.connector_type, model.current_type, power_w),
    )


def _plan_location(
    site: SiteSpec,
    index: int,
    *,
    chargers_per_location: int | None,
    display_prefix: str,
    identity_prefix: str,
    country_code: str,
    party_id: str,
    used_names: set[str],
    rng: random.Random,
) -> PlannedLocation:
    street = rng.choice(site.streets)
    number = rng.randint(1, 199)
    postal_code = _postal_code(site.postal_code, rng)
    latitude = site.latitude + rng.uniform(-site.jitter, site.jitter)
    longitude = site.longitude + rng.uniform(-site.jitter, site.jitter)
    ocpi_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    parts = {"prefix": display_prefix, "street": street, "number": number, "city": site.city}
    name = " ".join(site.name.format(**parts).split())
    unique_name, suffix = name, 1
    while unique_name in used_names:
        suffix += 1
        unique_name = f"{name} {suffix}"
    used_names.add(unique_name)

    chargers = []
    shares = _allocate(site.groups, chargers_per_location)
    head = f"{identity_prefix}-" if identity_prefix else ""
    for group, share in zip(site.groups, shares, strict=True):
        for _ in range(share):
            number_in_location = len(chargers) + 1
            identity = f"{head}{country_code}{party_id}-L{index + 1:03d}-C{number_in_location:02d}"
            chargers.append(
                _plan_charger(
                    group,
                    identity=identity,
                    name=f"{unique_name} CP{number_in_location:02d}",
                    country_code=country_code,
                    party_id=party_id,
                    rng=rng,
                )
            )
    return PlannedLocation(
        ocpi_id=ocpi_id,
        name=unique_name,
        address=" ".join(site.address.format(**parts).split()),
        city=site.city,
        postal_code=postal_code,
        country=site.country,
        country_alpha2=site.country_alpha2,
        coordinates={"latitude": f"{latitude:.6f}", "longitude": f"{longitude:.6f}"},
        time_zone=site.time_zone,
        parking_type=site.parking_type,
        facilities=site.facilities,
        tariff_id=chargers[0].tariff_id,
        chargers=tuple(chargers),
    )


def _tariffs(
    template: BundleTemplate, country_code: str, party_id: str, stamp: str
) -> tuple[dict[str, Any], ...]:
    """The template's tariffs as OCPI 2.2.1 Tariff objects owned by this CPO."""
    tariffs = []
    for spec in template.tariffs:
        tariff: dict[str, Any] = {
            "country_code": country_code,
            "party_id": party_id,
            "id": spec.id,
            "currency": spec.currency,
        }
        if spec.type is not None:
            tariff["type"] = spec.type
        if spec.alt_text:
            tariff["tariff_alt_text"] = [{"language": lang, "text": t} for lang, t in spec.alt_text]
        tariff["elements"] = spec.elements
        tariff["last_updated"] = stamp
        tariffs.append(tariff)
    return tuple(tariffs)


# -- tokens ---------------------------------------------------------------------------------


def _plan_token(
    spec: TokenSpec,
    *,
    template: BundleTemplate,
    country_code: str,
    party_id: str,
    issuer: str,
    stamp: str,
    used: set[str],
    rng: random.Random,
) -> dict[str, Any]:
    # 8 random bytes as upper-case hex, like an RFID UID: 16 chars, so it also fits
    # OCPP 1.6's 20-char idTag when the token is presented at (or started on) a charger.
    uid = _unique(lambda: f"{rng.getrandbits(64):016X}", used)
    contract_id = _unique(lambda: _contract_id(country_code, party_id, rng), used)
    digits = [f"{rng.randrange(10_000):04d}" for _ in range(3)]
    token: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "uid": uid,
        "type": spec.type,
        "contract_id": contract_id,
        "visual_number": f"{party_id}-{'-'.join(digits)}",
        "issuer": issuer,
    }
    if spec.group is not None:
        token["group_id"] = f"{country_code}{party_id}-{spec.group}"
    token["valid"] = spec.valid
    token["whitelist"] = spec.whitelist
    token["language"] = spec.language or template.language
    if spec.default_profile_type is not None:
        token["default_profile_type"] = spec.default_profile_type
    if spec.energy_supplier is not None:
        token["energy_contract"] = {
            "supplier_name": spec.energy_supplier,
            "contract_id": f"{rng.randrange(10**10):010d}",
        }
    token["last_updated"] = stamp
    return token


# -- the plan -------------------------------------------------------------------------------


def plan_bundle(
    template_slug: str,
    *,
    role: str = "cpo",
    country_code: str,
    party_id: str,
    name_prefix: str = "",
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BundlePlan:
    """The full plan of a bundle from ``template_slug``.

    Raises :class:`UnknownTemplate`, :class:`TemplateRoleError` (template of the other role),
    :class:`TemplateOverrideError` and :class:`BundleFieldError` (bad ``country_code``,
    ``party_id`` or ``name_prefix``); all are ``FieldInvalid`` naming the field.
    """
    template = bundle_template(template_slug)
    if role != template.role:
        raise TemplateRoleError(template.slug, template.role, role)
    validate_country_code(country_code)
    validate_party_id(party_id)
    name_prefix = _check_name_prefix(name_prefix)
    counts = template.resolve_overrides(overrides)

    effective_seed = secrets.randbits(64) if seed is None else seed
    rng = random.Random(effective_seed)
    stamp = (_EPOCH + timedelta(seconds=rng.randrange(_YEAR_S))).strftime("%Y-%m-%dT%H:%M:%SZ")
    display_prefix = name_prefix or f"{country_code}{party_id}"
    business_name = " ".join(template.business_name.format(prefix=display_prefix).split())

    locations: list[PlannedLocation] = []
    if template.role == "cpo":
        used_names: set[str] = set()
        identity_prefix = _identity_prefix(name_prefix)
        for index in range(counts.get("locations", template.locations)):
            locations.append(
                _plan_location(
                    template.sites[index % len(template.sites)],
                    index,
                    chargers_per_location=counts.get("chargers_per_location"),
                    display_prefix=display_prefix,
                    identity_prefix=identity_prefix,
                    country_code=country_code,
                    party_id=party_id,
                    used_names=used_names,
                    rng=rng,
                )
            )

    tokens: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    if template.role == "emsp":
        used: set[str] = set()
        specs = template.token_specs
        for index in range(counts.get("tokens", template.tokens)):
            if index < len(specs):
                spec, label = specs[index], specs[index].label
            else:
                assert template.filler is not None
                spec = template.filler
                label = spec.label.format(n=index + 1 - len(specs))
            token = _plan_token(
                spec,
                template=template,
                country_code=country_code,
                party_id=party_id,
                issuer=business_name,
                stamp=stamp,
                used=used,
                rng=rng,
            )
            tokens.append(token)
            labels[token["uid"]] = label

    return BundlePlan(
        template=template.slug,
        template_version=template.version,
        role=template.role,
        country_code=country_code,
        party_id=party_id,
        business_name=business_name,
        name_prefix=name_prefix,
        seed=effective_seed,
        last_updated=stamp,
        locations=tuple(locations),
        tokens=tuple(tokens),
        labels=labels,
        tariffs=_tariffs(template, country_code, party_id, stamp),
    )
