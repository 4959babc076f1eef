#include "dn_render.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dn_clock.h"
#include "dn_portal_link.h"

/* Copies with truncation (snprintf "%s" makes gcc warn about the truncation we want). */
static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void money(int64_t minor, const char *currency, const char *locale, char *buf, size_t size)
{
    if (dn_money_format(minor, currency, locale, buf, size) < 0)
        snprintf(buf, size, "%lld %s", (long long)minor, currency); /* unknown currency: raw, but visible */
}

int dn_render_web_link(const char *s)
{
    return s && (strncasecmp(s, "https://", 8) == 0 || strncasecmp(s, "http://", 7) == 0);
}

const char *dn_render_not_dunned_text(const char *reason, const char *locale)
{
    static const struct {
        const char *reason, *en, *de;
    } texts[] = {
        {"promise", "promise to pay made", "Zahlungszusage liegt vor"},
        {"plan", "on an instalment plan", "in Ratenzahlung"},
        {"dispute", "under dispute", "in Klärung"},
        {"paused", "on hold", "angehalten"},
    };
    if (!reason)
        return NULL;
    int de = strncasecmp(locale ? locale : "", "de", 2) == 0;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        if (strcmp(reason, texts[i].reason) == 0)
            return de ? texts[i].de : texts[i].en;
    }
    return de ? "nicht gemahnt" : "not dunned";
}

/* items[], has_items, item_count, dunned_count: a consolidated notice's invoices. */
static int add_items(json_t *ctx, const dn_reminder_due_t *rd, const char *locale)
{
    json_t *arr = json_array();
    if (!arr)
        return -1;
    int dunned = 0;
    for (size_t i = 0; i < rd->items_n; i++) {
        const dn_notice_item_t *it = &rd->items[i];
        char outstanding[64], fee[64], interest[64], total[64], due[48], due_iso[16];
        money(it->outstanding_minor, rd->currency, locale, outstanding, sizeof(outstanding));
        money(it->fee_minor, rd->currency, locale, fee, sizeof(fee));
        money(it->interest_minor, rd->currency, locale, interest, sizeof(interest));
        money(it->total_due_minor, rd->currency, locale, total, sizeof(total));
        dn_date_format_long(it->due_date, locale, due, sizeof(due));
        dn_date_format(it->due_date, due_iso, sizeof(due_iso));
        const char *why = it->dunned ? NULL : (it->not_dunned_reason ? it->not_dunned_reason : "");
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "invoice_id",
                      it->invoice_id, "number", it->invoice_number ? it->invoice_number : it->invoice_id, "due_date",
                      due, "due_date_iso", due_iso, "days_overdue", (int)it->days_overdue, "stage", (int)it->stage,
                      "stage_name", it->stage_name ? it->stage_name : "", "outstanding", outstanding, "fee", fee,
                      "interest", interest, "total_due", total, "outstanding_minor", (json_int_t)it->outstanding_minor,
                      "fee_minor", (json_int_t)it->fee_minor, "interest_minor", (json_int_t)it->interest_minor,
                      "total_due_minor", (json_int_t)it->total_due_minor, "dunned", it->dunned ? 1 : 0);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return -1;
        }
        json_object_set_new(o, "not_dunned_reason", why ? json_string(why) : json_null());
        json_object_set_new(o, "not_dunned_text",
                            why ? json_string(dn_render_not_dunned_text(why, locale)) : json_null());
        dunned += it->dunned ? 1 : 0;
    }
    json_object_set_new(ctx, "items", arr);
    json_object_set_new(ctx, "has_items", json_boolean(rd->items_n > 0));
    json_object_set_new(ctx, "item_count", json_integer((json_int_t)rd->items_n));
    json_object_set_new(ctx, "dunned_count", json_integer(dunned));
    return 0;
}

/* card{brand, last4, exp_month, exp_year, expiry "MM/YYYY"} and update_link (web links only). */
static int add_card(json_t *ctx, const dn_reminder_due_t *rd)
{
    json_t *card = json_null();
    if (rd->card) {
        char expiry[16];
        snprintf(expiry, sizeof(expiry), "%02d/%04d", (int)rd->card->exp_month, (int)rd->card->exp_year);
        card = json_pack("{s:s?, s:s, s:i, s:i, s:s}", "brand", rd->card->brand, "last4", rd->card->last4, "exp_month",
                         (int)rd->card->exp_month, "exp_year", (int)rd->card->exp_year, "expiry", expiry);
        if (!card)
            return -1;
    }
    json_object_set_new(ctx, "card", card);
    json_object_set_new(ctx, "update_link",
                        dn_render_web_link(rd->update_link) ? json_string(rd->update_link) : json_null());
    return 0;
}

