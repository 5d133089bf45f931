"""A fake BTCPay Server speaking the Greenfield API as an httpx transport.

It answers the endpoints voidsite uses with BTCPay's documented field names and
statuses, and builds webhook deliveries signed as BTCPay signs them
(``BTCPay-Sig: sha256=<hex HMAC-SHA256 of the exact body>``), redeliveries
included (new ``deliveryId``, ``isRedelivery: true``, the first delivery's id in
``originalDeliveryId``).

    fake = FakeBTCPay(store_id="store1", api_key="key", webhook_secret="whsec")
    billing.btcpay.use_transport(fake)          # every Greenfield call now lands here
    fake.settle(invoice_id)                      # the buyer paid and it confirmed
    delivery = fake.delivery(invoice_id, "InvoiceSettled")
    client.post("/btcpay/webhook", delivery.body, content_type="application/json", **delivery.django_headers)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

STATUSES = ("New", "Processing", "Expired", "Invalid", "Settled")
ADDITIONAL_STATUSES = ("None", "PaidLate", "PaidPartial", "Marked", "Invalid", "PaidOver")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INVOICES = re.compile(r"^/api/v1/stores/(?P<store>[^/]+)/invoices(?:/(?P<invoice>[^/]+))?/?$")


def _btcpay_id(length: int = 22) -> str:
    """Ids shaped like BTCPay's (base58)."""
    return "".join(secrets.choice(_BASE58) for _ in range(length))


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: the exact bytes BTCPay posts and its headers."""

    body: bytes
    headers: dict[str, str]
    event: dict[str, Any]

    @property
    def delivery_id(self) -> str:
        return self.event["deliveryId"]

    @property
    def django_headers(self) -> dict[str, str]:
        """The headers as keyword arguments of Django's test client (``headers=``)."""
        return {"headers": dict(self.headers)}


