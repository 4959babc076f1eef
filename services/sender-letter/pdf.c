#include "pdf.h"

#include "dn_buf.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <pango/pangocairo.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_pdf.h"
#include "dn_render.h"
#include "dn_template.h"

#define MM(x)  DN_PDF_MM(x)
#define PAGE_W DN_PDF_A4_W
#define PAGE_H DN_PDF_A4_H

/* Geometry in mm (DIN 5008 form B). */
#define LEFT        25.0  /* text and address */
#define RIGHT       190.0 /* end of the text */
#define FIELD_TOP   45.0  /* address field */
#define RETURN_TOP  58.0  /* return line, inside the field's top zone */
#define ADDR_TOP    62.7  /* recipient's address zone */
#define ADDR_W      75.0
#define ADDR_H      27.3
#define INFO_LEFT   125.0
#define INFO_TOP    50.0
#define BODY_TOP    98.5
#define NEXT_TOP    20.0 /* pages after the first */
#define BODY_BOTTOM 270.0
#define FOOTER_TOP  280.0

#define TEXT_PT   10.0
#define SMALL_PT  8.0
#define RETURN_PT 7.0

typedef struct flow {
    const letter_t *l;
    const labels_t *lb;
    const char *locale;
    cairo_t *cr;
    PangoContext *pc;
    int draw;  /* 0: count pages only */
    int page;  /* current page, 1-based */
    int total; /* pages, known in the drawing pass */
    double y;  /* pt from the top of the page */
    int unfit; /* the address does not fit the window */
    char err[256];
    char portal_link[1200]; /* the customer's portal link, "" without one */
    QRcode *qr;             /* and its QR code, made once for both passes */
} flow_t;

static PangoLayout *mk(flow_t *f, const char *text, double pt, int bold, double width_mm, PangoAlignment align)
{
    PangoLayout *ly = pango_layout_new(f->pc);
    PangoFontDescription *fd = pango_font_description_from_string(f->l->font);
    pango_font_description_set_absolute_size(fd, pt * PANGO_SCALE); /* user units = PDF points */
    if (bold)
        pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(ly, fd);
    pango_font_description_free(fd);
    if (width_mm > 0) {
        pango_layout_set_width(ly, (int)(MM(width_mm) * PANGO_SCALE));
        pango_layout_set_wrap(ly, PANGO_WRAP_WORD_CHAR);
    }
    pango_layout_set_alignment(ly, align);
    dn_pdf_set_text(ly, text);
    return ly;
}

static double height(PangoLayout *ly)
{
    int w, h;
    pango_layout_get_size(ly, &w, &h);
    return (double)h / PANGO_SCALE;
}

static void show(flow_t *f, PangoLayout *ly, double x_mm, double y_pt)
{
    if (!f->draw)
        return;
    cairo_move_to(f->cr, MM(x_mm), y_pt);
    pango_cairo_show_layout(f->cr, ly);
}

/* A layout drawn whole at (x, y) (mm); returns its height in pt. */
static double put(flow_t *f, const char *text, double pt, int bold, double x_mm, double y_pt, double width_mm,
                  PangoAlignment align)
{
    PangoLayout *ly = mk(f, text, pt, bold, width_mm, align);
    double h = height(ly);
    show(f, ly, x_mm, y_pt);
    g_object_unref(ly);
    return h;
}

static void rule(flow_t *f, double x0_mm, double x1_mm, double y_pt, double width)
{
    if (!f->draw)
        return;
    cairo_set_line_width(f->cr, width);
    cairo_move_to(f->cr, MM(x0_mm), y_pt);
    cairo_line_to(f->cr, MM(x1_mm), y_pt);
    cairo_stroke(f->cr);
}

/* ---- pages ---- */

static void reference(const flow_t *f, char *buf, size_t size)
{
    const dn_reminder_due_t *rd = f->l->rd;
    /* A notice about the customer (no invoice) is paid with the customer number as reference. */
    const char *ref = rd->invoice_number ? rd->invoice_number : rd->invoice_id;
    snprintf(buf, size, "%s: %s", f->lb->reference, *ref ? ref : rd->customer_id);
}

