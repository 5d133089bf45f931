"""voidsite settings with channels-redis' pub/sub layer (``python -m bench ws_rooms --pubsub``): a group
message is published once per room and fanned out inside each process, instead of one Redis list
entry per subscribed socket."""

from voidsite.settings import *  # noqa: F403 (an experiment's overlay of the real settings)
from voidsite.settings import CHANNEL_LAYERS, REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS["default"] = {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]},
    }
