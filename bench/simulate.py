#!/usr/bin/python3
"""The risk simulator (issue 21; docs/risk.md "The simulator"), driven by scripts/simulate.

A year of invoices for customers of known latent types runs through the real pipeline (the
engine on the stack's broker, PostgreSQL and Redis) under the simulated clock, one day at a
time. Two tenants get the same population and the same decisions: one with a single static
policy, one with adaptive policy tracks. Each day the simulator publishes the day's invoices
and payments, moves the clock to 09:00 of the day, waits until the engine has applied them
and fired every stage due, and reads the reminders the engine emitted: a customer reacts to
them according to its type (pays after the first reminder, after the final notice, ...).

Everything random comes from the seed (a hash of the seed and what it is about: the
customer, the invoice), so a run is reproducible, and both tenants see the same customers.
At the end it prints the figures of docs/risk.md: the models' AUC and Brier score on
held-out customers (dunningctl risk fit), adaptive against static (reminders per invoice
collected, days to collect, amount recovered by day 60, customers reached by voice), and
the effectiveness report against the simulator's ground truth.
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

TYPES = [  # latent type, share
    ("on_time", 0.40),
    ("after_first", 0.25),
    ("after_final", 0.15),
    ("instalments", 0.10),
    ("never", 0.10),
]
START = dt.date(2026, 1, 1)
TERM_DAYS = 14  # invoice issued, due 14 days later


def unit(*parts):
    """A number in [0, 1) from the parts (stable across runs and machines)."""
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def pick(u, n):
    return min(int(u * n), n - 1)


def policies(static_t, adaptive_t):
    standard = """
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 10d, channels: [email, sms], template: second_reminder}
          - {name: final_notice, offset: 20d, channels: [letter], template: final_notice, action: final_notice}
          - {name: voice_call, offset: 30d, channels: [voice], template: second_reminder}"""
    return f"""tenants:
  default:
    default_policy: standard
    policies:
      standard:{standard}
  {static_t}:
    default_policy: standard
    policies:
      standard:{standard}
  {adaptive_t}:
    default_policy: standard
    tracks:
      - {{min: 70, policy: gentle}}
      - {{max: 29, policy: strict}}
    policies:
      standard:{standard}
      gentle:
        stages:
          - {{name: first_reminder, offset: 7d, channels: [email], template: first_reminder}}
          - {{name: second_reminder, offset: 14d, channels: [email], template: second_reminder}}
          - {{name: final_notice, offset: 24d, channels: [letter], template: final_notice, action: final_notice}}
          - {{name: voice_call, offset: 35d, channels: [voice], template: second_reminder}}
      strict:
        stages:
          - {{name: first_reminder, offset: 1d, channels: [email, sms], template: first_reminder}}
          - {{name: second_reminder, offset: 5d, channels: [sms, voice], template: second_reminder}}
          - {{name: final_notice, offset: 10d, channels: [letter], template: final_notice, action: final_notice}}
          - {{name: voice_call, offset: 15d, channels: [voice], template: second_reminder}}
