"""broadcast package (see docs/architecture.md)."""
