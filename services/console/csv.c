/* CSV for the exports (the worklist, a case's timeline): RFC 4180 quoting, CRLF lines. */
#include <string.h>

#include "console.h"

/* A CSV field: quoted when needed; a leading = + - @ is defused with a ' (spreadsheet formulas). */
void csv_field(dn_buf_t *b, const char *v, int last)
{
    int quote = strpbrk(v, ",\"\r\n") != NULL;
    int defuse = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@';
    if (quote)
        dn_buf_addn(b, "\"", 1);
    if (defuse)
        dn_buf_addn(b, "'", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            dn_buf_addn(b, "\"", 1);
        dn_buf_addn(b, p, 1);
    }
    if (quote)
        dn_buf_addn(b, "\"", 1);
    dn_buf_addn(b, last ? "\r\n" : ",", last ? 2 : 1);
}
