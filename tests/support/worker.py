"""Fixtures: worker (filled in by its owner)."""
