import pytest
from django.urls import reverse

from botconfig.models import ConfigSection
from botconfig.selectors import config_get

pytestmark = pytest.mark.django_db


def test_an_admin_reads_every_section_with_defaults(client_for, admin_user):
    body = client_for(admin_user).get("/api/config").json()
    assert set(body) == {"general", "channels", "roles", "meme", "rocket_league", "welcome", "server_guide", "tickets"}
    assert body["general"]["bot_name"] == "HazeBot"
    assert body["meme"]["default_subreddits"] == ["memes", "dankmemes"]


def test_the_whole_config_is_refused_to_moderators_and_users(client_for, moderator, user):
    assert client_for(moderator).get("/api/config").status_code == 403
    assert client_for(user).get("/api/config").status_code == 403


def test_the_bot_account_reads_the_config(client_for, bot_account):
    assert client_for(bot_account).get("/api/config/tickets").status_code == 200
    assert client_for(bot_account).get("/api/config").status_code == 200


def test_moderators_read_sections_but_not_tickets_and_cannot_write(client_for, moderator):
    client = client_for(moderator)
    assert client.get("/api/config/general").status_code == 200
    assert client.get("/api/config/tickets").status_code == 403
    assert client.put("/api/config/general", {"bot_name": "X"}, format="json").status_code == 403


def test_a_section_carries_its_version_as_etag(client_for, admin_user):
    response = client_for(admin_user).get("/api/config/rocket_league")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json() == {"rank_check_interval_hours": 24, "rank_cache_ttl_seconds": 3600}


def test_an_unknown_section_is_404(client_for, admin_user):
    assert client_for(admin_user).get("/api/config/nope").status_code == 404


def test_a_put_saves_the_given_fields_and_keeps_the_others(client_for, admin_user):
    client = client_for(admin_user)
    response = client.put("/api/config/general", {"bot_name": "VoidBot", "message_cooldown": 9}, format="json")
    assert response.status_code == 200, response.json()
    assert response["ETag"] == '"2"'
    assert response.json()["bot_name"] == "VoidBot"
    assert response.json()["command_prefix"] == "!"
    assert config_get("general")["message_cooldown"] == 9
    assert ConfigSection.objects.get(name="general").updated_by == admin_user


