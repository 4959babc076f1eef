/* dunningctl customer erase TENANT CUSTOMER [--dry-run] [--actor NAME]: GDPR erasure of one
 * customer's contact data (docs/privacy.md), in one transaction, idempotent.
 *
 *   invoices      contact (jsonb) and source (the InvoiceIssued as received) lose name,
 *                 e-mail, phone and postal address: the name becomes "erased", the rest null;
 *                 locale, time zone and opt-outs stay (they identify no one and keep the
 *                 case's formatting);
 *   outbox        ReminderDue records not yet relayed get the same blank contact, and dead
 *                 letters of the customer lose their payload (the original bytes);
 *   deliveries    every reminder emitted for the customer that no sender finished yet is
 *                 marked suppressed ("contact data erased"), so a ReminderDue already on its
 *                 topic is skipped by the sender's claim; error texts lose the contact values;
 *   sent_messages the texts the e-mail and SMS senders sent (they name the customer): deleted;
 *   audit         kept, with the contact values cut out of every text in its details; one
 *                 new row, kind contact_erased, says what was done (counts, actor);
 *   preferences   the customer's contact preferences (the corrected e-mail among them) and
 *                 consent history are deleted (sql/023_contact_preferences.sql).
 * The customer id stays (docs/privacy.md says why). Open cases stay open: their next
 * reminders find no channel that reaches the customer and are recorded undeliverable.
 * A second run finds nothing left and writes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_pg.h"
#include "dn_topics.h"

#define ERASED_NAME "erased"
#define MAX_SECRETS 256
#define MIN_SECRET  3 /* shorter values are not cut out of texts (they identify no one) */

typedef struct erase_run {
    dn_pg_t *pg;
    const char *tenant, *customer;
    char key[512];
    char *secrets[MAX_SECRETS];
    size_t nsecrets;
    long invoices, outbox, suppressed, audit_rows, deliveries, behaviour, portal, notes, prefs, sent;
    char err[1024];
} erase_run_t;

static void add_secret(erase_run_t *x, const char *s)
{
    if (!s || strlen(s) < MIN_SECRET || x->nsecrets == MAX_SECRETS)
        return;
    for (size_t i = 0; i < x->nsecrets; i++)
        if (strcmp(x->secrets[i], s) == 0)
            return;
    x->secrets[x->nsecrets++] = strdup(s);
}

static int contact_erased(const dn_customer_contact_t *c)
{
    return strcmp(c->name, ERASED_NAME) == 0 && !c->email && !c->phone && !c->address;
}

/* Remembers the contact's values (to cut them out of texts) and blanks them. */
static void blank_contact(erase_run_t *x, dn_customer_contact_t *c)
{
    add_secret(x, c->name);
    add_secret(x, c->email);
    add_secret(x, c->phone);
    if (c->address) {
        add_secret(x, c->address->line1);
        add_secret(x, c->address->line2);
        add_secret(x, c->address->region);
        dn_record_free(&dn_postal_address_desc, c->address);
        free(c->address);
        c->address = NULL;
    }
    free(c->name);
    free(c->email);
    free(c->phone);
    c->name = strdup(ERASED_NAME);
    c->email = c->phone = NULL;
}

/* s with every secret replaced by "[erased]"; NULL if nothing matched (caller frees). */
static char *scrub_text(const erase_run_t *x, const char *s)
{
    char *cur = NULL;
    for (size_t i = 0; i < x->nsecrets; i++) {
        const char *src = cur ? cur : s, *hit = strstr(src, x->secrets[i]);
        if (!hit)
            continue;
        size_t n = strlen(x->secrets[i]), cap = strlen(src) + 16, len = 0;
        char *out = malloc(cap);
        for (const char *p = src; out;) {
            const char *h = strstr(p, x->secrets[i]);
            size_t chunk = h ? (size_t)(h - p) : strlen(p);
            if (len + chunk + 9 > cap) {
                char *bigger = realloc(out, cap = 2 * (len + chunk + 9));
                if (!bigger) {
                    free(out);
                    out = NULL;
                    break;
                }
                out = bigger;
            }
            memcpy(out + len, p, chunk);
            len += chunk;
            if (!h)
                break;
            memcpy(out + len, "[erased]", 8);
            len += 8;
            p = h + n;
        }
        if (out)
            out[len] = '\0';
        free(cur);
        cur = out;
    }
    return cur;
}

