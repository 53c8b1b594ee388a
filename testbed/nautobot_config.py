"""Nautobot configuration for the test stack; every value the harness varies comes from the environment."""

import os

from nautobot.core.events import RedisEventBroker, register_event_broker
from nautobot.core.settings import *  # noqa: F403
from nautobot.core.settings import DATABASES, LOGGING  # noqa: F401

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = os.environ["NAUTOBOT_SECRET_KEY"]
DEBUG = False
METRICS_ENABLED = False
INSTALLATION_METRICS_ENABLED = False

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["NAUTOBOT_TEST_CACHE_URL"],
        "TIMEOUT": 300,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}

PLUGINS = ["nautobot_chatops"]
PLUGINS_CONFIG = {"nautobot_chatops": {"enable_slack": False}}

# Job started/completed and approval events reach the bot's event source (NAUTOBOT_EVENTS_URL) here,
# as they would from a team's Nautobot with the broker registered.
register_event_broker(RedisEventBroker(url=os.environ["NAUTOBOT_TEST_EVENTS_URL"]))
