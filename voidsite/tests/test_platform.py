import json
from unittest import mock

import pytest
from django.test import RequestFactory, override_settings

from voidsite.net import client_ip

pytestmark = pytest.mark.django_db


def test_health_reports_ok_and_each_part(client):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["timestamp"].endswith("Z")
    assert body["database"] == "ok" and body["channel_layer"] == "ok" and body["cache"] == "ok"


def test_health_is_503_naming_the_failing_part(client):
    async def broken():
        raise ConnectionError("down")

    with mock.patch.dict("voidsite.health._CHECKS", {"channel_layer": broken}):
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["channel_layer"] == "down"
    assert "channel_layer" in response.json()["detail"]


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_body_over_the_limit_is_413_before_it_is_read(client):
    with override_settings(MAX_BODY_BYTES=100):
        response = client.post(
            "/api/auth/login",
            data=json.dumps({"username": "x" * 200, "password": "y"}),
            content_type="application/json",
        )
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_every_response_carries_a_request_id_and_the_log_has_no_query_string(client, caplog):
    with caplog.at_level("INFO", logger="voidsite.request"):
        response = client.get("/api/health?token=secret-value")
    assert response["X-Request-ID"]
    line = next(r.getMessage() for r in caplog.records if r.name == "voidsite.request")
    assert "path=/api/health " in line and "status=200" in line
    assert "secret-value" not in line and "127.0.0.1" not in line


def test_the_landing_page_links_docs_and_admin(client):
    body = client.get("/").content.decode()
    assert "/api/docs/" in body and "/admin/" in body


def test_the_openapi_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert "/api/auth/login" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),  # spoofed left part skipped
    ],
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(peer, forwarded, trusted, expected):
    from voidsite import net

    net._trusted_networks.cache_clear()
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXIES=trusted):
        assert client_ip(request) == expected
    net._trusted_networks.cache_clear()


def test_production_mode_refuses_to_start_without_a_secret_key_in_one_line():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "VOIDSITE_TESTING")}
    env["DJANGO_SETTINGS_MODULE"] = "voidsite.settings"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "voidsite: SECRET_KEY is not set (use 50+ random characters, or DEBUG=1 for development)."
    ]


def test_the_openapi_schema_generates_without_warnings():
    from io import StringIO

    from django.core.management import call_command

    # --fail-on-warn: an undocumented authenticator or an operationId collision fails the build
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO(), stderr=StringIO())


async def test_the_chat_paths_run_without_thread_hopping_middleware_but_keep_the_api_headers(settings):
    from channels.testing import HttpCommunicator
    from django.utils.deprecation import MiddlewareMixin
    from django.utils.module_loading import import_string

    from voidsite.asgi import application

    assert not any(issubclass(import_string(path), MiddlewareMixin) for path in settings.API_MIDDLEWARE)
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    comm = HttpCommunicator(application, "GET", "/v1/models", headers=[(b"origin", b"https://app.example")])
    response = await comm.get_response()
    headers = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    assert response["status"] == 200
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["x-content-type-options"] == "nosniff" and headers["x-request-id"]
    assert "x-frame-options" not in headers  # the full chain (XFrameOptionsMiddleware) was not used
