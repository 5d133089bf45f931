from accounts.ws import AuthenticatedJsonConsumer


def user_group(user_id) -> str:
    return f"user.{user_id}"


BROADCAST_GROUP = "broadcast"


class NotificationConsumer(AuthenticatedJsonConsumer):
    """``/ws/notifications/``: personal notifications and staff broadcasts for a signed-in client."""

    async def on_authenticated(self):
        self._groups = [user_group(self.user.pk), BROADCAST_GROUP]
        for group in self._groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def on_message(self, content):
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().on_message(content)

    async def on_disconnect(self, code):
        for group in self._groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def notify(self, event):
        await self.send_json(event["payload"])
