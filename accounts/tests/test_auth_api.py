from datetime import timedelta

import pytest
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role

pytestmark = pytest.mark.django_db


def login(api_client, username, password="correct horse battery", **extra):
    return api_client.post("/api/auth/login", {"username": username, "password": password}, format="json", **extra)


def test_login_returns_the_hazebot_shape_and_the_token_opens_users_me(api_client, make_user):
    moderator = make_user(Role.MODERATOR)
    response = login(api_client, moderator.username)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"token", "user", "role", "discord_id", "permissions", "refresh"}
    assert body["user"] == moderator.username
    assert body["role"] == "moderator"
    assert body["discord_id"] == "legacy_user"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get("/api/users/me")
    assert me.status_code == 200
    assert me.json()["username"] == moderator.username
    assert me.json()["role"] == "moderator"


def test_a_wrong_password_is_401_with_a_detail(api_client, user):
    response = login(api_client, user.username, "wrong password")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_missing_field_is_400_naming_it(api_client):
    response = api_client.post("/api/auth/login", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["detail"]


def test_malformed_json_is_400(api_client):
    response = api_client.post("/api/auth/login", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


@override_settings(LOGIN_RATE_USER="3/m", LOGIN_RATE_IP="100/m")
def test_repeated_logins_for_one_username_are_limited_with_retry_after(api_client, user):
    for _ in range(3):
        assert login(api_client, user.username, "wrong").status_code == 401
    response = login(api_client, user.username, "correct horse battery")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1


@override_settings(LOGIN_RATE_USER="100/m", LOGIN_RATE_IP="3/m")
def test_logins_from_one_address_are_limited_across_usernames(api_client, make_user):
    for i in range(3):
        assert login(api_client, f"nobody{i}", "wrong").status_code == 401
    assert login(api_client, make_user().username).status_code == 429


def test_verify_token_is_200_for_a_valid_token_and_401_without(api_client, client_for, user):
    assert client_for(user).post("/api/auth/verify-token").status_code == 200
    assert api_client.post("/api/auth/verify-token").status_code == 401


def test_a_tampered_token_is_401(api_client, access_token, user):
    token = access_token(user)
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    response = api_client.get("/api/users/me")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_an_expired_token_is_401(api_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api_client.get("/api/users/me").status_code == 401


def test_a_user_gets_403_on_a_staff_endpoint_and_staff_get_through(client_for, user, moderator, admin_user):
    target = f"/api/users/{user.pk}"
    assert client_for(user).get(target).status_code == 403
    assert client_for(moderator).get(target).status_code == 200
    assert client_for(admin_user).get(target).json()["username"] == user.username


def test_users_are_found_by_discord_id(client_for, make_user, admin_user):
    target = make_user(discord_id="123456789012345678")
    response = client_for(admin_user).get("/api/users/123456789012345678")
    assert response.status_code == 200
    assert response.json()["id"] == target.pk
    assert client_for(admin_user).get("/api/users/999999999999999999").status_code == 404


def test_a_demoted_moderator_loses_power_with_the_same_token(client_for, moderator, user):
    client = client_for(moderator)
    assert client.get(f"/api/users/{user.pk}").status_code == 200
    moderator.role = Role.USER
    moderator.save(update_fields=["role"])
    assert client.get(f"/api/users/{user.pk}").status_code == 403


def test_deactivating_a_user_revokes_their_tokens(client_for, user):
    client = client_for(user)
    assert client.get("/api/users/me").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get("/api/users/me").status_code == 401


def test_logout_revokes_the_access_token_and_blacklists_the_refresh_token(api_client, user):
    body = login(api_client, user.username).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api_client.post("/api/auth/logout", {"refresh": body["refresh"]}, format="json").status_code == 200
    assert api_client.get("/api/users/me").status_code == 401
    api_client.credentials()
    assert api_client.post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json").status_code == 401


def test_refresh_rotates_the_pair(api_client, user):
    body = login(api_client, user.username).json()
    response = api_client.post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 200
    new = response.json()
    assert new["refresh"] != body["refresh"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {new['token']}")
    assert api_client.get("/api/users/me").status_code == 200
    # the old refresh token was blacklisted by the rotation
    api_client.credentials()
    assert api_client.post("/api/auth/refresh", {"refresh": body["refresh"]}, format="json").status_code == 401
