"""OCPI bundle templates: the gallery, the deterministic plan of a bundle, party ids.

Pure: no database, no sockets, no asyncio. The bundle service turns a :class:`BundlePlan`
into rows, chargers and OCPI objects.
"""

from voltlab.ocpi.templates.gallery import (
    BundleTemplate,
    ChargerGroupSpec,
    SiteSpec,
    TariffSpec,
    TemplateError,
    TemplateOverrideError,
    TemplateRoleError,
    TokenSpec,
    UnknownTemplate,
    bundle_template,
    bundle_templates,
)
from voltlab.ocpi.templates.party import (
    BundleFieldError,
    PartyIdExhausted,
    mangle_party_id,
    validate_country_code,
    validate_party_id,
)
from voltlab.ocpi.templates.plan import (
    OCPI_STANDARD,
    BundlePlan,
    PlannedCharger,
    PlannedLocation,
    connector_details,
    evse_id_for,
    evse_uid_for,
    plan_bundle,
)

__all__ = [
    "OCPI_STANDARD",
    "BundleFieldError",
    "BundlePlan",
    "BundleTemplate",
    "ChargerGroupSpec",
    "PartyIdExhausted",
    "PlannedCharger",
    "PlannedLocation",
    "SiteSpec",
    "TariffSpec",
    "TemplateError",
    "TemplateOverrideError",
    "TemplateRoleError",
    "TokenSpec",
    "UnknownTemplate",
    "bundle_template",
    "bundle_templates",
    "connector_details",
    "evse_id_for",
    "evse_uid_for",
    "mangle_party_id",
    "plan_bundle",
    "validate_country_code",
    "validate_party_id",
]
