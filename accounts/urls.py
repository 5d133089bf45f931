from django.urls import path

from accounts import analytics_api, api, notifications_api, social_api

urlpatterns = [
    # HazeBot auth and users
    path("api/auth/login", api.LoginView.as_view(), name="auth-login"),
    path("api/auth/verify-token", api.VerifyTokenView.as_view(), name="auth-verify"),
    path("api/auth/refresh", api.RefreshView.as_view(), name="auth-refresh"),
    path("api/auth/logout", api.LogoutView.as_view(), name="auth-logout"),
    path("api/users/me", api.MeView.as_view(), name="users-me"),
    path("api/users/<str:user_id>", api.UserDetailView.as_view(), name="users-detail"),
    # Google (ByteChat) and Discord (HazeBot) sign-in
    path("api/auth/google", social_api.GoogleAuthView.as_view(), name="auth-google"),
    path("api/auth/google/connect", social_api.GoogleConnectView.as_view(), name="auth-google-connect"),
    path("api/discord/auth", social_api.DiscordAuthView.as_view(), name="discord-auth"),
    path("api/discord/callback", social_api.discord_callback, name="discord-callback"),
    path("api/discord/exchange", social_api.DiscordExchangeView.as_view(), name="discord-exchange"),
    # App analytics (admin)
    path("api/stats", analytics_api.StatsView.as_view(), name="analytics-stats"),
    path("api/active-sessions", analytics_api.ActiveSessionsView.as_view(), name="analytics-active-sessions"),
    # Push devices
    path(
        "api/notifications/register-token", notifications_api.RegisterTokenView.as_view(), name="notifications-register"
    ),
    path("api/notifications/test", notifications_api.TestNotificationView.as_view(), name="notifications-test"),
]
