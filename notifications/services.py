"""One call sends "event X happened" to a person: it picks channels, renders the message, and
writes message rows + queue jobs in the caller's transaction. Workers deliver them."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from appointly.compiled import Compiled
from appointly.statements import Writes
from appointly.telemetry import NOTIFICATIONS, span
from notifications.channels import PhoneUnreachable, send_email, send_phone
from notifications.models import Channel, Message, MessageStatus, Preference
from outbox.services import job_enqueue, jobs_enqueue

logger = logging.getLogger(__name__)

SEND_JOB = "notifications.send"
FALLBACK = {Channel.WHATSAPP: Channel.SMS, Channel.SMS: Channel.EMAIL}


def _render(event: str, context: dict[str, Any], channel: str = "") -> tuple[str, str]:
    """Subject (first line) and body from `<event>.<channel>.txt` (e.g. a short SMS), else
    `<event>.txt`."""
    names = [f"notifications/{event}.{channel}.txt"] if channel else []
    template = select_template([*names, f"notifications/{event}.txt"])
    text = template.render({**context, "site_url": settings.SITE_URL}).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


def _preference(user: User) -> Preference:
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def _external_channel(user: User, pref: Preference) -> tuple[str, str] | None:
    if pref.channel in (Channel.WHATSAPP, Channel.SMS) and pref.phone and not pref.phone_opted_out:
        return pref.channel, pref.phone
    if pref.email_enabled and user.email:
        return Channel.EMAIL, user.email
    return None


def _queue(message: Message) -> None:
    job_enqueue(kind_name=SEND_JOB, payload={"message_id": str(message.pk)}, idempotency_key=f"msg:{message.pk}")


# A message's id follows from its key, so that a job queued for it names the right row even
# when two transactions write the same message at once (the second's insert is skipped).
_MESSAGE_IDS = uuid.UUID("6f1c2b9e-3c55-4d0e-9a57-0d4a4b1f7e21")


@dataclass(frozen=True)
class Notice:
    """ "`event` happened", for one person: `key` makes it once only (same key twice: nothing new)."""

    event: str
    recipient: User
    context: dict[str, Any]
    key: str
    reference: str = ""
    scope: str = ""


def notify(
    *, event: str, recipient: User, context: dict[str, Any], key: str, reference: str = "", scope: str = ""
) -> list[Message]:
    """Record an in-app message and queue the external one. Must run in the transaction of
    the change it reports, so a rollback sends nothing. Same key twice: nothing new."""
    return notify_all([Notice(event, recipient, context, key, reference, scope)])


def notify_all(notices: list[Notice], *, preferences_loaded: bool = False) -> list[Message]:
    """`notify` for several people at once, in one statement however many (two on SQLite): the
    messages whose key is new, and the jobs that send the external ones; plus a query for their
    preferences, unless `preferences_loaded`: the caller read the recipients in this
    transaction with theirs (`select_related("...notify_pref")`). Only then is a preference
    that came with a recipient trusted: one cached on an older instance may predate an opt-out.
    Returns the new messages."""
    prefs = _preferences([n.recipient for n in notices], loaded=preferences_loaded)
    now = timezone.now()
    wanted: list[Message] = []
    for notice in notices:
        recipient = notice.recipient
        common: dict[str, Any] = {"event": notice.event, "reference": notice.reference, "scope": notice.scope}
        common["recipient"] = recipient
        subject, body = _render(notice.event, notice.context)
        in_app = f"{notice.key}:{recipient.pk}:in_app"
        wanted.append(
            Message(
                id=uuid.uuid5(_MESSAGE_IDS, in_app),
                idempotency_key=in_app,
                channel=Channel.IN_APP,
                subject=subject,
                body=body,
                status=MessageStatus.SENT,
                sent_at=now,
                **common,
            )
        )
        target = _external_channel(recipient, prefs.get(recipient.pk) or Preference(user=recipient))
        if target is not None:
            channel, address = target
            subject, body = _render(notice.event, notice.context, channel)
            external = f"{notice.key}:{recipient.pk}:external"
            wanted.append(
                Message(
                    id=uuid.uuid5(_MESSAGE_IDS, external),
                    idempotency_key=external,
                    channel=channel,
                    subject=subject,
                    body=body,
                    to_address=address,
                    **common,
                )
            )
    # One statement on PostgreSQL (ADR 0028): the send jobs, then the messages whose key is new.
    # A job is keyed by its message's id, itself made from the message's key, so a message
    # that exists already has its job already (that one is skipped), or had it and was sent
    # (then a job queued again finds it sent and does nothing).
    writes = Writes()
    sends = [({"message_id": str(m.pk)}, f"msg:{m.pk}") for m in wanted if m.channel != Channel.IN_APP]
    jobs_enqueue(kind_name=SEND_JOB, jobs=sends, writes=writes)
    writes.insert_new(wanted, returning="idempotency_key")
    inserted = set(writes.send())
    return [m for m in wanted if m.idempotency_key in inserted]


def _preferences(recipients: list[User], *, loaded: bool) -> dict[Any, Preference]:
    """Each recipient's preference row, if they have one: the one read with the recipient
    when `loaded` (None included: they have none), else all in one query."""
    prefs: dict[Any, Preference] = {}
    unknown = set()
    for recipient in recipients:
        if loaded and User.notify_pref.is_cached(recipient):  # type: ignore[attr-defined]
            pref = getattr(recipient, "notify_pref", None)
            if pref is not None:
                prefs[recipient.pk] = pref
        else:
            unknown.add(recipient.pk)
    if unknown:
        prefs |= {p.user_id: p for p in Preference.objects.filter(user__in=unknown)}
    return prefs


def _fall_back(message: Message, error: str) -> Message | None:
    """After a permanent failure: WhatsApp -> SMS -> email, each at most once."""
    nxt = FALLBACK.get(Channel(message.channel)) if message.channel in FALLBACK else None
    recipient = message.recipient
    pref = _preference(recipient)
    if nxt == Channel.SMS and (not pref.phone or pref.phone_opted_out):
        nxt = Channel.EMAIL
    if nxt is None or (nxt == Channel.EMAIL and not (pref.email_enabled and recipient.email)):
        return None
    address = recipient.email if nxt == Channel.EMAIL else pref.phone
    fallback, new = Message.objects.get_or_create(
        idempotency_key=f"{message.idempotency_key}>{nxt}",
        defaults={
            "recipient": recipient,
            "channel": nxt,
            "event": message.event,
            "subject": message.subject,
            "body": message.body,
            "to_address": address,
            "fallback_of": message,
            "reference": message.reference,
            "scope": message.scope,
        },
    )
    if new:
        _queue(fallback)
    return fallback


def _status_callback_url() -> str:
    return settings.TWILIO_STATUS_CALLBACK_URL or settings.SITE_URL.rstrip("/") + reverse("twilio_status")


def message_send(*, message_id: str) -> None:
    """The queue's handler: deliver one message once. Permanent phone failures fall back."""
    with span("notification.send", **{"message.id": str(message_id)}) as current:
        _message_send(message_id, current)