"""


class Sim:
    def __init__(self, a):
        self.a = a
        self.bin = a.bin
        self.dsn = os.environ["DUNNING_PG_DSN"]
        run = f"{os.getpid():x}{int(time.time()) % 100000:05d}"
        self.tenants = {"static": f"sim{a.seed}-{run}-static", "adaptive": f"sim{a.seed}-{run}-adaptive"}
        self.customers = []
        for i in range(a.customers):
            u = unit(a.seed, "type", i)
            acc = 0.0
            for name, share in TYPES:
                acc += share
                if u < acc:
                    break
            amount = 2000 + 500 * pick(unit(a.seed, "amount", i), 40)  # 20.00 .. 215.00
            period = 30 + pick(unit(a.seed, "period", i), 61)  # an invoice every 30-90 days
            first = pick(unit(a.seed, "first", i), period)
            self.customers.append({"id": f"c{i}", "type": name, "amount": amount, "period": period, "first": first})
        self.invoices = {}  # (tenant key, invoice id) -> state
        self.payments = {}  # day -> [(tenant key, invoice id, amount, cause)]
        self.expected = {k: [0, 0] for k in self.tenants}  # invoices, payments published
        self.last_audit = 0
        self.truth = []  # (tenant key, invoice, stage_name, reminder day, pay day) for caused payments

    # ---- I/O ----
    def psql(self, sql):
        out = subprocess.run(["psql", self.dsn, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                             capture_output=True, text=True).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def publish(self, topic, records):
        if not records:
            return
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        subprocess.run([f"{self.bin}/dunningctl", "publish", topic], input=data, text=True, check=True,
                       capture_output=True)

    def clock(self, at):
        subprocess.run([f"{self.bin}/dunningctl", "clock", "set", at, "--speed", "0"], check=True)

    def wait(self, day, timers, timeout=300):
        """Until the engine has the invoices and payments published so far and, with timers,
        fired every stage due by 09:00 of the day."""
        now = f"{day.isoformat()} 09:00:00+00"
        names = ",".join(f"'{t}'" for t in self.tenants.values())
        want = sum(v[0] for v in self.expected.values()), sum(v[1] for v in self.expected.values())
        deadline = time.time() + timeout
        while True:
            r = self.psql(
                f"SELECT (SELECT count(*) FROM cases WHERE tenant_id IN ({names})), "
                f"(SELECT count(*) FROM payments WHERE tenant_id IN ({names})), "
                + (f"(SELECT count(*) FROM cases WHERE tenant_id IN ({names}) AND next_action IS DISTINCT FROM "
                   f"'notice' AND next_action_at <= '{now}')" if timers else "0"))[0]
            if int(r[0]) == want[0] and int(r[1]) == want[1] and int(r[2]) == 0:
                return
            if time.time() > deadline:
                sys.exit(f"simulate: the engine did not catch up on {day} (cases {r[0]}/{want[0]}, "
                         f"payments {r[1]}/{want[1]}, stages due {r[2]})")
            time.sleep(0.05)

    # ---- behaviour ----
    def pay_later(self, day, key, inv, amount, cause):
        self.payments.setdefault(day, []).append((key, inv, amount, cause))

    def react(self, key, inv, stage_name, day):
        """A reminder reached the customer of inv: what it does about it (its type, with noise)."""
        st = self.invoices[(key, inv)]
        if st["paid"] or st["scheduled"]:
            return
        c, k = st["customer"], st["n"]
        kind = st["kind"]
        u = unit(self.a.seed, "delay", c["id"], k, stage_name)
        if kind == "after_first":
            st["scheduled"] = True
            self.pay_later(day + dt.timedelta(days=1 + pick(u, 4)), key, inv, st["amount"], stage_name)
        elif kind == "after_final" and stage_name == "final_notice":
            st["scheduled"] = True
            self.pay_later(day + dt.timedelta(days=1 + pick(u, 5)), key, inv, st["amount"], stage_name)
        elif kind == "instalments":
            st["scheduled"] = True
            part = st["amount"] // 3
            d = day + dt.timedelta(days=2)
            self.pay_later(d, key, inv, part, stage_name)
            self.pay_later(d + dt.timedelta(days=14), key, inv, part, None)
            self.pay_later(d + dt.timedelta(days=28), key, inv, st["amount"] - 2 * part, None)

    def issue(self, day):
        recs = []
        for c in self.customers:
            off = (day - START).days - c["first"]
            if off < 0 or off % c["period"]:
                continue
            k = off // c["period"]
            due = day + dt.timedelta(days=TERM_DAYS)
            noise = unit(self.a.seed, "noise", c["id"], k)
            kind = c["type"]
            # Noise: a customer does not always behave to type.
            if noise < 0.08:
                kind = {"on_time": "after_first", "after_first": "after_final", "after_final": "never",
                        "instalments": "after_first", "never": "after_final"}[kind]
            inv = f"{c['id']}-{k}"
            for key, tenant in self.tenants.items():
                self.invoices[(key, inv)] = {"customer": c, "n": k, "kind": kind, "amount": c["amount"], "due": due,
                                             "paid": False, "scheduled": False}
                self.expected[key][0] += 1
                recs.append({
                    "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim/{tenant}/invoice/{inv}")),
                    "tenant_id": tenant, "customer_id": c["id"], "invoice_id": inv, "invoice_number": inv,
                    "amount_minor": c["amount"], "currency": "EUR", "issue_date": day.isoformat(),
                    "due_date": due.isoformat(),
                    "contact": {"name": "Customer", "email": f"{c['id']}@example.com", "phone": "+4917612345678",
                                "locale": "en", "time_zone": "Europe/Berlin",
                                "address": {"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin",
                                            "country": "DE"}}})
                if kind == "on_time":
                    early = pick(unit(self.a.seed, "early", c["id"], k), 4)
                    self.invoices[(key, inv)]["scheduled"] = True
                    self.pay_later(due - dt.timedelta(days=early), key, inv, c["amount"], None)
        self.publish("invoice-issued", recs)

    def pay(self, day):
        recs = []
        for key, inv, amount, cause in self.payments.pop(day, []):
            st = self.invoices[(key, inv)]
            tenant = self.tenants[key]
            n = self.expected[key][1]
            self.expected[key][1] += 1
            st["paid_minor"] = st.get("paid_minor", 0) + amount
            if cause:
                st["cause"] = cause  # the reminder the customer reacted to
            if st["paid_minor"] >= st["amount"] and not st["paid"]:
                st["paid"] = True
                if st.get("cause"):  # paid in full because of that reminder, on this day
                    self.truth.append((key, inv, st["cause"], st.get("reminded", {}).get(st["cause"]), day))
            recs.append({"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim/{tenant}/payment/{n}")),
                         "tenant_id": tenant, "customer_id": st["customer"]["id"], "payment_id": f"p{n}",
                         "invoice_id": inv, "amount_minor": amount, "currency": "EUR", "method": "bank_transfer"})
        self.publish("payment-received", recs)

    def reminders(self, day):
        names = ",".join(f"'{t}'" for t in self.tenants.values())
        key_of = {t: k for k, t in self.tenants.items()}
        rows = self.psql(f"SELECT id, tenant_id, invoice_id, detail->>'stage_name' FROM audit WHERE id > {self.last_audit} "
                         f"AND kind = 'reminder_emitted' AND tenant_id IN ({names}) ORDER BY id")
        for rid, tenant, inv, stage_name in rows:
            self.last_audit = max(self.last_audit, int(rid))
            st = self.invoices[(key_of[tenant], inv)]
            st.setdefault("reminded", {})[stage_name] = day
            self.react(key_of[tenant], inv, stage_name, day)

    # ---- the run ----
    def run(self):
        t0 = time.time()
        days = self.a.days + self.a.tail
        for d in range(days):
            day = START + dt.timedelta(days=d)
            # The day's payments, then its invoices, each applied before the next is sent (so
            # that no batch mixes them: a score never depends on how the broker batched), at
            # 23:59 of the day before (the stages of the day are due from 00:00); then the
            # clock at 09:00 fires the day's stages.
            self.clock(f"{(day - dt.timedelta(days=1)).isoformat()}T23:59:00Z")
            self.pay(day)
            self.wait(day, False)
            if d < self.a.days:
                self.issue(day)
                self.wait(day, False)
            self.clock(f"{day.isoformat()}T09:00:00Z")
            self.wait(day, True)
            self.reminders(day)
            if d % 30 == 0:
                print(f"simulate: {day} ({time.time() - t0:.0f}s)", file=sys.stderr, flush=True)
        # Payments still scheduled after the tail (late instalments) are not made: the year is over.
        self.elapsed = time.time() - t0

    # ---- figures ----
    def fit(self, key):
        tenant = self.tenants[key]
        out = subprocess.run([f"{self.bin}/dunningctl", "risk", "fit", "--tenant", tenant, "--holdout", "0.3",
                              "--seed", str(self.a.seed), "--actor", "simulate"], capture_output=True, text=True)
        if out.returncode != 0:
            return {"error": out.stderr.strip()}
        r = self.psql(f"SELECT status, auc, brier, points_auc, points_brier, train_cases, test_cases FROM risk_models "
                      f"WHERE tenant_id = '{tenant}' ORDER BY version DESC LIMIT 1")[0]
        return {"status": r[0], "auc": float(r[1]), "brier": float(r[2]), "points_auc": float(r[3]),
                "points_brier": float(r[4]), "train_cases": int(r[5]), "test_cases": int(r[6])}

    def compare(self, key):
        t = self.tenants[key]
        r = self.psql(f"""
            WITH paid AS (
              SELECT c.case_id, c.amount_minor, i.due_date,
                     (SELECT min(a.at) FROM audit a WHERE a.case_id = c.case_id AND a.kind = 'resolved') AS at
              FROM cases c JOIN invoices i USING (tenant_id, invoice_id)
              WHERE c.tenant_id = '{t}' AND c.state = 'resolved' AND c.resolved_reason IN
                    ('paid', 'paid_within_tolerance', 'settled_with_discount'))
            SELECT (SELECT count(*) FROM cases WHERE tenant_id = '{t}'),
                   (SELECT count(*) FROM paid),
                   (SELECT coalesce(sum(jsonb_array_length(detail->'reminders')), 0) FROM audit
                      WHERE tenant_id = '{t}' AND kind = 'reminder_emitted'),
                   (SELECT round(avg(at::date - due_date), 2) FROM paid),
                   (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY at::date - due_date) FROM paid),
                   (SELECT coalesce(sum((a.detail->>'amount_minor')::bigint), 0) FROM audit a
                      JOIN cases c ON c.case_id = a.case_id JOIN invoices i ON i.tenant_id = c.tenant_id
                      AND i.invoice_id = c.invoice_id WHERE a.tenant_id = '{t}' AND a.kind = 'payment_applied'
                      AND a.at::date <= i.due_date + 60),
                   (SELECT sum(amount_minor) FROM invoices WHERE tenant_id = '{t}'),
                   (SELECT count(DISTINCT customer_id) FROM audit a, jsonb_array_elements(a.detail->'reminders') x
                      WHERE a.tenant_id = '{t}' AND a.kind = 'reminder_emitted' AND x->>'channel' = 'voice'),
                   (SELECT count(*) FROM audit WHERE tenant_id = '{t}' AND kind = 'track_changed')""")[0]
        cases, paid, sent, avg_days, med_days, rec60, invoiced, voice, switches = r
        return {"invoices": int(cases), "collected": int(paid), "reminders": int(sent),
                "reminders_per_collected": round(int(sent) / max(int(paid), 1), 3),
                "days_to_collect_mean": float(avg_days or 0), "days_to_collect_median": int(med_days or 0),
                "recovered_by_day_60_minor": int(rec60), "invoiced_minor": int(invoiced),
                "recovered_by_day_60_share": round(int(rec60) / max(int(invoiced), 1), 4),
                "customers_reached_by_voice": int(voice), "track_switches": int(switches)}

    def effectiveness(self, key):
        """The report's paid within 7 / 14 days per stage against the simulator's ground truth:
        the invoices paid in full within 7 / 14 days of a stage's reminder because the customer
        reacted to that reminder (an instalment plan started by it counts when its last part
        is paid)."""
        t = self.tenants[key]
        out = subprocess.run([f"{self.bin}/dunningctl", "report", "effectiveness", "--tenant", t, "--csv"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        head = out[0].split(",")
        rows, first_channel = {}, {}
        for line in out[1:]:
            v = dict(zip(head, line.split(",")))
            # A stage sent on two channels is one reminder per channel: count it once, by the
            # first channel of each (policy, stage).
            if first_channel.setdefault((v["policy"], v["stage_name"]), v["channel"]) != v["channel"]:
                continue
            s = rows.setdefault(v["stage_name"], {"sent": 0, "paid_7d": 0, "paid_14d": 0})
            for f in s:
                s[f] += int(v[f])
        truth = {}
        for k, inv, cause, rday, pday in self.truth:
            if k != key or rday is None:
                continue
            tr = truth.setdefault(cause, {"caused_7d": 0, "caused_14d": 0})
            gap = (pday - rday).days
            tr["caused_7d"] += gap <= 7
            tr["caused_14d"] += gap <= 14
        res = {}
        for stage, s in rows.items():
            res[stage] = {**s, **truth.get(stage, {"caused_7d": 0, "caused_14d": 0})}
        return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--customers", type=int, default=10000)
    p.add_argument("--days", type=int, default=365, help="days of invoices (default a year)")
    p.add_argument("--tail", type=int, default=60, help="days after the last invoice (default 60)")
    p.add_argument("--bin", default=os.environ.get("DUNNING_BIN", "build/bin"))
    p.add_argument("--policy-out", help="write the policy file here and exit")
    p.add_argument("--json", help="write the figures here as JSON")
    a = p.parse_args()
    if a.customers < 10 or a.days < 1 or a.tail < 0:
        sys.exit("simulate: --customers >= 10, --days >= 1, --tail >= 0")
    sim = Sim(a)
    if a.policy_out:
        with open(a.policy_out, "w") as f:
            f.write(policies(sim.tenants["static"], sim.tenants["adaptive"]))
        print(json.dumps(sim.tenants))
        return
    tenants = json.loads(os.environ["SIM_TENANTS"])
    sim.tenants = tenants
    sim.run()
    figures = {"seed": a.seed, "customers": a.customers, "days": a.days, "tail": a.tail,
               "types": {n: sum(1 for c in sim.customers if c["type"] == n) for n, _ in TYPES},
               "run_seconds": round(sim.elapsed, 1), "tenants": tenants,
               "models": {k: sim.fit(k) for k in ("static", "adaptive")},
               "policies": {k: sim.compare(k) for k in ("static", "adaptive")},
               "effectiveness": {k: sim.effectiveness(k) for k in ("static", "adaptive")}}
    text = json.dumps(figures, indent=2)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
