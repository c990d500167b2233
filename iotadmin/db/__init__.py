"""Database backends: thin wrappers over Django's own."""
