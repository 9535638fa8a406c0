"""Settings for every environment; everything that differs comes from the environment.

The embedded default (no variables set) is SQLite + a filesystem Celery broker + console
email, so `make run` needs no external service. See .env.example for every variable.
"""

import os
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
# Local state of the embedded default (SQLite file, broker folder, collected static).
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# An empty `NAME=` (as in a copy of .env.example) means "not set": the default applies.
_OURS = (
    "DJANGO_",
    "DATABASE_",
    "REDIS_",
    "CELERY_",
    "EMAIL_",
    "TWILIO_",
    "PAYMENT_",
    "SANDBOX_",
    "API_",
    "STRIPE_",
    "BOOKING_",
    "PROVIDER_",
    "REMINDER_",
    "ATTENDANCE_",
    "DASHBOARD_",
    "OUTBOX_",
    "SITE_",
    "LOG_",
    "ACCOUNT_",
    "DEFAULT_FROM_",
    "OTEL_",
)
for _name in [n for n, v in os.environ.items() if v == "" and n.startswith(_OURS)]:
    del os.environ[_name]

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Production secrets have no default: outside DEBUG a missing key is an error at start-up.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "ninja",  # its Swagger UI files are served from our static files, not a CDN
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "accounts",
    "outbox",
    "providers",
    "notifications",
    "payments",
    "bookings",
    "dashboard",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Outermost of ours: whatever answers an /api/ request with an error, it is the JSON body.
    "appointly.middleware.JsonErrorBodies",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "appointly.middleware.PrivatePages",
    # Before any view or form: input no text column can store (NUL) is a 400, not a 500.
    "appointly.middleware.RefuseControlCharacters",
    "django.contrib.messages.middleware.MessageMiddleware",
    "appointly.middleware.StaffSecondFactor",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

# Content-Security-Policy on every page, DEBUG or not (the browser tests run under it): our own
# scripts and stylesheets only, no inline scripts, handlers or style attributes, nothing from
# another origin. DJANGO_CSP_REPORT_ONLY=true reports instead of blocking (trying a change).
_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
if env.bool("DJANGO_CSP_REPORT_ONLY", default=False):
    SECURE_CSP_REPORT_ONLY = _CSP
else:
    SECURE_CSP = _CSP