/* The portal's links, set once at a service's start (dn_render_set_portal). */
static struct {
    int on, short_links;
    dn_portal_keys_t keys;
    char base_url[512];
    int64_t lifetime_ms;
} portal;

int dn_render_set_portal(const char *base_url, const char *keys_spec, int64_t lifetime_ms, char *err, size_t errsz)
{
    dn_portal_keys_wipe(&portal.keys);
    portal.on = 0;
    if (!base_url || !base_url[0])
        return 0;
    if (!dn_render_web_link(base_url) || strlen(base_url) >= sizeof(portal.base_url)) {
        snprintf(err, errsz, "DUNNING_PORTAL_URL: an http:// or https:// URL is needed");
        return -1;
    }
    if (dn_portal_keys_parse(keys_spec, &portal.keys, err, errsz) < 0)
        return -1;
    if (portal.keys.n == 0) {
        snprintf(err, errsz, "DUNNING_PORTAL_URL is set: DUNNING_PORTAL_KEYS must hold the key that signs the links");
        return -1;
    }
    snprintf(portal.base_url, sizeof(portal.base_url), "%s", base_url);
    portal.lifetime_ms = lifetime_ms;
    portal.on = 1;
    return 0;
}

int dn_render_portal_link(const dn_reminder_due_t *rd, char *out, size_t n)
{
    if (!portal.on || dn_portal_link_make(&portal.keys, portal.base_url, rd->tenant_id, rd->customer_id,
                                          (rd->due_at + portal.lifetime_ms) / 1000, out, n) < 0)
        return -1;
    return 0;
}

void dn_render_set_portal_short(int on)
{
    portal.short_links = on;
}

int dn_render_portal_short(const dn_reminder_due_t *rd, dn_render_short_t *out)
{
    if (!portal.on || !portal.short_links ||
        dn_portal_token_make(&portal.keys, rd->tenant_id, rd->customer_id, (rd->due_at + portal.lifetime_ms) / 1000,
                             out->token, sizeof(out->token)) < 0)
        return -1;
    out->expires_s = (rd->due_at + portal.lifetime_ms) / 1000;
    dn_portal_short_id(&portal.keys, rd->event_id, out->id);
    size_t bl = strlen(portal.base_url);
    while (bl > 0 && portal.base_url[bl - 1] == '/')
        bl--;
    int n = snprintf(out->link, sizeof(out->link), "%.*s/s/%s", (int)bl, portal.base_url, out->id);
    return n < 0 || (size_t)n >= sizeof(out->link) ? -1 : 0;
}

static json_t *portal_short_link(const dn_reminder_due_t *rd)
{
    dn_render_short_t sh;
    return dn_render_portal_short(rd, &sh) == 0 ? json_string(sh.link) : json_null();
}

static json_t *portal_link(const dn_reminder_due_t *rd)
{
    char link[DN_PORTAL_TOKEN_MAX + 600];
    return dn_render_portal_link(rd, link, sizeof(link)) == 0 ? json_string(link) : json_null();
}

