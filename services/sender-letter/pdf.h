/* sender-letter: the print-ready PDF of one reminder (cairo + pango).
 *
 * A4 portrait, DIN 5008 form B for a window envelope (C4/C5/DL with the window on the left):
 *
 *   0-45 mm     letterhead: sender name and address lines, top right
 *   45 mm       address field, 20 mm from the left, 85 x 45 mm: the return line (small) in its
 *               top zone, the recipient's address from 62.7 mm (up to 27.3 mm of lines, 5 mm
 *               inside the field); the info block (date, invoice no., customer no.) from
 *               125 mm left, 50 mm down
 *   98.5 mm     subject (bold), then the body, the table of amounts and the payment details
 *   105/210 mm  fold marks, 148.5 mm punch mark (left edge, page 1)
 *   282 mm      footer on every page: reference and "Page n of N"
 *
 * Text 25-190 mm; later pages start 20 mm from the top; body text breaks across pages line
 * by line, a table row never. Pages are laid out twice (count, then draw), so "of N" is known. */
#ifndef SENDER_LETTER_PDF_H
#define SENDER_LETTER_PDF_H

#include <stddef.h>
#include <stdint.h>

#include "dn_schemas_gen.h"
#include "texts.h"

typedef struct letter {
    const dn_reminder_due_t *rd;
    const letter_text_t *text; /* rendered template; its locale picks the labels and formats */
    const char *address;       /* address_block(): lines joined by '\n' */
    const char *from_name;
    const char *const *from_lines; /* sender's address, for the letterhead and the return line */
    size_t from_n;
    const char *const *payment_lines; /* bank details etc., printed under "Payment details" */
    size_t payment_n;
    const char *font; /* fontconfig family, e.g. "DejaVu Sans" */
    int64_t now_ms;   /* the letter's date and the PDF's creation date (dunning clock) */
} letter_t;

/* Renders the letter. Returns the PDF (malloc'd; *len bytes) and its page count, or NULL with
 * errstr and *permanent: 1 when this letter can never be printed as it is (the address does
 * not fit the window), 0 for a failure worth retrying (out of memory, a cairo error). */
char *pdf_render(const letter_t *l, size_t *len, int *pages, int *permanent, char *errstr, size_t errstr_size);

/* Releases pango's font map, cairo's and fontconfig's caches (at exit, for leak checkers). */
void pdf_shutdown(void);

#endif
