#include "dn_pgarray.h"

#include <string.h>

int dn_pgarray_add(dn_pgarray_t *a, const char *v)
{
    dn_buf_add(&a->b, a->n++ ? "," : "{");
    if (!v)
        return dn_buf_add(&a->b, "NULL");
    dn_buf_add(&a->b, "\"");
    while (*v) { /* copied in runs; '"' and '\' escaped */
        size_t run = strcspn(v, "\"\\");
        dn_buf_addn(&a->b, v, run);
        v += run;
        if (*v) {
            const char esc[2] = {'\\', *v++};
            dn_buf_addn(&a->b, esc, 2);
        }
    }
    return dn_buf_add(&a->b, "\"");
}

int dn_pgarray_add_bytea(dn_pgarray_t *a, const void *v, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = v;
    char chunk[512];
    dn_buf_add(&a->b, a->n++ ? ",\"\\\\x" : "{\"\\\\x"); /* "\\x" inside the quotes is \x */
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        for (; i < len && k < sizeof(chunk); i++) {
            chunk[k++] = hex[p[i] >> 4];
            chunk[k++] = hex[p[i] & 15];
        }
        dn_buf_addn(&a->b, chunk, k);
    }
    return dn_buf_add(&a->b, "\"");
}

const char *dn_pgarray_text(dn_pgarray_t *a)
{
    if (a->b.oom)
        return NULL;
    if (a->n == 0)
        return "{}";
    if (dn_buf_addn(&a->b, "}", 1) < 0)
        return NULL;
    a->b.len--; /* the "}" stays after the end (and its NUL after it) until the next add */
    return a->b.p;
}

void dn_pgarray_clear(dn_pgarray_t *a)
{
    a->b.len = 0;
    a->b.oom = 0;
    if (a->b.p)
        a->b.p[0] = '\0';
    a->n = 0;
}

void dn_pgarray_free(dn_pgarray_t *a)
{
    dn_buf_free(&a->b);
    a->n = 0;
}
