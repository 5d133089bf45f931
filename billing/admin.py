from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from billing import btcpay, metering, payments, selectors
from billing.models import AnonymousDevice, ApiKey, Invoice, LedgerEntry, ProToken, TokenBalance, WebhookDelivery
from billing.services import pro_credits_grant, user_tokens_grant


class GrantForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=10**12)
    note = forms.CharField(max_length=150, required=False)


def _grant_action(modeladmin, request, queryset, *, action: str, title: str, intro: str, grant):
    """An admin action with an intermediate page asking how much to grant."""
    form = GrantForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        amount, note = form.cleaned_data["amount"], form.cleaned_data["note"] or f"admin grant by {request.user}"
        for obj in queryset:
            grant(obj, amount, note)
        modeladmin.message_user(request, f"Granted {amount} to {queryset.count()} row(s).", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "intro": intro,
        "queryset": queryset,
        "form": form,
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/billing/grant_form.html", context)


@admin.register(ProToken)
class ProTokenAdmin(admin.ModelAdmin):
    list_display = ("short_hash", "credits_left", "credits_total", "created_at", "last_used_at")
    search_fields = ("token_hash",)
    readonly_fields = ("token_hash", "credits_left", "credits_total", "created_at", "last_used_at")
    actions = ("grant_credits",)

    @admin.display(description="token hash")
    def short_hash(self, obj):
        return f"{obj.token_hash[:16]}…"

    @admin.action(description="Grant credits")
    def grant_credits(self, request, queryset):
        return _grant_action(
            self,
            request,
            queryset,
            action="grant_credits",
            title="Grant credits",
            intro="Add credits to these pro tokens (each gets the amount; a ledger row each):",
            grant=lambda token, amount, note: pro_credits_grant(token=token, credits=amount, source="admin", note=note),
        )


@admin.register(TokenBalance)
class TokenBalanceAdmin(admin.ModelAdmin):
    list_display = ("user", "total_tokens", "tokens_used", "tokens_reserved", "tokens_left", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "total_tokens", "tokens_used", "tokens_reserved", "updated_at")
    list_select_related = ("user",)
    actions = ("grant_tokens",)

    @admin.action(description="Grant tokens")
    def grant_tokens(self, request, queryset):
        return _grant_action(
            self,
            request,
            queryset.select_related("user"),
            action="grant_tokens",
            title="Grant tokens",
            intro="Add tokens to these balances (each gets the amount; a ledger row each):",
            grant=lambda balance, amount, note: user_tokens_grant(
                user=balance.user, tokens=amount, source="admin", note=note
            ),
        )


@admin.register(AnonymousDevice)
class AnonymousDeviceAdmin(admin.ModelAdmin):
    """Devices are identified by HMACs only; the free quota can be reset (the seed's /dev/reset-free)."""

    list_display = ("pk", "short_fp", "window_used", "free_left", "window_started_at", "last_seen_at", "created_at")
    readonly_fields = (
        "client_hash",
        "fp_hash",
        "ip_hash",
        "window_started_at",
        "window_used",
        "created_at",
        "last_seen_at",
    )
    search_fields = ("fp_hash", "client_hash", "ip_hash")
    date_hierarchy = "last_seen_at"
    actions = ("reset_free_quota",)

    @admin.display(description="fingerprint hash")
    def short_fp(self, obj):
        return f"{obj.fp_hash[:16]}…"

    @admin.display(description="free left (current window)")
    def free_left(self, obj):
        from datetime import timedelta

        from django.utils import timezone

        if obj.window_started_at <= timezone.now() - timedelta(seconds=settings.FREE_TTL_SECONDS):
            return settings.FREE_LIMIT
        return max(settings.FREE_LIMIT - obj.window_used, 0)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Reset free quota")
    def reset_free_quota(self, request, queryset):
        count = metering.device_quota_reset(
            device_ids=list(queryset.values_list("pk", flat=True)), note=f"reset by {request.user}"
        )
        self.message_user(request, f"Reset the free quota of {count} device(s).", messages.SUCCESS)


class ApiKeyAddForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("user", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are shown once, when created here or by their user; only their hash is stored."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    actions = ("revoke",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("user", "name", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            return
        raw, key = metering.api_key_create(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        obj.pk = key.pk
        self.message_user(request, f"The new API key (shown only this once): {raw}", messages.WARNING)

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = sum(metering.api_key_revoke(key=key) for key in queryset)
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


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

    def get_urls(self):
        view = self.admin_site.admin_view(self.usage_per_day_view)
        return [path("usage-per-day/", view, name="billing_ledgerentry_usage_per_day"), *super().get_urls()]

    def usage_per_day_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Usage per day",
            "rows": selectors.usage_per_day(days=30),
            "days": 30,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/billing/usage_per_day.html", context)


# --- payments (BTCPay) ----------------------------------------------------------------


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
