"""Admin: read-only views of the mirror and of swaps. Every change goes through the services
(and so through the audit trail); encrypted codes are never shown."""

from django.contrib import admin

from devices.models import Device, Swap


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("name", "device_id", "node_id", "status", "activated", "last_synced_at")
    list_filter = ("status", "activated")
    search_fields = ("=device_id", "node_key", "name")
    show_full_result_count = False  # no COUNT over a million rows


@admin.register(Swap)
class SwapAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "device",
        "new_node_id",
        "state",
        "attempts",
        "requested_by",
        "created_at",
    )
    list_filter = ("state", "verify_code_mode")
    list_select_related = ("device", "requested_by")
    search_fields = ("=device__device_id", "new_node_id")
    show_full_result_count = False
    exclude = ("verify_code_encrypted", "custom_verify_code_encrypted", "verify_code_hash")
    raw_id_fields = ("device", "requested_by", "decided_by", "reissue_of")
