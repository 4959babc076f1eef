/* dn_pgarray: a PostgreSQL array literal being built ({"a","b",NULL}), the parameter of a
 * multi-row statement (INSERT ... SELECT FROM unnest($1::text[], ...)). Elements are
 * quoted and escaped; a NULL value is a NULL element; bytea goes in as hex. Running out
 * of memory is sticky, as in dn_buf: later adds do nothing and dn_pgarray_text returns
 * NULL, so a caller adds freely and checks once. */
#ifndef DN_PGARRAY_H
#define DN_PGARRAY_H

#include <stddef.h>

#include "dn_buf.h"

typedef struct dn_pgarray {
    dn_buf_t b;
    size_t n; /* elements so far */
} dn_pgarray_t;

/* Each returns 0, or -1 once out of memory. */
int dn_pgarray_add(dn_pgarray_t *a, const char *v);
int dn_pgarray_add_bytea(dn_pgarray_t *a, const void *v, size_t len);
/* The literal so far ("{}" when empty), or NULL if an add ran out of memory. More elements
 * may be added afterwards; the pointer is valid until then. */
const char *dn_pgarray_text(dn_pgarray_t *a);
/* Empty again, memory kept. */
void dn_pgarray_clear(dn_pgarray_t *a);
void dn_pgarray_free(dn_pgarray_t *a);

#endif