json_t *dn_render_context(const dn_reminder_due_t *rd, const char *locale)
{
    char amount[64], outstanding[64], fee[64], interest[64], total[64], issued[48], due[48], issued_iso[16],
        due_iso[16];
    dn_date_format(rd->issue_date, issued_iso, sizeof(issued_iso));
    dn_date_format(rd->due_date, due_iso, sizeof(due_iso));
    money(rd->amount_minor, rd->currency, locale, amount, sizeof(amount));
    money(rd->outstanding_minor, rd->currency, locale, outstanding, sizeof(outstanding));
    money(rd->fee_minor, rd->currency, locale, fee, sizeof(fee));
    money(rd->interest_minor, rd->currency, locale, interest, sizeof(interest));
    money(rd->total_due_minor, rd->currency, locale, total, sizeof(total));
    /* Dates as the customer's locale writes them; the ISO forms are there too (*_iso). */
    dn_date_format_long(rd->issue_date, locale, issued, sizeof(issued));
    dn_date_format_long(rd->due_date, locale, due, sizeof(due));
    json_t *ctx =
        json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s}}", "tenant", rd->tenant_id, "customer",
                  "id", rd->customer_id, "name", rd->contact.name, "invoice", "id", rd->invoice_id, "number",
                  rd->invoice_number ? rd->invoice_number : rd->invoice_id, "issue_date", issued, "due_date", due,
                  "amount", amount, "amount_minor", (json_int_t)rd->amount_minor, "currency", rd->currency);
    if (!ctx)
        return NULL;
    json_object_set_new(ctx, "amounts",
                        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "outstanding", outstanding, "fee",
                                  fee, "interest", interest, "total_due", total, "outstanding_minor",
                                  (json_int_t)rd->outstanding_minor, "fee_minor", (json_int_t)rd->fee_minor,
                                  "interest_minor", (json_int_t)rd->interest_minor, "total_due_minor",
                                  (json_int_t)rd->total_due_minor, "currency", rd->currency));
    json_t *inv = json_object_get(ctx, "invoice");
    json_object_set_new(inv, "issue_date_iso", json_string(issued_iso));
    json_object_set_new(inv, "due_date_iso", json_string(due_iso));
    json_object_set_new(ctx, "stage", json_integer(rd->stage));
    json_object_set_new(ctx, "stage_name", json_string(rd->stage_name));
    json_object_set_new(ctx, "action", rd->action ? json_string(rd->action) : json_null());
    json_object_set_new(ctx, "days_overdue", json_integer(rd->days_overdue));
    /* Only web links: the link lands in an href, and a javascript: URL must never get there. */
    int web = dn_render_web_link(rd->payment_link);
    json_object_set_new(ctx, "payment_link", web ? json_string(rd->payment_link) : json_null());
    json_object_set_new(ctx, "portal_link", portal_link(rd));
    json_object_set_new(ctx, "portal_short_link", portal_short_link(rd));
    json_object_set_new(ctx, "policy", json_string(rd->policy));
    json_object_set_new(ctx, "locale", json_string(locale));
    json_object_set_new(ctx, "notice_kind", rd->notice_kind ? json_string(rd->notice_kind) : json_null());
    /* The early-settlement offer: pay `total` by `pay_by` and `amount` is taken off. */
    json_t *disc = json_null();
    if (rd->discount) {
        char off[64], tot[64], by[48], by_iso[16], pct[32];
        money(rd->discount->discount_minor, rd->currency, locale, off, sizeof(off));
        money(rd->discount->total_minor, rd->currency, locale, tot, sizeof(tot));
        dn_date_format_long(rd->discount->pay_by, locale, by, sizeof(by));
        dn_date_format(rd->discount->pay_by, by_iso, sizeof(by_iso));
        long long e4 = (long long)rd->discount->percent_e4;
        if (e4 % 10000 == 0)
            snprintf(pct, sizeof(pct), "%lld %%", e4 / 10000);
        else
            snprintf(pct, sizeof(pct), "%lld%s%02lld %%", e4 / 10000, strncmp(locale, "en", 2) ? "," : ".",
                     (e4 % 10000) / 100);
        disc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "amount", off, "total", tot, "pay_by", by, "pay_by_iso",
                         by_iso, "percent", pct, "amount_minor", (json_int_t)rd->discount->discount_minor,
                         "total_minor", (json_int_t)rd->discount->total_minor);
    }
    json_object_set_new(ctx, "discount", disc);
    /* The plan instalment a reminder is about. */
    json_t *inst = json_null();
    if (rd->instalment) {
        char amt[64], open_[64], due_l[48], due_i[16];
        money(rd->instalment->amount_minor, rd->currency, locale, amt, sizeof(amt));
        money(rd->instalment->amount_minor - rd->instalment->paid_minor, rd->currency, locale, open_, sizeof(open_));
        dn_date_format_long(rd->instalment->due_date, locale, due_l, sizeof(due_l));
        dn_date_format(rd->instalment->due_date, due_i, sizeof(due_i));
        inst = json_pack("{s:i, s:i, s:s, s:s, s:s, s:s, s:I}", "number", (int)rd->instalment->number, "count",
                         (int)rd->instalment->count, "amount", amt, "open", open_, "due_date", due_l, "due_date_iso",
                         due_i, "open_minor", (json_int_t)(rd->instalment->amount_minor - rd->instalment->paid_minor));
    }
    json_object_set_new(ctx, "instalment", inst);
    if (add_items(ctx, rd, locale) < 0 || add_card(ctx, rd) < 0) {
        json_decref(ctx);
        return NULL;
    }
    return ctx;
}

