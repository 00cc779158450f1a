"""Typed configuration entries shared by the 1.6 keys and the 2.0.1 variables.

Values live as strings (as both versions carry them on the wire); a station stores only
its overrides of the defaults, so ten thousand stations share one default table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import",
    "Voltage",
    "SoC",
)


def _bool(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered


def _int(minimum: int = 0, maximum: int = 2**31 - 1) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            number = int(value.strip())
        except ValueError as exc:
            raise ValueError("must be an integer") from exc
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return str(number)

    return check


def _measurands(value: str) -> str:
    items = [item.strip() for item in value.split(",") if item.strip()]
    unknown = [item for item in items if item not in MEASURANDS]
    if unknown:
        raise ValueError(f"unsupported measurand(s): {', '.join(unknown)}")
    return ",".join(items)


def _one_of(*choices: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items or any(item not in choices for item in items):
            raise ValueError(f"must be a list of {', '.join(choices)}")
        return ",".join(items)

    return check


def _any(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Entry:
    default: str
    readonly: bool = False
    check: Callable[[str], str] = _any
    reboot_required: bool = False


BOOL = _bool
INT = _int()
SECONDS = _int(0, 86_400 * 7)
MEASURAND_LIST = _measurands
ONE_OF = _one_of


class ConfigStore:
    """Defaults plus this station's overrides. ``set`` answers with an OCPP status."""

    __slots__ = ("_defaults", "overrides")

    def __init__(self, defaults: Mapping[str, Entry], overrides: dict[str, str] | None = None):
        self._defaults = defaults
        self.overrides = dict(overrides or {})

    def __contains__(self, name: str) -> bool:
        return name in self._defaults

    def entry(self, name: str) -> Entry | None:
        return self._defaults.get(name)

    def get(self, name: str) -> str:
        value = self.overrides.get(name)
        return value if value is not None else self._defaults[name].default

    def get_bool(self, name: str) -> bool:
        return self.get(name) == "true"

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def names(self) -> list[str]:
        return list(self._defaults)

    def set(self, name: str, value: str, *, force: bool = False) -> tuple[str, str | None]:
        """(status, reason): Accepted | Rejected | RebootRequired | NotSupported.

        ``force`` lets voltlab itself change read-only keys (e.g. the REST command),
        as a vendor tool would; the CSMS cannot.
        """
        entry = self._defaults.get(name)
        if entry is None:
            return "NotSupported", f"unknown key {name}"
        if entry.readonly and not force:
            return "Rejected", f"{name} is read-only"
        try:
            normalized = entry.check(str(value))
        except ValueError as exc:
            return "Rejected", f"{name} {exc}"
        if normalized == entry.default:
            self.overrides.pop(name, None)
        else:
            self.overrides[name] = normalized
        return ("RebootRequired" if entry.reboot_required else "Accepted"), None