ROOT_URLCONF = "appointly.urls"
CSRF_FAILURE_VIEW = "appointly.middleware.csrf_failure"
WSGI_APPLICATION = "appointly.wsgi.application"
ASGI_APPLICATION = "appointly.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "appointly.core.identity_context",
                "appointly.zones.visitor_zone_context",
            ],
            "libraries": {"links": "appointly.links"},
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'appointly.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialise writers (SQLite has no row locks); WAL lets readers
    # run beside the one writer. See docs/adr/0002.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
    if DATABASE_POOLER not in ("", "pgbouncer"):
        raise environ.ImproperlyConfigured("DATABASE_POOLER: leave it empty, or pgbouncer (transaction mode).")
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    if DATABASE_POOLER == "pgbouncer":
        # Transaction mode (docs/adr/0023): the next transaction may run on another server
        # connection, so nothing may live on one across transactions: no server-side prepared
        # statements (Django's default with psycopg 3, pinned here), no named cursors
        # (.iterator()), no startup `options` (PgBouncer refuses them: set the idle-in-transaction
        # timeout on the database role instead).
        _options["prepare_threshold"] = None
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    else:
        # A transaction left open (a stuck worker) must not hold queue rows and block vacuum.
        _idle_ms = env.int("DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=60_000)
        _options["options"] = f"-c idle_in_transaction_session_timeout={_idle_ms}"
        if not env.bool("DATABASE_JIT", default=False):
            # PostgreSQL compiles a query whose estimated cost passes jit_above_cost, on every
            # execution: 280 ms for a page's 9 ms query (docs/adr/0026). Our queries are short.
            _options["options"] += " -c jit=off"
        if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
            # Values bound by the server, and each statement prepared once it has run 5 times on a
            # connection, so PostgreSQL parses and plans it once, not on every call (ADR 0024).
            _options["server_side_binding"] = True
            _options["prepare_threshold"] = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (allauth's rate limits need a real cache) -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Django's and allauth's backends, with the per-request read of the signed-in user compiled
# once (accounts/backends.py, ADR 0029).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.ModelBackend",
    "accounts.backends.AuthenticationBackend",
]
# Database sessions (the same table as Django's), read through a compiled statement.
SESSION_ENGINE = "accounts.sessions"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Appointly: "
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
# "Email me a sign-in code": the owner still gets in while someone keeps the password path
# locked with failed attempts (the lock cannot be renewed against the owner forever).
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
# A second factor for staff (the admin): an authenticator app (TOTP) with recovery codes.
# appointly.middleware.StaffSecondFactor sends staff without one to set it up first.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Appointly"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    # Provider sign-in (our own actions, counted with allauth's cache-backed rate limiter):
    # password attempts per email and per IP, and sign-in codes issued per email and per IP.
    "provider_login": env.str("PROVIDER_LOGIN_RATE", default="10/5m/key,30/m/ip"),
    "provider_code": env.str("PROVIDER_CODE_RATE", default="5/h/key,20/h/ip"),
    # Provider sign-ups per email and per IP.
    "provider_signup": env.str("PROVIDER_SIGNUP_RATE", default="3/h/key,10/h/ip"),
    # /mark (QR check-in), every request including the GET, so guessing codes is slow: per IP
    # for everyone, and per user for those signed in.
    "check_in": env.str("ATTENDANCE_CHECK_IN_IP_RATE", default="60/m/ip"),
    "check_in_user": env.str("ATTENDANCE_CHECK_IN_USER_RATE", default="20/m/user"),
}
# Provider one-time codes (docs/adr/0006).
PROVIDER_OTP_TTL_SECONDS = env.int("PROVIDER_OTP_TTL_SECONDS", default=300)
PROVIDER_OTP_MAX_ATTEMPTS = env.int("PROVIDER_OTP_MAX_ATTEMPTS", default=5)
PROVIDER_OTP_RESEND_AFTER_SECONDS = env.int("PROVIDER_OTP_RESEND_AFTER_SECONDS", default=30)
PROVIDER_OTP_MAX_RESENDS = env.int("PROVIDER_OTP_MAX_RESENDS", default=3)

# --- Email ----------------------------------------------------------------------------------
# EMAIL_URL (django-environ syntax: smtp+tls://user:pass@host:587, consolemail://) becomes
# Django 6.1's MAILERS["default"]; console by default so nothing leaves the machine.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_email_options: dict[str, object] = {}
if _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    _email_options = {
        "host": _email.get("EMAIL_HOST") or "localhost",
        "port": int(_email.get("EMAIL_PORT") or 25),
        "username": _email.get("EMAIL_HOST_USER") or "",
        "password": _email.get("EMAIL_HOST_PASSWORD") or "",
        "use_tls": bool(_email.get("EMAIL_USE_TLS")),
        "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
        "timeout": 10,
    }
