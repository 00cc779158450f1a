"""OCPI 2.2.1: models, transport, client, credentials, and the CPO and eMSP bundles."""
