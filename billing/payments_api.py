"""Payment endpoints: the VOID seed's ``/pro/*`` and ``/btcpay/webhook``, and
signed-in users' token top-ups. Thin: the rules are in ``billing.payments``."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import btcpay, payments
from billing.models import Invoice
from voidsite import ratelimit
from voidsite.errors import json_error
from voidsite.net import client_ip

log = logging.getLogger("billing.payments")


def _error(exc: payments.PaymentError) -> Response:
    return Response({"detail": exc.detail}, status=exc.status_code)


def _provider_error(exc: btcpay.BTCPayError) -> Response:
    log.warning("BTCPay call failed: %s", exc)
    if isinstance(exc, btcpay.BTCPayUnavailable):
        return Response({"detail": "Payment provider unavailable, try again later."}, status=502)
    return Response({"detail": f"Payment provider error {exc.status_code or ''}".strip() + "."}, status=502)


def _database_error() -> Response:
    log.exception("payments: database error")
    return Response({"detail": "Database unavailable, try again later."}, status=503)


def _rate_limited(request) -> Response | None:
    usage = ratelimit.hit(
        request._request,
        group="payments.create",
        value=client_ip(request),
        rate=settings.PAYMENTS_CREATE_RATE,
    )
    if usage is not None and usage.limited:
        return Response(
            {"detail": "Too many invoices requested. Try again later."}, status=429, headers=usage.headers()
        )
    return None


class _Public(APIView):
    """Seed endpoints: no session (so no CSRF), no JWT."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class CreateInvoiceInput(serializers.Serializer):
    # The VOID client's defaults: 1 USD for 1,000 credits.
    amount = serializers.CharField(default="1", max_length=32)
    currency = serializers.CharField(default="USD", max_length=12)
    credits = serializers.IntegerField(default=1000, min_value=1, max_value=2_000_000_000)


class CreateInvoiceOutput(serializers.Serializer):
    invoiceId = serializers.CharField()
    checkoutLink = serializers.CharField()
    claimSecret = serializers.CharField(help_text="Send it with /pro/claim. Shown once.")
    amount = serializers.CharField()
    currency = serializers.CharField()
    credits = serializers.IntegerField()
    expiresAt = serializers.DateTimeField(allow_null=True)


class CreateInvoiceView(_Public):
    @extend_schema(request=CreateInvoiceInput, responses={200: CreateInvoiceOutput}, tags=["payments"])
    def post(self, request):
        data = CreateInvoiceInput(data=request.data)
        data.is_valid(raise_exception=True)
        if limited := _rate_limited(request):
            return limited
        try:
            invoice, link, secret = payments.pro_invoice_create(**data.validated_data)
        except payments.PaymentError as exc:
            return _error(exc)
        except btcpay.BTCPayError as exc:
            return _provider_error(exc)
        except DatabaseError:
            return _database_error()
        return Response(
            CreateInvoiceOutput(
                {
                    "invoiceId": invoice.btcpay_id,
                    "checkoutLink": link,
                    "claimSecret": secret,
                    "amount": payments.money_str(invoice.amount),
                    "currency": invoice.currency,
                    "credits": invoice.credits,
                    "expiresAt": invoice.expires_at,
                }
            ).data
        )


class ClaimInput(serializers.Serializer):
    invoiceId = serializers.CharField(max_length=64)
    claimSecret = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")


class ClaimView(_Public):
    @extend_schema(
        request=ClaimInput,
        responses={
            200: inline_serializer("Claimed", {"token": serializers.CharField(), "credits": serializers.IntegerField()})
        },
        tags=["payments"],
    )
    def post(self, request):
        data = ClaimInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            raw, credits = payments.pro_invoice_claim(
                btcpay_id=data.validated_data["invoiceId"], claim_secret=data.validated_data["claimSecret"]
            )
        except payments.PaymentError as exc:
            return _error(exc)
        except DatabaseError:
            return _database_error()
        return Response({"token": raw, "credits": credits}, headers={"Cache-Control": "no-store"})


class ProStatusView(_Public):
    @extend_schema(
        parameters=[OpenApiParameter("x-void-pro-token", location=OpenApiParameter.HEADER, required=False)],
        responses={
            200: inline_serializer(
                "ProStatus", {"status": serializers.CharField(), "credits_left": serializers.IntegerField()}
            )
        },
        tags=["payments"],
    )
    def get(self, request):
        try:
            state, left = payments.pro_token_status(raw=request.headers.get("x-void-pro-token", "").strip())
        except payments.PaymentError as exc:
            return _error(exc)
        return Response({"status": state, "credits_left": left})