_prints_only = _email["EMAIL_BACKEND"].rsplit(".", 2)[-2] in {"console", "filebased"}
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    # Readable in the `make run` terminal: the text part as written, links unbroken.
    _email["EMAIL_BACKEND"] = "appointly.mail.ReadableConsoleBackend"
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
# Outside DEBUG a mail backend that only prints or keeps mails would put provider sign-in codes
# in the logs and send nobody anything: refuse to start, unless explicitly allowed (a local
# production-like run such as the benchmarks).
if not DEBUG and _prints_only and not env.bool("DJANGO_ALLOW_CONSOLE_EMAIL", default=False):
    raise environ.ImproperlyConfigured(
        "Set EMAIL_URL to a real mail server (e.g. smtp+tls://user:password@smtp.example.com:587): with "
        "DJANGO_DEBUG=false the console backend would print sign-in codes to the log."
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Appointly <no-reply@appointly.local>")

# --- I18n / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # Embedded default: worker and beat talk through a folder, no broker server needed.
    _broker_dir = str(VAR_DIR / "broker")
    (VAR_DIR / "broker").mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": _broker_dir,
        "data_folder_out": _broker_dir,
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Threads (one connection each) that take the top-up's chunks of 100 services on PostgreSQL:
# one computes slots while another's INSERT runs (docs/adr/0025).
SLOTS_TOPUP_WORKERS = env.int("SLOTS_TOPUP_WORKERS", default=2)
CELERY_BEAT_SCHEDULE = {
    "slots-topup-daily": {
        "task": "providers.tasks.slots_topup_task",
        # Hourly rather than daily: each run is idempotent and cheap (it only adds the days
        # that are missing), and a missed run costs an hour, not a day of slots.
        "schedule": 60 * 60,
    },
    "holds-expire": {"task": "bookings.tasks.holds_expire_task", "schedule": 60},
    "reschedules-expire": {"task": "bookings.tasks.reschedules_expire_task", "schedule": 5 * 60},
    # The queue's safety net: whatever the broker lost or never got, this finds within a minute.
    "outbox-sweep": {"task": "outbox.tasks.outbox_drain_task", "schedule": 60},
    "reminders-send": {"task": "bookings.tasks.reminders_send_task", "schedule": 5 * 60},
    "no-shows-mark": {"task": "bookings.tasks.no_shows_mark_task", "schedule": 5 * 60},
    "login-challenges-purge": {"task": "providers.tasks.login_challenges_purge_task", "schedule": 10 * 60},
    # The ledger against the gateway (python manage.py reconcile_payments); one job a day.
    "payments-reconcile": {"task": "payments.tasks.reconcile_task", "schedule": 60 * 60},
    # Settled earnings paid out to providers: one run a day, each payout a transfer job.
    "payouts-create": {"task": "payments.tasks.payouts_task", "schedule": 60 * 60},
}

# --- Job queue ------------------------------------------------------------------------------
# How long a worker owns a claimed job; a job whose worker died is reclaimed after this.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=300)

# --- Twilio (WhatsApp/SMS) ---------------------------------------------------------------------
# Without credentials a console backend prints WhatsApp/SMS messages instead of sending them.
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_SMS_FROM = env.str("TWILIO_SMS_FROM", default="")
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
# Approved WhatsApp template (Content SID) used outside the 24-hour window; variables:
# 1 = subject, 2 = message. Empty: such messages fall back to SMS.
TWILIO_WHATSAPP_CONTENT_SID = env.str("TWILIO_WHATSAPP_CONTENT_SID", default="")
# Another API host (a proxy, or the local fake server in tests). Empty: api.twilio.com.
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="")
# The public URLs Twilio calls (signatures are checked against them). Empty: SITE_URL + path.
TWILIO_STATUS_CALLBACK_URL = env.str("TWILIO_STATUS_CALLBACK_URL", default="")
TWILIO_INBOUND_URL = env.str("TWILIO_INBOUND_URL", default="")

