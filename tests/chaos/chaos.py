#!/usr/bin/python3
"""The chaos harness: a seeded workload through the real stack, a fault scenario, and the
oracle's verdict.

    chaos.py --scenario NAME --seed S [--invoices N] [--steps K] [--verbose] [--keep]

Runs against the stack `scripts/stack env` describes (DUNNING_RUN_DIR selects it). Resets
the state, installs tests/chaos/policy.yaml, starts the engine and the three senders from
$DUNNING_BIN, publishes the workload (workload.py) while it moves the frozen simulated
clock in K steps, calls the scenario's hooks (scenarios/NAME.py), drains, and compares
the topics, PostgreSQL and the delivered mail / SMS / letters with what oracle.py computed
from the workload and the policy alone. Exit 0 when everything matches, 1 with a diff
otherwise, 2 on usage errors. The seed and a replay command are printed first.
"""

import argparse
import collections
import concurrent.futures
import email.parser
import glob
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import faultlib  # noqa: E402
import oracle  # noqa: E402
import workload  # noqa: E402

SERVICES = {
    "engine": "dunning-engine",
    "engine2": "dunning-engine",
    "sender-email": "sender-email",
    "sender-sms": "sender-sms",
    "sender-letter": "sender-letter",
}
REMINDER_TOPICS = {"email": "reminder-due.email", "sms": "reminder-due.sms", "letter": "reminder-due.letter"}


class ChaosFailure(Exception):
    pass


def stack_env():
    out = subprocess.run([os.path.join(ROOT, "scripts", "stack"), "env"], capture_output=True, text=True)
    if out.returncode != 0:
        raise ChaosFailure("the stack is not running (scripts/stack start): " + out.stderr.strip())
    env = {}
    for line in out.stdout.splitlines():
        m = re.match(r"export (\w+)=(.*)$", line.strip())
        if m:
            v = m.group(2)
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            env[m.group(1)] = v
    return env