@pytest.mark.parametrize(
    ("section", "body", "field"),
    [
        ("general", {"command_prefix": 5}, "command_prefix"),
        ("general", {"message_cooldown": "5"}, "message_cooldown"),
        ("general", {"fuzzy_matching_threshold": True}, "fuzzy_matching_threshold"),
        ("general", {"fuzzy_matching_threshold": 1.5}, "fuzzy_matching_threshold"),
        ("channels", {"log_channel_id": 123456789012345678}, "log_channel_id"),
        ("channels", {"log_channel_id": "12345"}, "log_channel_id"),
        ("channels", {"log_channel_id": "12345678901234567x"}, "log_channel_id"),
        ("roles", {"interest_role_ids": ["123456789012345678", "bad"]}, "interest_role_ids"),
        ("roles", {"interest_roles": {"games": "nope"}}, "interest_roles"),
        ("meme", {"meme_sources": ["reddit", "4chan"]}, "meme_sources"),
        ("meme", {"default_subreddits": ["no spaces"]}, "default_subreddits"),
        ("meme", {"templates_cache_duration": -1}, "templates_cache_duration"),
        ("rocket_league", {"rank_check_interval_hours": 0}, "rank_check_interval_hours"),
        ("welcome", {"welcome_messages": "Welcome!"}, "welcome_messages"),
        ("server_guide", {"categories": [{"name": "Games", "colour": "red"}]}, "categories"),
        ("tickets", {"enabled": "yes"}, "enabled"),
        ("tickets", {"max_open_per_user": 0}, "max_open_per_user"),
        ("tickets", {"surprise": 1}, "surprise"),
    ],
)
def test_invalid_values_are_a_400_naming_the_field(client_for, admin_user, section, body, field):
    response = client_for(admin_user).put(f"/api/config/{section}", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")
    assert not ConfigSection.objects.filter(name=section, version__gt=1).exists()


def test_nothing_is_half_saved_when_one_field_is_wrong(client_for, admin_user):
    response = client_for(admin_user).put(
        "/api/config/channels",
        {"log_channel_id": "123456789012345678", "meme_channel_id": "not-an-id"},
        format="json",
    )
    assert response.status_code == 400
    assert "meme_channel_id" in response.json()["detail"]
    assert config_get("channels")["log_channel_id"] is None


def test_a_valid_snowflake_and_nested_guide_are_saved(client_for, admin_user):
    client = client_for(admin_user)
    assert (
        client.put("/api/config/channels", {"log_channel_id": "123456789012345678"}, format="json").status_code == 200
    )
    guide = {"categories": [{"name": "Games", "description": "", "channel_ids": ["223456789012345678"]}]}
    assert client.put("/api/config/server_guide", guide, format="json").status_code == 200
    assert config_get("server_guide")["categories"][0]["channel_ids"] == ["223456789012345678"]
    assert config_get("channels")["log_channel_id"] == "123456789012345678"


def test_a_stale_if_match_is_a_409_and_changes_nothing(client_for, admin_user):
    client = client_for(admin_user)
    assert (
        client.put("/api/config/general", {"bot_name": "First"}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    )
    response = client.put("/api/config/general", {"bot_name": "Second"}, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 409
    assert response["ETag"] == '"2"'
    assert response.json()["current_version"] == 2
    assert config_get("general")["bot_name"] == "First"


def test_a_current_if_match_is_accepted(client_for, admin_user):
    client = client_for(admin_user)
    etag = client.get("/api/config/welcome")["ETag"]
    response = client.put("/api/config/welcome", {"rules_text": "Be nice"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] == '"2"'


def test_a_malformed_if_match_is_a_400(client_for, admin_user):
    response = client_for(admin_user).put("/api/config/welcome", {}, format="json", HTTP_IF_MATCH="yesterday")
    assert response.status_code == 400


def test_every_change_is_a_revision_with_who_and_what(client_for, admin_user):
    client = client_for(admin_user)
    client.put("/api/config/meme", {"default_subreddits": ["memes"]}, format="json")
    client.put("/api/config/meme", {"templates_cache_duration": 60}, format="json")
    history = ConfigSection.objects.get(name="meme").history.order_by("history_date")
    changes = [h for h in history if h.history_type == "~"]
    assert [h.version for h in changes] == [2, 3]
    assert all(h.history_user == admin_user for h in changes)
    assert changes[0].data == {"default_subreddits": ["memes"]}
    assert changes[1].data == {"default_subreddits": ["memes"], "templates_cache_duration": 60}


def test_staff_revert_a_section_in_admin(client, admin_user, client_for):
    api = client_for(admin_user)
    api.put("/api/config/general", {"bot_name": "Good"}, format="json")
    api.put("/api/config/general", {"bot_name": "Broken"}, format="json")
    section = ConfigSection.objects.get(name="general")
    good = section.history.get(version=2)
    client.force_login(admin_user)
    url = reverse("admin:botconfig_configsection_history", args=[section.pk])
    assert client.get(url).status_code == 200
    revert_url = reverse("admin:botconfig_configsection_simple_history", args=[section.pk, good.history_id])
    page = client.get(revert_url)
    assert page.status_code == 200
    response = client.post(revert_url, {"data": '{"bot_name": "Good"}'})
    assert response.status_code == 302
    section.refresh_from_db()
    assert config_get("general")["bot_name"] == "Good"
    assert section.version == 4  # a revert is a new revision, never a step back in version
    assert section.history.latest("history_date").history_change_reason == "admin revert"


def test_an_admin_edit_with_an_invalid_value_is_refused(client, admin_user):
    section = ConfigSection.objects.get_or_create(name="tickets")[0]
    client.force_login(admin_user)
    url = reverse("admin:botconfig_configsection_change", args=[section.pk])
    response = client.post(url, {"data": '{"max_open_per_user": "many"}'})
    assert response.status_code == 200  # the form again, with the error
    assert b"max_open_per_user" in response.content
    assert config_get("tickets")["max_open_per_user"] == 3


def test_config_get_keeps_its_shape_for_the_tickets_app(client_for, admin_user):
    client_for(admin_user).put("/api/config/tickets", {"max_open_per_user": 5}, format="json")
    assert config_get("tickets") == {
        "enabled": True,
        "max_open_per_user": 5,
        "auto_close_hours": 72,
        "transcript_enabled": True,
    }
