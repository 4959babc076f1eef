/* dn-bench-load: the benchmark's load generator. Publishes framed Avro events with the
 * same encoders and producer (common/dn_avro, common/dn_kafka) the services use.
 *
 *   dn-bench-load invoices  --set S --count N [--due DATE] [--policy P]
 *   dn-bench-load payments  --set S --count N        (60% paid in full, 5% failed charges)
 *   dn-bench-load reminders --set S --count N --channel email|sms|letter
 *   dn-bench-load steady    --set S --rate R --seconds T --lead SECONDS
 *
 * Invoice i of set S: tenant bench-t<i % tenants>, customer c<(i * 7919) % customers>,
 * invoice S-<i>; its event id is derived from (S, i), so a rerun publishes duplicates, not
 * new invoices. `reminders` publishes ReminderDue records for the cases of invoices 0..N-1
 * of a set (the case id is derived as the engine derives it) so that a sender can be
 * measured alone. `steady` publishes invoices at R per second for T seconds, each under
 * policy p<k> whose only stage falls due `lead` seconds after publication (see
 * scripts/bench's generated policy), and pays 60% of them one second after issue.
 *
 * Progress goes to stderr; the last line on stdout is one JSON object with the count,
 * the seconds from the first send to the last acknowledgement and the rate. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "dn_uuid.h"

typedef struct opts {
    const char *mode, *set, *due, *policy, *channel;
    long count, start, tenants, customers, rate, seconds, lead;
} opts_t;

static dn_kafka_producer_t *producer;
static long sent;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

typedef struct ids {
    char tenant[32], customer[32], invoice[64], key[80], event_id[DN_UUID_STR_LEN], email[64], name[48];
} ids_t;

static void ids_for(const opts_t *o, long i, const char *what, ids_t *x)
{
    snprintf(x->tenant, sizeof(x->tenant), "bench-t%ld", i % o->tenants);
    long c = (i * 7919) % o->customers;
    snprintf(x->customer, sizeof(x->customer), "c%06ld", c);
    snprintf(x->invoice, sizeof(x->invoice), "%s-%08ld", o->set, i);
    snprintf(x->email, sizeof(x->email), "c%06ld@example.test", c);
    snprintf(x->name, sizeof(x->name), "Customer %06ld", c);
    dn_topic_key(x->tenant, x->customer, x->key, sizeof(x->key));
    char num[24];
    snprintf(num, sizeof(num), "%ld", i);
    const char *parts[] = {"bench", o->set, what, num};
    dn_uuid_derive(x->event_id, parts, 4);
}

static int publish(dn_topic_id_t topic, const char *key, char *buf, size_t len)
{
    int rc = buf ? dn_kafka_producer_send(producer, dn_topic_name(topic), key, strlen(key), buf, len) : -1;
    free(buf);
    if (rc == 0 && ++sent % 10000 == 0)
        dn_kafka_producer_poll(producer);
    return rc;
}

static dn_postal_address_t address = {
    .line1 = "Hauptstr. 1", .postal_code = "10115", .city = "Berlin", .country = "DE"};

static void contact_for(const ids_t *x, dn_customer_contact_t *ct)
{
    *ct = (dn_customer_contact_t){.name = (char *)x->name,
                                  .email = (char *)x->email,
                                  .phone = "+4917612345678",
                                  .address = &address,
                                  .locale = "en",
                                  .time_zone = "UTC"};
}

static int invoice(const opts_t *o, long i, int32_t due, const char *policy)
{
    ids_t x;
    ids_for(o, i, "invoice", &x);
    char number[80];
    snprintf(number, sizeof(number), "N-%s", x.invoice);
    dn_invoice_issued_t v = {.event_id = x.event_id,
                             .occurred_at = dn_clock_now_ms(),
                             .tenant_id = x.tenant,
                             .customer_id = x.customer,
                             .invoice_id = x.invoice,
                             .invoice_number = number,
                             .amount_minor = 10000 + i % 5000,
                             .currency = "EUR",
                             .issue_date = due - 14,
                             .due_date = due,
                             .policy = (char *)policy,
                             .payment_link = "https://pay.example.test/i"};
    contact_for(&x, &v.contact);
    char *buf = NULL;
    size_t len = 0;
    dn_invoice_issued_encode(&v, &buf, &len);
    return publish(DN_TOPIC_INVOICE_ISSUED, x.key, buf, len);
}

static int payment(const opts_t *o, long i)
{
    ids_t x;
    char *buf = NULL;
    size_t len = 0;
    if (i % 100 < 60) {
        ids_for(o, i, "payment", &x);
        char pid[80];
        snprintf(pid, sizeof(pid), "p-%s", x.invoice);
        dn_payment_received_t v = {.event_id = x.event_id,
                                   .occurred_at = dn_clock_now_ms(),
                                   .tenant_id = x.tenant,
                                   .customer_id = x.customer,
                                   .payment_id = pid,
                                   .invoice_id = x.invoice,
                                   .amount_minor = 10000 + i % 5000,
                                   .currency = "EUR",
                                   .method = "bank_transfer"};
        dn_payment_received_encode(&v, &buf, &len);
        return publish(DN_TOPIC_PAYMENT_RECEIVED, x.key, buf, len);
    }
    if (i % 100 < 65) {
        ids_for(o, i, "failed", &x);
        char pid[80];
        snprintf(pid, sizeof(pid), "f-%s", x.invoice);
        dn_payment_failed_t v = {.event_id = x.event_id,
                                 .occurred_at = dn_clock_now_ms(),
                                 .tenant_id = x.tenant,
                                 .customer_id = x.customer,
                                 .payment_id = pid,
                                 .invoice_id = x.invoice,
                                 .amount_minor = 10000 + i % 5000,
                                 .currency = "EUR",
                                 .decline_code = "insufficient_funds",
                                 .attempt = 1};
        dn_payment_failed_encode(&v, &buf, &len);
        return publish(DN_TOPIC_PAYMENT_FAILED, x.key, buf, len);
    }
    return 0;
}

static int reminder(const opts_t *o, long i, int32_t due, dn_channel_t ch, dn_topic_id_t topic)
{
    ids_t x;
    ids_for(o, i, o->channel, &x);
    char case_id[DN_UUID_STR_LEN], number[80];
    const char *parts[] = {"case", x.tenant, x.invoice};
    dn_uuid_derive(case_id, parts, 3);
    snprintf(number, sizeof(number), "N-%s", x.invoice);
    int64_t now = dn_clock_now_ms();
    dn_reminder_due_t v = {.event_id = x.event_id,
                           .occurred_at = now,
                           .tenant_id = x.tenant,
                           .customer_id = x.customer,
                           .case_id = case_id,
                           .invoice_id = x.invoice,
                           .invoice_number = number,
                           .channel = ch,
                           .stage = 1,
                           .stage_name = "first_reminder",
                           .template_key = "first_reminder",
                           .policy = "bench",
                           .issue_date = due - 14,
                           .due_date = due,
                           .days_overdue = 3,
                           .amount_minor = 10000 + i % 5000,
                           .outstanding_minor = 10000 + i % 5000,
                           .total_due_minor = 10000 + i % 5000,
                           .currency = "EUR",
                           .payment_link = "https://pay.example.test/i",
                           .due_at = now};
    contact_for(&x, &v.contact);
    char *buf = NULL;
    size_t len = 0;
    dn_reminder_due_encode(&v, &buf, &len);
    return publish(topic, x.key, buf, len);
}

static void progress(const char *what, long done, long total, double t0)
{
    double dt = mono_s() - t0;
    fprintf(stderr, "\r  %s: %ld/%ld published (%.0f/s)   ", what, done, total, dt > 0 ? (double)done / dt : 0.0);
}

static void usage(void)
{
    fprintf(stderr, "usage: dn-bench-load invoices|payments|reminders|steady --set NAME [--count N] [--start K]\n"
                    "         [--due YYYY-MM-DD] [--policy NAME] [--channel email|sms|letter] [--tenants N]\n"
                    "         [--customers N] [--rate R --seconds T --lead S]\n");
}

int main(int argc, char **argv)
{
    opts_t o = {.set = "bench",
                .due = "2026-03-10",
                .channel = "email",
                .tenants = 10,
                .customers = 200000,
                .rate = 1000,
                .seconds = 10,
                .lead = 3};
    static const struct option lopts[] = {{"set", 1, 0, 's'},     {"count", 1, 0, 'n'},     {"start", 1, 0, 'k'},
                                          {"due", 1, 0, 'd'},     {"policy", 1, 0, 'p'},    {"channel", 1, 0, 'c'},
                                          {"tenants", 1, 0, 't'}, {"customers", 1, 0, 'u'}, {"rate", 1, 0, 'r'},
                                          {"seconds", 1, 0, 'T'}, {"lead", 1, 0, 'l'},      {0, 0, 0, 0}};
    if (argc < 2) {
        usage();
        return 2;
    }
    o.mode = argv[1];
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        switch (ch) {
        case 's':
            o.set = optarg;
            break;
        case 'n':
            o.count = atol(optarg);
            break;
        case 'k':
            o.start = atol(optarg);
            break;
        case 'd':
            o.due = optarg;
            break;
        case 'p':
            o.policy = optarg;
            break;
        case 'c':
            o.channel = optarg;
            break;
        case 't':
            o.tenants = atol(optarg);
            break;
        case 'u':
            o.customers = atol(optarg);
            break;
        case 'r':
            o.rate = atol(optarg);
            break;
        case 'T':
            o.seconds = atol(optarg);
            break;
        case 'l':
            o.lead = atol(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (o.tenants < 1 || o.customers < 1 || o.rate < 1) {
        usage();
        return 2;
    }
    char errstr[512];
    dn_log_init("dn-bench-load", getenv("DUNNING_LOG_LEVEL") ? getenv("DUNNING_LOG_LEVEL") : "warn");
    const char *clock_file = getenv("DUNNING_CLOCK_FILE");
    if (clock_file && *clock_file && dn_clock_init_file(clock_file) < 0) {
        fprintf(stderr, "dn-bench-load: cannot read the clock file %s\n", clock_file);
        return 2;
    }
    dn_topics_init(getenv("DUNNING_TOPIC_PREFIX") ? getenv("DUNNING_TOPIC_PREFIX") : "");
    /* Big batches: the generator must not be what the benchmark measures. */
    setenv("DUNNING_RDKAFKA_PRODUCER_linger_ms", "20", 0);
    setenv("DUNNING_RDKAFKA_PRODUCER_batch_num_messages", "10000", 0);
    setenv("DUNNING_RDKAFKA_PRODUCER_queue_buffering_max_messages", "500000", 0);
    const char *brokers = getenv("DUNNING_KAFKA_BROKERS");
    int32_t due;
    if (dn_avro_init(errstr, sizeof(errstr)) < 0 || dn_date_parse(o.due, &due) < 0 || !brokers ||
        !(producer = dn_kafka_producer_new(brokers, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dn-bench-load: cannot start: %s\n", !brokers ? "DUNNING_KAFKA_BROKERS is not set" : errstr);
        return 1;
    }
    double t0 = mono_s();
    int rc = 0;
    if (strcmp(o.mode, "invoices") == 0 || strcmp(o.mode, "payments") == 0) {
        int inv = o.mode[0] == 'i';
        for (long i = o.start; i < o.start + o.count && rc == 0; i++) {
            rc = inv ? invoice(&o, i, due, o.policy) : payment(&o, i);
            if ((i + 1) % 50000 == 0)
                progress(o.mode, i + 1 - o.start, o.count, t0);
        }
    } else if (strcmp(o.mode, "reminders") == 0) {
        dn_channel_t chn = strcmp(o.channel, "sms") == 0      ? DN_CHANNEL_SMS
                           : strcmp(o.channel, "letter") == 0 ? DN_CHANNEL_LETTER
                                                              : DN_CHANNEL_EMAIL;
        dn_topic_id_t topic = chn == DN_CHANNEL_SMS      ? DN_TOPIC_REMINDER_DUE_SMS
                              : chn == DN_CHANNEL_LETTER ? DN_TOPIC_REMINDER_DUE_LETTER
                                                         : DN_TOPIC_REMINDER_DUE_EMAIL;
        for (long i = o.start; i < o.start + o.count && rc == 0; i++)
            rc = reminder(&o, i, due, chn, topic);
    } else if (strcmp(o.mode, "steady") == 0) {
        /* Invoice k is due (its stage falls due) `lead` seconds after it is published: it
         * names policy p<s>, whose stage offset is s seconds after the due date, where s is
         * the simulated second of the day (the clock runs at speed 1 from the due date). */
        int64_t day0 = dn_date_to_ms(due);
        long total = o.rate * o.seconds, paid_upto = 0;
        for (long k = 0; k < total && rc == 0; k++) {
            double target = t0 + (double)k / (double)o.rate;
            sleep_s(target - mono_s());
            char policy[24];
            long s = (long)((dn_clock_now_ms() - day0) / 1000) + o.lead;
            snprintf(policy, sizeof(policy), "p%ld", s);
            rc = invoice(&o, o.start + k, due, policy);
            dn_kafka_producer_poll(producer);
            /* Payments trail their invoices by a second. */
            while (rc == 0 && paid_upto < k && mono_s() - (t0 + (double)paid_upto / (double)o.rate) >= 1.0)
                rc = payment(&o, o.start + paid_upto++);
            if (k % 1000 == 0)
                progress("steady", k, total, t0);
        }
        while (rc == 0 && paid_upto < total) {
            sleep_s(t0 + (double)paid_upto / (double)o.rate + 1.0 - mono_s());
            rc = payment(&o, o.start + paid_upto++);
        }
    } else {
        usage();
        return 2;
    }
    if (rc == 0 && dn_kafka_producer_flush(producer, 120000) < 0)
        rc = -1;
    double dt = mono_s() - t0;
    fprintf(stderr, "\r%60s\r", "");
    printf("{\"mode\":\"%s\",\"published\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"ok\":%s}\n", o.mode, sent, dt,
           dt > 0 ? (double)sent / dt : 0.0, rc == 0 ? "true" : "false");
    dn_kafka_producer_destroy(producer, 10000);
    return rc == 0 ? 0 : 1;
}
