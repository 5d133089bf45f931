from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount

from accounts import social
from accounts.models import Role, User
from accounts.tests.social.conftest import (
    ADMIN_ROLE,
    APP_URLS,
    DISCORD_CLIENT_ID,
    GUILD_ID,
    LOOTLING_ROLE,
    MOD_ROLE,
    REDIRECT_URI,
)
from fakes.discord import DiscordUser

pytestmark = pytest.mark.django_db

HAZE = DiscordUser(id="210000000000000001", username="haze", global_name="Haze")


def auth_url(api_client, **params):
    response = api_client.get("/api/discord/auth", params)
    assert response.status_code == 200, response.json()
    return response.json()["auth_url"]


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def callback(api_client, *, code, state, platform=None):
    params = {"code": code, "state": state}
    if platform is not None:
        params["platform"] = platform
    return api_client.get("/api/discord/callback", params)


def fragment(response) -> dict:
    assert response.status_code == 302, getattr(response, "content", b"")[:200]
    location = response["Location"]
    parts = urlsplit(location)
    assert "code=" not in parts.query and "token" not in parts.query  # nothing secret in the query
    return {"base": location.split("#")[0], **{k: v[0] for k, v in parse_qs(parts.fragment).items()}}


def sign_in(api_client, discord_fake, *, roles, platform="web", user=HAZE):
    state = state_of(auth_url(api_client, platform=platform))
    code = discord_fake.authorize(user, roles=roles, redirect_uri=REDIRECT_URI)
    return callback(api_client, code=code, state=state)


def exchange(api_client, code):
    return api_client.post("/api/discord/exchange", {"code": code}, format="json")


def test_the_auth_url_asks_discord_for_identify_and_guild_member_scopes(api_client, social_settings):
    url = urlsplit(auth_url(api_client))
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://discord.com/oauth2/authorize"
    assert query["client_id"] == [DISCORD_CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT_URI]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["identify guilds.members.read"]
    assert query["state"][0]


@pytest.mark.parametrize(
    ("roles", "role", "staff", "superuser"),
    [
        ([LOOTLING_ROLE], Role.USER, False, False),
        ([MOD_ROLE, LOOTLING_ROLE], Role.MODERATOR, True, False),
        (["123", ADMIN_ROLE, MOD_ROLE], Role.ADMIN, True, True),
    ],
)
def test_each_mapped_discord_role_signs_in_with_its_role(
    api_client, social_settings, discord_fake, roles, role, staff, superuser
):
    result = fragment(sign_in(api_client, discord_fake, roles=roles))
    assert result["base"] == APP_URLS["web"]
    body = exchange(api_client, result["code"]).json()
    assert body["role"] == role
    assert body["discord_id"] == HAZE.id
    user = User.objects.get(discord_id=HAZE.id)
    assert (user.role, user.is_staff, user.is_superuser) == (role, staff, superuser)
    assert SocialAccount.objects.get(provider="discord", uid=HAZE.id).user == user
    assert user.avatar_url == f"https://cdn.discordapp.com/avatars/{HAZE.id}/{HAZE.avatar}.png"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.get("/api/users/me").json()["role"] == role


def test_a_member_without_a_mapped_role_is_sent_back_with_an_error_and_no_token(
    api_client, social_settings, discord_fake
):
    result = fragment(sign_in(api_client, discord_fake, roles=["777"]))
    assert result == {"base": APP_URLS["web"], "error": "no_role"}
    assert not User.objects.filter(discord_id=HAZE.id).exists()


def test_someone_not_in_the_guild_is_sent_back_with_an_error_and_no_token(api_client, social_settings, discord_fake):
    result = fragment(sign_in(api_client, discord_fake, roles=None))
    assert result == {"base": APP_URLS["web"], "error": "not_in_guild"}
    assert f"GET /api/users/@me/guilds/{GUILD_ID}/member" in discord_fake.calls
    assert not SocialAccount.objects.exists()


def test_roles_are_refreshed_at_each_login(api_client, social_settings, discord_fake):
    exchange(api_client, fragment(sign_in(api_client, discord_fake, roles=[ADMIN_ROLE]))["code"])
    assert User.objects.get(discord_id=HAZE.id).role == Role.ADMIN
    exchange(api_client, fragment(sign_in(api_client, discord_fake, roles=[LOOTLING_ROLE]))["code"])
    user = User.objects.get(discord_id=HAZE.id)
    assert (user.role, user.is_staff, user.is_superuser) == (Role.USER, False, False)
    assert User.objects.filter(discord_id=HAZE.id).count() == 1
    # Losing every mapped role refuses the sign-in but leaves the account as it was.
    assert fragment(sign_in(api_client, discord_fake, roles=[]))["error"] == "no_role"


