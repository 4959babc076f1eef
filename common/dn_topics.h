/* dn_topics: the topic names, defined once in schemas/registry.json and generated
 * into dn_schemas_gen.h as enum dn_topic_id (DN_TOPIC_INVOICE_ISSUED, ...).
 * Every name gets DUNNING_TOPIC_PREFIX in front. */
#ifndef DN_TOPICS_H
#define DN_TOPICS_H

#include "dn_schemas_gen.h"

/* Sets the prefix (copied). Call once at start, before dn_topic_name. */
void dn_topics_init(const char *prefix);
/* Full topic name with prefix. */
const char *dn_topic_name(dn_topic_id_t id);
/* Schema name the topic carries ("InvoiceIssued"). */
const char *dn_topic_schema(dn_topic_id_t id);
/* Finds a topic by its full or unprefixed name; -1 if unknown. */
int dn_topic_lookup(const char *name, dn_topic_id_t *id);
/* Record key for everything about one customer: "<tenant_id>/<customer_id>". */
int dn_topic_key(const char *tenant_id, const char *customer_id, char *buf, size_t size);

#endif
