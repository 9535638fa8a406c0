"""Identity only: the user model. Customers and providers are separate accounts (role)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.crypto import salted_hmac


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    PROVIDER = "provider", "Provider"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """Email is the login; there is no username.

    `role` is fixed when the account is made: sign-up through allauth makes customers,
    providers are made by staff (admin) or the demo data, and later by provider sign-up.
    """

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    # Part of the session hash: bumping it ends every session of this user ("log out everywhere").
    sessions_version = models.PositiveIntegerField(default=0)
    # The zone this person reads times in (IANA name; detected in the browser, changeable);
    # empty until known. Pages, emails and reminders use it (appointly/zones.py).
    timezone = models.CharField(max_length=64, blank=True)

    USERNAME_FIELD = "email"  # type: ignore[misc]

    @property
    def contact_email(self) -> str:
        """The email to show and write to: none for an account a provider made from a phone
        number alone (its address is in the reserved `.invalid` domain)."""
        return "" if self.email.endswith(".invalid") else self.email

    REQUIRED_FIELDS = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[misc,assignment]

    def __str__(self) -> str:
        return self.email

    @property
    def is_provider(self) -> bool:
        return self.role == Role.PROVIDER

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        key_salt = "accounts.User.get_session_auth_hash"
        value = f"{self.password}:{self.sessions_version}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()
