"""OpenAPI description of our JWT authentication (a subclass of simplejwt's)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class VoidsiteJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