/* Scrubs every string value (not the keys) of a JSON tree in place. 1 if anything changed. */
static int scrub_json(const erase_run_t *x, json_t *j)
{
    int changed = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            if (json_is_string(v)) {
                char *s = scrub_text(x, json_string_value(v));
                if (s) {
                    json_object_set_new(j, k, json_string(s));
                    changed = 1;
                }
                free(s);
            } else {
                changed |= scrub_json(x, v);
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            if (json_is_string(v)) {
                char *s = scrub_text(x, json_string_value(v));
                if (s) {
                    json_array_set_new(j, i, json_string(s));
                    changed = 1;
                }
                free(s);
            } else {
                changed |= scrub_json(x, v);
            }
        }
    }
    return changed;
}

static int fail_pg(erase_run_t *x, const char *what)
{
    snprintf(x->err, sizeof(x->err), "%s: %s", what, dn_pg_errstr(x->pg));
    return -1;
}

/* 1. The invoices: contact and source. */
static int erase_invoices(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    int fmts[] = {0, 0};
    PGresult *r = dn_pg_query_bin(x->pg,
                                  "SELECT invoice_id, source FROM invoices WHERE tenant_id = $1 AND customer_id = $2 "
                                  "ORDER BY invoice_id FOR UPDATE",
                                  2, p, NULL, fmts);
    if (!r)
        return fail_pg(x, "invoices");
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        size_t srclen;
        unsigned char *src = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 1), &srclen);
        dn_invoice_issued_t v;
        dn_avro_err_t err;
        char *buf = NULL, *contact = NULL;
        size_t len;
        json_t *whole = NULL;
        if (!src || dn_invoice_issued_decode(src, srclen, &v, &err) < 0) {
            snprintf(x->err, sizeof(x->err), "invoice %s: stored record does not decode", PQgetvalue(r, i, 0));
            PQfreemem(src);
            rc = -1;
            break;
        }
        PQfreemem(src);
        if (!contact_erased(&v.contact)) {
            blank_contact(x, &v.contact);
            if (dn_invoice_issued_encode(&v, &buf, &len) < 0 || !(whole = dn_avro_to_json(buf, len, &err)) ||
                !(contact = json_dumps(json_object_get(whole, "contact"), JSON_COMPACT))) {
                snprintf(x->err, sizeof(x->err), "invoice %s: cannot encode the erased record", PQgetvalue(r, i, 0));
                rc = -1;
            } else {
                const char *u[] = {x->tenant, PQgetvalue(r, i, 0), contact, buf};
                int lens[] = {0, 0, 0, (int)len}, f[] = {0, 0, 0, 1};
                PGresult *w = dn_pg_query_bin(x->pg,
                                              "UPDATE invoices SET contact = $3::jsonb, source = $4 "
                                              "WHERE tenant_id = $1 AND invoice_id = $2",
                                              4, u, lens, f);
                if (w) {
                    x->invoices++;
                    PQclear(w);
                } else {
                    rc = fail_pg(x, "invoices");
                }
            }
        }
        free(buf);
        free(contact);
        json_decref(whole);
        dn_invoice_issued_free(&v);
    }
    PQclear(r);
    return rc;
}