static int is_card_notice(const dn_reminder_due_t *rd)
{
    return rd->notice_kind && strcmp(rd->notice_kind, "card_expiry") == 0;
}

static void page_end(flow_t *f)
{
    if (!f->draw)
        return;
    char ref[300], page[64];
    reference(f, ref, sizeof(ref));
    snprintf(page, sizeof(page), "%s %d %s %d", f->lb->page, f->page, f->lb->of, f->total);
    put(f, ref, SMALL_PT, 0, LEFT, MM(FOOTER_TOP), 100, PANGO_ALIGN_LEFT);
    put(f, page, SMALL_PT, 0, RIGHT - 60, MM(FOOTER_TOP), 60, PANGO_ALIGN_RIGHT);
    cairo_show_page(f->cr);
}

static void fold_marks(flow_t *f)
{
    if (!f->draw)
        return;
    cairo_save(f->cr);
    cairo_set_source_rgb(f->cr, 0.5, 0.5, 0.5);
    rule(f, 5, 9, MM(105), 0.3);
    rule(f, 5, 9, MM(210), 0.3);
    rule(f, 5, 11, MM(148.5), 0.3);
    cairo_restore(f->cr);
}

static void letterhead(flow_t *f)
{
    const letter_t *l = f->l;
    double y = MM(15);
    y += put(f, l->from_name, 12, 1, RIGHT - 85, y, 85, PANGO_ALIGN_RIGHT);
    y += MM(1);
    for (size_t i = 0; i < l->from_n; i++)
        y += put(f, l->from_lines[i], SMALL_PT + 0.5, 0, RIGHT - 85, y, 85, PANGO_ALIGN_RIGHT);
}

static void return_line(flow_t *f)
{
    const letter_t *l = f->l;
    GString *s = g_string_new(l->from_name);
    for (size_t i = 0; i < l->from_n; i++)
        g_string_append_printf(s, " · %s", l->from_lines[i]);
    PangoLayout *ly = mk(f, s->str, RETURN_PT, 0, ADDR_W, PANGO_ALIGN_LEFT);
    pango_layout_set_ellipsize(ly, PANGO_ELLIPSIZE_END);
    pango_layout_set_single_paragraph_mode(ly, TRUE);
    show(f, ly, LEFT, MM(RETURN_TOP));
    if (f->draw) {
        double w = (double)pango_layout_get_width(ly) / PANGO_SCALE;
        int lw, lh;
        pango_layout_get_size(ly, &lw, &lh);
        if ((double)lw / PANGO_SCALE < w)
            w = (double)lw / PANGO_SCALE;
        rule(f, LEFT, LEFT + w * 25.4 / 72.0, MM(RETURN_TOP) + (double)lh / PANGO_SCALE + 0.5, 0.3);
    }
    g_object_unref(ly);
    g_string_free(s, TRUE);
}

/* The recipient's address, at 10 pt, else 9 or 8 pt, within the window's address zone. */
static void address(flow_t *f)
{
    static const double sizes[] = {TEXT_PT, 9.0, 8.0};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        PangoLayout *ly = mk(f, f->l->address, sizes[i], 0, ADDR_W, PANGO_ALIGN_LEFT);
        int fits = height(ly) <= MM(ADDR_H) + 0.01;
        if (fits)
            show(f, ly, LEFT, MM(ADDR_TOP));
        g_object_unref(ly);
        if (fits)
            return;
    }
    f->unfit = 1;
    snprintf(f->err, sizeof(f->err), "postal address does not fit the envelope window (too many or too long lines)");
}

