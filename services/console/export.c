/* The case timeline exported for legal use (see console.h): CSV, or a PDF (libdnpdf) with a
 * header (tenant, invoice, customer, case, generated at, by whom) and every entry (time,
 * event, actor, state change, detail). Every export is a row of console_access_log (kind
 * export). Calls access.c and csv.c only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_pdf.h"

static const char timeline_sql[] =
    "SELECT to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), t.source, t.kind, t.from_state, "
    "t.to_state, t.stage, t.outstanding_minor, t.actor, t.detail::text FROM (" CONSOLE_TIMELINE_ROWS ") t "
    "ORDER BY t.at, t.source, t.seq";

static void timeline_csv(dn_web_req_t *req, PGresult *t, const char *id)
{
    dn_buf_t b = {0};
    dn_buf_add(&b, "at,source,kind,from_state,to_state,stage,outstanding_minor,actor,detail\r\n");
    for (int row = 0; row < PQntuples(t); row++)
        for (int col = 0; col < 9; col++)
            csv_field(&b, PQgetvalue(t, row, col), col == 8);
    size_t len = 0;
    char *data = dn_buf_take(&b, &len), disposition[96];
    if (!data) {
        dn_web_error(req, 500, "out of memory");
        return;
    }
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"timeline-%s.csv\"", id);
    dn_web_body(req, 200, "text/csv; charset=utf-8", data, len, disposition);
}

/* ---- the PDF: A4 landscape, 15 mm margins ---- */

#define PDF_W    DN_PDF_A4_H
#define PDF_H    DN_PDF_A4_W
#define MARGIN   DN_PDF_MM(15.0)
#define BOTTOM   (PDF_H - DN_PDF_MM(15.0))
#define FONT     "DejaVu Sans"
#define TEXT_PT  8.0
#define TITLE_PT 13.0

/* The columns: x from the left margin and width, in mm. */
static const struct {
    const char *title;
    double x, w;
} cols[] = {{"Time (UTC)", 0, 40}, {"Event", 41, 38}, {"State", 80, 36}, {"Actor", 117, 38}, {"Detail", 156, 111}};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

typedef struct pdf_flow {
    cairo_t *cr;
    PangoContext *pc;
    double y;
    int page;
    char footer[300];
} pdf_flow_t;

static PangoLayout *layout(pdf_flow_t *f, const char *text, double pt, int bold, double width_mm)
{
    PangoLayout *ly = pango_layout_new(f->pc);
    PangoFontDescription *fd = pango_font_description_from_string(FONT);
    pango_font_description_set_absolute_size(fd, pt * PANGO_SCALE);
    if (bold)
        pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(ly, fd);
    pango_font_description_free(fd);
    if (width_mm > 0) {
        pango_layout_set_width(ly, (int)(DN_PDF_MM(width_mm) * PANGO_SCALE));
        pango_layout_set_wrap(ly, PANGO_WRAP_WORD_CHAR);
    }
    dn_pdf_set_text(ly, text);
    return ly;
}

static double layout_h(PangoLayout *ly)
{
    int w, h;
    pango_layout_get_size(ly, &w, &h);
    return (double)h / PANGO_SCALE;
}

static double put(pdf_flow_t *f, const char *text, double pt, int bold, double x_pt, double y_pt, double width_mm)
{
    PangoLayout *ly = layout(f, text, pt, bold, width_mm);
    double h = layout_h(ly);
    cairo_move_to(f->cr, x_pt, y_pt);
    pango_cairo_show_layout(f->cr, ly);
    g_object_unref(ly);
    return h;
}

static void rule(pdf_flow_t *f, double y)
{
    cairo_set_line_width(f->cr, 0.5);
    cairo_move_to(f->cr, MARGIN, y);
    cairo_line_to(f->cr, PDF_W - MARGIN, y);
    cairo_stroke(f->cr);
}

static void column_heads(pdf_flow_t *f)
{
    double h = 0;
    for (size_t i = 0; i < NCOLS; i++) {
        double hh = put(f, cols[i].title, TEXT_PT, 1, MARGIN + DN_PDF_MM(cols[i].x), f->y, cols[i].w);
        h = hh > h ? hh : h;
    }
    f->y += h + 2;
    rule(f, f->y);
    f->y += 3;
}

static void page_end(pdf_flow_t *f)
{
    char page[32];
    snprintf(page, sizeof(page), "Page %d", f->page);
    put(f, f->footer, TEXT_PT - 1, 0, MARGIN, PDF_H - DN_PDF_MM(10.0), 200);
    put(f, page, TEXT_PT - 1, 0, PDF_W - MARGIN - DN_PDF_MM(20.0), PDF_H - DN_PDF_MM(10.0), 0);
    cairo_show_page(f->cr);
}

static void new_page(pdf_flow_t *f)
{
    page_end(f);
    f->page++;
    f->y = MARGIN;
    column_heads(f);
}

