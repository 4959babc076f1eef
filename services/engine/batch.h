/* Answers fetched once per batch (set-based), consulted by the handlers instead of a
 * round trip per record: a small string -> int map, cleared after every transaction
 * attempt. Only the fast path (no savepoints) fills it. */
#ifndef DN_ENGINE_BATCH_H
#define DN_ENGINE_BATCH_H

#include <stddef.h>

typedef struct batch_map batch_map_t;

batch_map_t *batch_map_new(void);
void batch_map_destroy(batch_map_t *m); /* NULL does nothing */
/* Forgets every key (keeps the memory). */
void batch_map_clear(batch_map_t *m);
/* 1 and *val if the key is there, else 0. */
int batch_map_get(const batch_map_t *m, const char *key, int *val);
/* Adds or replaces. 0, or -1 out of memory. */
int batch_map_put(batch_map_t *m, const char *key, int val);
size_t batch_map_size(const batch_map_t *m);

#endif
