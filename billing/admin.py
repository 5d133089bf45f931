from django.contrib import admin

from billing.models import LedgerEntry, ProToken, TokenBalance


@admin.register(ProToken)
class ProTokenAdmin(admin.ModelAdmin):
    list_display = ("short_hash", "credits_left", "credits_total", "created_at", "last_used_at")
    search_fields = ("token_hash",)
    readonly_fields = ("token_hash", "credits_left", "credits_total", "created_at", "last_used_at")

    @admin.display(description="token hash")
    def short_hash(self, obj):
        return f"{obj.token_hash[:16]}…"


@admin.register(TokenBalance)
class TokenBalanceAdmin(admin.ModelAdmin):
    list_display = ("user", "total_tokens", "tokens_used", "tokens_reserved", "tokens_left", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "total_tokens", "tokens_used", "tokens_reserved", "updated_at")
    list_select_related = ("user",)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """Read-only: the ledger is written by services only."""

    list_display = (
        "created_at",
        "kind",
        "principal_kind",
        "endpoint",
        "model",
        "outcome",
        "credits",
        "tokens",
        "prompt_tokens",
        "completion_tokens",
        "ttfb_ms",
        "duration_ms",
    )
    list_filter = ("kind", "principal_kind", "outcome", "endpoint", "model", "created_at")
    search_fields = ("principal_ref", "external_ref", "user__username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