/* "2026-06-01 08:00:00 UTC" of a dunning-clock time. */
static void utc_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void timeline_pdf(dn_web_req_t *req, PGresult *t, const char *id, const char *const *facts, const char *login)
{
    int64_t now = dn_clock_now_ms();
    char title[200], generated[64];
    snprintf(title, sizeof(title), "Case timeline: invoice %s", facts[1]);
    utc_time(now, generated, sizeof(generated));
    dn_pdf_t *doc = dn_pdf_new(PDF_W, PDF_H, title, login, "dunning console", now);
    pdf_flow_t f = {.cr = dn_pdf_cairo(doc), .pc = dn_pdf_pango(doc), .y = MARGIN, .page = 1};
    snprintf(f.footer, sizeof(f.footer), "Timeline of case %s (tenant %s, invoice %s), generated %s by %s", id,
             facts[0], facts[1], generated, login);
    f.y += put(&f, title, TITLE_PT, 1, MARGIN, f.y, 0) + 6;
    const char *labels[] = {"Tenant",  "Invoice",      "Invoice number", "Customer id",
                            "Case id", "Generated at", "Generated by",   "Entries"};
    char entries[16];
    snprintf(entries, sizeof(entries), "%d", PQntuples(t));
    const char *values[] = {facts[0], facts[1], facts[3], facts[2], id, generated, login, entries};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        put(&f, labels[i], TEXT_PT + 1, 1, MARGIN, f.y, 40);
        f.y += put(&f, values[i], TEXT_PT + 1, 0, MARGIN + DN_PDF_MM(42), f.y, 200) + 1.5;
    }
    f.y += 8;
    column_heads(&f);
    for (int row = 0; row < PQntuples(t); row++) {
        const char *from = PQgetvalue(t, row, 3), *to = PQgetvalue(t, row, 4);
        char state[80], what[96];
        if (*from && *to && strcmp(from, to) != 0)
            snprintf(state, sizeof(state), "%s -> %s", from, to);
        else
            snprintf(state, sizeof(state), "%s", to);
        if (!PQgetisnull(t, row, 5) && strcmp(PQgetvalue(t, row, 1), "audit") == 0)
            snprintf(what, sizeof(what), "%s (stage %s)", PQgetvalue(t, row, 2), PQgetvalue(t, row, 5));
        else
            snprintf(what, sizeof(what), "%s", PQgetvalue(t, row, 2));
        const char *cells[NCOLS] = {PQgetvalue(t, row, 0), what, state, PQgetvalue(t, row, 7), PQgetvalue(t, row, 8)};
        PangoLayout *ly[NCOLS];
        double h = 0;
        for (size_t i = 0; i < NCOLS; i++) {
            ly[i] = layout(&f, cells[i], TEXT_PT, 0, cols[i].w);
            double hh = layout_h(ly[i]);
            h = hh > h ? hh : h;
        }
        if (f.y + h > BOTTOM - DN_PDF_MM(8)) /* an entry is never split across pages */
            new_page(&f);
        for (size_t i = 0; i < NCOLS; i++) {
            cairo_move_to(f.cr, MARGIN + DN_PDF_MM(cols[i].x), f.y);
            pango_cairo_show_layout(f.cr, ly[i]);
            g_object_unref(ly[i]);
        }
        f.y += h + 3;
    }
    page_end(&f);
    char err[128], disposition[96];
    size_t len = 0;
    char *pdf = dn_pdf_finish(doc, 0, &len, err, sizeof(err));
    if (!pdf) {
        dn_log_error("timeline pdf not rendered", "case_id", id, "detail", err, NULL);
        dn_web_error(req, 500, "the PDF could not be rendered");
        return;
    }
    snprintf(disposition, sizeof(disposition), "attachment; filename=\"timeline-%s.pdf\"", id);
    dn_web_body(req, 200, "application/pdf", pdf, len, disposition);
}

void timeline_export(console_t *c, dn_web_req_t *req, const char *login, const char *id, const char *const *facts,
                     const char *format)
{
    const char *params[] = {id, facts[0], facts[1]};
    PGresult *t = dn_pg_query(c->pg, timeline_sql, 3, params);
    PGresult *n = t ? dn_pg_query(c->pg, "SELECT invoice_number FROM invoices WHERE tenant_id = $1 AND invoice_id = $2",
                                  2, params + 1)
                    : NULL;
    if (!n) {
        PQclear(t);
        console_db_error(c, req);
        return;
    }
    const char *all[] = {facts[0], facts[1], facts[2], PQntuples(n) == 1 ? PQgetvalue(n, 0, 0) : ""};
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:i}", "export", "timeline", "format", format, "case_id", id,
                               "tenant_id", facts[0], "entries", PQntuples(t));
    json_object_set_new(detail, "invoice_id", json_string(facts[1]));
    access_log(c, req, login, "export", detail);
    json_decref(detail);
    dn_log_info("timeline exported", "login", login, "case_id", id, "tenant_id", facts[0], "invoice_id", facts[1],
                "format", format, NULL);
    if (strcmp(format, "pdf") == 0)
        timeline_pdf(req, t, id, all, login);
    else
        timeline_csv(req, t, id);
    PQclear(n);
    PQclear(t);
}
