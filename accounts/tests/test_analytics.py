from datetime import timedelta

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from accounts import analytics
from accounts.analytics import AnalyticsMiddleware, Event, analytics_events_write
from accounts.models import AppAction, AppSession, DailyUserActivity

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_buffer():
    analytics.buffer.clear()
    yield
    analytics.buffer.clear()


def test_the_middleware_is_async_capable_so_async_views_get_no_thread_hop():
    async def view(request):
        return HttpResponse()

    assert AnalyticsMiddleware.sync_capable and AnalyticsMiddleware.async_capable
    assert iscoroutinefunction(AnalyticsMiddleware(view))
    assert not iscoroutinefunction(AnalyticsMiddleware(lambda request: HttpResponse()))


def test_recording_a_request_does_no_database_io(user, django_assert_num_queries):
    request = RequestFactory().get("/api/users/me", HTTP_X_PLATFORM="Android")
    request.user = user
    with django_assert_num_queries(0):
        AnalyticsMiddleware(lambda r: HttpResponse())(request)
    assert len(analytics.buffer) == 1


async def test_the_async_path_records_too(user):
    async def view(request):
        return HttpResponse(status=201)

    request = RequestFactory().get("/api/tickets")
    request.user = user
    await AnalyticsMiddleware(view)(request)
    assert len(analytics.buffer) == 1


def test_an_unevaluated_session_user_is_not_looked_up(user):
    from django.utils.functional import SimpleLazyObject

    def boom():
        raise AssertionError("the middleware must not resolve the user itself")

    request = RequestFactory().get("/api/tickets")
    request.user = SimpleLazyObject(boom)
    AnalyticsMiddleware(lambda r: HttpResponse())(request)
    assert len(analytics.buffer) == 0


def test_a_jwt_request_is_recorded_with_route_and_platform_after_a_flush(client_for, user):
    client_for(user).get("/api/users/me", HTTP_X_PLATFORM="android")
    client_for(user).get("/api/users/me", HTTP_X_PLATFORM="web")
    assert AppSession.objects.count() == 0  # nothing written on the request path
    assert analytics.buffer.flush() == 2
    sessions = AppSession.objects.order_by("platform")
    assert [(s.user_id, s.platform, s.action_count) for s in sessions] == [
        (user.pk, "android", 1),
        (user.pk, "web", 1),
    ]
    assert set(AppAction.objects.values_list("name", flat=True)) == {"GET api/users/me"}
    assert DailyUserActivity.objects.get(user=user).actions == 2


def test_anonymous_and_non_api_requests_are_not_recorded(api_client, user, client):
    api_client.get("/api/health")
    client.force_login(user)
    client.get("/")
    assert len(analytics.buffer) == 0


def test_an_idle_gap_starts_a_new_session_and_durations_add_up(user):
    t0 = timezone.now() - timedelta(hours=3)
    events = [
        Event(user.pk, "ios", "GET a", 200, t0),
        Event(user.pk, "ios", "GET b", 200, t0 + timedelta(seconds=100)),
        Event(user.pk, "ios", "GET c", 200, t0 + timedelta(hours=2)),
    ]
    analytics_events_write(events=events[:1])
    analytics_events_write(events=events[1:])  # a later flush extends the open session
    sessions = list(AppSession.objects.order_by("started_at"))
    assert [s.action_count for s in sessions] == [2, 1]
    assert sessions[0].duration == 100
    stats = analytics.analytics_stats(days=None)
    assert stats["total_sessions"] == 2
    assert stats["total_actions"] == 3
    assert stats["avg_session_duration"] == 50


def test_a_failed_flush_keeps_the_events(user, monkeypatch):
    analytics.buffer.add(Event(user.pk, "web", "GET a", 200, timezone.now()))

    def broken(**kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr(analytics, "analytics_events_write", broken)
    assert analytics.buffer.flush() == 0
    assert len(analytics.buffer) == 1


def test_the_buffer_is_bounded(user, settings):
    settings.ANALYTICS_BUFFER_MAX = 3
    for _ in range(5):
        analytics.buffer.add(Event(user.pk, "web", "GET a", 200, timezone.now()))
    assert len(analytics.buffer) == 3
    assert analytics.buffer.dropped >= 2


def _activity(user, days_ago, sessions=1, actions=1, seconds=0):
    DailyUserActivity.objects.create(
        date=timezone.now().date() - timedelta(days=days_ago),
        user=user,
        sessions=sessions,
        actions=actions,
        session_seconds=seconds,
    )


def test_stats_windows_and_all_time(client_for, admin_user, user, moderator):
    _activity(user, 0, sessions=2, actions=10, seconds=300)
    _activity(moderator, 20, sessions=1, actions=5, seconds=60)
    _activity(admin_user, 200, sessions=1, actions=1, seconds=0)
    client = client_for(admin_user)
    week = client.get("/api/stats?days=7").json()
    assert week["total_users"] == 1
    assert week["total_sessions"] == 2
    assert week["avg_session_duration"] == 150
    assert client.get("/api/stats?days=30").json()["total_actions"] == 15
    every = client.get("/api/stats").json()
    assert every["total_users"] == 3
    assert every["active_users_7d"] == 1
    assert every["total_sessions"] == 4
    assert every["total_actions"] == 16


@pytest.mark.parametrize("days", ["1", "365", "abc", "-7"])
def test_other_windows_are_400(client_for, admin_user, days):
    assert client_for(admin_user).get(f"/api/stats?days={days}").status_code == 400


def test_stats_are_admin_only(client_for, moderator):
    assert client_for(moderator).get("/api/stats").status_code == 403
    assert client_for(moderator).get("/api/active-sessions").status_code == 403


def test_active_sessions_have_the_seed_shape(client_for, admin_user, user):
    now = timezone.now()
    user.discord_id = "987654321"
    user.save()
    AppSession.objects.create(
        user=user, platform="android", started_at=now - timedelta(seconds=300), last_activity=now, action_count=3
    )
    AppSession.objects.create(
        user=user, platform="web", started_at=now - timedelta(hours=5), last_activity=now - timedelta(hours=4)
    )
    sessions = client_for(admin_user).get("/api/active-sessions").json()["sessions"]
    assert len(sessions) == 1
    session = sessions[0]
    assert session["session_id"].startswith("sess_")
    assert session["user_id"] == "987654321"
    assert session["platform"] == "android"
    assert session["duration"] == 300
    assert session["last_activity"].endswith("Z")