/* 2. Records of the customer's key not yet relayed: ReminderDue contacts, dead-letter payloads. */
static int erase_outbox(erase_run_t *x)
{
    const char *p[] = {x->key};
    int fmts[] = {0};
    PGresult *r = dn_pg_query_bin(x->pg, "SELECT id, topic, payload FROM outbox WHERE key = $1 ORDER BY id FOR UPDATE",
                                  1, p, NULL, fmts);
    if (!r)
        return fail_pg(x, "outbox");
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        dn_topic_id_t topic;
        if (dn_topic_lookup(PQgetvalue(r, i, 1), &topic) < 0)
            continue;
        size_t plen;
        unsigned char *payload = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &plen);
        char *buf = NULL;
        size_t len = 0;
        int changed = 0;
        dn_avro_err_t err;
        if (topic == DN_TOPIC_REMINDER_DUE_EMAIL || topic == DN_TOPIC_REMINDER_DUE_SMS ||
            topic == DN_TOPIC_REMINDER_DUE_LETTER) {
            dn_reminder_due_t v;
            if (payload && dn_reminder_due_decode(payload, plen, &v, &err) == 0) {
                if (!contact_erased(&v.contact)) {
                    blank_contact(x, &v.contact);
                    changed = dn_reminder_due_encode(&v, &buf, &len) == 0;
                }
                dn_reminder_due_free(&v);
            }
        } else if (topic == DN_TOPIC_DEAD_LETTER) {
            dn_dead_letter_t v;
            if (payload && dn_dead_letter_decode(payload, plen, &v, &err) == 0) {
                if (v.payload_len > 0) {
                    free(v.payload);
                    v.payload = NULL;
                    v.payload_len = 0;
                    changed = dn_dead_letter_encode(&v, &buf, &len) == 0;
                }
                dn_dead_letter_free(&v);
            }
        }
        PQfreemem(payload);
        if (changed) {
            const char *u[] = {PQgetvalue(r, i, 0), buf};
            int lens[] = {0, (int)len}, f[] = {0, 1};
            PGresult *w = dn_pg_query_bin(x->pg, "UPDATE outbox SET payload = $2 WHERE id = $1", 2, u, lens, f);
            if (w) {
                x->outbox++;
                PQclear(w);
            } else {
                rc = fail_pg(x, "outbox");
            }
        }
        free(buf);
    }
    PQclear(r);
    return rc;
}

/* 3. Reminders already on their topics: the senders' claim skips a suppressed delivery. */
static int suppress_in_flight(erase_run_t *x, const char *now)
{
    const char *p[] = {x->tenant, x->customer, now};
    PGresult *r = dn_pg_query(
        x->pg,
        "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, attempts, "
        "last_error, created_at, updated_at) "
        "SELECT DISTINCT ON ((r->>'event_id')::uuid) (r->>'event_id')::uuid, r->>'channel', a.tenant_id, a.invoice_id, "
        "a.case_id, coalesce(a.stage, 0), 'suppressed', 0, 'contact data erased', to_timestamp($3::float8 / 1000), "
        "to_timestamp($3::float8 / 1000) "
        "FROM audit a, jsonb_array_elements(CASE WHEN jsonb_typeof(a.detail->'reminders') = 'array' "
        "THEN a.detail->'reminders' ELSE '[]'::jsonb END) r "
        "WHERE a.tenant_id = $1 AND a.customer_id = $2 AND a.case_id IS NOT NULL AND a.invoice_id IS NOT NULL "
        "AND r->>'event_id' IS NOT NULL AND r->>'channel' IS NOT NULL "
        "ON CONFLICT (event_id) DO UPDATE SET status = 'suppressed', last_error = 'contact data erased', "
        "updated_at = excluded.updated_at "
        "WHERE deliveries.status NOT IN ('delivered', 'suppressed', 'failed_permanent', 'unreached')",
        3, p);
    if (!r)
        return fail_pg(x, "deliveries");
    x->suppressed = atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* 4. Texts that may quote the contact (outcome reasons, SMTP answers): audit details and
 * the deliveries' error texts of the customer's cases. */
static int scrub_texts(erase_run_t *x)
{
    if (x->nsecrets == 0)
        return 0;
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg,
                              "SELECT id, detail::text FROM audit WHERE tenant_id = $1 AND customer_id = $2 "
                              "ORDER BY id FOR UPDATE",
                              2, p);
    if (!r)
        return fail_pg(x, "audit");
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        json_t *d = json_loads(PQgetvalue(r, i, 1), JSON_DECODE_ANY, NULL);
        if (d && scrub_json(x, d)) {
            char *s = json_dumps(d, JSON_COMPACT);
            const char *u[] = {PQgetvalue(r, i, 0), s};
            PGresult *w = s ? dn_pg_query(x->pg, "UPDATE audit SET detail = $2::jsonb WHERE id = $1", 2, u) : NULL;
            if (w) {
                x->audit_rows++;
                PQclear(w);
            } else {
                rc = fail_pg(x, "audit");
            }
            free(s);
        }
        json_decref(d);
    }
    PQclear(r);
    if (rc < 0)
        return rc;
    r = dn_pg_query(x->pg,
                    "SELECT d.event_id, coalesce(d.last_error, ''), coalesce(d.provider_message_id, '') "
                    "FROM deliveries d JOIN cases c ON c.case_id = d.case_id "
                    "WHERE c.tenant_id = $1 AND c.customer_id = $2 FOR UPDATE OF d",
                    2, p);
    if (!r)
        return fail_pg(x, "deliveries");
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        char *e = scrub_text(x, PQgetvalue(r, i, 1)), *m = scrub_text(x, PQgetvalue(r, i, 2));
        if (e || m) {
            const char *u[] = {PQgetvalue(r, i, 0), e ? e : PQgetvalue(r, i, 1), m ? m : PQgetvalue(r, i, 2)};
            PGresult *w = dn_pg_query(x->pg,
                                      "UPDATE deliveries SET last_error = nullif($2, ''), "
                                      "provider_message_id = nullif($3, '') WHERE event_id = $1",
                                      3, u);
            if (w) {
                x->deliveries++;
                PQclear(w);
            } else {
                rc = fail_pg(x, "deliveries");
            }
        }
        free(e);
        free(m);
    }
    PQclear(r);
    return rc;
}

