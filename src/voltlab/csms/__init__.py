"""The built-in CSMS: an OCPP 1.6J and 2.0.1 server for the demo and for OCPI CPO bundles.

``CsmsHub`` holds the state and the hooks; ``CsmsServer`` serves it on its own port and
``asgi.websocket_endpoint`` serves it as a route of the REST app.
"""

from voltlab.csms.authorization import TagDecision, TagRequest
from voltlab.csms.errors import StationOffline, UnknownRealm
from voltlab.csms.hooks import CsmsHooks
from voltlab.csms.hub import DEFAULT_REALM, Admission, CsmsHub
from voltlab.csms.server import CsmsServer
from voltlab.csms.state import CsmsStation, CsmsTransaction

__all__ = [
    "DEFAULT_REALM",
    "Admission",
    "CsmsHooks",
    "CsmsHub",
    "CsmsServer",
    "CsmsStation",
    "CsmsTransaction",
    "StationOffline",
    "TagDecision",
    "TagRequest",
    "UnknownRealm",
]
