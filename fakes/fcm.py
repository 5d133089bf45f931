"""A fake Firebase Cloud Messaging server on loopback, speaking FCM HTTP v1 and Google's OAuth token endpoint.

- ``POST /token``: the service-account JWT-bearer grant. The assertion is checked
  against the fake service account's public key (RS256, ``aud`` = Google's token URL);
  answers ``{"access_token", "expires_in", "token_type": "Bearer"}``.
- ``POST /v1/projects/{project}/messages:send``: needs ``Authorization: Bearer
  <issued token>``; body ``{"message": {...}, "validate_only": bool}``. Success is
  ``{"name": "projects/{project}/messages/{id}"}``. A token in ``unregistered``
  gets FCM's documented 404 ``NOT_FOUND`` with the ``FcmError`` detail
  ``errorCode: UNREGISTERED``; ``fail_all`` answers 403 ``PERMISSION_DENIED``.

Use :meth:`FakeFCM.service_account_info` as ``FIREBASE_CREDENTIALS`` (its
``token_uri`` points here) and :attr:`FakeFCM.base_url` as ``FCM_URL``.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Google's token endpoint expects this audience in the assertion, whatever URL it was posted to.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a public URL, not a secret)

_KEY_CACHE: dict[str, rsa.RSAPrivateKey] = {}


def _private_key() -> rsa.RSAPrivateKey:
    # One key per process: generating RSA keys is slow and the fake needs no secrecy.
    if "key" not in _KEY_CACHE:
        _KEY_CACHE["key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEY_CACHE["key"]


def _google_error(code: int, status: str, message: str, fcm_code: str | None = None) -> dict:
    error = {"code": code, "message": message, "status": status}
    if fcm_code:
        error["details"] = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
    return {"error": error}


class FakeFCM:
    def __init__(self, project_id: str = "voidsite-fake"):
        self.project_id = project_id
        self.unregistered: set[str] = set()
        self.fail_all = False
        self.sent: list[dict] = []  # the "message" objects accepted, in order
        self.token_requests = 0
        self._issued: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakeFCM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                return

            def _reply(self, status: int, body: dict):
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path == "/token":
                    status, answer = fake._token(body)
                elif self.path == f"/v1/projects/{fake.project_id}/messages:send":
                    status, answer = fake._send(self.headers.get("Authorization", ""), body)
                else:
                    status, answer = 404, _google_error(404, "NOT_FOUND", "Not found.")
                self._reply(status, answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-fcm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeFCM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def service_account_info(self) -> dict:
        """A service-account JSON (as Google issues them) whose token endpoint is this fake."""
        pem = _private_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem.decode(),
            "client_email": f"push@{self.project_id}.iam.gserviceaccount.com",
            "client_id": "1",
            "auth_uri": "http://127.0.0.1/unused",
            "token_uri": f"{self.base_url}/token",
        }

    # --- endpoints -------------------------------------------------------------------------
    def _token(self, body: bytes) -> tuple[int, dict]:
        form = parse_qs(body.decode())
        assertion = (form.get("assertion") or [""])[0]
        if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                assertion, _private_key().public_key(), algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE
            )
        except jwt.PyJWTError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if "firebase.messaging" not in claims.get("scope", "") and "cloud-platform" not in claims.get("scope", ""):
            return 400, {"error": "invalid_scope"}
        with self._lock:
            self.token_requests += 1
            token = f"ya29.fake-{self.token_requests}"
            self._issued.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _send(self, authorization: str, body: bytes) -> tuple[int, dict]:
        kind, _, token = authorization.partition(" ")
        if kind != "Bearer" or token not in self._issued:
            return 401, _google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return 400, _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if self.fail_all:
            return 403, _google_error(403, "PERMISSION_DENIED", "Permission denied.")
        target = message.get("token")
        if not target:
            return 400, _google_error(
                400, "INVALID_ARGUMENT", "Request contains an invalid argument.", "INVALID_ARGUMENT"
            )
        if target in self.unregistered:
            return 404, _google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        with self._lock:
            self.sent.append(message)
            message_id = next(self._ids)
        return 200, {"name": f"projects/{self.project_id}/messages/{message_id}"}

    def sent_to(self, token: str) -> list[dict]:
        with self._lock:
            return [m for m in self.sent if m.get("token") == token]
