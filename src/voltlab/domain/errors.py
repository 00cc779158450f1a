"""Field-level refusals a schema cannot express (catalog lookups, cross-field rules)."""

from __future__ import annotations

from voltlab.errors import VoltlabError


class FieldInvalid(VoltlabError):
    """A body field that names something that does not exist or does not fit.

    ``loc`` is the path inside the body, e.g. ``("brand_slug",)`` or ``(0, "template", "ws_url")``.
    """

    def __init__(self, loc: tuple[str | int, ...], detail: str) -> None:
        super().__init__(detail)
        self.loc = loc
