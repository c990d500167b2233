"""Data of the devices app. Platform-state models back the shared token store and flow limiter
when no Redis is configured."""

from django.db import models


class PlatformStoreEntry(models.Model):
    """A key in the database-backed shared store (cached token, locks, cool-down)."""

    key = models.CharField(primary_key=True, max_length=200)
    value = models.TextField(blank=True)
    expires_at = models.FloatField(null=True, blank=True, help_text="Unix time; null = never")

    def __str__(self) -> str:
        return self.key


class PlatformCallSlot(models.Model):
    """One platform call reserved by the database-backed flow limiter (unix time)."""

    at = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return f"call at {self.at}"
