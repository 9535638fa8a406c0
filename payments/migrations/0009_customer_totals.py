"""Each customer's money totals, kept by PostgreSQL (docs/adr/0027).

Triggers on payments and refunds add each row's change to `payments_customertotal`. They are
constraint triggers, deferred to commit: the row lock on a customer's totals is then taken
last and held for an instant, so it never joins a lock cycle with the provider and appointment
locks a booking or a cancellation takes in between (a webhook updates its payment before it
locks the provider; a cancellation locks the provider before it writes a refund). Existing
rows are summed once here. SQLite keeps no totals: the account page sums the ledger there
(the development default, ADR 0002).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE FUNCTION payments_customertotal_add(
    p_customer bigint, p_currency varchar, p_paid bigint, p_refunded bigint, p_pending bigint
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO payments_customertotal AS t (customer_id, currency, paid_minor, refunded_minor, refund_pending_minor)
    VALUES (p_customer, p_currency, p_paid, p_refunded, p_pending)
    ON CONFLICT (customer_id, currency) DO UPDATE SET
        paid_minor = t.paid_minor + EXCLUDED.paid_minor,
        refunded_minor = t.refunded_minor + EXCLUDED.refunded_minor,
        refund_pending_minor = t.refund_pending_minor + EXCLUDED.refund_pending_minor
$$;

-- A payment counts while it is succeeded: take the old row's share out, put the new row's in.
CREATE FUNCTION payments_payment_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.amount_minor = NEW.amount_minor
            AND OLD.currency = NEW.currency AND OLD.customer_id = NEW.customer_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status = 'succeeded' THEN
        PERFORM payments_customertotal_add(OLD.customer_id, OLD.currency, -OLD.amount_minor, 0, 0);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status = 'succeeded' THEN
        PERFORM payments_customertotal_add(NEW.customer_id, NEW.currency, NEW.amount_minor, 0, 0);
    END IF;
    RETURN NULL;
END $$;

-- A refund counts as received once succeeded and as on its way while pending (a failed one is
-- neither; it can be retried back to pending). Its customer is its payment's.
CREATE FUNCTION payments_refund_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.amount_minor = NEW.amount_minor
            AND OLD.currency = NEW.currency AND OLD.payment_id = NEW.payment_id THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status IN ('succeeded', 'pending') THEN
        SELECT customer_id INTO who FROM payments_payment WHERE id = OLD.payment_id;
        IF who IS NOT NULL THEN
            PERFORM payments_customertotal_add(who, OLD.currency, 0,
                CASE WHEN OLD.status = 'succeeded' THEN -OLD.amount_minor ELSE 0 END,
                CASE WHEN OLD.status = 'pending' THEN -OLD.amount_minor ELSE 0 END);
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.status IN ('succeeded', 'pending') THEN
        SELECT customer_id INTO who FROM payments_payment WHERE id = NEW.payment_id;
        PERFORM payments_customertotal_add(who, NEW.currency, 0,
            CASE WHEN NEW.status = 'succeeded' THEN NEW.amount_minor ELSE 0 END,
            CASE WHEN NEW.status = 'pending' THEN NEW.amount_minor ELSE 0 END);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER payment_customer_totals
    AFTER INSERT OR DELETE OR UPDATE OF status, amount_minor, currency, customer_id ON payments_payment
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payments_payment_totals();
CREATE CONSTRAINT TRIGGER refund_customer_totals
    AFTER INSERT OR DELETE OR UPDATE OF status, amount_minor, currency, payment_id ON payments_refund
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payments_refund_totals();

-- The totals summed anew from the ledger: here once, and after a bulk load made with the
-- triggers off (many changes to one customer's row in one transaction cost quadratic time).
CREATE FUNCTION payments_customertotal_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM payments_customertotal;
    INSERT INTO payments_customertotal (customer_id, currency, paid_minor, refunded_minor, refund_pending_minor)
    SELECT customer_id, currency, sum(paid), sum(refunded), sum(pending) FROM (
        SELECT customer_id, currency, amount_minor AS paid, 0 AS refunded, 0 AS pending
        FROM payments_payment WHERE status = 'succeeded'
        UNION ALL
        SELECT p.customer_id, r.currency, 0,
            CASE WHEN r.status = 'succeeded' THEN r.amount_minor ELSE 0 END,
            CASE WHEN r.status = 'pending' THEN r.amount_minor ELSE 0 END
        FROM payments_refund r JOIN payments_payment p ON p.id = r.payment_id
        WHERE r.status IN ('succeeded', 'pending')
    ) ledger GROUP BY customer_id, currency;
$$;
SELECT payments_customertotal_rebuild();
"""

DROP = """
DROP TRIGGER IF EXISTS payment_customer_totals ON payments_payment;
DROP TRIGGER IF EXISTS refund_customer_totals ON payments_refund;
DROP FUNCTION IF EXISTS payments_payment_totals();
DROP FUNCTION IF EXISTS payments_refund_totals();
DROP FUNCTION IF EXISTS payments_customertotal_rebuild();
DROP FUNCTION IF EXISTS payments_customertotal_add(bigint, varchar, bigint, bigint, bigint);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0008_hosted_checkout"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CustomerTotal",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "customer", "currency", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("currency", models.CharField(max_length=3)),
                ("paid_minor", models.BigIntegerField(default=0)),
                ("refunded_minor", models.BigIntegerField(default=0)),
                ("refund_pending_minor", models.BigIntegerField(default=0)),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
