"""Fixtures: simulator (filled in by its owner)."""
