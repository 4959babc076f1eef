"""Transactions failing on a serialization error (SQLSTATE 40001), as concurrent
SERIALIZABLE / REPEATABLE READ work makes them fail: a test-only trigger, installed by
setup and removed by teardown, raises it on the first row that a transaction writes to the
tables the engine and the senders change (cases, deliveries, outbox) when the
transaction's id is a multiple of K, at most MAX times (a sequence counts them; a rollback
does not undo it). So about every Kth writing transaction fails once, and its retry, with
a new transaction id, usually goes through. Each failed transaction must be retried whole:
nothing lost, nothing applied twice, no dead letter."""

from faultlib import Faults

DESCRIPTION = "serialization failures (40001) raised by a test trigger on cases, deliveries and outbox writes"
TABLES = ("cases", "deliveries", "outbox")
MAX = 40
_f = None


def _drop_sql():
    sql = ["DROP TRIGGER IF EXISTS chaos_serialization_fault ON %s;" % t for t in TABLES]
    sql.append("DROP FUNCTION IF EXISTS chaos_serialization_fault();")
    sql.append("DROP SEQUENCE IF EXISTS chaos_fault_fired;")
    return "\n".join(sql)


def setup(ctx):
    global _f
    _f = Faults(ctx, "serialization_error")
    every = ctx.rng.choice([2, 3, 4])
    ctx.psql(_drop_sql() + """
CREATE SEQUENCE chaos_fault_fired;
CREATE FUNCTION chaos_serialization_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF txid_current() %% %d = 0 AND nextval('chaos_fault_fired') <= %d THEN
        RAISE EXCEPTION 'chaos: could not serialize access due to concurrent update (%%)', TG_TABLE_NAME
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END $$;
""" % (every, MAX) + "\n".join(
        "CREATE TRIGGER chaos_serialization_fault BEFORE INSERT OR UPDATE ON %s "
        "FOR EACH ROW EXECUTE FUNCTION chaos_serialization_fault();" % t for t in TABLES))
    _f.log("every %dth transaction writing to %s fails with 40001 (at most %d times)" % (every, ", ".join(TABLES), MAX))


def teardown(ctx):
    fired = int(ctx.psql("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM chaos_fault_fired").strip())
    ctx.psql(_drop_sql())
    fired = min(fired, MAX)
    _f.log("%d serialization failures raised" % fired)
    if fired < 5:
        raise RuntimeError("serialization_error: only %d failures raised (workload too small?)" % fired)
    _f.injected.append("40001 x%d" % fired)
    _f.finish(1)
