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


# --- payments (BTCPay) ----------------------------------------------------------------

from django.contrib import messages  # noqa: E402 (kept with the payments admin so parallel edits merge)

from billing import btcpay, payments  # noqa: E402 (see above)
from billing.models import Invoice, WebhookDelivery  # noqa: E402 (see above)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("received_at", "event_type", "delivery_id", "original_delivery_id", "is_redelivery", "outcome")
    readonly_fields = fields
    ordering = ("received_at",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    """Read-only: invoices change only through BTCPay (webhooks, sync, the action below)."""

    list_display = (
        "btcpay_id",
        "purpose",
        "status",
        "additional_status",
        "credits",
        "tokens",
        "amount",
        "currency",
        "created_at",
        "paid_at",
        "claimed_at",
        "deliveries_received",
    )
    list_filter = ("purpose", "status", "additional_status", "created_at")
    search_fields = ("btcpay_id", "order_id", "user__username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    exclude = ("claim_secret_hash",)
    inlines = [WebhookDeliveryInline]
    actions = ["check_with_btcpay"]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_deliveries=Count("deliveries"))

    @admin.display(description="deliveries", ordering="_deliveries")
    def deliveries_received(self, obj):
        return obj._deliveries

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Check with BTCPay now", permissions=["view"])
    def check_with_btcpay(self, request, queryset):
        checked = paid = 0
        for invoice in queryset:
            try:
                _invoice, became_paid = payments.invoice_check(invoice=invoice)
            except (btcpay.BTCPayError, payments.PaymentError) as exc:
                self.message_user(request, f"{invoice.btcpay_id}: {exc}", level=messages.ERROR)
                continue
            checked += 1
            paid += int(became_paid)
        self.message_user(request, f"Checked {checked} invoice(s) with BTCPay; {paid} newly paid.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("received_at", "event_type", "btcpay_invoice_id", "outcome", "is_redelivery", "status_after")
    list_filter = ("event_type", "outcome", "is_redelivery")
    search_fields = ("delivery_id", "original_delivery_id", "btcpay_invoice_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
