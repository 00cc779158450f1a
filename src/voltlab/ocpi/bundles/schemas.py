"""Management API shapes of OCPI bundles (``/ocpi/cpos``), as the documented API has them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from voltlab.domain.inputs import InputModel

BundleStatus = Literal["PENDING", "PROVISIONING", "READY", "FAILED"]

MIN_TTL_S = 60
MAX_TTL_S = 604_800
DEFAULT_TTL_S = 3_600


class BundleCreate(InputModel):
    template: str = Field(min_length=1, max_length=64, examples=["small-urban-ac"])
    country_code: str = Field(min_length=2, max_length=2, examples=["NL"])
    party_id: str = Field(min_length=3, max_length=3, examples=["VLB"])
    name_prefix: str = Field(
        min_length=1, max_length=24, pattern=r"^[A-Za-z0-9._-]+$", examples=["LAB"]
    )
    role: Literal["cpo", "emsp"] = "cpo"
    ocpi_version: Literal["2.2.1"] = "2.2.1"
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    # Omitted: 3600 s. An explicit null: never expires.
    ttl_seconds: int | None = Field(default=DEFAULT_TTL_S, ge=MIN_TTL_S, le=MAX_TTL_S)
    overrides: dict[str, int | None] | None = None

    @field_validator("country_code")
    @classmethod
    def _country(cls, value: str) -> str:
        if not (value.isascii() and value.isalpha()):
            raise ValueError("must be an ISO 3166-1 alpha-2 code (two letters)")
        return value.upper()

    @field_validator("party_id")
    @classmethod
    def _party(cls, value: str) -> str:
        if not (value.isascii() and value.isalnum()):
            raise ValueError("must be 3 letters or digits (OCPI party_id)")
        return value.upper()


class Party(BaseModel):
    country_code: str
    party_id: str
    role: Literal["CPO", "EMSP"]


class RoamHelper(BaseModel):
    credentials_payload: dict[str, Any]
    curl_snippet: str


class Topology(BaseModel):
    locations: int
    chargers: int
    evses: int
    connectors: int
    tokens: int


class BundleAccepted(BaseModel):
    cpo_id: str
    party: Party
    party_id_mangled_from: str | None = None
    name_prefix: str
    template: str
    template_version: int
    token_a: str
    ocpi_peer_url: str
    roam_helper: RoamHelper
    workflow_run_id: str
    status: BundleStatus
    status_url: str
    destroy_url: str
    expires_at: datetime | None


class BundleOut(BaseModel):
    cpo_id: str
    party: Party
    party_id_mangled_from: str | None = None
    name_prefix: str
    template: str
    template_version: int
    token_a: str | None = None  # only on create
    ocpi_peer_url: str
    roam_helper: RoamHelper | None
    topology: Topology
    status: BundleStatus
    expires_at: datetime | None
    status_url: str
    report_url: str
    destroy_url: str
    created_at: datetime
    updated_at: datetime


class Progress(BaseModel):
    current_step: str | None = None
    chargers_ready: int | None = None
    chargers_total: int | None = None


class ProvisioningError(BaseModel):
    code: str
    message: str
    step: str | None = None
    param: str | None = None
    doc_url: str | None = None
    retryable: bool | None = None


class BundleStatusOut(BaseModel):
    cpo_id: str
    status: BundleStatus
    workflow_run_id: str
    error: ProvisioningError | None
    progress: Progress | None
    provisioned_at: datetime | None
    created_at: datetime
    updated_at: datetime
    status_url: str


class Report(BaseModel):
    cpo_id: str
    markdown: str


class TemplateSummary(BaseModel):
    slug: str
    version: int
    description: str
    locations: int
    chargers: int
    role: Literal["cpo", "emsp"]


class TemplateList(BaseModel):
    data: list[TemplateSummary]
    total: int


class TokenANew(BaseModel):
    cpo_id: str
    token_a: str
    credentials_payload: dict[str, Any]
