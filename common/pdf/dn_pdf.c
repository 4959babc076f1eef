/* PDF documents with cairo and pango (see dn_pdf.h). */
#include "dn_pdf.h"

#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dn_buf.h"

struct dn_pdf {
    dn_buf_t buf;
    cairo_surface_t *surface;
    cairo_t *cr;
    PangoContext *pc;
};

/* cairo's PDF stream into a dn_buf. */
static cairo_status_t mem_write(void *closure, const unsigned char *data, unsigned int length)
{
    return dn_buf_addn(closure, data, length) == 0 ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_NO_MEMORY;
}

static void iso_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

dn_pdf_t *dn_pdf_new(double w_pt, double h_pt, const char *title, const char *author, const char *creator,
                     int64_t created_ms)
{
    dn_pdf_t *d = calloc(1, sizeof(*d));
    if (!d)
        abort();
    d->surface = cairo_pdf_surface_create_for_stream(mem_write, &d->buf, w_pt, h_pt);
    char created[32];
    iso_time(created_ms, created, sizeof(created));
    gchar *t = g_utf8_make_valid(title ? title : "", -1), *a = g_utf8_make_valid(author ? author : "", -1);
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_TITLE, t);
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_AUTHOR, a);
    g_free(t);
    g_free(a);
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATOR, creator);
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATE_DATE, created);
    d->cr = cairo_create(d->surface);
    d->pc = pango_cairo_create_context(d->cr);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF); /* same layout at any resolution */
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    pango_cairo_context_set_font_options(d->pc, fo);
    cairo_font_options_destroy(fo);
    pango_context_set_round_glyph_positions(d->pc, FALSE);
    cairo_set_source_rgb(d->cr, 0, 0, 0);
    return d;
}

cairo_t *dn_pdf_cairo(dn_pdf_t *d)
{
    return d->cr;
}

PangoContext *dn_pdf_pango(dn_pdf_t *d)
{
    return d->pc;
}

char *dn_pdf_finish(dn_pdf_t *d, int discard, size_t *len, char *errstr, size_t errstr_size)
{
    if (!d)
        return NULL;
    g_object_unref(d->pc);
    cairo_status_t st = cairo_status(d->cr);
    cairo_destroy(d->cr);
    cairo_surface_finish(d->surface);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(d->surface);
    cairo_surface_destroy(d->surface);
    char *out = NULL;
    if (discard)
        ;
    else if (d->buf.oom)
        snprintf(errstr, errstr_size, "out of memory");
    else if (st != CAIRO_STATUS_SUCCESS)
        snprintf(errstr, errstr_size, "cairo: %s", cairo_status_to_string(st));
    else {
        *len = d->buf.len;
        out = d->buf.p;
        d->buf.p = NULL;
    }
    free(d->buf.p);
    free(d);
    return out;
}

void dn_pdf_set_text(PangoLayout *ly, const char *s)
{
    gchar *v = g_utf8_make_valid(s ? s : "", -1);
    for (unsigned char *p = (unsigned char *)v; *p; p++) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
            *p = ' ';
    }
    pango_layout_set_text(ly, v, -1);
    g_free(v);
}

void dn_pdf_shutdown(void)
{
    pango_cairo_font_map_set_default(NULL);
    cairo_debug_reset_static_data();
    FcFini();
}