# --- Booking and payments -------------------------------------------------------------------
# How long a slot stays held while the customer pays.
BOOKING_HOLD_MINUTES = env.int("BOOKING_HOLD_MINUTES", default=10)
# A provider's phone booking sent with a payment link holds the time this many hours (never
# past its start) for the customer to pay.
BOOKING_LINK_HOLD_HOURS = env.int("BOOKING_LINK_HOLD_HOURS", default=24)
# The platform's share of each online payment, kept when paying providers out (percent).
PLATFORM_FEE_PERCENT = env.float("PLATFORM_FEE_PERCENT", default=5.0)
# A payment started before its hold's deadline gets this many more seconds to finish, so the
# expiry job does not release a time whose charge is in flight (a charge that still completes
# after the hold lapsed is refunded in full automatically; docs/adr/0011).
BOOKING_PAYMENT_GRACE_SECONDS = env.int("BOOKING_PAYMENT_GRACE_SECONDS", default=120)
# Unpaid holds one customer may have at once (so nobody can hold a provider's whole calendar).
BOOKING_MAX_ACTIVE_HOLDS = env.int("BOOKING_MAX_ACTIVE_HOLDS", default=2)
# How often a booking write is tried again after a deadlock or serialization failure before
# the customer is told the time was just taken.
BOOKING_CONFLICT_RETRIES = env.int("BOOKING_CONFLICT_RETRIES", default=3)
# Reminders before an appointment, in minutes (default 24 h and 1 h).
REMINDER_OFFSETS_MINUTES = env.list("REMINDER_OFFSETS_MINUTES", cast=int, default=[1440, 60])
# --- Attendance (QR check-in) ----------------------------------------------------------------
# A customer can check in from this many minutes before the start until the appointment ends.
ATTENDANCE_CHECK_IN_OPENS_MINUTES = env.int("ATTENDANCE_CHECK_IN_OPENS_MINUTES", default=30)
# With automatic no-shows switched on (per provider, on the QR page), a confirmed appointment
# without a check-in becomes a no-show this many minutes after it ended.
ATTENDANCE_NO_SHOW_AFTER_MINUTES = env.int("ATTENDANCE_NO_SHOW_AFTER_MINUTES", default=15)
# How often the provider's dashboard asks for changes (check-ins, bookings, cancellations).
DASHBOARD_POLL_SECONDS = env.int("DASHBOARD_POLL_SECONDS", default=5)
# Dotted path of the payment gateway; the sandbox (test cards) is the default.
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="payments.gateways.SandboxGateway")
# Calls per personal access token on /api/v1/ and /mcp (django-ninja's rate syntax).
API_TOKEN_RATE = env.str("API_TOKEN_RATE", default="120/m")
# Seconds the page after the hosted payment step shows "confirming…" before saying the
# confirmation will come by email.
PAYMENT_CONFIRM_WAIT_SECONDS = env.int("PAYMENT_CONFIRM_WAIT_SECONDS", default=30)
# The sandbox signs its webhook events with this secret, as Stripe does with yours; it sends
# them to SANDBOX_WEBHOOK_URL (empty: SITE_URL + /payments/webhook).
SANDBOX_WEBHOOK_SECRET = env.str("SANDBOX_WEBHOOK_SECRET", default="whsec_sandbox_local_only")
SANDBOX_WEBHOOK_URL = env.str("SANDBOX_WEBHOOK_URL", default="")
# Stripe (PAYMENT_GATEWAY=payments.stripe_gateway.StripeGateway): secret API key, the webhook
# endpoint's signing secret, and (tests only) another API base.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
if "stripe" in PAYMENT_GATEWAY.lower():
    # Pay and "Set up payouts" are forms whose answer redirects to Stripe's hosted pages; the
    # browser applies form-action to that redirect too.
    _CSP["form-action"] = [CSP.SELF, "https://checkout.stripe.com", "https://connect.stripe.com"]

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # Outside DEBUG: one JSON object per line, with the trace and span ids of the request or
        # job it belongs to (set on each record by OpenTelemetry's logging instrumentation).
        "json": {
            "()": "appointly.redaction.RedactedJsonFormatter",
            "fmt": ["asctime", "levelname", "name", "message", "otelTraceID", "otelSpanID"],
            "defaults": {"otelTraceID": "0", "otelSpanID": "0"},
            "rename_fields": {"otelTraceID": "trace_id", "otelSpanID": "span_id", "levelname": "level"},
        },
    },
    # Check-in codes and sign-in challenge ids in URLs never reach a log line in clear.
    "filters": {"redact": {"()": "appointly.redaction.RedactSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if DEBUG else "json",
            "filters": ["redact"],
            "level": env.str("LOG_LEVEL", default="INFO"),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # HTTPS only: redirect plain HTTP (the health check is exempt, load balancers probe it
    # over HTTP) and tell browsers to remember it (HSTS; preload documented in .env.example).
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)

# Behind proxies we run (docker-compose: one), allauth's per-IP rate limits read the client IP
# from X-Forwarded-For; 0 ignores the header (anyone could forge it).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
