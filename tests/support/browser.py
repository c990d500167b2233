"""Fixtures: browser (filled in by its owner)."""
