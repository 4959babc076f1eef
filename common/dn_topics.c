#include "dn_topics.h"

#include <stdio.h>
#include <string.h>

static char names[DN_TOPIC__COUNT][256];

void dn_topics_init(const char *prefix)
{
    for (int i = 0; i < DN_TOPIC__COUNT; i++)
        snprintf(names[i], sizeof(names[i]), "%s%s", prefix ? prefix : "", dn_topic_defs[i].name);
}

const char *dn_topic_name(dn_topic_id_t id)
{
    if (!names[id][0])
        dn_topics_init("");
    return names[id];
}

const char *dn_topic_schema(dn_topic_id_t id)
{
    return dn_topic_defs[id].schema;
}

int dn_topic_lookup(const char *name, dn_topic_id_t *id)
{
    for (int i = 0; i < DN_TOPIC__COUNT; i++) {
        if (strcmp(name, dn_topic_name((dn_topic_id_t)i)) == 0 || strcmp(name, dn_topic_defs[i].name) == 0) {
            *id = (dn_topic_id_t)i;
            return 0;
        }
    }
    return -1;
}

int dn_topic_key(const char *tenant_id, const char *customer_id, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", tenant_id, customer_id);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}
