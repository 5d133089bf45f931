import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command

from botconfig import trn
from botconfig.models import TrackedPlayer
from botconfig.services import BOT_GROUP

pytestmark = pytest.mark.django_db

RANKS = {"1v1": ("Diamond I", 3, 950), "2v2": ("Champion II", 2, 1150)}


def test_stats_are_mapped_to_the_seed_shape(fake_trn, client_for, user):
    fake_trn.add_player("steam", "PlayerName", RANKS)
    response = client_for(user).get("/api/rocket-league/stats/steam/PlayerName")
    assert response.status_code == 200
    assert response.json() == {
        "username": "PlayerName",
        "platform": "steam",
        "ranks": {
            "1v1": {"tier": "Diamond I", "division": 3, "mmr": 950},
            "2v2": {"tier": "Champion II", "division": 2, "mmr": 1150},
        },
        "cached": False,
    }
    sent = fake_trn.requests[0]
    assert sent.headers["TRN-Api-Key"] == "test-trn-key"
    assert sent.url.path == "/api/v2/rocket-league/standard/profile/steam/PlayerName"


def test_a_second_request_is_served_from_cache(fake_trn, client_for, user):
    fake_trn.add_player("epic", "Some One", RANKS)
    client = client_for(user)
    assert client.get("/api/rocket-league/stats/epic/Some One").json()["cached"] is False
    assert client.get("/api/rocket-league/stats/epic/some one").json()["cached"] is True
    assert len(fake_trn.requests) == 1


def test_a_zero_ttl_disables_the_cache(fake_trn, client_for, admin_user):
    fake_trn.add_player("psn", "p1", RANKS)
    client = client_for(admin_user)
    client.put("/api/config/rocket_league", {"rank_cache_ttl_seconds": 0}, format="json")
    client.get("/api/rocket-league/stats/psn/p1")
    assert client.get("/api/rocket-league/stats/psn/p1").json()["cached"] is False
    assert len(fake_trn.requests) == 2


def test_an_unknown_platform_is_400(fake_trn, client_for, user):
    assert client_for(user).get("/api/rocket-league/stats/switch/someone").status_code == 400
    assert fake_trn.requests == []


def test_an_unknown_player_is_404(fake_trn, client_for, user):
    response = client_for(user).get("/api/rocket-league/stats/xbl/nobody")
    assert response.status_code == 404
    assert response.json()["detail"] == "Player not found."


def test_a_down_upstream_without_cache_is_502(fake_trn, client_for, user):
    fake_trn.down = True
    assert client_for(user).get("/api/rocket-league/stats/steam/PlayerName").status_code == 502


def test_a_wrong_api_key_is_502_not_a_leak(fake_trn, client_for, user, settings):
    fake_trn.add_player("steam", "PlayerName", RANKS)
    settings.ROCKET_LEAGUE_API_KEY = "wrong"
    response = client_for(user).get("/api/rocket-league/stats/steam/PlayerName")
    assert response.status_code == 502
    assert "wrong" not in response.content.decode()


def test_a_down_upstream_serves_the_stale_answer_marked_stale(fake_trn, client_for, admin_user):
    fake_trn.add_player("steam", "PlayerName", RANKS)
    client = client_for(admin_user)
    client.put("/api/config/rocket_league", {"rank_cache_ttl_seconds": 0}, format="json")
    client.get("/api/rocket-league/stats/steam/PlayerName")
    fake_trn.down = True
    body = client.get("/api/rocket-league/stats/steam/PlayerName").json()
    assert body["stale"] is True
    assert body["cached"] is True
    assert body["ranks"]["1v1"]["mmr"] == 950


def test_stats_need_a_signed_in_user(fake_trn, api_client):
    assert api_client.get("/api/rocket-league/stats/steam/PlayerName").status_code == 401


@pytest.mark.parametrize(("name", "number"), [("Division I", 1), ("Division IV", 4), ("Division 2", 2), ("", None)])
def test_division_names_become_numbers(name, number):
    assert trn.division_number(name) == number


async def _listen_to_bot_group():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(BOT_GROUP, channel)
    return layer, channel


@pytest.mark.django_db(transaction=True)
async def test_check_ranks_sends_changes_to_the_bot_and_stores_them(fake_trn, client_for, admin_user):
    # Async, so the listener stays subscribed in one event loop: channels-redis' pub/sub layer
    # only delivers to channels subscribed at the moment of sending.
    fake_trn.add_player("steam", "Climber", {"2v2": ("Champion II", 2, 1150)})
    await TrackedPlayer.objects.acreate(
        platform="steam",
        username="Climber",
        discord_user_id="123456789012345678",
        ranks={"2v2": {"tier": "Champion I", "division": 4, "mmr": 1090}},
    )
    await TrackedPlayer.objects.acreate(
        platform="steam", username="Steady", ranks={"1v1": {"tier": "Gold I", "division": 1, "mmr": 500}}
    )
    fake_trn.add_player("steam", "Steady", {"1v1": ("Gold I", 1, 510)})
    layer, channel = await _listen_to_bot_group()
    client = await sync_to_async(client_for)(admin_user)
    response = await sync_to_async(client.post)("/api/rocket-league/check-ranks")
    assert response.status_code == 200
    assert response.json()["checked"] == 2
    assert response.json()["changed"] == 1
    event = await asyncio.wait_for(layer.receive(channel), 5)
    assert event["payload"]["type"] == "rank.changed"
    assert event["payload"]["username"] == "Climber"
    assert event["payload"]["old"]["tier"] == "Champion I"
    assert event["payload"]["new"] == {"tier": "Champion II", "division": 2, "mmr": 1150}
    climber = await TrackedPlayer.objects.aget(username="Climber")
    assert climber.ranks["2v2"]["tier"] == "Champion II"
    steady = await TrackedPlayer.objects.aget(username="Steady")
    assert steady.ranks["1v1"]["mmr"] == 510


def test_check_ranks_is_admin_only(fake_trn, client_for, moderator):
    assert client_for(moderator).post("/api/rocket-league/check-ranks").status_code == 403


def test_the_check_ranks_command_records_errors_and_goes_on(fake_trn, capsys):
    TrackedPlayer.objects.create(platform="epic", username="Gone")
    fake_trn.add_player("epic", "Here", RANKS)
    TrackedPlayer.objects.create(platform="epic", username="Here")
    call_command("check_ranks")
    assert "checked=1 changed=1 errors=1" in capsys.readouterr().out
    assert TrackedPlayer.objects.get(username="Gone").last_error == "player not found"


def test_the_cron_mode_only_checks_players_that_are_due(fake_trn, capsys):
    from django.utils import timezone

    fake_trn.add_player("epic", "Fresh", RANKS)
    fake_trn.add_player("epic", "Due", RANKS)
    TrackedPlayer.objects.create(platform="epic", username="Fresh", last_checked_at=timezone.now())
    TrackedPlayer.objects.create(platform="epic", username="Due")
    call_command("check_ranks", "--due")
    assert "checked=1 changed=1 errors=0" in capsys.readouterr().out
    assert [r.url.path.rsplit("/", 1)[1] for r in fake_trn.requests] == ["Due"]
