"""Interoperability tests: voltlab's OCPI side against independent OCPI implementations,
each run in its own virtualenv and its own process (see ``harness``)."""