def test_a_replayed_state_is_refused(api_client, social_settings, discord_fake):
    state = state_of(auth_url(api_client))
    first = callback(api_client, code=discord_fake.authorize(HAZE, roles=[LOOTLING_ROLE]), state=state)
    assert "code" in fragment(first)
    again = callback(api_client, code=discord_fake.authorize(HAZE, roles=[LOOTLING_ROLE]), state=state)
    assert fragment(again) == {"base": APP_URLS["web"], "error": "invalid_state"}


def test_a_forged_or_expired_state_is_refused_before_discord_is_asked(api_client, social_settings, discord_fake):
    state = state_of(auth_url(api_client))
    forged = state[:-3] + ("AAA" if not state.endswith("AAA") else "BBB")
    code = discord_fake.authorize(HAZE, roles=[ADMIN_ROLE])
    assert fragment(callback(api_client, code=code, state=forged))["error"] == "invalid_state"
    assert fragment(callback(api_client, code=code, state="made-up"))["error"] == "invalid_state"
    social_settings.DISCORD_STATE_MAX_AGE = -1
    assert fragment(callback(api_client, code=code, state=state))["error"] == "invalid_state"
    assert not any("oauth2/token" in call for call in discord_fake.calls)


def test_an_unknown_platform_is_refused_and_never_redirected_to(api_client, social_settings, discord_fake):
    state = state_of(auth_url(api_client))
    code = discord_fake.authorize(HAZE, roles=[ADMIN_ROLE])
    for platform in ("evil", "https://evil.example", "ios"):  # ios has no URL configured
        response = callback(api_client, code=code, state=state, platform=platform)
        assert response.status_code == 400
        assert "platform" in response.json()["detail"]
    assert api_client.get("/api/discord/auth", {"platform": "evil"}).status_code == 400


def test_the_platform_chosen_at_auth_is_where_the_callback_returns(api_client, social_settings, discord_fake):
    result = fragment(sign_in(api_client, discord_fake, roles=[LOOTLING_ROLE], platform="android"))
    assert result["base"] == "hazebot://auth"
    assert exchange(api_client, result["code"]).status_code == 200


def test_a_one_time_code_works_once(api_client, social_settings, discord_fake):
    code = fragment(sign_in(api_client, discord_fake, roles=[LOOTLING_ROLE]))["code"]
    assert exchange(api_client, code).status_code == 200
    second = exchange(api_client, code)
    assert second.status_code == 401
    assert second.json()["detail"]
    assert exchange(api_client, "guessed").status_code == 401


def test_declining_on_discord_returns_to_the_app_with_an_error(api_client, social_settings):
    state = state_of(auth_url(api_client))
    response = api_client.get("/api/discord/callback", {"error": "access_denied", "state": state})
    assert fragment(response)["error"] == "access_denied"


def test_a_code_discord_refuses_is_an_error_redirect(api_client, social_settings, discord_fake):
    response = callback(api_client, code="not-issued", state=state_of(auth_url(api_client)))
    assert fragment(response)["error"] == "discord_refused"


def test_discord_unreachable_is_an_error_redirect(api_client, social_settings, discord_fake):
    state = state_of(auth_url(api_client))
    code = discord_fake.authorize(HAZE, roles=[ADMIN_ROLE])
    discord_fake.unreachable = True
    assert fragment(callback(api_client, code=code, state=state))["error"] == "discord_unavailable"


def test_without_discord_configured_both_endpoints_are_503(api_client, social_settings):
    social_settings.DISCORD_GUILD_ID = ""
    assert api_client.get("/api/discord/auth").status_code == 503
    response = api_client.get("/api/discord/callback", {"code": "x", "state": "y"})
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]


def test_two_people_with_the_same_discord_username_get_distinct_users(api_client, social_settings, discord_fake):
    User.objects.create_user(username="haze", password="x" * 12)
    exchange(api_client, fragment(sign_in(api_client, discord_fake, roles=[LOOTLING_ROLE]))["code"])
    user = User.objects.get(discord_id=HAZE.id)
    assert user.username != "haze"
    assert not user.has_usable_password()


def test_the_bot_account_cannot_be_taken_over_by_a_discord_sign_in(social_settings, discord_fake, make_user):
    bot = make_user(Role.BOT)
    with pytest.raises(social.SignInRefused):
        social.discord_sociallogin_save(
            sociallogin=social.discord_sociallogin(
                request=None, identity=social.DiscordIdentity(user=HAZE.json(), role=Role.ADMIN)
            ),
            role=Role.ADMIN,
            connect_user=bot,
        )
    bot.refresh_from_db()
    assert bot.role == Role.BOT
