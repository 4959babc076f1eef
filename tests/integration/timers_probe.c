/* dn-timers-probe: drives dn_timers directly for test_timer_buckets.sh, one command per
 * stdin line, one answer line per command (or none):
 *   add MEMBER DUE_MS | remove MEMBER     queued; sent by `flush`
 *   flush                                 "ok"
 *   claim NOW_MS LEASE_MS MAX             the claimed members, sorted, space-separated
 *   stats                                 "PENDING EARLIEST" (earliest "-" when empty)
 *   due NOW_MS                            timers due at NOW_MS
 *   bucket MEMBER                         the member's bucket number
 *   clear                                 "ok"
 * Configured by DUNNING_REDIS_URL, DUNNING_TIMER_KEY and DUNNING_TIMER_BUCKETS. Exit 1 at
 * the first failure. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_log.h"
#include "dn_timers.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run(dn_timers_t *t, char *line)
{
    char *save = NULL, *cmd = strtok_r(line, " \t\n", &save);
    char *a = strtok_r(NULL, " \t\n", &save), *b = strtok_r(NULL, " \t\n", &save), *c = strtok_r(NULL, " \t\n", &save);
    if (!cmd)
        return 0;
    if (strcmp(cmd, "add") == 0 && b)
        return dn_timers_add(t, a, strtoll(b, NULL, 10));
    if (strcmp(cmd, "remove") == 0 && a)
        return dn_timers_remove(t, a);
    if (strcmp(cmd, "flush") == 0)
        return dn_timers_flush(t) < 0 ? -1 : (puts("ok"), 0);
    if (strcmp(cmd, "clear") == 0)
        return dn_timers_clear(t) < 0 ? -1 : (puts("ok"), 0);
    if (strcmp(cmd, "bucket") == 0 && a)
        return printf("%u\n", dn_timers_bucket_of(t, a)), 0;
    if (strcmp(cmd, "claim") == 0 && c) {
        char **m = NULL;
        int n = dn_timers_claim_due(t, strtoll(a, NULL, 10), strtoll(b, NULL, 10), strtoul(c, NULL, 10), &m);
        if (n < 0)
            return -1;
        if (n > 0)
            qsort(m, (size_t)n, sizeof(*m), cmp_str);
        for (int i = 0; i < n; i++)
            printf("%s%s", i ? " " : "", m[i]);
        putchar('\n');
        dn_timers_free_members(m, n);
        return 0;
    }
    if (strcmp(cmd, "stats") == 0) {
        int64_t pending, earliest;
        if (dn_timers_stats(t, &pending, &earliest) < 0)
            return -1;
        if (earliest == INT64_MAX)
            printf("%" PRId64 " -\n", pending);
        else
            printf("%" PRId64 " %" PRId64 "\n", pending, earliest);
        return 0;
    }
    if (strcmp(cmd, "due") == 0 && a) {
        int64_t due;
        if (dn_timers_count_due(t, strtoll(a, NULL, 10), &due) < 0)
            return -1;
        printf("%" PRId64 "\n", due);
        return 0;
    }
    fprintf(stderr, "dn-timers-probe: bad command '%s'\n", cmd);
    return -1;
}

int main(void)
{
    const char *url = getenv("DUNNING_REDIS_URL"), *key = getenv("DUNNING_TIMER_KEY"),
               *buckets = getenv("DUNNING_TIMER_BUCKETS");
    char errstr[512], line[1024];
    dn_log_init("dn-timers-probe", "warn");
    dn_timers_t *t =
        dn_timers_new(url ? url : "redis://127.0.0.1:6379/0", key && *key ? key : "dunning:timers",
                      buckets ? (unsigned)atol(buckets) : DN_TIMERS_DEFAULT_BUCKETS, errstr, sizeof(errstr));
    if (!t) {
        fprintf(stderr, "dn-timers-probe: %s\n", errstr);
        return 1;
    }
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), stdin)) {
        rc = run(t, line);
        fflush(stdout);
    }
    if (rc < 0)
        fprintf(stderr, "dn-timers-probe: %s\n", dn_timers_errstr(t));
    dn_timers_destroy(t);
    return rc < 0 ? 1 : 0;
}
