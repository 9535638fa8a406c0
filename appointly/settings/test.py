"""Test settings: the same app, made fast and deterministic."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
# Tests keep mails in memory (replaced below); the console backend is refused outside DEBUG.
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ.setdefault("DJANGO_SSL_REDIRECT", "false")

from appointly.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# The sandbox's webhook deliveries from the queue never reach a developer's running server
# (port 9 refuses); tests deliver them through the test client or to their live server.
SANDBOX_WEBHOOK_URL = "http://127.0.0.1:9/payments/webhook"
