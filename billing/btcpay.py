"""BTCPay Server Greenfield API client: the only module that talks to BTCPay.

One shared ``httpx.Client`` per process (rebuilt when the settings change), with
explicit timeouts and an injectable transport (:func:`use_transport`, used by
tests and the fake in ``fakes/btcpay.py``). Answers come back as
:class:`InvoiceData`; failures as :class:`BTCPayError` (BTCPay answered with an
error) or :class:`BTCPayUnavailable` (network, timeout, 5xx, unreadable body).
Also the webhook signature check (``BTCPay-Sig: sha256=<hex>``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from django.conf import settings

SIGNATURE_HEADER = "BTCPay-Sig"


class BTCPayError(Exception):
    """BTCPay answered, but with an error (bad key, unknown store or invoice, validation)."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str = ""):
        super().__init__(message)
        self.status_code = status_code
        self.code = code


class BTCPayUnavailable(BTCPayError):
    """BTCPay could not be reached, timed out, answered 5xx or something unreadable: retry later."""


class BTCPayNotConfigured(Exception):
    """``BTCPAY_URL`` / ``BTCPAY_STORE_ID`` / ``BTCPAY_API_KEY`` are not all set."""


@dataclass(frozen=True)
class InvoiceData:
    """The fields of Greenfield's ``InvoiceData`` that voidsite uses."""

    id: str
    store_id: str
    amount: Decimal
    currency: str
    status: str
    additional_status: str
    checkout_link: str
    created_time: int | None = None
    expiration_time: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> InvoiceData:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise BTCPayUnavailable("BTCPay answered an invoice without an id")
        try:
            amount = Decimal(str(data.get("amount", "0")))
        except InvalidOperation:
            raise BTCPayUnavailable("BTCPay answered an invoice with an unreadable amount") from None
        metadata = data.get("metadata")
        return cls(
            id=data["id"],
            store_id=str(data.get("storeId") or ""),
            amount=amount,
            currency=str(data.get("currency") or ""),
            status=str(data.get("status") or ""),
            additional_status=str(data.get("additionalStatus") or "None"),
            checkout_link=str(data.get("checkoutLink") or ""),
            created_time=data.get("createdTime") if isinstance(data.get("createdTime"), int) else None,
            expiration_time=data.get("expirationTime") if isinstance(data.get("expirationTime"), int) else None,
            metadata=metadata if isinstance(metadata, dict) else {},
        )


def signature_for(body: bytes, secret: str) -> str:
    """The ``BTCPay-Sig`` value BTCPay sends: ``sha256=<lowercase hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_valid(*, body: bytes, header: str, secret: str) -> bool:
    """Constant-time check of a ``BTCPay-Sig`` header against the raw body."""
    if not secret or not header:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


class BTCPayClient:
    def __init__(
        self,
        *,
        base_url: str,
        store_id: str,
        api_key: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.store_id = store_id
        self._http = httpx.Client(
            base_url=f"{base_url.rstrip('/')}/api/v1",
            headers={"Authorization": f"token {api_key}", "Accept": "application/json"},
            # Connect fast, read a little longer: BTCPay may fetch a rate on invoice creation.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BTCPayUnavailable(f"BTCPay unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise BTCPayUnavailable(f"BTCPay answered {response.status_code}", status_code=response.status_code)
        try:
            data = response.json()
        except ValueError:
            if response.is_success:
                raise BTCPayUnavailable("BTCPay answered something that is not JSON") from None
            data = None
        if not response.is_success:
            code, message = "", ""
            if isinstance(data, dict):
                code, message = str(data.get("code") or ""), str(data.get("message") or "")
            elif isinstance(data, list) and data and isinstance(data[0], dict):  # 422: [{"path", "message"}]
                code, message = "validation", f"{data[0].get('path')}: {data[0].get('message')}"
            raise BTCPayError(
                f"BTCPay answered {response.status_code}{': ' + message if message else ''}",
                status_code=response.status_code,
                code=code,
            )
        return data

    def invoice_create(
        self,
        *,
        amount: Decimal,
        currency: str,
        metadata: dict[str, Any],
        expiration_minutes: int | None = None,
        redirect_url: str = "",
    ) -> InvoiceData:
        """``POST /stores/{storeId}/invoices``."""
        checkout: dict[str, Any] = {}
        if expiration_minutes:
            checkout["expirationMinutes"] = expiration_minutes
        if redirect_url:
            checkout["redirectURL"] = redirect_url
        payload: dict[str, Any] = {"amount": str(amount), "currency": currency, "metadata": metadata}
        if checkout:
            payload["checkout"] = checkout
        return InvoiceData.from_json(self._request("POST", f"/stores/{self.store_id}/invoices", json=payload))

    def invoice_get(self, *, invoice_id: str) -> InvoiceData:
        """``GET /stores/{storeId}/invoices/{invoiceId}``."""
        return InvoiceData.from_json(self._request("GET", f"/stores/{self.store_id}/invoices/{invoice_id}"))


_lock = threading.Lock()
_client: BTCPayClient | None = None
_client_key: tuple | None = None
_transport: httpx.BaseTransport | None = None


def is_configured() -> bool:
    return bool(settings.BTCPAY_URL and settings.BTCPAY_STORE_ID and settings.BTCPAY_API_KEY)


def use_transport(transport: httpx.BaseTransport | None) -> None:
    """Send every request through ``transport`` (a fake) from now on; ``None`` restores the network."""
    global _transport
    with _lock:
        _transport = transport
        _reset_locked()


def _reset_locked() -> None:
    global _client, _client_key
    if _client is not None:
        _client.close()
    _client, _client_key = None, None


def get_client() -> BTCPayClient:
    """The process's shared client for the configured store; raises BTCPayNotConfigured."""
    global _client, _client_key
    if not is_configured():
        raise BTCPayNotConfigured("BTCPay is not configured")
    key = (settings.BTCPAY_URL, settings.BTCPAY_STORE_ID, settings.BTCPAY_API_KEY, settings.BTCPAY_TIMEOUT)
    with _lock:
        if _client is None or _client_key != key:
            _reset_locked()
            _client = BTCPayClient(
                base_url=settings.BTCPAY_URL,
                store_id=settings.BTCPAY_STORE_ID,
                api_key=settings.BTCPAY_API_KEY,
                timeout=settings.BTCPAY_TIMEOUT,
                transport=_transport,
            )
            _client_key = key
        return _client
