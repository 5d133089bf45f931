"""voidsite settings: everything comes from the environment, with embedded defaults.

With no environment at all the project runs on one machine: SQLite in ``data/``,
an in-memory channel layer, a local-memory cache and the built-in demo model.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis. Every variable
read here is listed in the README with its default.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env file is a convenience for development; the process environment wins.
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

TESTING = "pytest" in sys.modules or env.bool("VOIDSITE_TESTING", default=False)
DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET = "dev-insecure-secret-key-only-for-debug-and-tests-0123456789"  # noqa: S105 (used only with DEBUG or tests)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        # One line, no traceback: the operator only needs the variable's name.
        sys.exit("voidsite: SECRET_KEY is not set (use 50+ random characters, or DEBUG=1 for development).")
    SECRET_KEY = _DEV_SECRET
elif len(SECRET_KEY) < 32 and not (DEBUG or TESTING):
    sys.exit("voidsite: SECRET_KEY is too short (use at least 32 random characters).")

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Peers whose X-Forwarded-For / CF-Connecting-IP headers are believed (IPs or CIDRs).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "simple_history",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.discord",
    "accounts",
    "billing",
    "chat",
    "tickets",
    "botconfig",
]

# Django's own middleware (sessions, CSRF, auth, messages, ...) are MiddlewareMixin
# classes: under ASGI each costs a thread hop per request. The streaming chat paths
# (CHAT_FAST_PATHS) need none of them and run with API_MIDDLEWARE only (voidsite.asgi).
MIDDLEWARE = [
    "voidsite.middleware.RequestLogMiddleware",
    "voidsite.middleware.BodySizeLimitMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
# Async-native middleware only: no thread hop before an async view.
API_MIDDLEWARE = [
    "voidsite.middleware.RequestLogMiddleware",
    "voidsite.middleware.BodySizeLimitMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "voidsite.middleware.ApiSecurityHeadersMiddleware",
]
CHAT_FAST_PATHS = ("/chat/stream", "/api/chat/stream", "/v1/")

ROOT_URLCONF = "voidsite.urls"
ASGI_APPLICATION = "voidsite.asgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "voidsite" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------
DB_POOL_MAX = env.int("DB_POOL_MAX", default=20)
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    _db = DATABASES["default"]
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI every request may run on another thread: a pool, not
        # persistent connections, keeps the connection count bounded.
        _db["CONN_MAX_AGE"] = 0
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": DB_POOL_MAX,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(DATA_DIR / "voidsite.sqlite3")),
            "OPTIONS": {
                # Writers queue for the lock instead of failing with "database is locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache and channel layer ----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="voidsite")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that channels-redis'
    # core layer blocks in BZPOPMIN waiting for messages: under load the read timed out first
    # and killed consumers (daphne closed sockets with 1011).
    _layer_host = {"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}
    # CHANNEL_LAYER picks channels-redis' layer (README "Core configuration"): "pubsub" publishes a
    # group message once and each process fans it out in memory; "core" keeps one Redis entry per
    # subscribed socket (capacity, expiry, buffering while a receiver is busy) at one Redis round
    # trip per socket.
    CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
    if CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [_layer_host], "prefix": f"{CACHE_KEY_PREFIX}:asgi"},
            }
        }
    elif CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [_layer_host],
                    "prefix": f"{CACHE_KEY_PREFIX}:asgi",
                    "capacity": env.int("CHANNEL_CAPACITY", default=1000),
                    "expiry": 60,
                },
            }
        }
    else:
        raise ImproperlyConfigured(f"CHANNEL_LAYER: {CHANNEL_LAYER!r} is not 'pubsub' or 'core'")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

JWT_LIFETIME = timedelta(seconds=env.int("JWT_LIFETIME", default=7 * 24 * 3600))
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": JWT_LIFETIME,
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_LIFETIME", default=30 * 24 * 3600)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
}

API_ADMIN_USER = env.str("API_ADMIN_USER", default="")
API_ADMIN_PASS = env.str("API_ADMIN_PASS", default="")
API_EXTRA_USERS = env.str("API_EXTRA_USERS", default="")

LOGIN_RATE_USER = env.str("LOGIN_RATE_USER", default="5/m")
LOGIN_RATE_IP = env.str("LOGIN_RATE_IP", default="30/m")
RATELIMIT_USE_CACHE = "default"
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)

# --- HTTP -----------------------------------------------------------------------
MAX_BODY_BYTES = env.int("MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# Paths whose errors are always JSON (404s included).
API_PATH_PREFIXES = ("/api/", "/v1/", "/pro/", "/chat/", "/btcpay/", "/dev/")

CORS_ALLOWED_ORIGINS = env.list("CORS_ORIGINS", default=[])
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-request-id",
    "x-platform",
    "x-void-client-id",
    "x-void-browser-fp",
    "x-void-pro-token",
    "if-match",
)
CORS_EXPOSE_HEADERS = [
    "X-Free-Left",
    "X-Pro-Left",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "Retry-After",
    "X-Request-ID",
    "ETag",
]

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- REST framework and OpenAPI ------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "voidsite.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "voidsite API",
    "DESCRIPTION": "Chat gateway (VOID AI, ByteChat, OpenAI-compatible), payments, tickets and the HazeBot API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"TicketStatusEnum": ["open", "closed"]},
}

# --- Logging --------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The request log below replaces Django's and daphne's own access lines,
        # which would print query strings (tokens) and raw client addresses.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- accounts: Google and Discord sign-in, push ------------------------------------
# Google sign-in (ByteChat): on when GOOGLE_CLIENT_ID is set.
GOOGLE_CLIENT_ID = env.str("GOOGLE_CLIENT_ID", default="")
GOOGLE_CLIENT_SECRET = env.str("GOOGLE_CLIENT_SECRET", default="")
# Further OAuth client ids of the same Google project (Android, iOS) whose access tokens are accepted.
GOOGLE_EXTRA_CLIENT_IDS = env.list("GOOGLE_EXTRA_CLIENT_IDS", default=[])
GOOGLE_TOKENINFO_URL = env.str("GOOGLE_TOKENINFO_URL", default="https://oauth2.googleapis.com/tokeninfo")
GOOGLE_USERINFO_URL = env.str("GOOGLE_USERINFO_URL", default="https://www.googleapis.com/oauth2/v3/userinfo")
# Seconds a verified Google access token is remembered (never past its own expiry).
GOOGLE_TOKEN_CACHE_TTL = env.int("GOOGLE_TOKEN_CACHE_TTL", default=300)

# Discord sign-in (HazeBot): on when client id, secret, redirect URI and guild id are all set.
DISCORD_CLIENT_ID = env.str("DISCORD_CLIENT_ID", default="")
DISCORD_CLIENT_SECRET = env.str("DISCORD_CLIENT_SECRET", default="")
DISCORD_REDIRECT_URI = env.str("DISCORD_REDIRECT_URI", default="")
DISCORD_GUILD_ID = env.str("DISCORD_GUILD_ID", default="")
DISCORD_API_URL = env.str("DISCORD_API_URL", default="https://discord.com/api")
DISCORD_AUTHORIZE_URL = env.str("DISCORD_AUTHORIZE_URL", default="https://discord.com/oauth2/authorize")
ADMIN_ROLE_ID = env.str("ADMIN_ROLE_ID", default="")
MODERATOR_ROLE_ID = env.str("MODERATOR_ROLE_ID", default="")
LOOTLING_ROLE_ID = env.str("LOOTLING_ROLE_ID", default="")
# Where /api/discord/callback may send the browser back to, per platform (unset = refused).
DISCORD_APP_URLS = {
    "web": env.str("DISCORD_APP_URL_WEB", default=""),
    "android": env.str("DISCORD_APP_URL_ANDROID", default=""),
    "ios": env.str("DISCORD_APP_URL_IOS", default=""),
}
DISCORD_STATE_MAX_AGE = env.int("DISCORD_STATE_MAX_AGE", default=600)
# Seconds the one-time code in the app redirect stays redeemable.
SOCIAL_APP_CODE_TTL = env.int("SOCIAL_APP_CODE_TTL", default=120)
SOCIAL_HTTP_TIMEOUT = env.float("SOCIAL_HTTP_TIMEOUT", default=10.0)
# Test seam: an httpx transport for every Google/Discord request (ours and allauth's). None = the network.
SOCIAL_HTTP_TRANSPORT = None

SOCIALACCOUNT_ADAPTER = "accounts.allauth_adapter.SocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False  # never keep provider tokens
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # link accounts only on purpose (connect), never by e-mail
SOCIALACCOUNT_REQUESTS_TIMEOUT = int(SOCIAL_HTTP_TIMEOUT)
SOCIALACCOUNT_PROVIDERS: dict = {}
if GOOGLE_CLIENT_ID:
    SOCIALACCOUNT_PROVIDERS["google"] = {
        "APP": {"client_id": GOOGLE_CLIENT_ID, "secret": GOOGLE_CLIENT_SECRET},
        "SCOPE": ["profile", "email"],
    }
if DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET:
    SOCIALACCOUNT_PROVIDERS["discord"] = {
        "APP": {"client_id": DISCORD_CLIENT_ID, "secret": DISCORD_CLIENT_SECRET},
        "SCOPE": ["identify", "guilds.members.read"],
    }


# Push (FCM HTTP v1 via firebase-admin). Off while FIREBASE_CREDENTIALS is empty.
# A service-account JSON file path, or the JSON itself.
FIREBASE_CREDENTIALS = env.str("FIREBASE_CREDENTIALS", default="")
# Defaults to the service account's project_id.
FIREBASE_PROJECT_ID = env.str("FIREBASE_PROJECT_ID", default="")
# Only for fakes and emulators: where firebase-admin's calls to fcm.googleapis.com go.
FCM_URL = env.str("FCM_URL", default="https://fcm.googleapis.com")
PUSH_TIMEOUT = env.float("PUSH_TIMEOUT", default=10.0)
PUSH_WORKERS = env.int("PUSH_WORKERS", default=2)
INSTALLED_APPS.append("fcm_django")
FCM_DJANGO_SETTINGS = {
    "ONE_DEVICE_PER_USER": False,
    "DELETE_INACTIVE_DEVICES": False,
    "UPDATE_ON_DUPLICATE_REG_ID": True,
}

# (end of section)


# --- chat: upstreams and request limits -------------------------------------------
# Models by name: "name=upstream:upstream_model" items, comma-separated; upstream is
# demo (built in, no network), ollama or openai (any OpenAI-compatible server).
CHAT_MODELS = env.str("CHAT_MODELS", default="demo=demo:voidsite-demo")
DEFAULT_MODEL = env.str("DEFAULT_MODEL", default="demo")
# The model VOID's /chat/stream uses (its clients send none).
VOID_MODEL = env.str("VOID_MODEL", default="") or DEFAULT_MODEL
OLLAMA_BASE_URL = env.str("OLLAMA_BASE_URL", default="http://127.0.0.1:11434")
OLLAMA_KEEP_ALIVE = env.str("OLLAMA_KEEP_ALIVE", default="5m")
OPENAI_COMPAT_BASE_URL = env.str("OPENAI_COMPAT_BASE_URL", default="https://openrouter.ai/api/v1")
OPENROUTER_API_KEY = env.str("OPENROUTER_API_KEY", default="")
# Seconds: TCP connect, wait for the first byte, silence between chunks, whole stream.
UPSTREAM_CONNECT_TIMEOUT = env.float("UPSTREAM_CONNECT_TIMEOUT", default=5.0)
UPSTREAM_FIRST_BYTE_TIMEOUT = env.float("UPSTREAM_FIRST_BYTE_TIMEOUT", default=60.0)
UPSTREAM_IDLE_TIMEOUT = env.float("UPSTREAM_IDLE_TIMEOUT", default=30.0)
UPSTREAM_TOTAL_TIMEOUT = env.float("UPSTREAM_TOTAL_TIMEOUT", default=600.0)
UPSTREAM_MAX_LINE_BYTES = env.int("UPSTREAM_MAX_LINE_BYTES", default=256 * 1024)
UPSTREAM_MAX_CONNECTIONS = env.int("UPSTREAM_MAX_CONNECTIONS", default=1000)
# HTTP transport for plain-http upstreams: "lean" (httptools/llhttp on asyncio streams, one
# read per burst of tokens) or "httpcore" (httpx's default). https always uses httpcore.
UPSTREAM_TRANSPORT = env.str("UPSTREAM_TRANSPORT", default="lean")
# Delay between the demo model's tokens (ms); 0 streams at once.
DEMO_TOKEN_DELAY_MS = env.int("DEMO_TOKEN_DELAY_MS", default=0)
# Request limits, checked before any upstream call.
CHAT_MAX_MESSAGES = env.int("CHAT_MAX_MESSAGES", default=100)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=32_000)
CHAT_MAX_TOTAL_CHARS = env.int("CHAT_MAX_TOTAL_CHARS", default=128_000)
CHAT_MAX_TOKENS_CEILING = env.int("CHAT_MAX_TOKENS_CEILING", default=4096)
# Completion tokens reserved from a user balance when a request names no max_tokens.
CHAT_DEFAULT_MAX_TOKENS = env.int("CHAT_DEFAULT_MAX_TOKENS", default=1024)
# Models each principal kind may use: "*" or a comma-separated list of names.
CHAT_MODELS_DEVICE = env.list("CHAT_MODELS_DEVICE", default=["*"])
CHAT_MODELS_PRO = env.list("CHAT_MODELS_PRO", default=["*"])
CHAT_MODELS_USER = env.list("CHAT_MODELS_USER", default=["*"])
# Streams one principal (device, pro token, user) may hold at once; 0 = no cap.
CHAT_MAX_CONCURRENT_STREAMS = env.int("CHAT_MAX_CONCURRENT_STREAMS", default=4)

# (end of section)


# --- billing: quotas, balances, rate limits, BTCPay ---------------------------------
# Tokens a user's balance starts with (ByteChat gave 1,000,000).
DEFAULT_USER_TOKENS = env.int("DEFAULT_USER_TOKENS", default=1_000_000)
# Key of the HMACs that identify anonymous devices (client id, fingerprint, IP).
# Unset: derived from SECRET_KEY (itself required in production), so no
# production-looking default exists; set it to keep device identities across a
# SECRET_KEY rotation.
SERVER_SALT = env.str("SERVER_SALT", default="")
if not SERVER_SALT:
    import hashlib as _hashlib
    import hmac as _hmac

    SERVER_SALT = _hmac.new(SECRET_KEY.encode(), b"voidsite.server_salt", _hashlib.sha256).hexdigest()
# Free requests per anonymous device per window, and the window (seconds).
FREE_LIMIT = env.int("FREE_LIMIT", default=50)
FREE_TTL_SECONDS = env.int("FREE_TTL_SECONDS", default=24 * 3600)
# Per-client-IP limit on every chat endpoint: requests per window (seconds).
RL_MAX_REQUESTS_IP = env.int("RL_MAX_REQUESTS_IP", default=30)
RL_WINDOW_SECONDS = env.int("RL_WINDOW_SECONDS", default=60)
# Reservations still open this long after they began are settled by
# `manage.py sweep_reservations` (a crashed process left them).
RESERVATION_ORPHAN_SECONDS = env.int("RESERVATION_ORPHAN_SECONDS", default=3600)


# (end of section)


# --- billing: BTCPay payments --------------------------------------------------------
# Payments are on when BTCPAY_URL, BTCPAY_STORE_ID and BTCPAY_API_KEY are set (the
# webhook also needs BTCPAY_WEBHOOK_SECRET); otherwise the payment endpoints answer 503.
BTCPAY_URL = env.str("BTCPAY_URL", default="").rstrip("/")
BTCPAY_STORE_ID = env.str("BTCPAY_STORE_ID", default="")
BTCPAY_API_KEY = env.str("BTCPAY_API_KEY", default="")
BTCPAY_WEBHOOK_SECRET = env.str("BTCPAY_WEBHOOK_SECRET", default="")
BTCPAY_TIMEOUT = env.float("BTCPAY_TIMEOUT", default=10.0)
BTCPAY_INVOICE_EXPIRY_MINUTES = env.int("BTCPAY_INVOICE_EXPIRY_MINUTES", default=60)
BTCPAY_REDIRECT_URL = env.str("BTCPAY_REDIRECT_URL", default="")
# btcpay_sync re-checks unsettled invoices created within this many days.
BTCPAY_SYNC_MAX_AGE_DAYS = env.int("BTCPAY_SYNC_MAX_AGE_DAYS", default=14)
PAYMENTS_CURRENCY = env.str("PAYMENTS_CURRENCY", default="USD").upper()


def _price_list(name: str, default: str) -> dict[int, Decimal]:
    """``"1000:1.00,5000:4.50"`` → ``{1000: Decimal("1.00"), ...}`` (units : price in PAYMENTS_CURRENCY)."""
    raw = env.str(name, default=default)
    packs: dict[int, Decimal] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            units, price = item.split(":")
            packs[int(units)] = Decimal(price.strip())
        except (ValueError, ArithmeticError):
            raise ImproperlyConfigured(f"{name}: '{item}' is not <units>:<price>") from None
        if int(units) <= 0 or not packs[int(units)].is_finite() or packs[int(units)] <= 0:
            raise ImproperlyConfigured(f"{name}: '{item}' needs positive units and price")
    return packs


def _decimal_or_none(name: str) -> Decimal | None:
    raw = env.str(name, default="").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise ImproperlyConfigured(f"{name}: '{raw}' is not a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise ImproperlyConfigured(f"{name} must be a positive number")
    return value


# Pro credits: fixed packs, and optionally any count in [PRO_MIN_CREDITS, PRO_MAX_CREDITS]
# at PRO_PRICE_PER_CREDIT (rounded up to the cent). The default accepts the VOID
# client's default request (1 USD for 1,000 credits).
PRO_PACKS = _price_list("PRO_PACKS", "1000:1")
PRO_PRICE_PER_CREDIT = _decimal_or_none("PRO_PRICE_PER_CREDIT")
PRO_MIN_CREDITS = env.int("PRO_MIN_CREDITS", default=100)
PRO_MAX_CREDITS = env.int("PRO_MAX_CREDITS", default=1_000_000)
# Token top-ups for signed-in users: packs of tokens.
TOPUP_PACKS = _price_list("TOPUP_PACKS", "1000000:5")
# Claims of a pro invoice without the claim secret create-invoice returned (the seed's
# clients send none). Off: only the invoice's creator can claim it.
PRO_CLAIM_WITHOUT_SECRET = env.bool("PRO_CLAIM_WITHOUT_SECRET", default=True)
# Invoices one client address may request (create-invoice and top-ups together).
PAYMENTS_CREATE_RATE = env.str("PAYMENTS_CREATE_RATE", default="10/m")

# (end of section)


# --- tickets ----------------------------------------------------------------------

# Seconds a ticket socket's room presence lives without renewal (push skips users in the room).
TICKETS_PRESENCE_TTL = env.int("TICKETS_PRESENCE_TTL", default=90)
# Per-connection message rate on /ws/tickets/ (messages per second, burst).
TICKETS_WS_RATE = env.float("TICKETS_WS_RATE", default=5.0)
TICKETS_WS_BURST = env.float("TICKETS_WS_BURST", default=20.0)

# (end of section)


# --- botconfig: bot channel, Rocket League, memes ------------------------------------
# The bot's WebSocket: seconds the API waits for the bot to answer a cog command
# (then 504), and seconds without a heartbeat after which the bot counts as offline.
BOT_COMMAND_TIMEOUT = env.float("BOT_COMMAND_TIMEOUT", default=10.0)
BOT_HEARTBEAT_TIMEOUT = env.int("BOT_HEARTBEAT_TIMEOUT", default=90)

# Tracker Network (Rocket League ranks). No key: requests go out without one and
# the upstream answers 401, which the API reports as 502.
ROCKET_LEAGUE_API_URL = env.str("ROCKET_LEAGUE_API_URL", default="https://public-api.tracker.gg")
ROCKET_LEAGUE_API_KEY = env.str("ROCKET_LEAGUE_API_KEY", default="")
ROCKET_LEAGUE_TIMEOUT = env.float("ROCKET_LEAGUE_TIMEOUT", default=10.0)
# How long a stale rank answer may still be served while the upstream is down.
ROCKET_LEAGUE_STALE_SECONDS = env.int("ROCKET_LEAGUE_STALE_SECONDS", default=7 * 24 * 3600)

# Memes: Reddit's and a Lemmy instance's public JSON APIs.
REDDIT_BASE_URL = env.str("REDDIT_BASE_URL", default="https://www.reddit.com")
LEMMY_BASE_URL = env.str("LEMMY_BASE_URL", default="https://lemmy.world")
MEMES_USER_AGENT = env.str("MEMES_USER_AGENT", default="voidsite-hazebot/1.0 (meme fetcher)")
MEMES_TIMEOUT = env.float("MEMES_TIMEOUT", default=10.0)

# App analytics (accounts.analytics): events are buffered in memory and written in
# batches every ANALYTICS_FLUSH_SECONDS or at ANALYTICS_BATCH_SIZE events.
ANALYTICS_ENABLED = env.bool("ANALYTICS_ENABLED", default=True)
ANALYTICS_FLUSH_SECONDS = env.float("ANALYTICS_FLUSH_SECONDS", default=10.0)
ANALYTICS_BATCH_SIZE = env.int("ANALYTICS_BATCH_SIZE", default=500)
ANALYTICS_BUFFER_MAX = env.int("ANALYTICS_BUFFER_MAX", default=50_000)
ANALYTICS_SESSION_IDLE = env.int("ANALYTICS_SESSION_IDLE", default=30 * 60)
# Tests flush explicitly; a background writer thread would race the test database.
ANALYTICS_BACKGROUND = env.bool("ANALYTICS_BACKGROUND", default=not TESTING)
MIDDLEWARE.append("accounts.analytics.AnalyticsMiddleware")

# (end of section)
