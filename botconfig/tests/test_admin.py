from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from accounts.models import DailyUserActivity
from billing.models import EntryKind, LedgerEntry, Outcome, PrincipalKind
from botconfig.models import BotState, Broadcast
from voidsite.asgi import application


@pytest.fixture
def fake_push(monkeypatch):
    """Records the calls to ``accounts.push.push_to_users`` (push itself is tested in accounts)."""
    from accounts import push

    calls = []
    monkeypatch.setattr(push, "push_to_users", lambda user_ids, **kwargs: calls.append((user_ids, kwargs)))
    return calls


@pytest.mark.django_db
def test_admin_stats_have_the_seed_shape_from_the_bots_reports(client_for, admin_user, monkeypatch):
    now = timezone.now()
    BotState.objects.create(
        pk=1,
        channel_name="specific.x!y",
        connected_at=now,
        started_at=now - timedelta(seconds=86400),
        last_heartbeat_at=now,
        guild_count=1,
        member_count=150,
    )
    from tickets.models import Ticket, TicketStatus

    for status in (TicketStatus.OPEN, TicketStatus.OPEN, TicketStatus.CLOSED):
        Ticket.objects.create(owner=admin_user, subject="help", status=status)
    body = client_for(admin_user).get("/api/admin/stats").json()
    assert 86400 <= body["bot_uptime"] <= 86410
    assert (body["total_guilds"], body["total_members"], body["total_tickets"], body["open_tickets"]) == (
        1,
        150,
        3,
        2,
    )


@pytest.mark.django_db
def test_an_offline_bot_has_no_uptime(client_for, admin_user):
    body = client_for(admin_user).get("/api/admin/stats").json()
    assert body["bot_uptime"] == 0
    assert body["bot_online"] is False


@pytest.mark.django_db
def test_admin_stats_and_broadcast_are_admin_only(client_for, moderator):
    client = client_for(moderator)
    assert client.get("/api/admin/stats").status_code == 403
    assert client.post("/api/admin/broadcast", {"title": "t", "message": "m"}, format="json").status_code == 403
    assert not Broadcast.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [{"message": "no title"}, {"title": "t", "message": "m", "priority": "urgent"}, {"title": "t"}]
)
def test_an_invalid_broadcast_is_400(client_for, admin_user, body):
    assert client_for(admin_user).post("/api/admin/broadcast", body, format="json").status_code == 400


@pytest.mark.django_db(transaction=True)
async def test_a_broadcast_reaches_every_connected_client_and_every_device(
    client_for, admin_user, user, user_token, fake_push
):
    socket = WebsocketCommunicator(application, f"/ws/notifications/?token={user_token}")
    assert (await socket.connect())[0]
    api = await sync_to_async(client_for)(admin_user)
    response = await sync_to_async(api.post)(
        "/api/admin/broadcast",
        {"title": "Announcement", "message": "Important update", "priority": "high"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["success"] is True
    event = await socket.receive_json_from(timeout=3)
    assert (event["type"], event["title"], event["message"], event["priority"]) == (
        "broadcast",
        "Announcement",
        "Important update",
        "high",
    )
    assert fake_push == [
        (
            None,
            {
                "title": "Announcement",
                "body": "Important update",
                "data": {"type": "broadcast", "broadcast_id": str(event["id"]), "priority": "high"},
            },
        )
    ]
    broadcast = await sync_to_async(Broadcast.objects.get)()
    assert broadcast.sent_by_id == admin_user.pk
    await socket.disconnect()


@pytest.mark.django_db
def test_the_dashboard_charts_the_last_30_days_and_sends_broadcasts(
    client, admin_user, user, fake_push, django_capture_on_commit_callbacks
):
    DailyUserActivity.objects.create(date=timezone.now().date(), user=user, sessions=1, actions=4)
    for outcome, prompt, completion in [(Outcome.COMPLETED, 100, 23), (Outcome.REFUSED, 0, 0)]:
        LedgerEntry.objects.create(
            kind=EntryKind.USAGE,
            principal_kind=PrincipalKind.USER,
            principal_ref="u1",
            outcome=outcome,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
    client.force_login(admin_user)
    url = reverse("admin:botconfig_dashboard")
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('role="img"') == 3
    assert "1 active users, 1 chats, 123 tokens" in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"title": "Hi", "message": "From admin", "priority": "normal"})
    assert response.status_code == 302
    assert Broadcast.objects.get().title == "Hi"
    assert fake_push[0][1]["title"] == "Hi"


@pytest.mark.django_db
def test_the_dashboard_is_for_staff_only(client, user):
    client.force_login(user)
    assert client.get(reverse("admin:botconfig_dashboard")).status_code == 302  # to the admin login
