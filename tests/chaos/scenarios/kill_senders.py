"""SIGKILL of each sender at random moments, mid-delivery included (right after the clock
moved, while the step's reminders are being sent)."""

import time

DESCRIPTION = "SIGKILL of sender-email, sender-sms and sender-letter at random moments, mid-delivery, restarted"

SENDERS = ("sender-email", "sender-sms", "sender-letter")


def setup(ctx):
    ctx.extra_env["DUNNING_BATCH_MAX"] = "5"
    # A kill between the provider's acceptance and the outcome's COMMIT resends with the same
    # Message-ID / letter file name (docs/senders.md, "Crash window"): counted, not a failure.
    ctx.allow_resend = True
    n = len(ctx.workload["times"]) - 1
    steps = ctx.rng.sample(range(1, n + 1), max(2, n // 6))
    ctx.kill_plan = {s: ctx.rng.sample(SENDERS, ctx.rng.randint(1, 3)) for s in steps}
    ctx.log("sender kills planned at steps %s" % sorted(ctx.kill_plan.items()))


def at_step(ctx, i, n):
    for name in ctx.kill_plan.get(i, []):
        time.sleep(ctx.rng.uniform(0, 0.25))
        ctx.kill(name, "KILL")
        ctx.log("step %d: %s SIGKILLed" % (i, name))
    for name in ctx.kill_plan.get(i, []):
        ctx.start(name)
