/* libdnpdf (common/pdf/): a PDF document drawn with cairo and pango into memory, as the
 * letter sender and the console's timeline export both make them: the PDF surface with its
 * metadata (title, author, creator, creation date from the dunning clock, so that the same
 * input gives the same bytes), one pango context with hinting off (the same layout at any
 * resolution), text made safe for pango, and the finished bytes. */
#ifndef DN_PDF_H
#define DN_PDF_H

#include <cairo.h>
#include <pango/pangocairo.h>
#include <stddef.h>
#include <stdint.h>

#define DN_PDF_MM(x) ((x)*72.0 / 25.4)
#define DN_PDF_A4_W  DN_PDF_MM(210.0)
#define DN_PDF_A4_H  DN_PDF_MM(297.0)

typedef struct dn_pdf dn_pdf_t;

/* A document of w x h points; title and author are made valid UTF-8; created_ms is its
 * creation date. Never NULL (a cairo failure shows in dn_pdf_finish). */
dn_pdf_t *dn_pdf_new(double w_pt, double h_pt, const char *title, const char *author, const char *creator,
                     int64_t created_ms);
cairo_t *dn_pdf_cairo(dn_pdf_t *d);
PangoContext *dn_pdf_pango(dn_pdf_t *d);
/* Ends the document and frees d: the PDF (malloc'd, *len bytes), or NULL with errstr
 * (out of memory, a cairo error). With discard set, only frees (returns NULL, no error). */
char *dn_pdf_finish(dn_pdf_t *d, int discard, size_t *len, char *errstr, size_t errstr_size);

/* Sets a layout's text: valid UTF-8, control characters other than newline and tab as
 * spaces (pango would draw them as boxes). */
void dn_pdf_set_text(PangoLayout *ly, const char *s);

/* Frees fontconfig's and cairo's static data at exit (leak checkers). */
void dn_pdf_shutdown(void);

#endif
