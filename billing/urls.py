from django.urls import path

from billing import payments_api

urlpatterns = [
    # The VOID seed's payment routes (same paths, bodies and status codes).
    path("pro/create-invoice", payments_api.CreateInvoiceView.as_view(), name="pro-create-invoice"),
    path("pro/claim", payments_api.ClaimView.as_view(), name="pro-claim"),
    path("pro/status", payments_api.ProStatusView.as_view(), name="pro-status"),
    path("btcpay/webhook", payments_api.btcpay_webhook, name="btcpay-webhook"),
    # Signed-in users' token top-ups, and the price list.
    path("api/billing/prices", payments_api.PricesView.as_view(), name="billing-prices"),
    path("api/billing/topup", payments_api.TopupView.as_view(), name="billing-topup"),
    path("api/billing/invoices/<str:invoice_id>", payments_api.TopupInvoiceView.as_view(), name="billing-invoice"),
]