def _message_send(message_id: str, current: Any) -> None:
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("recipient").filter(pk=message_id).first()
        if message is None or message.status != MessageStatus.QUEUED:
            current.set_attribute("notification.outcome", "not queued")
            return
    current.set_attribute("notification.channel", message.channel)
    current.set_attribute("notification.event", message.event)
    try:
        if message.channel == Channel.EMAIL:
            sent = send_email(to=message.to_address, subject=message.subject, body=message.body)
        else:
            sent = send_phone(
                channel=message.channel,
                to=message.to_address,
                body=message.body,
                subject=message.subject,
                status_callback=_status_callback_url(),
            )
    except PhoneUnreachable as exc:
        current.set_attribute("notification.outcome", "unreachable, falling back")
        NOTIFICATIONS.add(1, {"channel": message.channel, "outcome": "failed"})
        with transaction.atomic():
            Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
                status=MessageStatus.FAILED, error=str(exc)[:500]
            )
            _fall_back(message, str(exc))
        return
    current.set_attribute("notification.outcome", "sent")
    NOTIFICATIONS.add(1, {"channel": message.channel, "outcome": "sent"})
    Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
        status=MessageStatus.SENT, sent_at=timezone.now(), provider_sid=sent.provider_sid
    )


@transaction.atomic
def message_dead(*, message_id: str, error: str) -> None:
    """The queue gave up (e.g. Twilio kept failing): mark it and try the next channel."""
    message = Message.objects.select_for_update().select_related("recipient").filter(pk=message_id).first()
    if message is None or message.status != MessageStatus.QUEUED:
        return
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=error[:500])
    _fall_back(message, error)


