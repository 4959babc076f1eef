#include "batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    char *key; /* NULL = empty */
    int val;
} slot_t;

struct batch_map {
    slot_t *slots;
    size_t cap, n; /* cap: a power of two, or 0 */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

batch_map_t *batch_map_new(void)
{
    return calloc(1, sizeof(batch_map_t));
}

void batch_map_clear(batch_map_t *m)
{
    for (size_t i = 0; i < m->cap && m->n > 0; i++)
        if (m->slots[i].key) {
            free(m->slots[i].key);
            m->slots[i].key = NULL;
            m->n--;
        }
    m->n = 0;
}

void batch_map_destroy(batch_map_t *m)
{
    if (!m)
        return;
    batch_map_clear(m);
    free(m->slots);
    free(m);
}

static slot_t *find(const batch_map_t *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
        if (!m->slots[i].key || strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
}

int batch_map_get(const batch_map_t *m, const char *key, int *val)
{
    slot_t *s = find(m, key);
    if (!s || !s->key)
        return 0;
    *val = s->val;
    return 1;
}

static int grow(batch_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    slot_t *slots = calloc(cap, sizeof(*slots)), *old = m->slots;
    if (!slots)
        return -1;
    size_t oldcap = m->cap;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *find(m, old[i].key) = old[i];
    free(old);
    return 0;
}

int batch_map_put(batch_map_t *m, const char *key, int val)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return -1;
    slot_t *s = find(m, key);
    if (!s->key) {
        if (!(s->key = strdup(key)))
            return -1;
        m->n++;
    }
    s->val = val;
    return 0;
}

size_t batch_map_size(const batch_map_t *m)
{
    return m->n;
}
