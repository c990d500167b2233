from django.contrib import admin

from bulk.models import BulkBatch, BulkRow


class BulkRowInline(admin.TabularInline):
    model = BulkRow
    fields = ("line", "device_ref", "new_node_id", "state", "error_code", "message", "swap")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(BulkBatch)
class BulkBatchAdmin(admin.ModelAdmin):
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
    readonly_fields = (
        "uploaded_by",
        "filename",
        "state",
        "row_count",
        "ready_count",
        "created_at",
        "confirmed_at",
        "dispatch_owner",
        "dispatch_lease_until",
    )
    inlines = [BulkRowInline]

    def has_add_permission(self, request):  # batches come from uploads only
        return False
