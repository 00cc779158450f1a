"""Fixtures for the station tests."""

from __future__ import annotations

import pytest

from support.frames import ListSink
from support.stations import VERSIONS


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    """Each test taking ``version`` runs for OCPP 1.6 and for OCPP 2.0.1."""
    return str(request.param)


@pytest.fixture
def sink() -> ListSink:
    return ListSink()
