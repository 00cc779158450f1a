"""Shipped charger catalog (brands and models) and location-template gallery."""

from voltlab.catalog.lookup import (
    CATALOG_CREATED_AT,
    Brand,
    LocationTemplate,
    Model,
    TemplateGroup,
    brand,
    brand_id,
    brands,
    location_template,
    location_templates,
    model,
    model_id,
    models,
    normalize_ocpp_version,
)

__all__ = [
    "CATALOG_CREATED_AT",
    "Brand",
    "LocationTemplate",
    "Model",
    "TemplateGroup",
    "brand",
    "brand_id",
    "brands",
    "location_template",
    "location_templates",
    "model",
    "model_id",
    "models",
    "normalize_ocpp_version",
]
