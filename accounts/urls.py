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

# --- app analytics (issue 7) ---
from accounts import analytics_api  # noqa: E402 (appended block, kept apart from the shared list above)

urlpatterns += [
    path("api/stats", analytics_api.StatsView.as_view(), name="analytics-stats"),
    path("api/active-sessions", analytics_api.ActiveSessionsView.as_view(), name="analytics-active-sessions"),
]