@dataclass
class FakeBTCPay(httpx.BaseTransport):
    store_id: str = "FakeStore1"
    api_key: str = "fake-api-key"
    webhook_secret: str = "fake-webhook-secret"  # noqa: S105 (a fake for tests, never a real secret)
    base_url: str = "http://btcpay.invalid"
    webhook_id: str = field(default_factory=_btcpay_id)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    # Failure switches: "down" raises a connect error; "status" answers that HTTP status.
    down: bool = False
    fail_status: int | None = None

    def __post_init__(self):
        self._lock = threading.Lock()

    # --- HTTP side ------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
        if self.down:
            raise httpx.ConnectError("fake BTCPay is down", request=request)
        if self.fail_status:
            return httpx.Response(self.fail_status, json={"code": "server-error", "message": "Fake failure"})
        if request.headers.get("Authorization") != f"token {self.api_key}":
            return httpx.Response(
                401,
                json={"code": "unauthenticated", "message": "Authentication is required for accessing this endpoint"},
            )
        match = _INVOICES.match(request.url.path)
        if match is None:
            return httpx.Response(404)
        if match["store"] != self.store_id:
            return httpx.Response(403, json={"code": "missing-permission", "message": "Insufficient API Permissions."})
        if match["invoice"] is None and request.method == "POST":
            return self._create(request)
        if match["invoice"] is not None and request.method == "GET":
            invoice = self.invoices.get(match["invoice"])
            if invoice is None:
                return httpx.Response(404, json={"code": "invoice-not-found", "message": "The invoice was not found"})
            return httpx.Response(200, json=invoice)
        return httpx.Response(405)

    def _create(self, request: httpx.Request) -> httpx.Response:
        try:
            payload = json.loads(request.content)
        except ValueError:
            return httpx.Response(400, json={"code": "invalid-json", "message": "Invalid JSON"})
        amount = payload.get("amount")
        try:
            valid = isinstance(amount, str) and Decimal(amount) >= 0
        except InvalidOperation:
            valid = False
        if not valid:
            return httpx.Response(422, json=[{"path": "amount", "message": "Amount should be a positive number"}])
        if not isinstance(payload.get("currency"), str) or not payload["currency"]:
            return httpx.Response(422, json=[{"path": "currency", "message": "Currency is required"}])
        now = int(time.time())
        checkout = payload.get("checkout") or {}
        minutes = int(checkout.get("expirationMinutes") or 15)
        invoice_id = _btcpay_id()
        invoice = {
            "id": invoice_id,
            "storeId": self.store_id,
            "amount": amount,
            "currency": payload["currency"],
            "type": "Standard",
            "checkoutLink": f"{self.base_url}/i/{invoice_id}",
            "createdTime": now,
            "expirationTime": now + minutes * 60,
            "monitoringExpiration": now + minutes * 60 + 24 * 3600,
            "status": "New",
            "additionalStatus": "None",
            "archived": False,
            "availableStatusesForManualMarking": ["Settled", "Invalid"],
            "metadata": payload.get("metadata") or {},
            "checkout": {
                "speedPolicy": "MediumSpeed",
                "paymentMethods": ["BTC"],
                "expirationMinutes": minutes,
                "monitoringMinutes": 1440,
                "paymentTolerance": 0,
                "redirectURL": checkout.get("redirectURL"),
                "redirectAutomatically": False,
                "defaultLanguage": None,
            },
        }
        with self._lock:
            self.invoices[invoice_id] = invoice
        return httpx.Response(200, json=invoice)

    # --- state changes a buyer or the merchant would cause ----------------------------

    def set_status(self, invoice_id: str, status: str, additional_status: str = "None") -> None:
        if status not in STATUSES or additional_status not in ADDITIONAL_STATUSES:
            raise ValueError(f"not a BTCPay status: {status}/{additional_status}")
        with self._lock:
            self.invoices[invoice_id]["status"] = status
            self.invoices[invoice_id]["additionalStatus"] = additional_status

    def settle(self, invoice_id: str, additional_status: str = "None") -> None:
        self.set_status(invoice_id, "Settled", additional_status)

    def status_of(self, invoice_id: str) -> str:
        return self.invoices[invoice_id]["status"]

    def gets_of(self, invoice_id: str) -> int:
        """How many times the invoice was read (``GET``)."""
        return sum(1 for method, path in self.requests if method == "GET" and path.endswith(f"/{invoice_id}"))

    # --- webhooks --------------------------------------------------------------------

    def delivery(self, invoice_id: str, event_type: str, *, secret: str | None = None, **extra: Any) -> Delivery:
        """A first delivery of ``event_type`` for the invoice, with the per-type fields BTCPay adds."""
        delivery_id = _btcpay_id()
        invoice = self.invoices.get(invoice_id, {})
        event: dict[str, Any] = {
            "deliveryId": delivery_id,
            "webhookId": self.webhook_id,
            "originalDeliveryId": delivery_id,
            "isRedelivery": False,
            "type": event_type,
            "timestamp": int(time.time()),
            "storeId": self.store_id,
            "invoiceId": invoice_id,
            "metadata": invoice.get("metadata", {}),
        }
        event.update(_type_fields(event_type))
        event.update(extra)
        return self._signed(event, secret)

    def redelivery(self, delivery: Delivery, *, secret: str | None = None) -> Delivery:
        """BTCPay's redelivery of ``delivery``: a new deliveryId, same event, pointing at the first."""
        event = dict(delivery.event)
        event["originalDeliveryId"] = delivery.event["originalDeliveryId"]
        event["deliveryId"] = _btcpay_id()
        event["isRedelivery"] = True
        event["timestamp"] = int(time.time())
        return self._signed(event, secret)

    def test_delivery(self, event_type: str = "InvoiceSettled") -> Delivery:
        """What the "Send test webhook" button sends: a made-up invoice and a ``__test__`` id."""
        test_id = f"__test__{uuid.uuid4()}__test__"
        event = {
            "deliveryId": test_id,
            "webhookId": "__test__" + self.webhook_id,
            "originalDeliveryId": test_id,
            "isRedelivery": False,
            "type": event_type,
            "timestamp": int(time.time()),
            "storeId": self.store_id,
            "invoiceId": f"__test__{uuid.uuid4()}__test__",
            "metadata": None,
            **_type_fields(event_type),
        }
        return self._signed(event, None)

    def _signed(self, event: dict[str, Any], secret: str | None) -> Delivery:
        # BTCPay serializes with indentation; the signature covers these exact bytes.
        body = json.dumps(event, indent=2).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "BTCPay-Sig": sign(body, self.webhook_secret if secret is None else secret),
        }
        return Delivery(body=body, headers=headers, event=event)


def _type_fields(event_type: str) -> dict[str, Any]:
    if event_type == "InvoiceSettled":
        return {"manuallyMarked": False, "overPaid": False}
    if event_type == "InvoiceProcessing":
        return {"overPaid": False}
    if event_type == "InvoiceInvalid":
        return {"manuallyMarked": False}
    if event_type == "InvoiceExpired":
        return {"partiallyPaid": False}
    if event_type in ("InvoiceReceivedPayment", "InvoicePaymentSettled"):
        return {
            "afterExpiration": False,
            "paymentMethod": "BTC",
            "payment": {
                "id": secrets.token_hex(32) + "-0",
                "receivedDate": int(time.time()),
                "value": "0.00002000",
                "fee": "0.00000000",
                "status": "Settled" if event_type == "InvoicePaymentSettled" else "Processing",
                "destination": "tb1q" + secrets.token_hex(19),
            },
        }
    return {}