void dn_render_source_set(dn_render_source_t *src, const char *folder, const char *key, const char *channel,
                          const char *locale)
{
    copy(src->folder, sizeof(src->folder), folder);
    copy(src->locale, sizeof(src->locale), locale);
    snprintf(src->name, sizeof(src->name), "%s/%s.%s.%s", folder, key, channel, locale);
}

int dn_render_find(const char *dir, const dn_reminder_due_t *rd, const char *channel, const char *ext,
                   dn_render_source_t *src, char *errstr, size_t errstr_size)
{
    char folder[160], loc[40], base[256];
    const char *key = rd->template_key;
    if (dn_template_resolve(dir, rd->tenant_id, key, channel, rd->contact.locale, ext, folder, sizeof(folder), loc,
                            sizeof(loc), errstr, errstr_size) < 0) {
        /* A stage's template variant ("<template>--<variant>", docs/risk.md) without a file
         * of its own: the base template. */
        const char *sep = key ? strstr(key, "--") : NULL;
        if (!sep || (size_t)(sep - key) >= sizeof(base))
            return -1;
        snprintf(base, sizeof(base), "%.*s", (int)(sep - key), key);
        key = base;
        if (dn_template_resolve(dir, rd->tenant_id, key, channel, rd->contact.locale, ext, folder, sizeof(folder), loc,
                                sizeof(loc), errstr, errstr_size) < 0)
            return -1;
    }
    dn_render_source_set(src, folder, key, channel, loc);
    return 0;
}

char *dn_render_text(const char *dir, const char *channel, const char *ext, const dn_render_source_t *given,
                     const dn_reminder_due_t *rd, dn_render_extend_fn extend, void *arg, size_t max_bytes,
                     dn_render_source_t *src, char *errstr, size_t errstr_size)
{
    if (given)
        *src = *given;
    else if (dn_render_find(dir, rd, channel, ext, src, errstr, errstr_size) < 0)
        return NULL;
    json_t *ctx = dn_render_context(rd, src->locale);
    if (!ctx || (extend && extend(ctx, rd, src->locale, arg) < 0)) {
        json_decref(ctx);
        snprintf(errstr, errstr_size, "%s.%s: out of memory", src->name, ext);
        return NULL;
    }
    char *text = dn_render_file(dir, src, ext, ctx, DN_TEMPLATE_TEXT, max_bytes, errstr, errstr_size);
    json_decref(ctx);
    return text;
}

char *dn_render_file(const char *dir, const dn_render_source_t *src, const char *ext, json_t *ctx,
                     dn_template_mode_t mode, size_t max_bytes, char *errstr, size_t errstr_size)
{
    char path[1400], err[512];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, src->name, ext);
    char *tmpl = dn_template_read_file(path, max_bytes, err, sizeof(err));
    if (!tmpl) {
        snprintf(errstr, errstr_size, "%s.%s: %s", src->name, ext, err);
        return NULL;
    }
    char *out = dn_template_render(tmpl, ctx, mode, err, sizeof(err));
    free(tmpl);
    if (!out)
        snprintf(errstr, errstr_size, "%s.%s: %s", src->name, ext, err);
    return out;
}

