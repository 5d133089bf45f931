from django.conf import settings
from django.core.management.base import BaseCommand

from billing.metering import reservations_sweep


class Command(BaseCommand):
    help = "Settle chat reservations left open by a crashed process (outcome 'orphaned'). Run from cron."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=settings.RESERVATION_ORPHAN_SECONDS,
            help="seconds since the reservation began (default RESERVATION_ORPHAN_SECONDS)",
        )

    def handle(self, *args, older_than: int, **options):
        settled = reservations_sweep(older_than_seconds=older_than)
        self.stdout.write(f"settled {settled} orphaned reservation(s)")
