"""The chaos suite's oracle: from the workload and the policy file alone, what must exist.

Written from docs/policies.md and docs/case-states.md, not from the engine's code, so that
the two can disagree. The model of time is the harness's: the simulated clock is frozen and
moved in steps T_0 < T_1 < ... < T_K; the input events of step s are processed at T_(s-1),
after every timer due at or before T_(s-1) fired; a timer fires at the first clock point at
or after its due time ("at once" when that time has already passed), and the engine's
"now" is that clock point.
"""

import collections
import re

import yaml

DAY_MS = 86400000
STAGE_STATES = ("open", "pre_due_reminded", "overdue", "final_notice")
ACTIVE = STAGE_STATES + ("retrying",)
HARD_DECLINES_BUILTIN = {
    "lost_card", "stolen_card", "pickup_card", "restricted_card", "invalid_account", "account_closed",
    "card_not_supported", "expired_card", "do_not_honor", "invalid_card_number", "fraudulent",
    "revocation_of_authorization",
}
# Audit kinds that record a sender's outcome: checked per reminder, not counted per invoice.
OUTCOME_KINDS = ("reminder_delivered", "reminder_suppressed", "reminder_failed_transient",
                 "reminder_failed_permanent")


def parse_duration_ms(text):
    m = re.fullmatch(r"([+-]?)(\d+)(ms|s|m|h|d)", str(text).strip())
    if not m:
        raise ValueError("bad duration %r" % text)
    unit = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": DAY_MS}[m.group(3)]
    v = int(m.group(2)) * unit
    return -v if m.group(1) == "-" else v


def parse_percent_e4(text):
    whole, _, frac = str(text).partition(".")
    return int(whole) * 10000 + int((frac + "0000")[:4] or 0)


def amount_for(amap, currency):
    if not amap:
        return 0
    if currency in amap:
        return int(amap[currency])
    return int(amap.get("default", 0))


