from django.core.management.base import BaseCommand

from botconfig.services import tracked_players_check


class Command(BaseCommand):
    help = "Refresh the ranks of every tracked Rocket League player and send rank changes to the bot (cron)."

    def handle(self, *args, **options):
        summary = tracked_players_check()
        self.stdout.write(f"checked={summary['checked']} changed={summary['changed']} errors={summary['errors']}")
