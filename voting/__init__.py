"""voting package (see docs/architecture.md)."""
