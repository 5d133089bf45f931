"""Push through firebase-admin against the fake FCM (HTTP v1 + OAuth token endpoint on loopback)."""

import json

import pytest
from fcm_django.models import FCMDevice

from accounts import push
from fakes.fcm import FakeFCM

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_fcm(settings):
    with FakeFCM() as fake:
        settings.FIREBASE_CREDENTIALS = json.dumps(fake.service_account_info())
        settings.FIREBASE_PROJECT_ID = ""
        settings.FCM_URL = fake.base_url
        push.firebase_app_reset()
        yield fake
        push.push_wait(10)
        push.firebase_app_reset()


def test_registering_a_token_creates_an_active_device(user, client_for):
    response = client_for(user).post(
        "/api/notifications/register-token", {"fcm_token": "tok-1", "platform": "ios"}, format="json"
    )
    assert response.json() == {"success": True, "message": "Token registered"}
    device = FCMDevice.objects.get(registration_id="tok-1")
    assert device.user == user and device.type == "ios" and device.active


def test_registering_needs_a_token_and_a_known_platform(user, client_for):
    client = client_for(user)
    assert client.post("/api/notifications/register-token", {"platform": "ios"}, format="json").status_code == 400
    bad = client.post("/api/notifications/register-token", {"fcm_token": "t", "platform": "symbian"}, format="json")
    assert bad.status_code == 400
    assert not FCMDevice.objects.exists()


def test_a_token_registered_by_another_user_moves_to_the_new_user(make_user, client_for):
    alice, bob = make_user(), make_user()
    client_for(alice).post("/api/notifications/register-token", {"fcm_token": "shared"}, format="json")
    client_for(bob).post("/api/notifications/register-token", {"fcm_token": "shared"}, format="json")
    assert list(FCMDevice.objects.filter(registration_id="shared").values_list("user_id", flat=True)) == [bob.pk]


def test_logout_deactivates_the_named_device_only(user, client_for):
    client = client_for(user)
    client.post("/api/notifications/register-token", {"fcm_token": "phone"}, format="json")
    client.post("/api/notifications/register-token", {"fcm_token": "tablet"}, format="json")
    assert client.post("/api/auth/logout", {"fcm_token": "phone"}, format="json").json() == {"success": True}
    assert dict(FCMDevice.objects.values_list("registration_id", "active")) == {"phone": False, "tablet": True}


def test_logout_without_a_token_deactivates_every_device_of_the_user(make_user, client_for):
    alice, bob = make_user(), make_user()
    client_for(alice).post("/api/notifications/register-token", {"fcm_token": "a"}, format="json")
    client_for(bob).post("/api/notifications/register-token", {"fcm_token": "b"}, format="json")
    client_for(alice).post("/api/auth/logout", {}, format="json")
    assert dict(FCMDevice.objects.values_list("registration_id", "active")) == {"a": False, "b": True}


def test_push_sends_an_http_v1_message_with_the_data_payload(user, fake_fcm):
    FCMDevice.objects.create(user=user, registration_id="tok-ok", type="android")
    result = push.push_send(user_ids=[user.pk], title="Hello", body="World", data={"ticket_id": 7})
    assert result == push.PushResult(sent=1)
    [message] = fake_fcm.sent_to("tok-ok")
    assert message["notification"] == {"title": "Hello", "body": "World"}
    assert message["data"] == {"ticket_id": "7"}
    assert fake_fcm.token_requests == 1


def test_a_token_fcm_reports_unregistered_is_deactivated(make_user, fake_fcm):
    alive, dead = make_user(), make_user()
    FCMDevice.objects.create(user=alive, registration_id="alive", type="android")
    FCMDevice.objects.create(user=dead, registration_id="dead", type="android")
    fake_fcm.unregistered.add("dead")
    result = push.push_send(user_ids=None, title="t", body="b", data={})
    assert result == push.PushResult(sent=1, failed=1, deactivated=1)
    assert dict(FCMDevice.objects.values_list("registration_id", "active")) == {"alive": True, "dead": False}
    push.push_send(user_ids=None, title="t", body="b", data={})
    assert len(fake_fcm.sent_to("alive")) == 2  # the dead token is not tried again


def test_a_failing_fcm_is_counted_and_never_raised(user, fake_fcm):
    FCMDevice.objects.create(user=user, registration_id="tok", type="android")
    fake_fcm.fail_all = True
    assert push.push_send(user_ids=[user.pk], title="t", body="b", data={}) == push.PushResult(failed=1)
    assert FCMDevice.objects.get(registration_id="tok").active  # permission errors say nothing about the token


def test_push_to_users_sends_after_commit_in_the_background(user, fake_fcm):
    from django.db import transaction

    FCMDevice.objects.create(user=user, registration_id="tok", type="web")
    with transaction.atomic():
        push.push_to_users([user.pk], title="t", body="b", data={"k": "v"})
        assert push.push_wait(1) and fake_fcm.sent == []
    assert push.push_wait(10)
    assert [m["data"] for m in fake_fcm.sent_to("tok")] == [{"k": "v"}]


def test_push_to_users_is_dropped_with_a_rolled_back_transaction(user, fake_fcm):
    from django.db import transaction

    FCMDevice.objects.create(user=user, registration_id="tok", type="web")
    with pytest.raises(RuntimeError), transaction.atomic():
        push.push_to_users([user.pk], title="t", body="b", data={})
        raise RuntimeError
    assert push.push_wait(2) and fake_fcm.sent == []


def test_with_no_credentials_push_is_off_and_health_says_so(client, settings, user, client_for, admin_user):
    settings.FIREBASE_CREDENTIALS = ""
    push.firebase_app_reset()
    FCMDevice.objects.create(user=user, registration_id="tok", type="web")
    assert push.push_send(user_ids=[user.pk], title="t", body="b", data={}) == push.PushResult()
    assert client.get("/api/health").json()["push"] == "off"
    response = client_for(admin_user).post("/api/notifications/test", {}, format="json")
    assert response.status_code == 503
    assert "off" in response.json()["detail"]


def test_health_says_ok_when_credentials_load(client, fake_fcm):
    assert client.get("/api/health").json()["push"] == "ok"


def test_the_test_endpoint_is_for_admins_and_reports_delivery(user, admin_user, client_for, fake_fcm):
    assert client_for(user).post("/api/notifications/test", {}, format="json").status_code == 403
    response = client_for(admin_user).post(
        "/api/notifications/test", {"fcm_token": "any-device", "title": "Hi", "body": "there"}, format="json"
    )
    assert response.json() == {"success": True, "message": "Sent to 1 device(s)", "sent": 1, "failed": 0}
    assert fake_fcm.sent_to("any-device")[0]["notification"] == {"title": "Hi", "body": "there"}
    fake_fcm.unregistered.add("gone")
    failed = client_for(admin_user).post("/api/notifications/test", {"fcm_token": "gone"}, format="json").json()
    assert failed["success"] is False and failed["failed"] == 1
