from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from rest_framework.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from accounts import analytics
from botconfig import charts, selectors, services
from botconfig.defaults import DEFAULTS
from botconfig.models import BotState, Broadcast, ConfigSection, Priority, TrackedPlayer
from botconfig.serializers import section_validate
from voidsite.errors import _first_message


class ConfigSectionForm(forms.ModelForm):
    class Meta:
        model = ConfigSection
        fields = ("data",)

    def clean_data(self):
        data = self.cleaned_data["data"]
        try:
            return section_validate(name=self.instance.name, values=data if data is not None else {})
        except ValidationError as exc:
            raise forms.ValidationError(_first_message(exc.detail)) from exc


@admin.register(ConfigSection)
class ConfigSectionAdmin(SimpleHistoryAdmin):
    """Edit a section's saved values (JSON; missing fields use the defaults), see its
    history (who, when, what) and revert to any revision. Every save goes through
    ``services.config_update``: validated, version bumped, the bot told."""

    form = ConfigSectionForm
    list_display = ("name", "version", "updated_at", "updated_by")
    readonly_fields = ("name", "version", "updated_at", "updated_by", "effective_values")
    fields = ("name", "data", "effective_values", "version", "updated_at", "updated_by")
    history_list_display = ("version", "data")

    @admin.display(description="effective values (defaults + saved)")
    def effective_values(self, obj):
        return selectors.config_get(obj.name) if obj and obj.name else "-"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # Sections are stored on first change; list every one so staff can edit any.
        for name in DEFAULTS:
            ConfigSection.objects.get_or_create(name=name)
        return super().changelist_view(request, extra_context)

    def save_model(self, request, obj, form, change):
        reason = "admin revert" if "/history/" in request.path else "admin edit"
        services.config_update(
            name=obj.name, values=obj.data or {}, user=request.user, expected_version=None, replace=True, reason=reason
        )
        obj.refresh_from_db()


@admin.register(BotState)
class BotStateAdmin(admin.ModelAdmin):
    list_display = ("__str__", "guild_count", "member_count", "last_heartbeat_at", "connected_at")
    readonly_fields = [f.name for f in BotState._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(TrackedPlayer)
class TrackedPlayerAdmin(admin.ModelAdmin):
    list_display = ("username", "platform", "discord_user_id", "last_checked_at", "last_error")
    list_filter = ("platform",)
    search_fields = ("username", "discord_user_id")
    readonly_fields = ("ranks", "last_checked_at", "last_error", "added_at")
    actions = ["check_ranks"]

    @admin.action(description="Check ranks of all tracked players now")
    def check_ranks(self, request, queryset):
        summary = services.tracked_players_check()
        self.message_user(
            request,
            f"{summary['checked']} checked, {summary['changed']} changed, {summary['errors']} errors.",
            messages.SUCCESS if not summary["errors"] else messages.WARNING,
        )


class BroadcastForm(forms.Form):
    title = forms.CharField(max_length=120)
    message = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.NORMAL)


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    """Sent broadcasts (read only) and the staff dashboard with the broadcast form."""

    list_display = ("title", "priority", "sent_by", "created_at")
    readonly_fields = ("title", "message", "priority", "sent_by", "created_at")
    change_list_template = "admin/botconfig/broadcast_change_list.html"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="botconfig_dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request):
        can_send = request.user.is_active and getattr(request.user, "role", None) == "admin"
        form = BroadcastForm(request.POST or None)
        if request.method == "POST":
            if not can_send:
                self.message_user(request, "Only admins can send broadcasts.", messages.ERROR)
                return redirect(reverse("admin:botconfig_dashboard"))
            if form.is_valid():
                broadcast = services.broadcast_send(**form.cleaned_data, user=request.user)
                self.message_user(request, f"Broadcast #{broadcast.pk} sent.", messages.SUCCESS)
                return redirect(reverse("admin:botconfig_dashboard"))
        dau = analytics.daily_active_users(days=30)
        usage = selectors.usage_daily(days=30)
        context = {
            **self.admin_site.each_context(request),
            "title": "Staff dashboard",
            "admin_stats": selectors.admin_stats(),
            "stats_all": analytics.analytics_stats(days=None),
            "stats_7d": analytics.analytics_stats(days=7),
            "chart_dau": charts.bar_chart_svg(dau, title="Daily active users (30 days)"),
            "chart_chats": charts.bar_chart_svg(
                [(d, c) for d, c, _ in usage], title="Chats per day (30 days)", color="#79aec8"
            ),
            "chart_tokens": charts.bar_chart_svg(
                [(d, t) for d, _, t in usage], title="Tokens used per day (30 days)", color="#ba2121"
            ),
            "totals_30d": {
                "active_users": analytics.analytics_stats(days=30)["total_users"],
                "chats": sum(c for _, c, _ in usage),
                "tokens": sum(t for _, _, t in usage),
            },
            "form": form,
            "can_send": can_send,
            "recent": Broadcast.objects.order_by("-created_at")[:10],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/botconfig/dashboard.html", context)
