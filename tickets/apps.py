from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self):
        from accounts import push
        from voidsite import health

        # Push is used by tickets first; its health part says "off" without Firebase credentials.
        health.register("push", push.check_push)
