#include "dn_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_uuid.h"

int dn_publish_encode(const char *schema, json_t *j, char **buf, size_t *len, char *key, size_t key_size, char *errstr,
                      size_t errstr_size)
{
    avro_value_t val;
    dn_avro_err_t err;
    if (!json_is_object(j)) {
        snprintf(errstr, errstr_size, "not a JSON object");
        return -1;
    }
    /* Conveniences for hand-written events: a fresh id and the stack's current time. */
    if (!json_object_get(j, "event_id")) {
        char id[DN_UUID_STR_LEN];
        dn_uuid_random(id);
        json_object_set_new(j, "event_id", json_string(id));
    }
    if (!json_object_get(j, "occurred_at"))
        json_object_set_new(j, "occurred_at", json_integer(dn_clock_now_ms()));
    if (dn_avro_from_json(schema, j, &val, &err) < 0) {
        snprintf(errstr, errstr_size, "%s", err.msg);
        return -1;
    }
    int rc = dn_avro_encode(dn_avro_schema_by_name(schema)->id, &val, buf, len);
    avro_value_decref(&val);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "cannot encode: %s", avro_strerror());
        return -1;
    }
    const char *tenant = json_string_value(json_object_get(j, "tenant_id"));
    const char *customer = json_string_value(json_object_get(j, "customer_id"));
    if (tenant && customer)
        dn_topic_key(tenant, customer, key, key_size);
    else
        snprintf(key, key_size, "%s", tenant ? tenant : "");
    return 0;
}

int dn_publish_json(dn_kafka_producer_t *p, dn_topic_id_t topic, json_t *j, int flush_ms, char *event_id, char *errstr,
                    size_t errstr_size)
{
    char *buf = NULL, key[512];
    size_t len = 0;
    if (dn_publish_encode(dn_topic_schema(topic), j, &buf, &len, key, sizeof(key), errstr, errstr_size) < 0)
        return -1;
    if (event_id)
        snprintf(event_id, DN_UUID_STR_LEN, "%s", json_string_value(json_object_get(j, "event_id")));
    int rc = dn_kafka_producer_send(p, dn_topic_name(topic), key, strlen(key), buf, len);
    if (rc == 0 && dn_kafka_producer_flush(p, flush_ms) < 0)
        rc = -1;
    if (rc < 0)
        snprintf(errstr, errstr_size, "the broker did not acknowledge the record");
    free(buf);
    return rc;
}
