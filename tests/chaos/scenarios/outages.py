"""The delivery channels unavailable for longer than the senders' retry budget, then back:
just before the clock moves to the step with the most reminders on all three channels
(ctx.set_clock is wrapped by setup), the letter spool folder is replaced by a plain file
(writes fail with ENOTDIR) and Kannel and the SMTP server are stopped (`scripts/stack
kannel stop`, `smtp stop`), so that every reminder of that step meets the outage. It is
held until every channel with work at that step has spent its in-process retries and
recorded 'failed_transient' (so it outlasted the budget), then everything comes back on
the same ports and path. Afterwards every reminder must be delivered exactly once: one
mail per Message-ID, one SMS, one letter; a 'failed_transient' outcome before it is fine."""

import os
import time

from faultlib import Faults, expected_load

DESCRIPTION = "SMTP, Kannel and the spool folder down longer than the retry budget, then back"
CHANNELS = ("email", "sms", "letter")
_f = None


def setup(ctx):
    global _f
    _f = Faults(ctx, "outages")
    # Bound the senders' pause between rounds once the budget is spent (default 5 min),
    # so that they resume within seconds of the outage's end.
    for var in ("DUNNING_SMTP_PAUSE_MAX", "DUNNING_SMS_PAUSE_MAX", "DUNNING_LETTER_PAUSE_MAX"):
        ctx.extra_env[var] = "3s"
    _f.spool = ctx.base_env["DUNNING_LETTER_SPOOL_DIR"]
    load = expected_load(ctx)
    n = len(ctx.workload["times"]) - 1
    _f.step = min(range(1, n + 1), key=lambda i: (-sum(1 for c in CHANNELS if load[i][c]), -sum(load[i].values()), i))
    _f.channels = [c for c in CHANNELS if load[_f.step][c]]
    _f.log("outage at step %d, where the oracle expects %s" % (_f.step, dict(load[_f.step])))
    at = ctx.workload["times"][_f.step]
    orig = ctx.set_clock

    def set_clock(ms):
        if ms == at:
            _f.log("smtp, kannel and the spool folder down: on")
            _f.t_on = time.time()
            _on(ctx)
        orig(ms)

    ctx.set_clock = set_clock


def _spool_away():
    os.rename(_f.spool, _f.spool + ".away")
    with open(_f.spool, "w") as f:
        f.write("the spool folder is away (chaos scenario outages)\n")


def _spool_back():
    if os.path.isfile(_f.spool):
        os.unlink(_f.spool)
    if os.path.isdir(_f.spool + ".away"):
        os.rename(_f.spool + ".away", _f.spool)


def _on(ctx):
    _spool_away()
    ctx.stack("kannel", "stop")
    ctx.stack("smtp", "stop")


def _off(ctx):
    errors = []
    for action in (lambda: ctx.stack("smtp", "start"), lambda: ctx.stack("kannel", "start"), _spool_back):
        try:
            action()
        except Exception as e:  # noqa: BLE001 - bring back everything, then report
            errors.append(str(e))
    if errors:
        raise RuntimeError("bringing the channels back failed: %s" % "; ".join(errors))


def _budget_spent(ctx):
    """Every channel with work at this step recorded a failed_transient outcome."""
    seen = set(ctx.psql("SELECT DISTINCT channel FROM deliveries WHERE tenant_id = '%s' "
                        "AND status = 'failed_transient'" % ctx.tenant).split())
    _f.spent |= seen
    return set(_f.channels) <= _f.spent


def at_step(ctx, i, n):
    if i != _f.step:
        return
    _f.spent = set()
    try:
        ctx.wait(60, "every channel (%s) spent its retry budget" % ", ".join(_f.channels), lambda: _budget_spent(ctx))
    finally:
        _off(ctx)
        _f.log("smtp, kannel and the spool folder down: off after %.1fs" % (time.time() - _f.t_on))
    _f.injected.append("smtp, kannel and the spool folder down")
    _f.log("retry budget spent on: %s" % ", ".join(sorted(_f.spent)))


def teardown(ctx):
    _spool_back()
    ctx.stack("smtp", "start")
    ctx.stack("kannel", "start")
    _f.finish(1)
    if not _f.channels:
        raise RuntimeError("outages: no step with reminders to deliver (workload too small?)")
