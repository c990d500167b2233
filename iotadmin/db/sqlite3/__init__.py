"""Django's SQLite backend that creates the database file's folder on first connection."""
