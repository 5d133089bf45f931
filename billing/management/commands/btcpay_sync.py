"""``manage.py btcpay_sync``: apply what BTCPay's webhooks may have missed.

Safe from cron, and beside webhooks: it only reads invoices from BTCPay and
applies them through ``billing.payments`` (row lock, once-only credit). Exits 1
when some invoice could not be checked, so cron mail shows it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing import btcpay, payments


class Command(BaseCommand):
    help = "Ask BTCPay about every unpaid invoice and apply the answers (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-age-days",
            type=int,
            default=settings.BTCPAY_SYNC_MAX_AGE_DAYS,
            help="Only invoices created within this many days (default: BTCPAY_SYNC_MAX_AGE_DAYS).",
        )

    def handle(self, *args, max_age_days: int, **options):
        if not btcpay.is_configured():
            raise CommandError("BTCPay is not configured (BTCPAY_URL, BTCPAY_STORE_ID, BTCPAY_API_KEY).")
        report = payments.invoices_sync_pending(max_age_days=max_age_days)
        self.stdout.write(f"btcpay_sync: checked {report.checked}, newly paid {report.paid}, failed {report.failed}")
        if report.failed:
            raise CommandError(f"{report.failed} invoice(s) could not be checked with BTCPay; run again later.")
