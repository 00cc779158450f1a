"""The pure station model: no I/O, no ocpp, no storage; testable with plain calls."""
