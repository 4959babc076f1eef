/* dn_publish: a JSON object -> a framed Avro record on a topic, keyed tenant_id/customer_id.
 *
 * Shared by dunningctl (publish, case ...) and the console (case actions): both publish
 * CaseCommands exactly the same way. */
#ifndef DN_PUBLISH_H
#define DN_PUBLISH_H

#include <jansson.h>
#include <stddef.h>

#include "dn_kafka.h"
#include "dn_topics.h"

/* Encodes j (an object) as a framed record of the named schema. Fills in event_id (a random
 * UUID) and occurred_at (the dunning clock's now) when j has none, so j is modified. key
 * receives "tenant/customer" (or the tenant alone). *buf is malloc'ed: the caller frees it.
 * 0, or -1 with errstr naming the field. */
int dn_publish_encode(const char *schema, json_t *j, char **buf, size_t *len, char *key, size_t key_size, char *errstr,
                      size_t errstr_size);

/* Encodes j as a record of the topic's schema, sends it with p and waits up to flush_ms for
 * the broker's acknowledgement. When event_id is not NULL it receives j's event id
 * (DN_UUID_STR_LEN bytes). 0, or -1 with errstr. */
int dn_publish_json(dn_kafka_producer_t *p, dn_topic_id_t topic, json_t *j, int flush_ms, char *event_id, char *errstr,
                    size_t errstr_size);

#endif
