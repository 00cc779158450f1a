"""The OCPI endpoints peers call: ``/ocpi/{cpo_id}/versions``, ``/ocpi/{cpo_id}/2.2.1/...``."""
