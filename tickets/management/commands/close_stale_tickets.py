from django.core.management.base import BaseCommand

from tickets.services import tickets_close_stale


class Command(BaseCommand):
    help = (
        "Close open tickets idle for the tickets config's auto_close_hours, with a system message. "
        "Safe to run from cron, also concurrently."
    )

    def handle(self, *args, **options):
        closed = tickets_close_stale()
        self.stdout.write(
            f"closed {len(closed)} stale ticket(s)" + (f": {', '.join(map(str, closed))}" if closed else "")
        )
