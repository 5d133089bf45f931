from django.core.management.base import BaseCommand, CommandError

from accounts.services import bot_token_issue


class Command(BaseCommand):
    help = "Print a long-lived access token for the Discord bot's service account (role 'bot')."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="bot")
        parser.add_argument("--days", type=int, default=365)

    def handle(self, *args, username, days, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        try:
            self.stdout.write(bot_token_issue(username=username, days=days))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
