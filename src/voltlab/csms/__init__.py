"""The built-in CSMS: an OCPP 1.6J and 2.0.1 server for the demo and for OCPI CPO bundles."""

from voltlab.csms.server import CsmsServer
from voltlab.csms.state import CsmsStation, CsmsTransaction

__all__ = ["CsmsServer", "CsmsStation", "CsmsTransaction"]