static void info_block(flow_t *f)
{
    const dn_reminder_due_t *rd = f->l->rd;
    char date[64];
    texts_date_long(f->l->now_ms, rd->contact.time_zone, f->locale, date, sizeof(date));
    const char *rows[][2] = {
        {f->lb->date, date},
        {f->lb->invoice_no, rd->invoice_number ? rd->invoice_number : rd->invoice_id},
        {f->lb->customer_no, rd->customer_id},
    };
    double y = MM(INFO_TOP);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (!*rows[i][1])
            continue; /* a notice about the customer has no invoice number */
        double h1 = put(f, rows[i][0], SMALL_PT + 0.5, 0, INFO_LEFT, y, 27, PANGO_ALIGN_LEFT);
        double h2 = put(f, rows[i][1], SMALL_PT + 0.5, 0, INFO_LEFT + 28, y, RIGHT - INFO_LEFT - 28, PANGO_ALIGN_LEFT);
        y += h1 > h2 ? h1 : h2;
    }
}

static void page_begin(flow_t *f)
{
    if (f->page == 1) {
        fold_marks(f);
        letterhead(f);
        return_line(f);
        address(f);
        info_block(f);
        f->y = MM(BODY_TOP);
    } else {
        f->y = MM(NEXT_TOP);
    }
}

/* Room for h pt more on this page, else the next page. */
static void need(flow_t *f, double h)
{
    if (f->y + h <= MM(BODY_BOTTOM) || f->y <= MM(NEXT_TOP) + 0.01)
        return;
    page_end(f);
    f->page++;
    page_begin(f);
}

