import pytest
from allauth.socialaccount.models import SocialAccount

from accounts import google
from accounts.tests.social.conftest import GOOGLE_CLIENT_ID
from billing.models import TokenBalance
from fakes.google import GoogleUser

pytestmark = pytest.mark.django_db

JANE = GoogleUser(sub="1234567890", email="jane@gmail.com", name="Jane Doe")


def sign_in(api_client, **body):
    return api_client.post("/api/auth/google", body, format="json")


def test_an_access_token_signs_in_with_the_bytechat_shape_and_a_working_jwt(api_client, social_settings, google_fake):
    response = sign_in(api_client, access_token=google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID))
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("email", "name", "picture", "total_tokens", "tokens_used", "tokens_left")} == {
        "email": "jane@gmail.com",
        "name": "Jane Doe",
        "picture": JANE.picture,
        "total_tokens": 1_000_000,
        "tokens_used": 0,
        "tokens_left": 1_000_000,
    }
    account = SocialAccount.objects.get(provider="google", uid=JANE.sub)
    assert account.user_id == body["id"]
    assert account.user.email == "jane@gmail.com"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    me = api_client.get("/api/users/me")
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]
    assert body["refresh"]


def test_signing_in_again_finds_the_same_user_and_reports_its_balance(api_client, social_settings, google_fake):
    first = sign_in(api_client, access_token=google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)).json()
    TokenBalance.objects.filter(user_id=first["id"]).update(tokens_used=15420)
    second = sign_in(api_client, access_token=google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)).json()
    assert second["id"] == first["id"]
    assert (second["tokens_used"], second["tokens_left"]) == (15420, 1_000_000 - 15420)
    assert SocialAccount.objects.filter(provider="google").count() == 1


def test_a_token_issued_to_another_app_is_401(api_client, social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id="someone-else.apps.googleusercontent.com")
    response = sign_in(api_client, access_token=token)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert not SocialAccount.objects.exists()


def test_a_token_whose_authorized_party_is_another_app_is_401(api_client, social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID, azp="other.apps.googleusercontent.com")
    assert sign_in(api_client, access_token=token).status_code == 401


def test_an_extra_client_id_of_our_project_is_accepted(api_client, social_settings, google_fake):
    social_settings.GOOGLE_EXTRA_CLIENT_IDS = ["android.apps.googleusercontent.com"]
    token = google_fake.access_token(JANE, client_id="android.apps.googleusercontent.com")
    assert sign_in(api_client, access_token=token).status_code == 200


def test_an_expired_or_unknown_token_is_401(api_client, social_settings, google_fake):
    expired = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID, expires_in=-5)
    assert sign_in(api_client, access_token=expired).status_code == 401
    assert sign_in(api_client, access_token="ya29.not-a-real-token").status_code == 401


def test_google_unreachable_is_502(api_client, social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    google_fake.unreachable = True
    response = sign_in(api_client, access_token=token)
    assert response.status_code == 502
    assert "Google" in response.json()["detail"]


def test_a_google_server_error_is_502_not_401(api_client, social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    google_fake.server_error = True
    assert sign_in(api_client, access_token=token).status_code == 502


def test_without_google_configured_the_endpoint_is_503(api_client, social_settings, google_fake):
    social_settings.GOOGLE_CLIENT_ID = ""
    response = sign_in(api_client, access_token="ya29.x")
    assert response.status_code == 503
    assert "not configured" in response.json()["detail"]


def test_a_body_without_a_token_is_400(api_client, social_settings):
    response = sign_in(api_client)
    assert response.status_code == 400
    assert "access_token" in response.json()["detail"]


def test_an_id_token_signs_in_through_allauths_verification(api_client, social_settings, google_fake):
    response = sign_in(api_client, id_token=google_fake.id_token(JANE, client_id=GOOGLE_CLIENT_ID))
    assert response.status_code == 200, response.json()
    assert response.json()["email"] == "jane@gmail.com"
    # The same Google account by access token is the same user.
    again = sign_in(api_client, access_token=google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID))
    assert again.json()["id"] == response.json()["id"]


def test_an_id_token_for_another_audience_or_expired_is_401(api_client, social_settings, google_fake):
    assert sign_in(api_client, id_token=google_fake.id_token(JANE, client_id="other")).status_code == 401
    expired = google_fake.id_token(JANE, client_id=GOOGLE_CLIENT_ID, expires_in=-120)
    assert sign_in(api_client, id_token=expired).status_code == 401
    assert sign_in(api_client, id_token="not.a.jwt").status_code == 401


def test_an_id_token_while_google_certs_are_unreachable_is_502(api_client, social_settings, google_fake):
    token = google_fake.id_token(JANE, client_id=GOOGLE_CLIENT_ID)
    google_fake.unreachable = True
    assert sign_in(api_client, id_token=token).status_code == 502


def test_user_for_access_token_is_cached_briefly(social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    user = google.user_for_access_token(token)
    calls = len(google_fake.calls)
    assert google.user_for_access_token(token).pk == user.pk
    assert len(google_fake.calls) == calls  # no second round trip
    social_settings.GOOGLE_TOKEN_CACHE_TTL = 0
    other = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    google.user_for_access_token(other)
    google.user_for_access_token(other)
    assert len(google_fake.calls) == calls + 4  # tokeninfo + userinfo, twice: nothing cached


def test_user_for_access_token_raises_typed_errors(social_settings, google_fake):
    with pytest.raises(google.GoogleAuthError):
        google.user_for_access_token("ya29.unknown")
    with pytest.raises(google.GoogleAuthError):
        google.user_for_access_token(google_fake.access_token(JANE, client_id="foreign"))
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    google_fake.unreachable = True
    with pytest.raises(google.GoogleUnavailable):
        google.user_for_access_token(token)


def test_a_deactivated_user_is_not_served_from_the_cache(social_settings, google_fake):
    token = google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID)
    user = google.user_for_access_token(token)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(google.GoogleAuthError):
        google.user_for_access_token(token)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_first_sign_ins_make_one_user(require_postgres, social_settings, google_fake):
    import threading

    from django.db import connection

    tokens = [google_fake.access_token(JANE, client_id=GOOGLE_CLIENT_ID) for _ in range(4)]
    barrier = threading.Barrier(len(tokens))
    results, errors = [], []

    def sign_in_once(token):
        try:
            barrier.wait()
            results.append(google.user_for_access_token(token).pk)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in_once, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert SocialAccount.objects.filter(provider="google", uid=JANE.sub).count() == 1