@csrf_exempt  # BTCPay cannot send a CSRF token; the body's HMAC signature authenticates it
def btcpay_webhook(request: HttpRequest) -> JsonResponse:
    """BTCPay's webhook: 2xx only once the delivery's effect is committed, 5xx to be redelivered."""
    if request.method != "POST":
        return json_error("Method not allowed.", 405, headers={"Allow": "POST"})
    try:
        result = payments.webhook_process(body=request.body, signature=request.headers.get("BTCPay-Sig", ""))
    except payments.PaymentError as exc:
        return json_error(exc.detail, exc.status_code)
    except btcpay.BTCPayUnavailable as exc:
        log.warning("webhook: BTCPay unavailable, asking for a redelivery: %s", exc)
        return json_error("Could not confirm the invoice with BTCPay; retry later.", 503)
    except btcpay.BTCPayError as exc:
        log.error("webhook: BTCPay refused the invoice check, asking for a redelivery: %s", exc)
        return json_error("BTCPay refused the invoice check; retry later.", 502)
    except DatabaseError:
        log.exception("webhook: database error, asking for a redelivery")
        return json_error("Database unavailable; retry later.", 503)
    return JsonResponse({"ok": True, "outcome": result.outcome})


# --- signed-in users: token top-ups -------------------------------------------------


class TopupInput(serializers.Serializer):
    tokens = serializers.IntegerField(min_value=1, max_value=10**15)


class InvoiceOutput(serializers.ModelSerializer):
    invoiceId = serializers.CharField(source="btcpay_id")
    additionalStatus = serializers.CharField(source="additional_status")
    paid = serializers.SerializerMethodField()
    credited = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    expiresAt = serializers.DateTimeField(source="expires_at")
    paidAt = serializers.DateTimeField(source="paid_at")

    class Meta:
        model = Invoice
        fields = [
            "invoiceId",
            "status",
            "additionalStatus",
            "paid",
            "credited",
            "tokens",
            "amount",
            "currency",
            "createdAt",
            "expiresAt",
            "paidAt",
        ]

    def get_paid(self, obj) -> bool:
        return obj.is_paid

    def get_credited(self, obj) -> bool:
        return obj.paid_at is not None

    def get_amount(self, obj) -> str:
        return payments.money_str(obj.amount)


class TopupView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=TopupInput,
        responses={
            201: inline_serializer(
                "TopupCreated",
                {
                    "invoiceId": serializers.CharField(),
                    "checkoutLink": serializers.CharField(),
                    "tokens": serializers.IntegerField(),
                    "amount": serializers.CharField(),
                    "currency": serializers.CharField(),
                },
            )
        },
        tags=["payments"],
    )
    def post(self, request):
        data = TopupInput(data=request.data)
        data.is_valid(raise_exception=True)
        if limited := _rate_limited(request):
            return limited
        try:
            invoice, link = payments.topup_invoice_create(user=request.user, tokens=data.validated_data["tokens"])
        except payments.PaymentError as exc:
            return _error(exc)
        except btcpay.BTCPayError as exc:
            return _provider_error(exc)
        except DatabaseError:
            return _database_error()
        return Response(
            {
                "invoiceId": invoice.btcpay_id,
                "checkoutLink": link,
                "tokens": invoice.tokens,
                "amount": payments.money_str(invoice.amount),
                "currency": invoice.currency,
            },
            status=status.HTTP_201_CREATED,
        )


class TopupInvoiceView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: InvoiceOutput}, tags=["payments"])
    def get(self, request, invoice_id: str):
        try:
            invoice = payments.topup_invoice_for(user=request.user, btcpay_id=invoice_id)
        except payments.PaymentError as exc:
            return _error(exc)
        return Response(InvoiceOutput(invoice).data)


class PricesView(_Public):
    @extend_schema(
        responses={
            200: inline_serializer(
                "Prices",
                {
                    "currency": serializers.CharField(),
                    "pro": serializers.DictField(),
                    "topup": serializers.DictField(),
                },
            )
        },
        tags=["payments"],
    )
    def get(self, request):
        def packs(items):
            return [{"units": units, "amount": payments.money_str(price)} for units, price in sorted(items.items())]

        per_credit = settings.PRO_PRICE_PER_CREDIT
        return Response(
            {
                "currency": settings.PAYMENTS_CURRENCY,
                "pro": {
                    "packs": packs(settings.PRO_PACKS),
                    "perCredit": payments.money_str(per_credit) if per_credit is not None else None,
                    "minCredits": settings.PRO_MIN_CREDITS,
                    "maxCredits": settings.PRO_MAX_CREDITS,
                },
                "topup": {"packs": packs(settings.TOPUP_PACKS)},
            }
        )
