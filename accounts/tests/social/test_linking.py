from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.admin.sites import site
from django.test import Client

from accounts.models import Role, User
from accounts.tests.social.conftest import ADMIN_ROLE, GOOGLE_CLIENT_ID, LOOTLING_ROLE, MOD_ROLE, REDIRECT_URI
from fakes.discord import DiscordUser
from fakes.google import GoogleUser

pytestmark = pytest.mark.django_db

HAZE = DiscordUser(id="210000000000000001", username="haze", global_name="Haze")
JANE = GoogleUser(sub="1234567890", email="jane@gmail.com", name="Jane Doe")


def fragment_of(response) -> dict:
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).fragment).items()}


def discord_connect(client, discord_fake, *, roles, user=HAZE):
    response = client.get("/api/discord/auth", {"process": "connect"})
    assert response.status_code == 200, response.json()
    state = parse_qs(urlsplit(response.json()["auth_url"]).query)["state"][0]
    code = discord_fake.authorize(user, roles=roles, redirect_uri=REDIRECT_URI)
    return fragment_of(client.get("/api/discord/callback", {"code": code, "state": state}))


def google_sign_in(api_client, google_fake, person=JANE):
    token = google_fake.access_token(person, client_id=GOOGLE_CLIENT_ID)
    response = api_client.post("/api/auth/google", {"access_token": token}, format="json")
    assert response.status_code == 200
    return response.json()


def test_a_google_user_links_discord_and_both_sign_ins_reach_one_user(
    api_client, client_for, social_settings, google_fake, discord_fake
):
    google_user = User.objects.get(pk=google_sign_in(api_client, google_fake)["id"])
    result = discord_connect(client_for(google_user), discord_fake, roles=[MOD_ROLE])
    assert result["linked"] == "discord"
    assert set(SocialAccount.objects.filter(user=google_user).values_list("provider", flat=True)) == {
        "google",
        "discord",
    }
    google_user.refresh_from_db()
    assert (google_user.discord_id, google_user.role) == (HAZE.id, Role.MODERATOR)
    # Signing in with Discord now lands on the same user.
    state = parse_qs(urlsplit(api_client.get("/api/discord/auth").json()["auth_url"]).query)["state"][0]
    code = discord_fake.authorize(HAZE, roles=[MOD_ROLE], redirect_uri=REDIRECT_URI)
    one_time = fragment_of(api_client.get("/api/discord/callback", {"code": code, "state": state}))["code"]
    body = api_client.post("/api/discord/exchange", {"code": one_time}, format="json").json()
    assert body["user_id"] == HAZE.id
    assert User.objects.get(discord_id=HAZE.id).pk == google_user.pk
    assert User.objects.count() == 1


def test_a_discord_user_links_google_through_the_api(api_client, client_for, social_settings, google_fake, make_user):
    user = make_user(Role.USER)
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    response = client_for(user).post("/api/auth/google/connect", {"access_token": token}, format="json")
    assert response.status_code == 200
    assert SocialAccount.objects.get(provider="google", uid=JANE.sub).user == user
    # The Google sign-in now returns that same user.
    assert google_sign_in(api_client, google_fake)["id"] == user.pk


def test_an_account_linked_to_someone_else_cannot_be_linked_again(
    api_client, client_for, social_settings, google_fake, discord_fake, make_user
):
    owner = User.objects.get(pk=google_sign_in(api_client, google_fake)["id"])
    other = make_user(Role.USER)
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    response = client_for(other).post("/api/auth/google/connect", {"access_token": token}, format="json")
    assert response.status_code == 409
    assert SocialAccount.objects.get(provider="google").user == owner
    # The same for Discord: Haze signs up, then someone else tries to link Haze's Discord.
    discord_connect(client_for(owner), discord_fake, roles=[LOOTLING_ROLE])
    assert discord_connect(client_for(other), discord_fake, roles=[LOOTLING_ROLE]) == {"error": "already_linked"}
    assert SocialAccount.objects.get(provider="discord").user == owner


def test_linking_discord_needs_a_bearer_token(api_client, social_settings):
    response = api_client.get("/api/discord/auth", {"process": "connect"})
    assert response.status_code == 401


def test_staff_see_and_remove_links_in_admin(api_client, admin_user, social_settings, google_fake):
    assert SocialAccount in site._registry
    google_sign_in(api_client, google_fake)
    account = SocialAccount.objects.get(provider="google")
    browser = Client()
    browser.force_login(admin_user)
    listing = browser.get("/admin/socialaccount/socialaccount/")
    assert listing.status_code == 200
    assert JANE.sub in listing.content.decode() or account.user.username in listing.content.decode()
    response = browser.post(f"/admin/socialaccount/socialaccount/{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SocialAccount.objects.exists()


def admin_discord_login(browser, discord_fake, *, roles):
    page = browser.get("/admin/login/?next=/admin/")
    assert "Sign in with Discord" in page.content.decode()
    start = browser.post("/accounts/discord/login/?process=login&next=/admin/")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    assert set(query["scope"][0].split()) == {"identify", "guilds.members.read"}
    code = discord_fake.authorize(HAZE, roles=roles, redirect_uri=query["redirect_uri"][0])
    return browser.get("/accounts/discord/login/callback/", {"code": code, "state": query["state"][0]})


def test_an_admin_signs_in_to_django_admin_with_discord(social_settings, discord_fake):
    browser = Client()
    done = admin_discord_login(browser, discord_fake, roles=[ADMIN_ROLE])
    assert done.status_code == 302
    assert done["Location"] == "/admin/"
    assert browser.get("/admin/").status_code == 200
    user = User.objects.get(discord_id=HAZE.id)
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)
    assert SocialAccount.objects.get(provider="discord").user == user


def test_a_member_without_a_staff_role_cannot_get_into_admin_with_discord(social_settings, discord_fake):
    browser = Client()
    done = admin_discord_login(browser, discord_fake, roles=[LOOTLING_ROLE])
    assert browser.get("/admin/").status_code == 302  # signed in, but not staff: back to the login page
    done = admin_discord_login(browser, discord_fake, roles=["999"])
    assert done.status_code == 302
    assert done["Location"].startswith("/admin/login/")
    assert "refused" in browser.get(done["Location"]).content.decode()


def test_without_discord_configured_the_admin_login_has_no_discord_button(settings):
    settings.SOCIALACCOUNT_PROVIDERS = {}
    page = Client().get("/admin/login/")
    assert page.status_code == 200
    assert "Sign in with Discord" not in page.content.decode()
