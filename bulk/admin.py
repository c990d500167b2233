"""Read-only admin pages for bulk files and their rows (rows listed apart: a file has thousands)."""

from django.contrib import admin

from bulk.models import BulkBatch, BulkRow


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):  # batches come from uploads only
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(BulkBatch)
class BulkBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "filename",
        "uploaded_by",
        "state",
        "row_count",
        "ready_count",
        "created_at",
    )
    list_filter = ("state",)


@admin.register(BulkRow)
class BulkRowAdmin(ReadOnlyAdmin):
    list_display = ("batch", "line", "device_ref", "new_node_id", "state", "error_code", "swap")
    list_filter = ("state",)
    list_select_related = ("batch", "swap")
    search_fields = ("=batch__id", "device_ref", "new_node_id")