def round_half_up_div(num, den):
    return (num + den // 2) // den


class Policy:
    def __init__(self, name, doc):
        self.name = name
        self.grace_days = int(doc.get("grace_days", 0))
        self.min_amount = doc.get("min_amount") or {}
        self.tolerance = doc.get("tolerance") or {}
        self.catch_up = doc.get("catch_up", "latest")
        self.channel_order = list(doc.get("channel_order") or ["email", "sms", "letter"])
        if "interest" in doc:
            raise ValueError("the oracle does not model interest; keep it out of the chaos policy")
        self.stages = []
        for s in doc["stages"]:
            fee = s.get("fee") or {}
            self.stages.append({
                "name": s["name"], "offset_ms": parse_duration_ms(s["offset"]), "channels": list(s["channels"]),
                "template": s["template"], "action": s.get("action"), "fee_fixed": fee.get("fixed") or {},
                "fee_percent_e4": parse_percent_e4(fee["percent"]) if "percent" in fee else 0,
            })
        r = doc.get("retries")
        self.retries = None
        if r:
            self.retries = {
                "schedule": [parse_duration_ms(x) for x in r["schedule"]],
                "result_wait": parse_duration_ms(r.get("result_wait", "1d")),
                "hard": set(r["hard_decline_codes"]) if "hard_decline_codes" in r else HARD_DECLINES_BUILTIN,
                "update_template": r.get("update_template", "update_payment_method"),
            }

    def stage_due_ms(self, due_date_ms, k):
        """Due time of stage k (1-based) for a due date at 00:00 UTC."""
        off = self.stages[k - 1]["offset_ms"]
        if off < 0:
            return due_date_ms + off
        return due_date_ms + max(off, self.grace_days * DAY_MS)


def load_policies(path, tenant="default"):
    with open(path) as f:
        doc = yaml.safe_load(f)
    t = doc["tenants"].get(tenant) or doc["tenants"]["default"]
    return {name: Policy(name, p) for name, p in t["policies"].items()}, t["default_policy"]


class Case:
    def __init__(self, inv, policy, now):
        self.inv = inv
        self.p = policy
        self.state = "open"
        self.stage = 0
        self.principal = inv["amount_minor"]
        self.fees = 0
        self.paid = 0
        self.timer = None  # (due_ms, kind, arg)
        self.retry_from = None
        self.retry_base = None
        self.retries_requested = 0
        self.failed_payment_id = None
        self.opened_at = now
        self.stopped = False  # below_minimum stopped the stages
        self.paused_from = None


class Oracle:
    """Feed it the clock points and the input events in the harness's order; read .expect."""

    def __init__(self, policies, default_policy, currency_default="EUR"):
        self.policies = policies
        self.default_policy = default_policy
        self.cases = {}
        self.held = collections.defaultdict(list)  # invoice -> [(topic, record)]
        self.seen_events = set()
        self.seen_payments = set()
        self.seen_failures = set()  # (payment_id, attempt)
        self.reminders = collections.defaultdict(dict)  # invoice -> {(stage, stage_name, channel): info}
        self.retries = collections.defaultdict(list)  # invoice -> [attempt, ...]
        self.audit = collections.defaultdict(collections.Counter)  # invoice -> kind -> count
        self.settled_at = {}  # invoice -> ms when it was resolved
        self.dead_letters = collections.Counter()  # error_code -> count
        self.dead_letter_ids = set()  # input event ids that must be dead-lettered
        self.notes = []

    # ---- helpers -------------------------------------------------------------------
    def _rec(self, inv_id, kind, n=1):
        self.audit[inv_id][kind] += n

    @staticmethod
    def _reaches(contact, channel):
        if channel in (contact.get("opted_out_channels") or []):
            return False
        if channel == "email":
            return bool(contact.get("email"))
        if channel == "sms":
            return bool(contact.get("phone"))
        return contact.get("address") is not None

    def _channels(self, c, channels, first_only=False):
        contact = c.inv["contact"]
        use = [ch for ch in channels if self._reaches(contact, ch)]
        if first_only:
            use = use[:1]
        if not use and not first_only:
            use = [ch for ch in c.p.channel_order if self._reaches(contact, ch)][:1]
        return use

    def _schedule_stage(self, c, k):
        if k > len(c.p.stages) or c.stopped:
            c.timer = None
        else:
            c.timer = (c.p.stage_due_ms(c.inv["due_ms"], k), "stage", k)

    def _emit(self, c, stage, stage_name, template, action, channel, now, due_at):
        key = (stage, stage_name, channel)
        inv_id = c.inv["invoice_id"]
        if key in self.reminders[inv_id]:
            self.notes.append("oracle: %s %s emitted twice by the model" % (inv_id, key))
        self.reminders[inv_id][key] = {
            "template": template, "outstanding": c.principal, "fee": c.fees, "total": c.principal + c.fees,
            "action": action, "emitted_at": now, "due_at": due_at,
        }

    def _resolve(self, c, now):
        c.state = "resolved"
        c.timer = None
        self._rec(c.inv["invoice_id"], "resolved")
        self.settled_at[c.inv["invoice_id"]] = now

    # ---- timers --------------------------------------------------------------------
    def fire_due(self, now):
        """Fires every timer due at or before now (repeatedly: a firing may schedule one due now)."""
        progress = True
        while progress:
            progress = False
            for c in self.cases.values():
                if c.timer and c.timer[0] <= now:
                    due, kind, arg = c.timer
                    c.timer = None
                    getattr(self, "_fire_" + kind)(c, now, arg)
                    progress = True

    def _fire_stage(self, c, now, k):
        p, inv_id = c.p, c.inv["invoice_id"]
        if c.state not in STAGE_STATES:
            return
        if c.principal < amount_for(p.min_amount, c.inv["currency"]):
            self._rec(inv_id, "below_minimum")
            c.timer = None
            c.stopped = True  # for good: retries ending later do not restart the stages
            return
        j = k
        if p.catch_up == "latest":
            while j < len(p.stages) and p.stage_due_ms(c.inv["due_ms"], j + 1) <= now:
                j += 1
            for skipped in range(k, j):
                self._rec(inv_id, "stage_skipped")
        st = p.stages[j - 1]
        pre_due = st["offset_ms"] < 0
        if pre_due and c.state in ("overdue", "final_notice"):
            self._rec(inv_id, "stage_skipped")
            c.stage = j  # passed; the next stage is scheduled
            self._schedule_stage(c, j + 1)
            return
        if st["action"] == "final_notice" or c.state == "final_notice":
            c.state = "final_notice"
        elif pre_due:
            c.state = "pre_due_reminded"
        else:
            c.state = "overdue"
        chans = self._channels(c, st["channels"])
        if chans:
            fee = amount_for(st["fee_fixed"], c.inv["currency"]) + round_half_up_div(
                c.principal * st["fee_percent_e4"], 1000000)
            c.fees += fee
            for ch in chans:
                self._emit(c, j, st["name"], st["template"], st["action"], ch, now,
                           p.stage_due_ms(c.inv["due_ms"], j))
            self._rec(inv_id, "reminder_emitted")
        else:
            self._rec(inv_id, "reminder_undeliverable")
        if st["action"]:
            self._rec(inv_id, st["action"])
        c.stage = j
        if st["action"] == "collections_handover":
            c.state = "handed_over"
            c.timer = None
            return
        self._schedule_stage(c, j + 1)
        if p.catch_up == "each" and c.timer and c.timer[0] < now + DAY_MS:
            c.timer = (now + DAY_MS, "stage", j + 1)  # at most one stage per day

    def _fire_retry(self, c, now, k):
        r = c.p.retries
        inv_id = c.inv["invoice_id"]
        c.retries_requested = k
        self.retries[inv_id].append({"attempt": k, "max_attempts": len(r["schedule"]),
                                     "amount": c.principal + c.fees, "payment_id": c.failed_payment_id})
        self._rec(inv_id, "retry_requested")
        if k < len(r["schedule"]):
            due = c.retry_base + r["schedule"][k]
            if due <= now:
                due = now + (r["schedule"][k] - r["schedule"][k - 1])
            c.timer = (due, "retry", k + 1)
        else:
            c.timer = (now + r["result_wait"], "retry_result", None)

    def _fire_resume(self, c, now, _):
        self._resume(c, now)

    def _resume(self, c, now):
        self._rec(c.inv["invoice_id"], "resumed")
        c.state = c.paused_from
        c.paused_from = None
        self._schedule_stage(c, c.stage + 1)

    def _fire_retry_result(self, c, now, _):
        self._exhaust(c, now)

    def _exhaust(self, c, now):
        self._rec(c.inv["invoice_id"], "retries_exhausted")
        c.state = "final_notice" if c.retry_from == "final_notice" else "overdue"
        self._schedule_stage(c, c.stage + 1)
        self.fire_due_case(c, now)

    def fire_due_case(self, c, now):
        while c.timer and c.timer[0] <= now:
            due, kind, arg = c.timer
            c.timer = None
            getattr(self, "_fire_" + kind)(c, now, arg)

    # ---- inputs --------------------------------------------------------------------
    def input(self, topic, rec, now):
        if rec["event_id"] in self.seen_events:
            return
        self.seen_events.add(rec["event_id"])
        inv_id = rec["invoice_id"]
        if topic == "invoice-issued":
            self._invoice(rec, now)
        elif topic == "payment-received":
            if rec["payment_id"] in self.seen_payments:
                return
            self.seen_payments.add(rec["payment_id"])
            if inv_id not in self.cases:
                self._rec(inv_id, "payment_held")
                self.held[inv_id].append((topic, rec))
                return
            self._payment(self.cases[inv_id], rec, now)
        elif topic == "payment-failed":
            key = (rec["payment_id"], rec.get("attempt", 1))
            if key in self.seen_failures:
                return
            self.seen_failures.add(key)
            if inv_id not in self.cases:
                self._rec(inv_id, "event_held")
                self.held[inv_id].append((topic, rec))
                return
            self._failed(self.cases[inv_id], rec, now)
        elif topic == "case-commands":
            if inv_id not in self.cases:
                raise ValueError("the workload sends commands only for known invoices")
            self._command(self.cases[inv_id], rec, now)
        else:
            raise ValueError("the oracle does not model topic %s" % topic)
        if inv_id in self.cases:
            self.fire_due_case(self.cases[inv_id], now)

    def _invoice(self, rec, now):
        inv_id = rec["invoice_id"]
        if inv_id in self.cases:
            return  # the same invoice again: ignored
        pol = self.policies[rec.get("policy") or self.default_policy]
        inv = dict(rec)
        inv["due_ms"] = rec["due_ms"]
        c = Case(inv, pol, now)
        self.cases[inv_id] = c
        self._rec(inv_id, "opened")
        self._schedule_stage(c, 1)
        for topic, held in self.held.pop(inv_id, []):
            if topic == "payment-received":
                self._payment(c, held, now)
            else:
                self._failed(c, held, now)

    def _dead_letter(self, rec, code):
        """A refused record is rolled back alone, its event id not recorded as processed: a
        copy of it is judged again (and may be refused again: one dead letter per record)."""
        self.dead_letters[code] += 1
        self.dead_letter_ids.add(rec["event_id"])
        self.seen_events.discard(rec["event_id"])

    def _command(self, c, rec, now):
        """pause, resume, credit and cancel (case-states.md, Commands); the workload pauses
        only cases of policies without retries."""
        cmd, inv_id = rec["command"], c.inv["invoice_id"]
        if cmd == "credit":
            self._payment(c, rec, now, credit=True)
        elif cmd == "pause":
            if c.state not in ACTIVE + ("paused",):
                self._dead_letter(rec, "invalid_state")
                return
            self._rec(inv_id, "paused")
            if c.state != "paused":
                c.paused_from = c.state
                c.state = "paused"
            c.timer = (rec["until_ms"], "resume", None) if rec.get("until_ms") else None
        elif cmd == "resume":
            if c.state != "paused":
                self._dead_letter(rec, "invalid_state")
                return
            c.timer = None
            self._resume(c, now)
        elif cmd == "cancel":
            if c.state not in ACTIVE + ("paused",):
                self._dead_letter(rec, "invalid_state")
                return
            self._rec(inv_id, "cancelled")
            c.state = "resolved"
            c.timer = None
            self.settled_at[inv_id] = now
        else:
            raise ValueError("the oracle does not model command %s" % cmd)

    def _payment(self, c, rec, now, credit=False):
        amount = rec["amount_minor"]
        to_fees = min(amount, c.fees)
        rest = amount - to_fees
        to_principal = min(rest, c.principal)
        c.fees -= to_fees
        c.principal -= to_principal
        c.paid += amount
        self._rec(c.inv["invoice_id"], "credit_applied" if credit else "payment_applied")
        if c.state != "resolved" and c.principal + c.fees <= amount_for(c.p.tolerance, c.inv["currency"]):
            self._resolve(c, now)

    def _failed(self, c, rec, now):
        inv_id, r = c.inv["invoice_id"], c.p.retries
        if c.state in ("resolved", "written_off", "handed_over", "paused") or r is None:
            self._rec(inv_id, "payment_failed")
            return
        if rec["decline_code"] in r["hard"]:
            ch = self._channels(c, c.p.channel_order, first_only=True)
            for x in ch:
                self._emit(c, c.stage, "update_payment_method", r["update_template"], None, x, now, now)
            self._rec(inv_id, "hard_decline")
            if c.state == "retrying":
                self._exhaust(c, now)
            return
        if c.state != "retrying":
            self._rec(inv_id, "retrying")
            c.retry_from = c.state
            c.state = "retrying"
            c.retry_base = now
            c.retries_requested = 0
            c.failed_payment_id = rec["payment_id"]
            c.timer = (now + r["schedule"][0], "retry", 1)
            return
        self._rec(inv_id, "retry_failed")
        if c.retries_requested >= len(r["schedule"]):
            c.timer = None
            self._exhaust(c, now)

    # ---- result --------------------------------------------------------------------
    def final(self):
        out = {}
        for inv_id, c in self.cases.items():
            out[inv_id] = {"state": c.state, "stage": c.stage, "outstanding_minor": c.principal,
                           "fee_minor": c.fees, "next_action_at": c.timer[0] if c.timer else None}
        return out


def run(policies, default_policy, workload):
    """Plays the workload (workload.py) through the model; returns the Oracle."""
    o = Oracle(policies, default_policy)
    times = workload["times"]  # T_0 .. T_K
    by_step = collections.defaultdict(list)
    for ev in workload["events"]:
        by_step[ev["step"]].append(ev)
    o.fire_due(times[0])
    for s in range(1, len(times)):
        for ev in by_step.get(s, []):
            o.input(ev["topic"], ev["model"], times[s - 1])
        o.fire_due(times[s - 1])
        o.fire_due(times[s])
    return o


def timer_diffs(policies, cases, timers):
    """The invariant every scenario ends with (issue 22): no active case without a pending
    timer, and the Redis index agrees with PostgreSQL. `cases`: dicts with case_id,
    invoice_id, state, stage, policy, next_action_at (ms or None) and below_minimum (the
    case has that audit row); `timers`: case id -> due ms of every member the index lists.
    A case waits on a timer in the ACTIVE states, except one whose stages have all fired or
    were stopped below the minimum (not in retrying: a retry or its result is always
    pending); a paused case only with an `until`; terminal cases never. Returns (kind, msg)."""
    out = []
    for c in cases:
        cid, inv, nxt = c["case_id"], c["invoice_id"], c["next_action_at"]
        got = timers.get(cid)
        if nxt is not None:
            if got is None:
                out.append(("timer missing", "%s %s: next action at %d in PostgreSQL, no timer in Redis"
                            % (inv, c["state"], nxt)))
            elif got != nxt:
                out.append(("timer wrong", "%s %s: next action at %d in PostgreSQL, timer at %d in Redis"
                            % (inv, c["state"], nxt, got)))
            continue
        if got is not None:
            out.append(("timer stale", "%s %s: no next action in PostgreSQL, timer at %d in Redis"
                        % (inv, c["state"], got)))
        if c["state"] not in ACTIVE:
            continue
        p = policies.get(c["policy"])
        done = p is not None and c["state"] != "retrying" and (c["stage"] >= len(p.stages) or c["below_minimum"])
        if not done:
            out.append(("active without timer", "%s %s at stage %d of %s: no pending timer"
                        % (inv, c["state"], c["stage"], c["policy"])))
    return out
