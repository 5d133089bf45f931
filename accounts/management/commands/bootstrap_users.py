from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import users_bootstrap


class Command(BaseCommand):
    help = "Create the first admin (API_ADMIN_USER/API_ADMIN_PASS) and API_EXTRA_USERS if missing."

    def handle(self, *args, **options):
        created = users_bootstrap(
            admin_user=settings.API_ADMIN_USER,
            admin_pass=settings.API_ADMIN_PASS,
            extra_users=settings.API_EXTRA_USERS,
        )
        self.stdout.write(f"users created: {', '.join(created) if created else 'none'}")