/* 5. The customer's payment behaviour (customer_behaviour, the inputs of the risk score):
 * deleted, not kept in any form (docs/privacy.md). */
static int erase_behaviour(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg, "DELETE FROM customer_behaviour WHERE tenant_id = $1 AND customer_id = $2", 2, p);
    if (!r)
        return fail_pg(x, "customer behaviour");
    x->behaviour = atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* 6. What the customer typed into the portal (portal_actions: a dispute's text, a
 * remittance note) and the SMS's short links: deleted. The engine's audit rows of those actions stay (scrubbed). */
static int erase_portal(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg, "DELETE FROM portal_actions WHERE tenant_id = $1 AND customer_id = $2", 2, p);
    if (!r)
        return fail_pg(x, "portal actions");
    x->portal = atol(PQcmdTuples(r));
    PQclear(r);
    /* The SMS's short links name the customer's ids and token: gone too (the portal refuses
     * the links of an erased customer anyway). */
    if (!(r = dn_pg_query(x->pg, "DELETE FROM portal_short_links WHERE tenant_id = $1 AND customer_id = $2", 2, p)))
        return fail_pg(x, "portal short links");
    PQclear(r);
    return 0;
}

/* 6b. The contact preferences and the consent history: deleted. The corrected address is
 * a contact value like the invoices' (cut out of the audit's texts, scrub_texts). */
static int erase_prefs(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg,
                              "DELETE FROM contact_preferences WHERE tenant_id = $1 AND customer_id = $2 RETURNING "
                              "coalesce(email, '')",
                              2, p);
    if (!r)
        return fail_pg(x, "contact preferences");
    x->prefs = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        add_secret(x, PQgetvalue(r, i, 0));
    PQclear(r);
    if (!(r = dn_pg_query(x->pg, "DELETE FROM consent_events WHERE tenant_id = $1 AND customer_id = $2", 2, p)))
        return fail_pg(x, "consent history");
    x->prefs += atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* 7. The console's notes on the customer's cases (sql/017_console_worklist.sql): free text a
 * collector typed, so it may name the customer; deleted. */
static int erase_notes(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg,
                              "DELETE FROM console_notes n USING cases c WHERE c.case_id = n.case_id "
                              "AND c.tenant_id = $1 AND c.customer_id = $2",
                              2, p);
    if (!r)
        return fail_pg(x, "console notes");
    x->notes = atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

/* 8. The texts the e-mail and SMS senders sent the customer (sent_messages, sql/026): they
 * carry the customer's name; deleted. */
static int erase_sent(erase_run_t *x)
{
    const char *p[] = {x->tenant, x->customer};
    PGresult *r = dn_pg_query(x->pg,
                              "DELETE FROM sent_messages m USING cases c WHERE c.case_id = m.case_id "
                              "AND c.tenant_id = $1 AND c.customer_id = $2",
                              2, p);
    if (!r)
        return fail_pg(x, "sent messages");
    x->sent = atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: dunningctl customer erase TENANT CUSTOMER [--dry-run] [--actor NAME]\n");
    return 2;
}

