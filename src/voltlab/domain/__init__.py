"""REST resources' rules: schemas and services per resource (no HTTP, no sockets)."""