/* Flows a layout line by line (lines break across pages). */
static void flow_layout(flow_t *f, PangoLayout *ly, double x_mm)
{
    PangoLayoutIter *it = pango_layout_get_iter(ly);
    do {
        PangoRectangle log;
        pango_layout_iter_get_line_extents(it, NULL, &log);
        int baseline = pango_layout_iter_get_baseline(it);
        double h = (double)log.height / PANGO_SCALE;
        need(f, h);
        if (f->draw) {
            cairo_move_to(f->cr, MM(x_mm) + (double)log.x / PANGO_SCALE,
                          f->y + (double)(baseline - log.y) / PANGO_SCALE);
            pango_cairo_show_layout_line(f->cr, pango_layout_iter_get_line_readonly(it));
        }
        f->y += h;
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
}

static void flow_text(flow_t *f, const char *text, double pt, int bold)
{
    if (!text || !*text)
        return;
    PangoLayout *ly = mk(f, text, pt, bold, RIGHT - LEFT, PANGO_ALIGN_LEFT);
    flow_layout(f, ly, LEFT);
    g_object_unref(ly);
}

/* ---- the table of amounts and the payment details ---- */

typedef struct row {
    const char *cells[4];
    int bold;
    int rule_above; /* 1 thin, 2 thick */
    double pt;
} row_t;

static const double col_x[4] = {LEFT, 89, 123, 155};
static const double col_w[4] = {62, 32, 30, RIGHT - 155};

static void table_row(flow_t *f, const row_t *r)
{
    PangoLayout *ly[4];
    double h = 0;
    for (int c = 0; c < 4; c++) {
        ly[c] = mk(f, r->cells[c] ? r->cells[c] : "", r->pt, r->bold, col_w[c],
                   c == 3 ? PANGO_ALIGN_RIGHT : PANGO_ALIGN_LEFT);
        if (height(ly[c]) > h)
            h = height(ly[c]);
    }
    double pad = MM(1.2);
    need(f, h + 2 * pad);
    if (r->rule_above)
        rule(f, LEFT, RIGHT, f->y, r->rule_above == 2 ? 0.8 : 0.4);
    f->y += pad;
    for (int c = 0; c < 4; c++) {
        show(f, ly[c], col_x[c], f->y);
        g_object_unref(ly[c]);
    }
    f->y += h + pad;
}

static void money(int64_t minor, const char *currency, const char *locale, char *buf, size_t size)
{
    if (dn_money_format(minor, currency, locale, buf, size) < 0)
        snprintf(buf, size, "%lld %s", (long long)minor, currency);
}

/* A consolidated notice's table: one row per listed invoice (a note on those listed but not
 * dunned), then the total of the dunned ones. Long lists run on to the next page. */
static void items_table(flow_t *f)
{
    const dn_reminder_due_t *rd = f->l->rd;
    const labels_t *lb = f->lb;
    const char *loc = f->locale;
    need(f, MM(7) * (rd->items_n < 4 ? (double)rd->items_n + 2 : 6));
    row_t head = {{lb->item, lb->due_date, NULL, lb->amount}, 1, 0, SMALL_PT + 1};
    table_row(f, &head);
    for (size_t i = 0; i < rd->items_n; i++) {
        const dn_notice_item_t *it = &rd->items[i];
        char invoice[300], due[32], total[64];
        snprintf(invoice, sizeof(invoice), "%s %s", lb->invoice,
                 it->invoice_number ? it->invoice_number : it->invoice_id);
        texts_day(it->due_date, loc, 0, due, sizeof(due));
        money(it->total_due_minor, rd->currency, loc, total, sizeof(total));
        const char *note = it->dunned ? NULL : dn_render_not_dunned_text(it->not_dunned_reason, loc);
        row_t r = {{invoice, due, note, total}, 0, i == 0 ? 1 : 0, TEXT_PT};
        table_row(f, &r);
    }
    char total[64];
    money(rd->total_due_minor, rd->currency, loc, total, sizeof(total));
    row_t sum = {{lb->total, NULL, NULL, total}, 1, 2, TEXT_PT};
    table_row(f, &sum);
}

static void table(flow_t *f)
{
    const dn_reminder_due_t *rd = f->l->rd;
    if (rd->items_n > 0) {
        items_table(f);
        return;
    }
    const labels_t *lb = f->lb;
    const char *loc = f->locale;
    char invoice[300], issued[32], due[32], amount[64], paid[64], fee[64], interest[64], total[64];
    snprintf(invoice, sizeof(invoice), "%s %s", lb->invoice, rd->invoice_number ? rd->invoice_number : rd->invoice_id);
    texts_day(rd->issue_date, loc, 0, issued, sizeof(issued));
    texts_day(rd->due_date, loc, 0, due, sizeof(due));
    money(rd->amount_minor, rd->currency, loc, amount, sizeof(amount));
    money(rd->outstanding_minor - rd->amount_minor, rd->currency, loc, paid, sizeof(paid));
    money(rd->fee_minor, rd->currency, loc, fee, sizeof(fee));
    money(rd->interest_minor, rd->currency, loc, interest, sizeof(interest));
    money(rd->total_due_minor, rd->currency, loc, total, sizeof(total));

    /* The table is never split: a row is about 6.5 mm. */
    need(f, MM(7) * (rd->outstanding_minor == rd->amount_minor ? 5 : 6));
    row_t head = {{lb->item, lb->issue_date, lb->due_date, lb->amount}, 1, 0, SMALL_PT + 1};
    table_row(f, &head);
    row_t rows[] = {
        {{invoice, issued, due, amount}, 0, 1, TEXT_PT}, {{lb->payments, NULL, NULL, paid}, 0, 0, TEXT_PT},
        {{lb->fees, NULL, NULL, fee}, 0, 0, TEXT_PT},    {{lb->interest, NULL, NULL, interest}, 0, 0, TEXT_PT},
        {{lb->total, NULL, NULL, total}, 1, 2, TEXT_PT},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (i == 1 && rd->outstanding_minor == rd->amount_minor)
            continue; /* nothing paid or credited */
        table_row(f, &rows[i]);
    }
}

static void payment_details(flow_t *f)
{
    const letter_t *l = f->l;
    const dn_reminder_due_t *rd = l->rd;
    GString *s = g_string_new(NULL);
    char ref[300];
    reference(f, ref, sizeof(ref));
    g_string_append(s, ref);
    for (size_t i = 0; i < l->payment_n; i++)
        g_string_append_printf(s, "\n%s", l->payment_lines[i]);
    /* Only web links, as in the email templates' context. */
    if (rd->payment_link && (g_ascii_strncasecmp(rd->payment_link, "https://", 8) == 0 ||
                             g_ascii_strncasecmp(rd->payment_link, "http://", 7) == 0))
        g_string_append_printf(s, "\n%s: %s", f->lb->pay_online, rd->payment_link);
    need(f, MM(14)); /* the heading with its first lines */
    flow_text(f, f->lb->payment_details, TEXT_PT, 1);
    flow_text(f, s->str, TEXT_PT, 0);
    g_string_free(s, TRUE);
}

/* The customer's portal (docs/portal.md): a QR code of the signed link and the link in
 * print beside it, when the sender has DUNNING_PORTAL_URL. */
#define QR_MM    24.0
#define QR_QUIET 4 /* modules of white border the standard asks for */

static void portal_block(flow_t *f)
{
    const QRcode *qr = f->qr;
    if (!qr)
        return;
    f->y += MM(5);
    need(f, MM(QR_MM + 2));
    double y0 = f->y, module = MM(QR_MM) / (qr->width + 2 * QR_QUIET);
    if (f->draw) {
        cairo_set_source_rgb(f->cr, 0, 0, 0);
        for (int y = 0; y < qr->width; y++)
            for (int x = 0; x < qr->width; x++)
                if (qr->data[y * qr->width + x] & 1)
                    cairo_rectangle(f->cr, MM(LEFT) + (x + QR_QUIET) * module, y0 + (y + QR_QUIET) * module, module,
                                    module);
        cairo_fill(f->cr);
    }
    GString *s = g_string_new(f->lb->portal);
    g_string_append_printf(s, "\n%s", f->portal_link);
    put(f, s->str, SMALL_PT, 0, LEFT + QR_MM + 3, y0 + MM(3), RIGHT - LEFT - QR_MM - 3, PANGO_ALIGN_LEFT);
    g_string_free(s, TRUE);
    f->y = y0 + MM(QR_MM);
}

/* ---- one pass ---- */

static void pass(flow_t *f)
{
    const letter_text_t *t = f->l->text;
    f->page = 1;
    page_begin(f);
    if (f->unfit)
        return;
    flow_text(f, t->subject, TEXT_PT + 0.5, 1);
    f->y += MM(8.5);
    flow_text(f, t->before, TEXT_PT, 0);
    if (!is_card_notice(f->l->rd)) { /* a card notice asks for new card details, not for money */
        f->y += MM(5);
        table(f);
        f->y += MM(5);
        payment_details(f);
        portal_block(f);
    }
    if (t->after && *t->after) {
        f->y += MM(6);
        flow_text(f, t->after, TEXT_PT, 0);
    }
    page_end(f);
}

char *pdf_render(const letter_t *l, size_t *len, int *pages, int *permanent, char *errstr, size_t errstr_size)
{
    flow_t f;
    memset(&f, 0, sizeof(f));
    f.l = l;
    f.locale = l->text->src.locale;
    f.lb = texts_labels(f.locale);
    *permanent = 0;
    *pages = 0;

    dn_pdf_t *doc = dn_pdf_new(PAGE_W, PAGE_H, l->text->subject, l->from_name, "dunning sender-letter", l->now_ms);
    f.cr = dn_pdf_cairo(doc);
    f.pc = dn_pdf_pango(doc);

    if (dn_render_portal_link(l->rd, f.portal_link, sizeof(f.portal_link)) == 0)
        f.qr = QRcode_encodeString(f.portal_link, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    f.draw = 0; /* count the pages */
    pass(&f);
    if (!f.unfit) {
        f.total = f.page;
        f.draw = 1;
        pass(&f);
    }
    if (f.qr)
        QRcode_free(f.qr);
    char *pdf = dn_pdf_finish(doc, f.unfit, len, errstr, errstr_size);
    if (f.unfit) {
        *permanent = 1;
        snprintf(errstr, errstr_size, "%s", f.err);
    } else if (pdf) {
        *pages = f.total;
    }
    return pdf;
}

void pdf_shutdown(void)
{
    dn_pdf_shutdown();
}
