"""allauth's social-account adapter for voidsite.

- Discord sign-ins through allauth's own views (the "Sign in with Discord"
  button of the admin login page) get the same guild-role check and role
  refresh as ``/api/discord/callback``: :meth:`pre_social_login` hands the
  ``SocialLogin`` to :mod:`accounts.social` and refuses members without a
  mapped role.
- allauth talks to providers with ``requests``; when ``SOCIAL_HTTP_TRANSPORT``
  (an httpx transport, the test seam) is set, those requests go through it too,
  so allauth's code runs unchanged against the fakes.
"""

from __future__ import annotations

import httpx
import requests
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts import discord, social


class HttpxTransportAdapter(requests.adapters.BaseAdapter):
    """Carries a ``requests`` request over an httpx transport."""

    def __init__(self, transport: httpx.BaseTransport):
        super().__init__()
        self.transport = transport

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        outgoing = httpx.Request(request.method, request.url, headers=dict(request.headers), content=body or b"")
        try:
            incoming = self.transport.handle_request(outgoing)
            content = incoming.read()
        except httpx.ConnectError as exc:
            raise requests.ConnectionError(str(exc), request=request) from exc
        except httpx.TimeoutException as exc:
            raise requests.Timeout(str(exc), request=request) from exc
        response = requests.Response()
        response.status_code = incoming.status_code
        response.headers.update(incoming.headers)
        response._content = content
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def get_requests_session(self):
        session = super().get_requests_session()
        transport = settings.SOCIAL_HTTP_TRANSPORT
        if transport is not None:
            adapter = HttpxTransportAdapter(transport)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        return session

    def pre_social_login(self, request, sociallogin):
        if sociallogin.account.provider != discord.PROVIDER:
            return
        self._discord_roles(request, sociallogin)

    def _discord_roles(self, request, sociallogin):
        """Check guild roles with the token allauth just obtained, then write the user ourselves
        (as ``/api/discord/callback`` does) and hand allauth the saved records."""
        token = sociallogin.token.token if sociallogin.token else ""
        connect_user = None
        if sociallogin.state.get("process") == "connect" and request.user.is_authenticated:
            connect_user = request.user
        try:
            identity = social.discord_identity_for_token(access_token=token)
            if str(identity.user.get("id")) != sociallogin.account.uid:
                raise social.SignInRefused("discord_refused", "Discord returned another user.")
            # Forget the lookup allauth did, so our save decides on a clean SocialLogin.
            user = social.discord_sociallogin_save(
                sociallogin=self._unlooked(sociallogin), role=identity.role, connect_user=connect_user
            )
        except social.SignInRefused as exc:
            self._refuse(request, exc.detail)
        except discord.DiscordError as exc:
            self._refuse(request, str(exc))
        from allauth.socialaccount.models import SocialAccount

        sociallogin.user = user
        sociallogin.account = SocialAccount.objects.get(provider=discord.PROVIDER, uid=sociallogin.account.uid)

    @staticmethod
    def _unlooked(sociallogin):
        return social._fresh(sociallogin)

    @staticmethod
    def _refuse(request, detail: str):
        messages.error(request, f"Discord sign-in refused: {detail}")
        raise ImmediateHttpResponse(HttpResponseRedirect(reverse("admin:login")))
