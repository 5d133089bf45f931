from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts import services
from accounts.models import AppSession, DailyUserActivity, RevokedToken, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "discord_id", "is_active", "is_staff", "last_login", "date_joined")
    list_filter = ("role", "is_active", "is_staff", "is_superuser")
    search_fields = ("username", "email", "discord_id")
    fieldsets = (*BaseUserAdmin.fieldsets, ("voidsite", {"fields": ("role", "discord_id", "avatar_url")}))
    add_fieldsets = (*BaseUserAdmin.add_fieldsets, ("voidsite", {"fields": ("role",)}))
    actions = ["revoke_tokens"]

    @admin.action(description="Revoke all refresh tokens (sign out everywhere on next refresh)")
    def revoke_tokens(self, request, queryset):
        total = sum(services.user_revoke_all_tokens(user=user) for user in queryset)
        self.message_user(request, f"{total} refresh tokens revoked.", messages.SUCCESS)


@admin.register(RevokedToken)
class RevokedTokenAdmin(admin.ModelAdmin):
    list_display = ("jti", "user", "revoked_at", "expires_at")
    search_fields = ("jti", "user__username")
    readonly_fields = ("jti", "user", "revoked_at", "expires_at")


# Staff may sign in with Discord as well as with a password: the login page adds
# allauth's Discord button (roles are checked by accounts.allauth_adapter).
admin.site.login_template = "accounts/admin_login.html"


# --- app analytics ---


@admin.register(AppSession)
class AppSessionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "platform", "started_at", "last_activity", "action_count")
    list_filter = ("platform",)
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
    date_hierarchy = "last_activity"

    def has_add_permission(self, request):
        return False


@admin.register(DailyUserActivity)
class DailyUserActivityAdmin(admin.ModelAdmin):
    list_display = ("date", "user", "sessions", "actions", "session_seconds")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
    date_hierarchy = "date"

    def has_add_permission(self, request):
        return False
