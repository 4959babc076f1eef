#include "dn_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL. */
static int reserve(dn_buf_t *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->oom = 1;
            return -1;
        }
        b->p = grown;
        b->cap = cap;
    }
    return 0;
}

int dn_buf_addn(dn_buf_t *b, const void *s, size_t n)
{
    if (reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int dn_buf_add(dn_buf_t *b, const char *s)
{
    return dn_buf_addn(b, s, strlen(s));
}

int dn_buf_printf(dn_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0) {
        b->oom = 1;
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *dn_buf_take(dn_buf_t *b, size_t *len)
{
    char *p = b->oom ? NULL : b->p;
    if (p && len)
        *len = b->len;
    if (!p)
        free(b->p);
    *b = (dn_buf_t){0};
    return p;
}

void dn_buf_free(dn_buf_t *b)
{
    free(b->p);
    *b = (dn_buf_t){0};
}
