"""planfactory package (see docs/architecture.md)."""
