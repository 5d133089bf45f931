"""A fake Google at the HTTP boundary: token info, userinfo, and the ID-token
signing certificates, with the documented JSON.

- ``GET https://oauth2.googleapis.com/tokeninfo?access_token=`` → ``{"azp", "aud",
  "sub", "scope", "exp", "expires_in", "email", "email_verified"}`` (strings, as
  Google sends them); an unknown or expired token → 400 ``{"error": "invalid_token"}``.
- ``GET https://www.googleapis.com/oauth2/v3/userinfo`` (Bearer) → ``{"sub", "name",
  "given_name", "family_name", "picture", "email", "email_verified"}``; 401 otherwise.
- ``GET https://www.googleapis.com/oauth2/v1/certs`` → ``{"<kid>": "<PEM certificate>"}``,
  the keys that sign the ID tokens made by :meth:`FakeGoogle.id_token`.

Use ``FakeGoogle().transport`` as ``SOCIAL_HTTP_TRANSPORT``; ``unreachable = True``
makes every request fail to connect.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

HOSTS = ("oauth2.googleapis.com", "www.googleapis.com", "accounts.google.com")
ISSUER = "https://accounts.google.com"


@dataclass
class GoogleUser:
    sub: str
    email: str
    name: str = "Jane Doe"
    given_name: str = "Jane"
    family_name: str = "Doe"
    picture: str = "https://lh3.googleusercontent.com/a/fake"
    email_verified: bool = True

    def userinfo(self) -> dict:
        return {
            "sub": self.sub,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "picture": self.picture,
            "email": self.email,
            "email_verified": self.email_verified,
        }


@dataclass
class _AccessToken:
    user: GoogleUser
    client_id: str
    exp: float
    azp: str


@dataclass
class FakeGoogle:
    unreachable: bool = False
    server_error: bool = False
    tokens: dict[str, _AccessToken] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        self._cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.transport = httpx.MockTransport(self.handle)

    # --- what a test sets up ------------------------------------------------------

    def access_token(self, user: GoogleUser, *, client_id: str, expires_in: int = 3600, azp: str | None = None) -> str:
        """A Google access token for ``user`` issued to ``client_id`` (negative ``expires_in``: expired)."""
        raw = "ya29." + secrets.token_urlsafe(32)
        self.tokens[raw] = _AccessToken(
            user=user, client_id=client_id, exp=time.time() + expires_in, azp=azp or client_id
        )
        return raw

    def id_token(self, user: GoogleUser, *, client_id: str, expires_in: int = 3600, issuer: str = ISSUER) -> str:
        """An ID token signed by the fake's key (served at the certs URL)."""
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": client_id,
            "azp": client_id,
            "sub": user.sub,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "picture": user.picture,
            "iat": now,
            "exp": now + expires_in,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    # --- the HTTP side --------------------------------------------------------------

    def handles(self, request: httpx.Request) -> bool:
        return request.url.host in HOSTS

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if self.unreachable:
            raise httpx.ConnectError("connection refused", request=request)
        if self.server_error:
            return httpx.Response(503, json={"error": "backendError"})
        path = request.url.path
        if path == "/tokeninfo" and request.method == "GET":
            return self._tokeninfo(request)
        if path in ("/oauth2/v3/userinfo", "/oauth2/v2/userinfo") and request.method == "GET":
            return self._userinfo(request)
        if path == "/oauth2/v1/certs" and request.method == "GET":
            return httpx.Response(200, json={self.kid: self._cert_pem})
        return httpx.Response(404, json={"error": "not_found"})

    def _live(self, raw: str | None) -> _AccessToken | None:
        token = self.tokens.get(raw or "")
        if token is None or token.exp <= time.time():
            return None
        return token

    def _tokeninfo(self, request: httpx.Request) -> httpx.Response:
        token = self._live(request.url.params.get("access_token"))
        if token is None:
            return httpx.Response(400, json={"error": "invalid_token", "error_description": "Invalid Value"})
        return httpx.Response(
            200,
            json={
                "azp": token.azp,
                "aud": token.client_id,
                "sub": token.user.sub,
                "scope": "openid https://www.googleapis.com/auth/userinfo.email "
                "https://www.googleapis.com/auth/userinfo.profile",
                "exp": str(int(token.exp)),
                "expires_in": str(int(token.exp - time.time())),
                "email": token.user.email,
                "email_verified": "true" if token.user.email_verified else "false",
                "access_type": "online",
            },
        )

    def _userinfo(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization", "")
        raw = header[7:] if header.lower().startswith("bearer ") else None
        token = self._live(raw)
        if token is None:
            return httpx.Response(
                401,
                json={"error": "invalid_request", "error_description": "Invalid Credentials"},
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        return httpx.Response(200, json=token.user.userinfo())
