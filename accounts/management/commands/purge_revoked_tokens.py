from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import RevokedToken


class Command(BaseCommand):
    help = "Delete revoked access tokens past their expiry (safe to run from cron)."

    def handle(self, *args, **options):
        deleted, _ = RevokedToken.objects.filter(expires_at__lt=timezone.now()).delete()
        self.stdout.write(f"{deleted} expired revocations removed")
