from django.urls import path

from accounts import api

urlpatterns = [
    path("api/auth/login", api.LoginView.as_view(), name="auth-login"),
    path("api/auth/verify-token", api.VerifyTokenView.as_view(), name="auth-verify"),
    path("api/auth/refresh", api.RefreshView.as_view(), name="auth-refresh"),
    path("api/auth/logout", api.LogoutView.as_view(), name="auth-logout"),
    path("api/users/me", api.MeView.as_view(), name="users-me"),
    path("api/users/<str:user_id>", api.UserDetailView.as_view(), name="users-detail"),
]

# --- push devices (HazeBot /api/notifications/*) ---
from accounts import notifications_api  # noqa: E402 (an appended block keeps merges of this shared file simple)

urlpatterns += [
    path(
        "api/notifications/register-token", notifications_api.RegisterTokenView.as_view(), name="notifications-register"
    ),
    path("api/notifications/test", notifications_api.TestNotificationView.as_view(), name="notifications-test"),
]
