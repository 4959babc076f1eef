"""A seeded random workload for the chaos suite.

Invoices under three policies (standard, card, each), payments full, partial, early, late, with
fees, leaving less than the minimum, before the invoice; failed card payments (soft and
hard declines, a second failure); case commands (pause with and without an end, resume,
credit, cancel); duplicates (the same event again, and the same payment,
failed charge or invoice under a new event id); every step's records shuffled.

Each event has the step it is published in (1..K: processed at clock point T_(step-1)), its
topic, the JSON record dunningctl publishes, and the model the oracle reads. At most one
event that changes something per invoice and step, so that the order inside a step (which
Kafka does not define across topics) cannot change the outcome; duplicates are no-ops
wherever they land.
"""

import datetime
import uuid

DAY_MS = 86400000
EPOCH_DATE = datetime.date(2026, 3, 1)
T0_MS = int(datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc).timestamp() * 1000)


def date_ms(d):
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc).timestamp() * 1000)


def generate(rng, tenant, n_invoices, steps, tag="x", phone_tag="000"):
    """tag goes into the e-mail addresses, phone_tag (3 digits) into the phone numbers, so
    that what reached the customers can be told apart from other runs'."""
    times = [T0_MS + i * DAY_MS for i in range(steps + 1)]
    events = []
    used = {}  # invoice -> set of steps with an effective event

    def uid():
        # Random, not from the seed: two runs with one seed (a replay, or ctest's fixed seed
        # after a run that left input unconsumed) must not share event ids.
        return str(uuid.uuid4())

    def free_step(inv, lo, hi):
        lo, hi = max(1, lo), min(steps, hi)
        if lo > hi:
            return None
        cands = [s for s in range(lo, hi + 1) if s not in used[inv]]
        if not cands:
            return None
        s = rng.choice(cands)
        used[inv].add(s)
        return s

    def add(step, topic, rec, model_extra=None, dup=False):
        model = dict(rec)
        if model_extra:
            model.update(model_extra)
        rec = dict(rec)
        rec["occurred_at"] = times[step - 1]
        events.append({"step": step, "topic": topic, "record": rec, "model": model, "dup": dup})
        return events[-1]

    def duplicate(ev, new_id=False):
        """The same record again, at the same step or up to 3 later (new_id: as the billing
        system re-sending it under a new event id)."""
        step = rng.randint(ev["step"], min(steps, ev["step"] + 3))
        rec = dict(ev["record"])
        model = dict(ev["model"])
        if new_id:
            rec["event_id"] = model["event_id"] = uid()
        e = {"step": step, "topic": ev["topic"], "record": rec, "model": model, "dup": True}
        e["record"]["occurred_at"] = times[step - 1]
        events.append(e)

    invoices = {}
    for i in range(1, n_invoices + 1):
        inv_id = "I%d" % i
        used[inv_id] = set()
        due_day = rng.randint(-3, steps - 4)
        due = EPOCH_DATE + datetime.timedelta(days=due_day)
        issue = due - datetime.timedelta(days=14)
        amount = rng.choice([rng.randint(600, 5000), rng.randint(5000, 200000)])
        r = rng.random()
        card, each = r < 0.25, 0.25 <= r < 0.40
        contact = {"name": "Customer %d" % i, "email": "i%d-%s@example.com" % (i, tag), "locale": "en",
                   "time_zone": "UTC"}
        if rng.random() < 0.5:
            contact["phone"] = "+4917%s%06d" % (phone_tag, i)
        if rng.random() < 0.35:
            contact["address"] = {"line1": "Hauptstr. %d" % i, "postal_code": "10115", "city": "Berlin",
                                  "country": "DE"}
        if rng.random() < 0.08:
            contact["opted_out_channels"] = ["email"]
        customer = "c%d" % (i % max(1, n_invoices // 2))
        rec = {"event_id": uid(), "tenant_id": tenant, "customer_id": customer, "invoice_id": inv_id,
               "invoice_number": "N%d" % i, "amount_minor": amount, "currency": "EUR",
               "issue_date": issue.isoformat(), "due_date": due.isoformat(), "contact": contact}
        if card:
            rec["policy"] = "card"
        elif each:
            rec["policy"] = "each"
        # When the invoice reaches the engine: usually some days before its due date; one in
        # seven after its first stages fell due (catch-up).
        if rng.random() < 0.15:
            inv_step = due_day + rng.randint(1, 6) + 1
        else:
            inv_step = due_day - rng.randint(2, 8) + 1
        inv_step = min(max(1, inv_step), steps)
        used[inv_id].add(inv_step)
        inv_ev = add(inv_step, "invoice-issued", rec, {"due_ms": date_ms(due)})
        invoices[inv_id] = inv_ev["model"]
        if rng.random() < 0.05:
            duplicate(inv_ev, new_id=True)
        due_step = due_day + 1  # the step whose events are processed on the due day

        def pay(step, amt, kind):
            if step is None or amt <= 0:
                return None
            p = {"event_id": uid(), "tenant_id": tenant, "customer_id": customer,
                 "payment_id": "P%d-%s-%d" % (i, kind, step), "invoice_id": inv_id, "amount_minor": amt,
                 "currency": "EUR", "method": "bank_transfer"}
            ev = add(step, "payment-received", p)
            if rng.random() < 0.05:
                duplicate(ev, new_id=True)
            return ev

        r = rng.random()
        if r < 0.30:
            pass
        elif r < 0.48:
            pay(free_step(inv_id, inv_step + 1, steps), amount, "full")
        elif r < 0.56:
            pay(free_step(inv_id, inv_step + 1, steps), amount + 1500 + amount // 100, "fees")
        elif r < 0.66:
            pay(free_step(inv_id, inv_step + 1, due_step), amount, "early")
        elif r < 0.80:
            s1 = free_step(inv_id, inv_step + 1, steps)
            pay(s1, amount * rng.randint(20, 60) // 100, "part1")
            if s1 and rng.random() < 0.5:
                pay(free_step(inv_id, s1 + 1, steps), amount * rng.randint(30, 80) // 100, "part2")
        elif r < 0.92:
            if inv_step >= 2:
                pay(free_step(inv_id, 1, inv_step - 1), amount if rng.random() < 0.7 else amount // 2, "before")
        else:
            pay(free_step(inv_id, inv_step + 1, steps), amount - rng.randint(1, 499), "most")

        def fail(step, code, attempt, pid):
            if step is None:
                return None
            f = {"event_id": uid(), "tenant_id": tenant, "customer_id": customer, "payment_id": pid,
                 "invoice_id": inv_id, "amount_minor": amount, "currency": "EUR", "decline_code": code,
                 "attempt": attempt}
            ev = add(step, "payment-failed", f)
            if rng.random() < 0.10:
                duplicate(ev, new_id=True)
            return ev

        def command(step, cmd, **extra):
            if step is None:
                return None
            rec = {"event_id": uid(), "tenant_id": tenant, "customer_id": customer, "invoice_id": inv_id,
                   "command": cmd, "actor": "chaos"}
            model = {}
            if "until_days" in extra:
                until = EPOCH_DATE + datetime.timedelta(days=step - 1 + extra["until_days"])
                rec["until"] = until.isoformat()
                model["until_ms"] = date_ms(until)
            for k in ("reason", "amount_minor"):
                if k in extra:
                    rec[k] = extra[k]
            ev = add(step, "case-commands", rec, model)
            if rng.random() < 0.05:
                duplicate(ev)
            return ev

        # Case commands, for cases without card retries: a pause that ends by itself, a pause
        # and a resume, a credit note, a cancellation (invalid ones must be dead-lettered).
        if not card and rng.random() < 0.25:
            c = rng.random()
            if c < 0.35:
                command(free_step(inv_id, inv_step + 1, steps), "pause", reason="dispute",
                        until_days=rng.randint(1, 4))
            elif c < 0.65:
                s1 = free_step(inv_id, inv_step + 1, steps - 1)
                command(s1, "pause", reason=rng.choice(["promise_to_pay", "manual_hold"]))
                if s1:
                    command(free_step(inv_id, s1 + 1, steps), "resume")
            elif c < 0.9:
                command(free_step(inv_id, inv_step + 1, steps), "credit", amount_minor=amount * rng.randint(10, 100) // 100)
            else:
                command(free_step(inv_id, inv_step + 1, steps), "cancel", reason="customer disputes the invoice")

        if card and rng.random() < 0.8:
            pid = "CH%d" % i
            if rng.random() < 0.2:
                fail(free_step(inv_id, inv_step + 1, steps), "expired_card", 1, pid)
            else:
                s1 = free_step(inv_id, inv_step + 1, steps - 1)
                fail(s1, "insufficient_funds", 1, pid)
                if s1 and rng.random() < 0.5:
                    fail(free_step(inv_id, s1 + 1, s1 + 3), "insufficient_funds", 2, pid)
                if s1 and rng.random() < 0.15:
                    fail(free_step(inv_id, s1 + 1, steps), "expired_card", 3, pid)
        elif not card and rng.random() < 0.05:
            fail(free_step(inv_id, inv_step + 1, steps), "insufficient_funds", 1, "CH%d" % i)

    # Exact duplicates (same event id), anywhere from the original's step to 3 later.
    for ev in [e for e in events if not e["dup"]]:
        if rng.random() < 0.08:
            duplicate(ev)
    # Reordering: each step's records in random order.
    rng.shuffle(events)
    events.sort(key=lambda e: e["step"])
    return {"tenant": tenant, "times": times, "events": events, "invoices": invoices}