TWILIO_STATUS = {
    "queued": MessageStatus.SENT,
    "accepted": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
}


@transaction.atomic
def message_status_update(*, provider_sid: str, twilio_status: str, error_code: str = "") -> bool:
    """Apply a Twilio status callback. Failed WhatsApp/SMS deliveries fall back to the next channel."""
    status = TWILIO_STATUS.get(twilio_status)
    message = Message.objects.select_for_update().select_related("recipient").filter(provider_sid=provider_sid).first()
    if message is None or status is None:
        return False
    if message.status in (MessageStatus.DELIVERED, MessageStatus.FAILED) and status == MessageStatus.SENT:
        return True  # callbacks can arrive out of order
    message.status = status
    message.error = f"Twilio error {error_code}" if error_code else message.error
    message.save(update_fields=["status", "error"])
    if status == MessageStatus.FAILED:
        _fall_back(message, message.error)
    return True


def phone_opt_out(*, phone: str) -> int:
    """Inbound STOP: no more WhatsApp/SMS to this number (email still works)."""
    return Preference.objects.filter(phone=phone).update(phone_opted_out=True)


def messages_mark_read(*, user: User, message_ids: list[str] | None = None) -> int:
    qs = Message.objects.filter(recipient=user, channel=Channel.IN_APP, read_at__isnull=True)
    if message_ids is not None:
        qs = qs.filter(pk__in=message_ids)
    return qs.update(read_at=timezone.now(), status=MessageStatus.READ)


def inbox(*, user: User, limit: int = 20) -> list[Message]:
    return list(_inbox(user).order_by("-created_at")[:limit])


def _inbox(user: User | int) -> QuerySet[Message]:
    return Message.objects.filter(recipient=user, channel=Channel.IN_APP)


def _history(recipient: User | int, scope: str = "") -> QuerySet[Message]:
    condition = Q(recipient=recipient)
    if scope:
        condition |= Q(scope=scope)
    return Message.objects.filter(condition).exclude(channel=Channel.IN_APP)


def inbox_and_history(
    *, user: User, inbox_limit: int = 10, history_limit: int = 20
) -> tuple[list[Message], list[Message]]:
    """`inbox` and `message_history` of one person (the account page), in one query."""
    rows = _inbox_and_history(inbox_limit, history_limit).list(user_id=user.pk)
    return [m for m in rows if m.channel == Channel.IN_APP], [m for m in rows if m.channel != Channel.IN_APP]


@lru_cache(maxsize=16)
def _inbox_and_history(inbox_limit: int, history_limit: int) -> Compiled[Message]:
    """The read for these limits, compiled once (ADR 0029: the limits are part of its SQL)."""

    def build(user_id: int) -> QuerySet[Message]:
        newest_in_app = _inbox(user_id).order_by("-created_at").values("pk")[:inbox_limit]
        newest_sent = _history(user_id).order_by("-created_at").values("pk")[:history_limit]
        return (
            Message.objects.filter(Q(pk__in=newest_in_app) | Q(pk__in=newest_sent))
            .select_related("recipient")
            .order_by("-created_at")
        )

    return Compiled(build)


@transaction.atomic
def preference_save(*, user: User, channel: str, phone: str) -> Preference:
    """Channel preference; choosing WhatsApp/SMS again clears an earlier STOP for that number."""
    pref, _ = Preference.objects.select_for_update().get_or_create(user=user)
    if phone != pref.phone or channel != pref.channel:
        pref.phone_opted_out = False
    pref.channel = channel
    pref.phone = phone
    pref.save(update_fields=["channel", "phone", "phone_opted_out"])
    return pref


def unread_messages(*, user_id: int) -> QuerySet[Message]:
    return Message.objects.filter(recipient_id=user_id, channel=Channel.IN_APP, read_at__isnull=True)


def unread_count(*, user: User) -> int:
    return unread_messages(user_id=user.pk).count()


def message_history(*, recipient: User, scope: str = "", limit: int = 30) -> list[Message]:
    """Sent messages (not in-app) to a person, and those in their scope (a provider sees what
    went to their customers about their appointments), newest first."""
    return list(_history(recipient, scope).select_related("recipient").order_by("-created_at")[:limit])