class Ctx:
    """What a scenario gets (see tests/chaos/README.md)."""

    def __init__(self, args, env, work):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(args.seed)
        self.env = env
        self.bin = env.get("DUNNING_BIN") or os.environ.get("DUNNING_BIN") or os.path.join(ROOT, "build", "bin")
        self.work = work
        self.verbose = args.verbose
        self.procs = {}
        self.extra_env = {}  # scenario additions to every service's environment
        self.service_env = collections.defaultdict(dict)  # name -> additions for that service
        self.allow_resend = False  # SMTP/SMS resends in the documented crash window are not failures
        self.step_timeout = 90
        self.kills = collections.Counter()
        self.clock_ms = None
        self.t0 = time.time()
        self.base_env = dict(os.environ)
        self.base_env.update(env)
        self.base_env.update({
            "DUNNING_HOME": ROOT,
            "DUNNING_BIN": self.bin,
            "DUNNING_CLOCK_FILE": os.path.join(work, "clock"),
            "DUNNING_POLICY_FILE": os.path.join(HERE, "policy.yaml"),
            "DUNNING_HTTP_ADDR": "127.0.0.1:0",
            # The same as tests/integration/lib.sh, and never changed by a scenario: a group
            # whose members come back with a shorter session timeout than the last ones had
            # can stall in the mock cluster (no assignment for minutes).
            "DUNNING_RDKAFKA_CONSUMER_session_timeout_ms": "6000",
            "DUNNING_RDKAFKA_CONSUMER_heartbeat_interval_ms": "500",
            # The mock broker answers a fetch only when fetch.wait.max.ms is up: shorter hops.
            "DUNNING_RDKAFKA_CONSUMER_fetch_wait_max_ms": "50",
            "DUNNING_SMS_QUIET_HOURS": "",
            "DUNNING_LETTER_SPOOL_DIR": os.path.join(work, "spool"),
            "DUNNING_SMTP_BACKOFF": "200ms",
            "DUNNING_SMS_BACKOFF": "200ms",
            "DUNNING_LETTER_BACKOFF": "200ms",
        })

    # ---- logging ---------------------------------------------------------------------
    def log(self, msg):
        print("[chaos %6.1fs] %s" % (time.time() - self.t0, msg), flush=True)

    def debug(self, msg):
        if self.verbose:
            self.log(msg)

    # ---- services --------------------------------------------------------------------
    def start(self, name):
        if name not in SERVICES:
            raise ChaosFailure("unknown service " + name)
        if self.alive(name):
            return
        env = dict(self.base_env)
        env.update(self.extra_env)
        env.update(self.service_env[name])
        logf = open(os.path.join(self.work, name + ".log"), "ab")
        p = subprocess.Popen([os.path.join(self.bin, SERVICES[name])], env=env, stdout=logf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        logf.close()
        self.procs[name] = p
        time.sleep(0.2)
        if p.poll() is not None:
            raise ChaosFailure("%s exited at start with status %s (log %s)" % (name, p.returncode,
                                                                               os.path.join(self.work, name + ".log")))
        self.debug("started %s (pid %d)" % (name, p.pid))

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def kill(self, name, sig="KILL"):
        """Sends the signal and waits for the exit; TERM must end in status 0."""
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return None
        signum = getattr(signal, "SIG" + sig) if isinstance(sig, str) else sig
        p.send_signal(signum)
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise ChaosFailure("%s did not exit within 60 s of SIG%s" % (name, sig))
        self.kills[(name, sig)] += 1
        self.debug("%s got SIG%s, exit status %s" % (name, sig, rc))
        if signum == signal.SIGTERM and rc != 0:
            raise ChaosFailure("%s exited with status %s after SIGTERM (log %s)" % (name, rc, os.path.join(
                self.work, name + ".log")))
        return rc

    def restart(self, name, sig="TERM"):
        self.kill(name, sig)
        self.start(name)

    def stop_all(self):
        errors = []
        for name in list(self.procs):
            try:
                self.kill(name, "TERM")
            except ChaosFailure as e:
                errors.append(str(e))
        self.procs.clear()
        return errors

    # ---- the stack -------------------------------------------------------------------
    def stack(self, *args):
        env = dict(os.environ)
        env["DUNNING_BIN"] = self.bin
        if "DUNNING_RUN_DIR" in self.env:
            env["DUNNING_RUN_DIR"] = self.env["DUNNING_RUN_DIR"]
        r = subprocess.run([os.path.join(ROOT, "scripts", "stack")] + [str(a) for a in args], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ChaosFailure("scripts/stack %s failed: %s%s" % (" ".join(map(str, args)), r.stdout, r.stderr))
        return r.stdout

    def psql(self, sql, timeout=60):
        r = subprocess.run(["psql", self.env["DUNNING_PG_DSN"], "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t"],
                           input=sql, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise ChaosFailure("psql failed: %s\n%s" % (r.stderr.strip(), sql[:500]))
        return r.stdout

    def redis(self, *args):
        r = subprocess.run(["redis-cli", "-u", self.env["DUNNING_REDIS_URL"]] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise ChaosFailure("redis-cli %s failed: %s" % (" ".join(map(str, args)), r.stderr.strip()))
        return r.stdout

    def wait(self, seconds, what, predicate, interval=0.1, state=None):
        """Polls predicate until it holds; state() describes what was seen, for the timeout."""
        deadline = time.time() + seconds
        while True:
            try:
                if predicate():
                    return
            except ChaosFailure:
                pass  # e.g. PostgreSQL down for a moment: ask again
            if time.time() > deadline:
                raise ChaosFailure("timed out after %ss waiting for: %s%s" % (seconds, what,
                                                                             " (last seen: %s)" % state() if state else ""))
            time.sleep(interval)

    def dunningctl(self, *args, input=None, timeout=120):
        env = dict(self.base_env)
        r = subprocess.run([os.path.join(self.bin, "dunningctl")] + list(args), input=input, capture_output=True,
                           text=True, env=env, timeout=timeout)
        return r

    # ---- the clock ---------------------------------------------------------------------
    def set_clock(self, ms):
        path = self.base_env["DUNNING_CLOCK_FILE"]
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("0 %d %d\n" % (ms, int(time.time() * 1000)))
        os.rename(tmp, path)
        self.clock_ms = ms


def load_scenario(name):
    path = os.path.join(HERE, "scenarios", name + ".py")
    if not re.fullmatch(r"[a-z0-9_]+", name) or not os.path.exists(path):
        return None
    spec = importlib.util.spec_from_file_location("scenario_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scenario_names():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "scenarios", "*.py"))
                  if not os.path.basename(p).startswith("_"))


# ---- state checks ------------------------------------------------------------------------
# The row that shows an input was applied: invoices, payments and failed charges are
# deduplicated on their own rows (a copy under a new event id finds the same row), every
# other input on its event id in processed_events.
NATURAL_KEYS = {"invoice-issued": ("invoices", ("invoice_id",)),
                "payment-received": ("payments", ("payment_id",)),
                "payment-failed": ("payment_failures", ("payment_id", "attempt"))}


def processed_marks(events, dead_letter_ids):
    marks = set()
    for ev in events:
        rec = ev["record"]
        if rec.get("event_id") in dead_letter_ids:
            continue  # a dead-lettered input is not recorded as processed
        if ev["topic"] in NATURAL_KEYS:
            table, cols = NATURAL_KEYS[ev["topic"]]
            marks.add((table,) + tuple(rec.get(c, 1 if c == "attempt" else "") for c in cols))
        else:
            marks.add(("processed_events", rec["event_id"]))
    return marks

def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


class Pipeline:
    """Questions about the state of the pipeline, for one tenant."""

    def __init__(self, ctx, tenant):
        self.ctx = ctx
        self.t = sql_quote(tenant)

    def quiet_counts(self, marks):
        """marks: what shows that each input was applied (processed_marks)."""
        def arr(values, typ):
            return "ARRAY[%s]::%s[]" % (",".join(sql_quote(str(v)) for v in values), typ)
        ev = [m[1] for m in marks if m[0] == "processed_events"]
        inv = [m[1] for m in marks if m[0] == "invoices"]
        pay = [m[1] for m in marks if m[0] == "payments"]
        fail = [m[1:] for m in marks if m[0] == "payment_failures"]
        sql = """
SELECT (SELECT outbox + case_events FROM publish_pending),
       (SELECT count(*) FROM cases WHERE tenant_id = {t} AND next_action_at <= to_timestamp({now} / 1000.0)),
       (SELECT count(*) FROM processed_events WHERE event_id = ANY({ev}))
       + (SELECT count(*) FROM invoices WHERE tenant_id = {t} AND invoice_id = ANY({inv}))
       + (SELECT count(*) FROM payments WHERE tenant_id = {t} AND payment_id = ANY({pay}))
       + (SELECT count(*) FROM payment_failures f JOIN unnest({fp}, {fa}) AS u (p, a)
           ON f.payment_id = u.p AND f.attempt = u.a WHERE f.tenant_id = {t}),
       (SELECT coalesce(sum(jsonb_array_length(detail->'reminders')), 0) FROM audit
         WHERE tenant_id = {t} AND kind IN ('reminder_emitted', 'hard_decline', 'reminder_fallback')
           AND jsonb_typeof(detail->'reminders') = 'array'),
       (SELECT count(*) FROM deliveries WHERE tenant_id = {t}
         AND status IN ('delivered', 'suppressed', 'failed_permanent')),
       (SELECT count(DISTINCT detail->>'reminder_event_id') FROM audit WHERE tenant_id = {t}
         AND kind IN ('reminder_delivered', 'reminder_suppressed', 'reminder_failed_permanent'));
""".format(t=self.t, now=self.ctx.clock_ms, ev=arr(ev, "uuid"), inv=arr(inv, "text"), pay=arr(pay, "text"),
           fp=arr([f[0] for f in fail], "text"), fa=arr([f[1] for f in fail], "int"))
        out = self.ctx.psql(sql).strip().split("\t")
        return [int(x) for x in out]

    def describe(self):
        alive = ", ".join("%s %s" % (n, "up" if self.ctx.alive(n) else "down") for n in sorted(self.ctx.procs))
        return "%s; %s" % (getattr(self, "last", {}), alive)

    def is_quiet(self, ids):
        ids = sorted(ids, key=repr)
        outbox, due, processed, emitted, final, recorded = self.quiet_counts(ids)
        self.last = dict(outbox=outbox, due_timers=due, processed="%d/%d" % (processed, len(ids)),
                         reminders_emitted=emitted, deliveries_final=final, outcomes_recorded=recorded)
        return outbox == 0 and due == 0 and processed == len(ids) and emitted == final == recorded


def consume(ctx, topic):
    r = ctx.dunningctl("consume", topic, "--idle-ms", "30000", timeout=300)
    if r.returncode != 0:
        raise ChaosFailure("dunningctl consume %s failed: %s" % (topic, r.stderr.strip()[-500:]))
    out = []
    for line in r.stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


# ---- the run -------------------------------------------------------------------------------
def publish_step(ctx, events):
    by_topic = collections.defaultdict(list)
    for ev in events:
        by_topic[ev["topic"]].append(json.dumps(ev["record"]))
    # One call per topic, one after the other: idempotent producers starting at the same
    # moment make the mock cluster back off for a second.
    for topic, lines in by_topic.items():
        r = ctx.dunningctl("publish", topic, input="\n".join(lines) + "\n")
        if r.returncode != 0:
            raise ChaosFailure("dunningctl publish %s failed: %s" % (topic, r.stderr.strip()[-800:]))


def run(args):
    scen = load_scenario(args.scenario)
    if scen is None:
        print("chaos: unknown scenario %r (have: %s)" % (args.scenario, ", ".join(scenario_names())), file=sys.stderr)
        return 2
    env = stack_env()
    run_dir = env.get("DUNNING_RUN_DIR") or os.path.join(ROOT, ".run")
    os.makedirs(run_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="chaos-%s-%d." % (args.scenario, args.seed), dir=run_dir)
    ctx = Ctx(args, env, work)
    tenant = "chaos-%s-%d-%d" % (args.scenario, args.seed, os.getpid())
    ctx.tenant = tenant
    ctx.log("seed %d, scenario %s, %d invoices, %d steps, tenant %s, work %s" % (
        args.seed, args.scenario, args.invoices, args.steps, tenant, work))
    ctx.log("replay: DUNNING_RUN_DIR=%s DUNNING_BIN=%s %s --scenario %s --seed %d --invoices %d --steps %d" % (
        run_dir, ctx.bin, os.path.relpath(os.path.abspath(__file__), os.getcwd()), args.scenario, args.seed,
        args.invoices, args.steps))
    ok = False
    try:
        ok = run_scenario(ctx, scen, tenant)
    except ChaosFailure as e:
        ctx.log("FAIL: %s" % e)
        for name in sorted(SERVICES):
            path = os.path.join(work, name + ".log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-8:]
                print("--- last lines of %s" % path)
                sys.stdout.write("".join(tail))
    finally:
        errors = ctx.stop_all()
        for e in errors:
            ctx.log("FAIL: %s" % e)
            ok = False
    if ok:
        ctx.log("PASS (seed %d, scenario %s, %.1fs)" % (args.seed, args.scenario, time.time() - ctx.t0))
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 0
    ctx.log("FAILED: seed %d, scenario %s; logs in %s" % (args.seed, args.scenario, work))
    return 1


def reset_state(ctx):
    ctx.psql("TRUNCATE processed_events, invoices, cases, payments, audit, outbox, deliveries, held_events")
    ctx.redis("FLUSHDB")
    for f in glob.glob(os.path.join(ctx.env["DUNNING_MAIL_DIR"], "*.eml")):
        os.unlink(f)
    os.makedirs(os.path.join(ctx.work, "spool"), exist_ok=True)


def run_scenario(ctx, scen, tenant):
    wl_rng = random.Random(ctx.seed * 7919 + 1)  # the workload's own stream: scenarios cannot shift it
    wl = workload.generate(wl_rng, tenant, ctx.args.invoices, ctx.args.steps, tag="s%d-%d" % (ctx.seed, os.getpid()),
                           phone_tag="%03d" % (os.getpid() % 1000))
    ctx.workload = wl
    policies, default_policy = oracle.load_policies(os.path.join(HERE, "policy.yaml"))
    expect = oracle.run(policies, default_policy, wl)
    for n in expect.notes:
        ctx.log(n)
    with open(os.path.join(ctx.work, "workload.jsonl"), "w") as f:
        for ev in wl["events"]:
            f.write(json.dumps({"step": ev["step"], "topic": ev["topic"], "record": ev["record"]}) + "\n")

    reset_state(ctx)
    sms_log = ctx.env.get("DUNNING_SMS_LOG")
    ctx.sms_offset = os.path.getsize(sms_log) if sms_log and os.path.exists(sms_log) else 0
    times = wl["times"]
    ctx.set_clock(times[0])
    if hasattr(scen, "setup"):
        scen.setup(ctx)
    for name in ("engine", "sender-email", "sender-sms", "sender-letter"):
        if name not in getattr(ctx, "no_autostart", ()):
            ctx.start(name)
    pipe = Pipeline(ctx, tenant)
    transform = getattr(scen, "transform", None)
    by_step = collections.defaultdict(list)
    for ev in wl["events"]:
        by_step[ev["step"]].append(ev)
    n = len(times) - 1
    published_ids = []
    for i in range(1, n + 1):
        events = by_step.get(i, [])
        if transform:
            out = []
            for ev in events:
                r = transform(ctx, ev["topic"], dict(ev["record"]))
                for rec in (r if isinstance(r, list) else [r] if r is not None else []):
                    out.append({"topic": ev["topic"], "record": rec})
            events = out
        # A dead-lettered input is not recorded as processed: wait only for the others.
        step_ids = processed_marks(events, expect.dead_letter_ids)
        published_ids.extend(step_ids)
        t_a = time.time()
        if events:
            publish_step(ctx, events)
        if events and hasattr(scen, "after_publish"):
            scen.after_publish(ctx, i, n)
        t_b = time.time()
        ctx.wait(ctx.step_timeout, "step %d: events processed and the pipeline quiet at %s" % (i, iso(times[i - 1])),
                 lambda: pipe.is_quiet(step_ids), state=pipe.describe)
        # The inputs that must be dead-lettered leave no row behind: wait until their dead
        # letters are on the topic too, so that none is handled after the clock moves (a
        # pause whose end has passed by then is rejected for another reason).
        step_dl = {ev["record"]["event_id"] for ev in events} & expect.dead_letter_ids
        if step_dl:
            ctx.wait(ctx.step_timeout, "step %d: %d inputs dead-lettered" % (i, len(step_dl)),
                     lambda: step_dl <= {r["value"].get("original_event_id") for r in consume(ctx, "dead-letter")
                                         if isinstance(r.get("value"), dict)}, interval=0.5)
        t_c = time.time()
        ctx.set_clock(times[i])
        if hasattr(scen, "at_step"):
            scen.at_step(ctx, i, n)
        ctx.wait(ctx.step_timeout, "step %d: timers due by %s fired and delivered" % (i, iso(times[i])),
                 lambda: pipe.is_quiet([]), state=pipe.describe)
        ctx.debug("step %d/%d: %d events (publish %.1fs, processed %.1fs, fired %.1fs); %s" % (
            i, n, len(events), t_b - t_a, t_c - t_b, time.time() - t_c, pipe.last))
    if hasattr(scen, "teardown"):
        scen.teardown(ctx)
    for name in ("engine", "sender-email", "sender-sms", "sender-letter"):
        if not ctx.alive(name):
            ctx.start(name)
    # Drain: quiet, and still quiet a moment later (nothing in flight).
    distinct_ids = set(published_ids)
    ctx.wait(ctx.step_timeout, "the pipeline drained", lambda: pipe.is_quiet(distinct_ids), state=pipe.describe)
    time.sleep(1.5)
    ctx.wait(ctx.step_timeout, "the pipeline drained (again)", lambda: pipe.is_quiet(distinct_ids), state=pipe.describe)
    ctx.log("drained: %s" % pipe.last)
    return compare(ctx, expect, tenant)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


# ---- the comparison ---------------------------------------------------------------------------
def compare(ctx, expect, tenant):
    diffs = []

    def diff(kind, msg):
        diffs.append((kind, msg))

    topics = list(REMINDER_TOPICS.values()) + ["payment-retry-due", "dunning-case-events", "dead-letter"]
    with concurrent.futures.ThreadPoolExecutor(len(topics)) as ex:
        consumed = dict(zip(topics, ex.map(lambda t: consume(ctx, t), topics)))
    mine = {t: [r["value"] for r in recs if isinstance(r.get("value"), dict) and r["value"].get("tenant_id") == tenant]
            for t, recs in consumed.items()}
    settled = expect.settled_at

    # Reminders on the topics: one event id per (invoice, stage, stage name, channel).
    got = collections.defaultdict(dict)  # invoice -> key -> {event_id: record}
    reminder_ids = {}  # event id -> (invoice, key)
    topic_copies = 0
    for ch, topic in REMINDER_TOPICS.items():
        for v in mine[topic]:
            key = (v["stage"], v["stage_name"], v["channel"])
            d = got[v["invoice_id"]].setdefault(key, {})
            if v["event_id"] in d:
                topic_copies += 1
            d[v["event_id"]] = v
            reminder_ids[v["event_id"]] = (v["invoice_id"], key)
    n_expected = 0
    for inv in sorted(set(expect.reminders) | set(got), key=inv_sort):
        exp, have = expect.reminders.get(inv, {}), got.get(inv, {})
        for key in sorted(set(exp) | set(have), key=str):
            n_expected += key in exp
            if key in exp and key not in have:
                diff("missing reminder", "%s %s" % (inv, fmt_key(key)))
            elif key in have and key not in exp:
                when = ""
                if inv in settled:
                    when = " (invoice settled at %s)" % iso(settled[inv])
                for rd in have[key].values():
                    kind = "delivered after payment" if inv in settled else "unexpected reminder"
                    diff(kind, "%s %s emitted%s" % (inv, fmt_key(key), when))
            else:
                if len(have[key]) > 1:
                    diff("duplicated reminder", "%s %s: %d event ids" % (inv, fmt_key(key), len(have[key])))
                e = exp[key]
                for rd in have[key].values():
                    gotv = (rd["template_key"], rd["outstanding_minor"], rd["fee_minor"], rd["total_due_minor"])
                    expv = (e["template"], e["outstanding"], e["fee"], e["total"])
                    if gotv != expv:
                        diff("wrong reminder", "%s %s: (template, outstanding, fee, total) expected %s, got %s" % (
                            inv, fmt_key(key), expv, gotv))
    counts = {"reminders expected": n_expected, "reminder records": sum(len(mine[t]) for t in REMINDER_TOPICS.values())}

    # Retries: (attempt, amount) per distinct event id, as a multiset per invoice (a case
    # may run through more than one retry series).
    got_r = collections.defaultdict(dict)
    for v in mine["payment-retry-due"]:
        got_r[v["invoice_id"]][v["event_id"]] = (v["attempt"], v["amount_minor"])
    for inv in sorted(set(expect.retries) | set(got_r), key=inv_sort):
        exp = collections.Counter((r["attempt"], r["amount"]) for r in expect.retries.get(inv, []))
        have = collections.Counter(got_r.get(inv, {}).values())
        for a in sorted(set(exp) | set(have)):
            if have[a] < exp[a]:
                diff("missing retry", "%s attempt %d amount %d: expected %d, got %d" % (inv, a[0], a[1], exp[a],
                                                                                        have[a]))
            elif have[a] > exp[a]:
                diff("duplicated retry" if exp[a] else "unexpected retry",
                     "%s attempt %d amount %d: expected %d, got %d" % (inv, a[0], a[1], exp[a], have[a]))
    counts["retries expected"] = sum(len(v) for v in expect.retries.values())

    # Case events (topic) and the audit trail (PostgreSQL): the same kinds, per invoice.
    topic_kinds = collections.defaultdict(collections.Counter)
    seen_ev = set()
    for v in mine["dunning-case-events"]:
        if v["event_id"] in seen_ev:
            continue
        seen_ev.add(v["event_id"])
        if v["event_type"] not in oracle.OUTCOME_KINDS:
            topic_kinds[v["invoice_id"]][v["event_type"]] += 1
    audit_rows = ctx.psql("SELECT invoice_id, kind, coalesce(detail->>'reminder_event_id', '') FROM audit "
                          "WHERE tenant_id = %s ORDER BY id" % sql_quote(tenant))
    audit_kinds = collections.defaultdict(collections.Counter)
    outcome_rows = collections.defaultdict(collections.Counter)
    for line in audit_rows.splitlines():
        inv, kind, rid = line.split("\t")
        if kind in oracle.OUTCOME_KINDS:
            outcome_rows[rid][kind] += 1
        else:
            audit_kinds[inv][kind] += 1
    for label, kinds in (("case event", topic_kinds), ("audit row", audit_kinds)):
        for inv in sorted(set(expect.audit) | set(kinds), key=inv_sort):
            e, g = expect.audit.get(inv, collections.Counter()), kinds.get(inv, collections.Counter())
            for k in sorted(set(e) | set(g)):
                if e[k] != g[k]:
                    diff("%s %s" % ("missing" if g[k] < e[k] else "extra", label),
                         "%s %s: expected %d, got %d" % (inv, k, e[k], g[k]))
    counts["case events expected"] = sum(sum(c.values()) for c in expect.audit.values())

    # Final state of every case.
    rows = ctx.psql("SELECT invoice_id, state, stage, outstanding_minor, fee_minor, "
                    "coalesce((extract(epoch from next_action_at) * 1000)::bigint::text, '') "
                    "FROM cases WHERE tenant_id = %s" % sql_quote(tenant))
    have_cases = {}
    for line in rows.splitlines():
        inv, state, stage, out, fee, nxt = line.split("\t")
        have_cases[inv] = {"state": state, "stage": int(stage), "outstanding_minor": int(out),
                           "fee_minor": int(fee), "next_action_at": int(nxt) if nxt else None}
    exp_cases = expect.final()
    for inv in sorted(set(exp_cases) | set(have_cases), key=inv_sort):
        e, g = exp_cases.get(inv), have_cases.get(inv)
        if e is None or g is None:
            diff("missing case" if g is None else "unexpected case", inv)
            continue
        for f in e:
            if e[f] != g[f]:
                ev, gv = e[f], g[f]
                if f == "next_action_at":
                    ev, gv = ev and iso(ev), gv and iso(gv)
                diff("wrong case", "%s %s: expected %s, got %s" % (inv, f, ev, gv))
    counts["cases"] = len(have_cases)

    # No active case without a pending timer, and Redis agrees with PostgreSQL (issue 22).
    rows = ctx.psql("SELECT case_id, invoice_id, state, stage, policy, "
                    "coalesce((extract(epoch from next_action_at) * 1000)::bigint::text, ''), "
                    "EXISTS (SELECT 1 FROM audit a WHERE a.tenant_id = c.tenant_id AND a.invoice_id = c.invoice_id "
                    "AND a.kind = 'below_minimum') FROM cases c WHERE tenant_id = %s" % sql_quote(tenant))
    cases = []
    for line in rows.splitlines():
        cid, inv, state, stage, pol, nxt, below = line.split("\t")
        cases.append({"case_id": cid, "invoice_id": inv, "state": state, "stage": int(stage), "policy": pol,
                      "next_action_at": int(nxt) if nxt else None, "below_minimum": below == "t"})
    policies, _ = oracle.load_policies(os.path.join(HERE, "policy.yaml"))
    for kind, msg in oracle.timer_diffs(policies, cases, faultlib.indexed_timers(ctx)):
        diff(kind, msg)
    counts["cases with a pending timer"] = sum(c["next_action_at"] is not None for c in cases)

    # What reached the customers: deliveries, outcomes, mail, SMS, letters.
    expected_ids = collections.defaultdict(set)  # channel -> reminder event ids expected delivered
    for eid, (inv, key) in reminder_ids.items():
        if key in expect.reminders.get(inv, {}):
            expected_ids[key[2]].add(eid)
    deliveries = {}
    for line in ctx.psql("SELECT event_id, channel, status, attempts FROM deliveries WHERE tenant_id = %s"
                         % sql_quote(tenant)).splitlines():
        eid, ch, status, attempts = line.split("\t")
        deliveries[eid] = (ch, status, int(attempts))
    all_expected = set().union(*expected_ids.values()) if expected_ids else set()
    transient = 0
    for eid in sorted(all_expected):
        inv, key = reminder_ids[eid]
        d = deliveries.get(eid)
        if d is None or d[1] != "delivered":
            diff("not delivered", "%s %s: deliveries status %s" % (inv, fmt_key(key), d and d[1]))
        oc = outcome_rows.get(eid, collections.Counter())
        transient += oc["reminder_failed_transient"]  # retried later: allowed before the delivery
        final_ok = oc["reminder_delivered"] == 1 or (oc["reminder_delivered"] > 1 and ctx.allow_resend)
        if not final_ok or oc["reminder_suppressed"] or oc["reminder_failed_permanent"]:
            diff("outcome", "%s %s: outcomes recorded %s" % (inv, fmt_key(key), dict(oc)))
    for eid in sorted(set(deliveries) - all_expected):
        diff("unexpected delivery", "%s: %s" % (eid, deliveries[eid]))

    # Mail: one message per e-mail reminder, Message-ID <reminder-ID@dunning>.
    mail_ids = collections.Counter()
    my_tag = "-s%d-%d@" % (ctx.seed, os.getpid())
    parser = email.parser.BytesHeaderParser()
    for path in glob.glob(os.path.join(ctx.env["DUNNING_MAIL_DIR"], "*.eml")):
        with open(path, "rb") as f:
            msg = parser.parse(f)
        if my_tag not in (msg.get("To") or ""):
            continue  # another run's (its input was still unconsumed when this run started)
        m = re.match(r"<reminder-([0-9a-f-]{36})@dunning>", (msg.get("Message-ID") or "").strip())
        if m:
            mail_ids[m.group(1)] += 1
        else:
            diff("unexpected mail", "%s without a reminder Message-ID" % os.path.basename(path))
    resent = 0
    for eid in sorted(set(mail_ids) | expected_ids["email"]):
        n = mail_ids.get(eid, 0)
        where = reminder_ids.get(eid)
        label = "%s %s" % (where[0], fmt_key(where[1])) if where else eid
        if eid not in expected_ids["email"]:
            diff("unexpected mail", "%s: %d message(s)" % (label, n))
        elif n == 0:
            diff("mail missing", label)
        elif n > 1:
            if ctx.allow_resend:
                resent += n - 1
            else:
                diff("mail duplicated", "%s: %d messages with its Message-ID" % (label, n))
    counts["mails"] = sum(mail_ids.values())

    # SMS: the fake SMSC's log, one "Got message" per SMS part, to the invoice's number.
    phone_inv = {}
    for inv, rec in ctx.workload["invoices"].items():
        if rec["contact"].get("phone"):
            phone_inv[rec["contact"]["phone"].lstrip("+")] = inv
    sms_got = collections.Counter()
    sms_log = ctx.env.get("DUNNING_SMS_LOG")
    if sms_log and os.path.exists(sms_log):
        with open(sms_log, "rb") as f:
            f.seek(ctx.sms_offset)
            for line in f.read().decode("utf-8", "replace").splitlines():
                m = re.search(r"Got message \d+: <\S+ \+?(\d+) ", line)
                if m and m.group(1) in phone_inv:
                    sms_got[phone_inv[m.group(1)]] += 1
    sms_exp = collections.Counter()
    for eid in expected_ids["sms"]:
        sms_exp[reminder_ids[eid][0]] += 1
    for inv in sorted(set(sms_exp) | set(sms_got), key=inv_sort):
        if sms_got[inv] < sms_exp[inv]:
            diff("sms missing", "%s: expected %d, got %d" % (inv, sms_exp[inv], sms_got[inv]))
        elif sms_got[inv] > sms_exp[inv]:
            if ctx.allow_resend:
                resent += sms_got[inv] - sms_exp[inv]
            else:
                diff("sms duplicated", "%s: expected %d, got %d" % (inv, sms_exp[inv], sms_got[inv]))
    counts["sms"] = sum(sms_got.values())

    # Letters: one manifest line and one PDF per letter reminder.
    manifest = collections.Counter()
    mpath = os.path.join(ctx.work, "spool", "manifest.jsonl")
    if os.path.exists(mpath):
        with open(mpath) as f:
            for line in f:
                if line.endswith("\n"):
                    m = json.loads(line)
                    if m.get("tenant_id") == tenant:
                        manifest[m["event_id"]] += 1
    for eid in sorted(set(manifest) | expected_ids["letter"]):
        where = reminder_ids.get(eid)
        label = "%s %s" % (where[0], fmt_key(where[1])) if where else eid
        if eid not in expected_ids["letter"]:
            diff("unexpected letter", label)
        elif manifest[eid] != 1:
            diff("letter %s" % ("missing" if manifest[eid] == 0 else "duplicated"),
                 "%s: %d manifest lines" % (label, manifest[eid]))
        elif not os.path.exists(os.path.join(ctx.work, "spool", "letter-%s.pdf" % eid)):
            diff("letter missing", "%s: no PDF" % label)
    counts["letters"] = sum(manifest.values())

    # Dead letters: only the invalid commands the oracle expects (by error code).
    dl_ids = {}
    for v in mine["dead-letter"]:
        dl_ids[v["event_id"]] = v
    # A redelivered copy of a dead-lettered input is dead-lettered again, and its reason may
    # differ once time has passed (a pause whose end is now past): the oracle predicts the
    # first decision (offset order) for every copy.
    first_code = {}
    for v in mine["dead-letter"]:
        first_code.setdefault(v.get("original_event_id") or v["event_id"], v.get("error_code"))
    for eid, v in list(dl_ids.items()):
        code = first_code.get(v.get("original_event_id") or eid, v.get("error_code"))
        if code != v.get("error_code"):
            dl_ids[eid] = dict(v, error_code=code, reason="%s (first copy: %s)" % (v.get("reason"), code))
    got_dl = collections.Counter(v.get("error_code") for v in dl_ids.values())
    for code in sorted(set(got_dl) | set(expect.dead_letters)):
        if got_dl[code] != expect.dead_letters[code]:
            diff("dead letters", "%s: expected %d, got %d" % (code, expect.dead_letters[code], got_dl[code]))
            for v in dl_ids.values():
                if v.get("error_code") == code:
                    print("    dead letter: %s %s: %s" % (v.get("source_topic"), code, v.get("reason")))
    counts["dead letters expected"] = sum(expect.dead_letters.values())
    counts["topic copies (same event id, at-least-once)"] = topic_copies
    if transient:
        counts["failed_transient outcomes before delivery"] = transient
    if resent:
        counts["resent in the crash window (same Message-ID / SMS)"] = resent
    kills = ", ".join("%s SIG%s x%d" % (n, s, c) for (n, s), c in sorted(ctx.kills.items()) if s != "TERM")
    ctx.log("counts: %s%s" % (", ".join("%s %d" % kv for kv in counts.items()), "; kills: " + kills if kills else ""))
    ctx.result = {"counts": counts, "kills": dict((("%s %s" % k), v) for k, v in ctx.kills.items()),
                  "diffs": len(diffs)}
    if not diffs:
        return True
    by_kind = collections.Counter(k for k, _ in diffs)
    ctx.log("MISMATCH: %s" % ", ".join("%s %d" % kv for kv in sorted(by_kind.items())))
    for kind, msg in diffs[:200]:
        print("  %-24s %s" % (kind, msg))
    if len(diffs) > 200:
        print("  ... and %d more" % (len(diffs) - 200))
    return False


def inv_sort(inv):
    m = re.match(r"I(\d+)$", inv or "")
    return (0, int(m.group(1)), "") if m else (1, 0, str(inv))


def fmt_key(key):
    return "stage %s %s/%s" % key


def main(argv=None):
    ap = argparse.ArgumentParser(description="chaos scenario against the running stack")
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--invoices", type=int, default=150)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work folder after a pass")
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if args.invoices < 1 or args.steps < 2:
        print("chaos: --invoices >= 1 and --steps >= 2", file=sys.stderr)
        return 2
    print("chaos: seed %d" % args.seed, flush=True)
    try:
        return run(args)
    except ChaosFailure as e:
        print("chaos: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