void dn_render_sample(dn_render_sample_t *s, dn_channel_t channel, int full, const char *tenant, const char *key,
                      const char *locale)
{
    memset(s, 0, sizeof(*s));
    dn_reminder_due_t *rd = &s->rd;
    rd->event_id = "00000000-0000-5000-8000-000000000000";
    rd->tenant_id = (char *)tenant;
    rd->customer_id = "C-1";
    rd->case_id = "00000000-0000-5000-8000-000000000001";
    rd->invoice_id = "INV-2026-000001";
    rd->invoice_number = full ? "RE-2026-000001" : NULL;
    rd->channel = channel;
    rd->stage = 4;
    rd->stage_name = (char *)key;
    rd->template_key = (char *)key;
    rd->policy = "standard";
    rd->issue_date = 20750;
    rd->due_date = 20764;
    rd->days_overdue = 28;
    rd->amount_minor = 12345678;
    rd->outstanding_minor = full ? 12000000 : 12345678;
    rd->fee_minor = full ? 1500 : 0;
    rd->interest_minor = full ? 32100 : 0;
    rd->total_due_minor = rd->outstanding_minor + rd->fee_minor + rd->interest_minor;
    rd->currency = "EUR";
    rd->action = full ? "final_notice" : NULL;
    rd->payment_link = full ? "https://pay.example.com/i/0123456789abcdef0123456789" : NULL;
    rd->contact.name = "Muster & Söhne GmbH, z. Hd. Frau Łucja Müller-Lüdenscheidt";
    rd->contact.email = "buchhaltung@muster-soehne.example";
    rd->contact.phone = "+4917612345678";
    rd->contact.locale = (char *)locale;
    rd->contact.time_zone = "Europe/Berlin";
    s->address.line1 = "Große Straße 123";
    s->address.line2 = full ? "Hinterhaus, 3. OG" : NULL;
    s->address.postal_code = "50667";
    s->address.city = "Köln";
    s->address.country = full ? "AT" : "DE";
    rd->contact.address = &s->address;
    if (full) { /* every optional block of a template is rendered by the check */
        s->discount = (dn_discount_offer_t){
            .pay_by = 20799, .discount_minor = 241500, .total_minor = 11758500, .percent_e4 = 20000};
        rd->discount = &s->discount;
        s->instalment = (dn_instalment_ref_t){
            .number = 2, .count = 3, .amount_minor = 4000000, .due_date = 20810, .paid_minor = 1000000};
        rd->instalment = &s->instalment;
        /* a consolidated notice's three invoices, the last one listed under a promise to pay */
        s->items[0] = (dn_notice_item_t){.invoice_id = "INV-2026-000001",
                                         .invoice_number = "RE-2026-000001",
                                         .due_date = 20764,
                                         .days_overdue = 28,
                                         .stage = 2,
                                         .stage_name = "first_reminder",
                                         .outstanding_minor = 12000000,
                                         .fee_minor = 1500,
                                         .interest_minor = 32100,
                                         .total_due_minor = 12033600,
                                         .dunned = true};
        s->items[1] = (dn_notice_item_t){.invoice_id = "INV-2026-000007",
                                         .invoice_number = "RE-2026-000007",
                                         .due_date = 20778,
                                         .days_overdue = 14,
                                         .stage = 1,
                                         .stage_name = "friendly_reminder",
                                         .outstanding_minor = 250000,
                                         .total_due_minor = 250000,
                                         .dunned = true};
        s->items[2] = (dn_notice_item_t){.invoice_id = "INV-2026-000009",
                                         .invoice_number = "RE-2026-000009",
                                         .due_date = 20785,
                                         .days_overdue = 7,
                                         .stage = 1,
                                         .stage_name = "friendly_reminder",
                                         .outstanding_minor = 99900,
                                         .total_due_minor = 99900,
                                         .dunned = false,
                                         .not_dunned_reason = "promise"};
        rd->items = s->items;
        rd->items_n = 3;
        s->card = (dn_card_ref_t){.brand = "visa", .last4 = "4242", .exp_month = 3, .exp_year = 2027};
        rd->card = &s->card;
        rd->update_link = "https://pay.example.com/card/0123456789abcdef";
    }
}

typedef struct check_walk {
    dn_channel_t channel;
    const char *ext;
    dn_render_check_fn fn;
    void *arg;
} check_walk_t;

static int check_one(const char *dir, const char *folder, const char *key, const char *locale, void *arg, FILE *out)
{
    const check_walk_t *w = arg;
    dn_render_source_t src;
    dn_render_source_set(&src, folder, key, dn_channel_str(w->channel), locale);
    int problems = 0;
    for (int full = 1; full >= 0; full--) {
        dn_render_sample_t s;
        dn_render_sample(&s, w->channel, full, folder, key, locale);
        problems += w->fn(w->arg, dir, &src, &s.rd, full, out);
    }
    return problems;
}

int dn_render_check(const char *dir, dn_channel_t channel, const char *ext, const char *what, dn_render_check_fn fn,
                    void *arg, FILE *out)
{
    check_walk_t w = {channel, ext, fn, arg};
    int sets = 0;
    int problems = dn_template_each(dir, dn_channel_str(channel), ext, check_one, &w, out, &sets);
    fprintf(out, "%d %s%s checked, %d problem%s\n", sets, what, sets == 1 ? "" : "s", problems,
            problems == 1 ? "" : "s");
    return problems;
}
