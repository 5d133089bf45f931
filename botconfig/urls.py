from django.urls import path

from botconfig import api

urlpatterns = [
    path("api/config", api.ConfigAllView.as_view(), name="config-all"),
    path("api/config/<str:section>", api.ConfigSectionView.as_view(), name="config-section"),
    path("api/cogs", api.CogListView.as_view(), name="cogs"),
    path("api/cogs/load", api.CogCommandView.as_view(action="load"), name="cogs-load"),
    path("api/cogs/unload", api.CogCommandView.as_view(action="unload"), name="cogs-unload"),
    path("api/cogs/reload", api.CogCommandView.as_view(action="reload"), name="cogs-reload"),
    path("api/rocket-league/stats/<str:platform>/<str:username>", api.RocketLeagueStatsView.as_view(), name="rl-stats"),
    path("api/rocket-league/check-ranks", api.CheckRanksView.as_view(), name="rl-check-ranks"),
    path("api/memes/random", api.RandomMemeView.as_view(), name="memes-random"),
    path("api/admin/stats", api.AdminStatsView.as_view(), name="admin-stats"),
    path("api/admin/broadcast", api.BroadcastView.as_view(), name="admin-broadcast"),
]
