from django.core.management.base import BaseCommand

from botconfig.services import tracked_players_check


class Command(BaseCommand):
    help = "Refresh the ranks of every tracked Rocket League player and send rank changes to the bot (cron)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--due",
            action="store_true",
            help="Only players not checked within the configured rank_check_interval_hours (run hourly from cron).",
        )

    def handle(self, *args, due, **options):
        summary = tracked_players_check(only_due=due)
        self.stdout.write(f"checked={summary['checked']} changed={summary['changed']} errors={summary['errors']}")