int ctl_customer_erase(ctl_cfg_t *cfg, int argc, char **argv)
{
    erase_run_t x = {0};
    int dry = 0, rc = 1, began = 0;
    const char *actor = "dunningctl";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            dry = 1;
        else if (strcmp(argv[i], "--actor") == 0 && i + 1 < argc)
            actor = argv[++i];
        else if (argv[i][0] == '-')
            return usage();
        else if (!x.tenant)
            x.tenant = argv[i];
        else if (!x.customer)
            x.customer = argv[i];
        else
            return usage();
    }
    if (!x.tenant || !x.customer || !x.tenant[0] || !x.customer[0])
        return usage();
    dn_topic_key(x.tenant, x.customer, x.key, sizeof(x.key));
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)dn_clock_now_ms());

    if (!(x.pg = dn_pg_new(cfg->common.pg_dsn, x.err, sizeof(x.err))))
        goto out;
    if (dn_pg_begin(x.pg) < 0) {
        fail_pg(&x, "begin");
        goto out;
    }
    began = 1;
    /* One erasure of a customer at a time; the engine's writes wait on the row locks. */
    const char *lp[] = {x.key};
    PGresult *l = dn_pg_query(x.pg, "SELECT pg_advisory_xact_lock(hashtextextended('erase/' || $1, 0))", 1, lp);
    if (!l) {
        fail_pg(&x, "lock");
        goto out;
    }
    PQclear(l);
    if (erase_invoices(&x) < 0 || erase_prefs(&x) < 0 || erase_outbox(&x) < 0 || suppress_in_flight(&x, now) < 0 ||
        scrub_texts(&x) < 0 || erase_behaviour(&x) < 0 || erase_portal(&x) < 0 || erase_notes(&x) < 0 ||
        erase_sent(&x) < 0)
        goto out;

    long total = x.invoices + x.outbox + x.suppressed + x.audit_rows + x.deliveries + x.behaviour + x.portal + x.notes +
                 x.prefs + x.sent;
    json_t *detail =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "actor", actor, "invoices",
                  (json_int_t)x.invoices, "outbox_records", (json_int_t)x.outbox, "reminders_suppressed",
                  (json_int_t)x.suppressed, "audit_rows_scrubbed", (json_int_t)x.audit_rows, "deliveries_scrubbed",
                  (json_int_t)x.deliveries, "behaviour_rows_deleted", (json_int_t)x.behaviour, "portal_actions_deleted",
                  (json_int_t)x.portal, "console_notes_deleted", (json_int_t)x.notes, "preferences_rows_deleted",
                  (json_int_t)x.prefs, "sent_messages_deleted", (json_int_t)x.sent, "dry_run", dry);
    char *ds = json_dumps(detail, JSON_COMPACT);
    json_decref(detail);
    /* The erasure's own audit row, unless a previous run already did everything. */
    const char *ap[] = {x.tenant, x.customer, now, ds, total > 0 ? "1" : "0"};
    PGresult *a = dn_pg_query(x.pg,
                              "INSERT INTO audit (tenant_id, customer_id, at, kind, detail) "
                              "SELECT $1, $2, to_timestamp($3::float8 / 1000), 'contact_erased', $4::jsonb "
                              "WHERE $5 = '1' OR NOT EXISTS (SELECT 1 FROM audit WHERE tenant_id = $1 AND "
                              "customer_id = $2 AND kind = 'contact_erased')",
                              5, ap);
    int recorded = a ? atoi(PQcmdTuples(a)) : 0;
    if (!a) {
        fail_pg(&x, "audit");
        free(ds);
        goto out;
    }
    PQclear(a);
    if (dry) {
        dn_pg_rollback(x.pg);
    } else if (dn_pg_commit(x.pg) < 0) {
        fail_pg(&x, "commit");
        free(ds);
        goto out;
    }
    began = 0;
    printf("%s customer %s of tenant %s: %ld invoice%s, %ld outbox record%s, %ld reminder%s suppressed, "
           "%ld audit row%s and %ld deliver%s scrubbed%s\n",
           dry ? "would erase" : "erased", x.customer, x.tenant, x.invoices, x.invoices == 1 ? "" : "s", x.outbox,
           x.outbox == 1 ? "" : "s", x.suppressed, x.suppressed == 1 ? "" : "s", x.audit_rows,
           x.audit_rows == 1 ? "" : "s", x.deliveries, x.deliveries == 1 ? "y" : "ies",
           recorded ? "" : " (nothing left to erase)");
    free(ds);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "dunningctl customer erase: %s (nothing was changed)\n", x.err);
    if (began)
        dn_pg_rollback(x.pg);
    dn_pg_destroy(x.pg);
    for (size_t i = 0; i < x.nsecrets; i++)
        free(x.secrets[i]);
    return rc;
}
