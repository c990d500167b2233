"""Each user's permission set, cached between requests (PERMISSION_CACHE_SECONDS; 0 = off).

Django's ModelBackend reads a user's permissions with two queries (the user's own, the groups')
once per request. This backend keeps the set in the cache. Any change of a user's groups or
permissions, of a group's permissions, a deleted group or permission, or a migration, bumps
one version number that every cache key carries, so every process reads fresh sets on its next
request.
The cache must be shared by every process (Redis) for that to hold: settings turn it on only
with REDIS_URL. is_active and is_superuser are read from the user row of each request, as
ModelBackend does; only the set of "app_label.codename" strings is cached.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models import Model

VERSION_KEY = "auth:permissions-version"


def permissions_version() -> int:
    return int(cache.get_or_set(VERSION_KEY, 1, timeout=None) or 1)


def permissions_changed(**_kwargs: Any) -> None:
    """Every cached set is stale from now on (and again once the change is committed)."""
    if not settings.PERMISSION_CACHE_SECONDS:
        return  # nothing is cached
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # not there (evicted or never read): nothing cached depends on it yet
        cache.set(VERSION_KEY, 2, timeout=None)


class CachedPermissionsBackend(ModelBackend):
    """ModelBackend whose all-permissions set is cached across requests (see the module)."""

    def get_all_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        seconds = settings.PERMISSION_CACHE_SECONDS
        if (
            not seconds
            or obj is not None
            or not user_obj.is_active
            or user_obj.is_anonymous
            or hasattr(user_obj, "_perm_cache")
        ):
            return super().get_all_permissions(user_obj, obj)
        # date_joined too: a test database reuses primary keys.
        key = (
            f"auth:permissions:{permissions_version()}:{user_obj.pk}:"
            f"{user_obj.date_joined.timestamp()}:{int(user_obj.is_superuser)}"
        )
        found = cache.get(key)
        if found is None:
            found = super().get_all_permissions(user_obj, obj)
            cache.set(key, found, timeout=seconds)
        user_obj._perm_cache = set(found)
        return user_obj._perm_cache


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_migrate

    User = get_user_model()
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(
            permissions_changed, sender=through, dispatch_uid=f"perm_cache_{through.__name__}"
        )
    for model in (Group, Permission):
        post_delete.connect(
            permissions_changed, sender=model, dispatch_uid=f"perm_cache_{model.__name__}"
        )
    # A data migration changes groups through historical models, which send to other senders.
    post_migrate.connect(permissions_changed, dispatch_uid="perm_cache_migrate")
