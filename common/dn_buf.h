/* dn_buf: a growing byte buffer, always NUL-terminated. An allocation failure is sticky
 * (oom): later appends do nothing and dn_buf_take returns NULL, so a caller appends freely
 * and checks once at the end. */
#ifndef DN_BUF_H
#define DN_BUF_H

#include <stddef.h>

typedef struct dn_buf {
    char *p;
    size_t len, cap;
    int oom;
} dn_buf_t;

/* Each returns 0, or -1 once the buffer is out of memory. */
int dn_buf_addn(dn_buf_t *b, const void *s, size_t n);
int dn_buf_add(dn_buf_t *b, const char *s);
int dn_buf_printf(dn_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The contents (the caller frees them; *len gets the length if len is not NULL), or NULL
 * when an append failed or nothing was appended. The buffer is empty again afterwards. */
char *dn_buf_take(dn_buf_t *b, size_t *len);
void dn_buf_free(dn_buf_t *b);

#endif
