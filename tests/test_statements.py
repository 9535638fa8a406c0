"""Several writes as one statement (appointly/statements.py, ADR 0028): on PostgreSQL one round
trip, on SQLite one statement each; the same rows either way, and all or nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from appointly.statements import Writes, insert_new, update_returning
from notifications.models import Channel, Message, MessageStatus
from outbox.models import Job
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ONE = connection.vendor == "postgresql"
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def message(recipient: object, key: str, **fields: object) -> Message:
    values: dict[str, object] = {"channel": Channel.IN_APP, "event": "refund_issued", "subject": "s", "body": "b"}
    return Message(recipient=recipient, idempotency_key=key, **(values | fields))


def job(key: str) -> Job:
    return Job(
        kind="notifications.send",
        payload={"key": key},
        run_after=AT,
        idempotency_key=key,
        created_at=AT,
        updated_at=AT,
    )


def statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] not in ("SAVEPOINT", "RELEASE")]


def test_writes_of_several_tables_go_as_one_statement_on_postgresql() -> None:
    # Given a message row already there, and writes of three tables
    user = UserFactory()
    old = message(user, "old")
    old.save()
    writes = Writes()
    writes.insert([job("j1"), job("j2")])
    writes.update(Message.objects.filter(pk=old.pk), status=MessageStatus.SENT, sent_at=AT)
    writes.insert_new([message(user, "old"), message(user, "new")], returning="idempotency_key")
    # When they are sent
    with CaptureQueriesContext(connection) as queries:
        answered = writes.send()
    # Then all of them happened, in one statement on PostgreSQL (one each on SQLite)
    assert len(statements(queries)) == (1 if ONE else 3)
    assert answered == ["new"]
    assert sorted(Job.objects.values_list("idempotency_key", flat=True)) == ["j1", "j2"]
    assert Message.objects.get(pk=old.pk).status == MessageStatus.SENT
    assert sorted(Message.objects.values_list("idempotency_key", flat=True)) == ["new", "old"]


def test_a_broken_constraint_in_one_write_leaves_none_of_them() -> None:
    # Given a job key already taken
    job("taken").save()
    user = UserFactory()
    writes = Writes()
    writes.insert([message(user, "m1")])
    writes.insert([job("fine"), job("taken")])
    # When the writes are sent in a transaction
    with pytest.raises(IntegrityError), transaction.atomic():
        writes.send()
    # Then the statement failed as a whole: no message, no new job
    assert not Message.objects.exists()
    assert list(Job.objects.values_list("idempotency_key", flat=True)) == ["taken"]


def test_ignored_conflicts_are_left_out_and_the_rest_goes_in() -> None:
    job("taken").save()
    writes = Writes()
    writes.insert([job("taken"), job("new")], ignore_conflicts=True)
    writes.insert([message(UserFactory(), "m")])
    writes.send()
    assert sorted(Job.objects.values_list("idempotency_key", flat=True)) == ["new", "taken"]
    assert Job.objects.get(idempotency_key="taken").payload == {"key": "taken"}
    assert Message.objects.count() == 1


def test_insert_new_answers_only_the_rows_that_went_in() -> None:
    user = UserFactory()
    first = message(user, "a", subject="first")
    first.save()
    with CaptureQueriesContext(connection) as queries:
        went_in = insert_new([message(user, "a", subject="second"), message(user, "b")], returning="idempotency_key")
    assert len(statements(queries)) == 1
    assert went_in == ["b"]
    assert Message.objects.get(idempotency_key="a").subject == "first"  # left as it was
    assert insert_new([], returning="idempotency_key") == []


def test_update_returning_answers_the_changed_rows_as_models_with_their_types() -> None:
    # Given two messages, one of them already sent
    user = UserFactory()
    queued, sent = message(user, "q"), message(user, "s", status=MessageStatus.SENT)
    Message.objects.bulk_create([queued, sent])
    # When the queued ones are marked sent, in one statement
    with CaptureQueriesContext(connection) as queries:
        changed = update_returning(
            Message.objects.filter(status=MessageStatus.QUEUED), status=MessageStatus.SENT, sent_at=AT
        )
    # Then only that one changed, and it comes back as it is now, with Python types
    assert len(statements(queries)) == 1
    assert [m.pk for m in changed] == [queued.pk]
    assert isinstance(changed[0].pk, uuid.UUID)
    assert changed[0].status == MessageStatus.SENT
    assert changed[0].sent_at == AT
    assert changed[0].recipient_id == user.pk
    assert changed[0]._state.adding is False
    assert update_returning(Message.objects.filter(status=MessageStatus.QUEUED), status=MessageStatus.SENT) == []
