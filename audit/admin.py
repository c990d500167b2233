"""The audit trail in the admin: searchable and filterable, never writable."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("id", "at", "action", "actor_name", "device_id", "swap_id", "ip", "request_id")
    list_filter = ("action",)
    search_fields = ("device_id", "actor_name", "request_id", "=swap_id")
    date_hierarchy = "at"
    show_full_result_count = False
    actions = None
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
