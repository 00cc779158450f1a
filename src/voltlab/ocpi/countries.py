"""ISO 3166-1 alpha-2 -> alpha-3 for the countries a lab user is likely to type.

OCPI Locations carry alpha-3 (``NLD``); users and the documented examples often give
alpha-2 (``NL``). Unknown two-letter codes are refused, not guessed.
"""

from __future__ import annotations

ALPHA3 = {
    "AT": "AUT", "AU": "AUS", "BE": "BEL", "BG": "BGR", "BR": "BRA", "CA": "CAN",
    "CH": "CHE", "CN": "CHN", "CY": "CYP", "CZ": "CZE", "DE": "DEU", "DK": "DNK",
    "EE": "EST", "ES": "ESP", "FI": "FIN", "FR": "FRA", "GB": "GBR", "GR": "GRC",
    "HR": "HRV", "HU": "HUN", "IE": "IRL", "IN": "IND", "IS": "ISL", "IT": "ITA",
    "JP": "JPN", "KR": "KOR", "LI": "LIE", "LT": "LTU", "LU": "LUX", "LV": "LVA",
    "MT": "MLT", "MX": "MEX", "NL": "NLD", "NO": "NOR", "NZ": "NZL", "PL": "POL",
    "PT": "PRT", "RO": "ROU", "RS": "SRB", "SE": "SWE", "SI": "SVN", "SK": "SVK",
    "TR": "TUR", "UA": "UKR", "US": "USA", "ZA": "ZAF",
}  # fmt: skip


def alpha3(country: str) -> str:
    """``"NL"`` or ``"nld"`` -> ``"NLD"``; ValueError for anything else."""
    code = country.strip().upper()
    if len(code) == 3 and code.isascii() and code.isalpha():
        return code
    if len(code) == 2 and code in ALPHA3:
        return ALPHA3[code]
    raise ValueError(
        f"{country!r} is not an ISO 3166-1 alpha-3 country code (alpha-2 is accepted for: "
        f"{', '.join(sorted(ALPHA3))})"
    )
