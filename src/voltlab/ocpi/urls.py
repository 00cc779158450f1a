"""The URLs a bundle hands out: its OCPI base, module endpoints, and its chargers' CSMS."""

from __future__ import annotations

VERSION = "2.2.1"

# Module endpoints each role serves, with the interface role the version details announce.
CPO_MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("locations", "SENDER"),
    ("sessions", "SENDER"),
    ("cdrs", "SENDER"),
    ("tariffs", "SENDER"),
    ("tokens", "RECEIVER"),
    ("commands", "RECEIVER"),
)
EMSP_MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("tokens", "SENDER"),
    ("locations", "RECEIVER"),
    ("sessions", "RECEIVER"),
    ("cdrs", "RECEIVER"),
    ("tariffs", "RECEIVER"),
    ("commands", "SENDER"),
)


def base(base_url: str, bundle_id: int) -> str:
    return f"{base_url.rstrip('/')}/ocpi/{bundle_id}"


def versions_url(base_url: str, bundle_id: int) -> str:
    return f"{base(base_url, bundle_id)}/versions"


def details_url(base_url: str, bundle_id: int) -> str:
    return f"{base(base_url, bundle_id)}/{VERSION}"


def module_url(base_url: str, bundle_id: int, module: str) -> str:
    return f"{details_url(base_url, bundle_id)}/{module}"


def modules(role: str) -> tuple[tuple[str, str], ...]:
    return CPO_MODULES if role == "CPO" else EMSP_MODULES


def csms_url(base_url: str, bundle_id: int) -> str:
    """Where a CPO bundle's chargers connect (the built-in CSMS, same port as the API);
    each charger appends its identity."""
    root = base_url.rstrip("/")
    if root.startswith("https://"):
        root = "wss://" + root.removeprefix("https://")
    elif root.startswith("http://"):
        root = "ws://" + root.removeprefix("http://")
    return f"{root}/csms/{bundle_id}"
