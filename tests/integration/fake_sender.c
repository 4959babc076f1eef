/* dn-fake-sender: the sender core (common/dn_sender.h) with a scripted driver, so that
 * test_sender_core.sh can check what the core does, channel by channel the same: the claim,
 * the last-mile check, retries, the pause while the provider is down, deferrals, outcomes.
 *
 * It is the e-mail channel to the core (its topic, names and settings), but sends nothing:
 * what happens to a reminder is chosen by the prefix of its invoice id:
 *   OK-...      delivered
 *   PERM-...    refused for good (failed_permanent)
 *   FLAKY2-...  transient on the first two sends of the reminder, then delivered
 *   DOWN-...    transient while the file $DUNNING_FAKE_DOWN exists (the provider is down)
 *   QUIET-...   deferred until its due_at + 1 day (quiet hours), then delivered
 *   NOADDR-...  decided at prepare: failed_permanent "no address", never sent
 * Every send appends "<invoice_id> <attempt> <ok|transient|permanent>" to $DUNNING_FAKE_LOG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_clock.h"
#include "dn_sender.h"

typedef struct fake {
    const char *log, *down;
} fake_t;

typedef struct fake_job {
    int sends;
} fake_job_t;

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int fake_setup(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    fake_t *f = ctx;
    f->log = getenv("DUNNING_FAKE_LOG");
    f->down = getenv("DUNNING_FAKE_DOWN");
    if (!f->log || !f->down) {
        snprintf(err, errsz, "DUNNING_FAKE_LOG and DUNNING_FAKE_DOWN must be set");
        return -1;
    }
    return 0;
}

static int fake_prepare(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n)
{
    if (!starts(job->rd->invoice_id, "NOADDR-"))
        return 0;
    *outcome = DN_OUTCOME_FAILED_PERMANENT;
    snprintf(why, n, "no address");
    return 1;
}

static int fake_defer(void *ctx, dn_sender_job_t *job, int64_t *until, char *why, size_t n)
{
    int64_t end = job->rd->due_at + 86400000;
    if (!starts(job->rd->invoice_id, "QUIET-") || dn_clock_now_ms() >= end)
        return 0;
    *until = end;
    snprintf(why, n, "quiet hours until due + 1 day");
    return 1;
}

/* The sends of this reminder so far, from the log (the job is new after a restart). */
static int sends_so_far(const fake_t *f, const char *invoice)
{
    FILE *in = fopen(f->log, "r");
    char line[512];
    int sends = 0;
    size_t len = strlen(invoice);
    while (in && fgets(line, sizeof(line), in))
        sends += strncmp(line, invoice, len) == 0 && line[len] == ' ';
    if (in)
        fclose(in);
    return sends;
}

static dn_send_rc_t fake_send(void *ctx, dn_sender_job_t *job, char *why, size_t n)
{
    fake_t *f = ctx;
    const char *inv = job->rd->invoice_id;
    dn_send_rc_t rc = DN_SEND_OK;
    if (starts(inv, "PERM-"))
        rc = DN_SEND_PERMANENT;
    else if (starts(inv, "FLAKY2-") && sends_so_far(f, inv) < 2)
        rc = DN_SEND_TRANSIENT;
    else if (starts(inv, "DOWN-") && access(f->down, F_OK) == 0)
        rc = DN_SEND_TRANSIENT;
    static const char *const names[] = {"ok", "transient", "permanent"};
    FILE *out = fopen(f->log, "a");
    if (out) {
        fprintf(out, "%s %d %s\n", inv, job->attempt, names[rc]);
        fclose(out);
    }
    dn_sender_reached(rc != DN_SEND_TRANSIENT);
    if (rc != DN_SEND_OK)
        snprintf(why, n, "fake %s", names[rc]);
    return rc;
}

static const dn_sender_driver_t fake_driver = {
    .channel = DN_CHANNEL_EMAIL,
    .ctx_size = sizeof(fake_t),
    .process = {.setup = fake_setup},
    .steps = {.prepare = fake_prepare, .defer = fake_defer, .send = fake_send},
    .job = {.size = sizeof(fake_job_t)},
};

int main(int argc, char **argv)
{
    return dn_sender_main(&fake_driver, argc, argv);
}
