"""Each user's permission set and group names, cached between requests (PERMISSION_CACHE_SECONDS;
0 = off).

Django's ModelBackend reads a user's permissions with two queries (the user's own, the groups')
once per request, and the page header a third for the user's group names. This backend keeps
both in the cache. Any change of a user's groups or permissions, of a group's permissions, a
saved (renamed) or deleted group, a deleted permission, or a migration, bumps one version number
that every cache key carries, so every process reads fresh sets on its next request.
The cache must be shared by every process (Redis) for that to hold: settings turn it on only
with REDIS_URL. is_active and is_superuser are read from the user row of each request, as
ModelBackend does; only the set of "app_label.codename" strings and the group names (the page
header's roles, `user_group_names`) are cached.
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
            f"auth:permissions-groups:{permissions_version()}:{user_obj.pk}:"
            f"{user_obj.date_joined.timestamp()}:{int(user_obj.is_superuser)}"
        )
        found = cache.get(key)
        if found is None:
            permissions = super().get_all_permissions(user_obj, obj)
            names = [group.name for group in user_obj.groups.all()]
            found = (permissions, names)
            cache.set(key, found, timeout=seconds)
        permissions, names = found
        user_obj._perm_cache = set(permissions)
        user_obj._group_names_cache = list(names)
        return user_obj._perm_cache


def user_group_names(user: Any) -> list[str]:
    """The names of the user's groups, as `user.groups.all` lists them (the page header shows
    them): from the cached permission entry when the cache is on, else one query."""
    names = getattr(user, "_group_names_cache", None)
    if (
        names is None
        and settings.PERMISSION_CACHE_SECONDS
        and user.is_active
        and not hasattr(user, "_perm_cache")
    ):
        user.get_all_permissions()  # fills both from the cache (a read, no query)
        names = getattr(user, "_group_names_cache", None)
    if names is None:
        names = [group.name for group in user.groups.all()]
    return list(names)


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

    User = get_user_model()
    for through in (User.groups.through, User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(
            permissions_changed, sender=through, dispatch_uid=f"perm_cache_{through.__name__}"
        )
    # A renamed group: the header shows the cached names.
    post_save.connect(permissions_changed, sender=Group, dispatch_uid="perm_cache_Group_saved")
    for model in (Group, Permission):
        post_delete.connect(
            permissions_changed, sender=model, dispatch_uid=f"perm_cache_{model.__name__}"
        )
    # A data migration changes groups through historical models, which send to other senders.
    post_migrate.connect(permissions_changed, dispatch_uid="perm_cache_migrate")
