/* dn_kafka: the consumer and the idempotent producer every service uses.
 *
 * Consumer: a consumer group with auto-commit off. Offsets are committed only by
 * dn_kafka_consumer_commit, which the caller calls after the database COMMIT of
 * what the records caused. Producer: enable.idempotence=true, acks=all.
 * Any DUNNING_RDKAFKA_<name> variable is passed through to rd_kafka_conf_set
 * (DUNNING_RDKAFKA_session_timeout_ms=6000 sets session.timeout.ms: '_' -> '.'). */
#ifndef DN_KAFKA_H
#define DN_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dn_kafka_consumer dn_kafka_consumer_t;
typedef struct dn_kafka_producer dn_kafka_producer_t;

/* Applies DUNNING_RDKAFKA_<property> (dots written as underscores) from the environment to conf.
 * DUNNING_RDKAFKA_CONSUMER_<property> and DUNNING_RDKAFKA_PRODUCER_<property> apply only to that
 * kind of client; role is "CONSUMER" or "PRODUCER". 0/-1 (errstr names the variable). */
int dn_kafka_conf_passthrough(rd_kafka_conf_t *conf, const char *role, char *errstr, size_t errstr_size);

dn_kafka_consumer_t *dn_kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                                           size_t ntopics, char *errstr, size_t errstr_size);
/* Fills msgs with up to max records, waiting at most timeout_ms for the first. Broker
 * errors are logged and not returned. Returns the count (0 on timeout). The caller owns
 * each message: release with dn_kafka_messages_destroy. */
size_t dn_kafka_consumer_poll_batch(dn_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms);
/* Commits, synchronously, the offset after the last of msgs per partition. 0/-1. */
int dn_kafka_consumer_commit(dn_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t n);
/* Assigned partitions count (0 before the first rebalance). */
int dn_kafka_consumer_assigned(dn_kafka_consumer_t *c);
/* Consumer lag per topic, summed over the partitions assigned to this instance: the
 * high watermark minus the position, both from librdkafka's local state (no network
 * round trip). A partition not read from since its assignment (position unknown) counts
 * 0. fn is called once per topic with assigned partitions. Thread-safe (for a metrics
 * callback on another thread, while the consumer exists). 0/-1. */
typedef void (*dn_kafka_lag_fn)(const char *topic, int64_t lag, void *arg);
int dn_kafka_consumer_lag(dn_kafka_consumer_t *c, dn_kafka_lag_fn fn, void *arg);
/* Readiness: 1 if partitions are assigned or, failing that, a broker answers a metadata
 * request within timeout_ms; else 0 with the reason. Thread-safe, like dn_kafka_consumer_lag. */
int dn_kafka_consumer_ready(dn_kafka_consumer_t *c, int timeout_ms, char *why, size_t why_size);
/* Leaves the group (rd_kafka_consumer_close) and frees. NULL does nothing. */
void dn_kafka_consumer_destroy(dn_kafka_consumer_t *c);

/* Another consumer group's lag, read from outside it (the console's overview): a handle with
 * the group's id that never joins it (no subscribe), only asks the group's coordinator for
 * its committed offsets (OffsetFetch) and the partition leaders for their high watermarks.
 * dn_kafka_group_lag: the sum over every partition of the topics of (high watermark -
 * committed offset); a partition without a committed offset counts from its low watermark
 * (what is retained, all of it unread). *partitions: how many were summed. 0, or -1 with
 * errstr (a broker that does not answer within timeout_ms). */
typedef struct dn_kafka_group dn_kafka_group_t;
dn_kafka_group_t *dn_kafka_group_new(const char *brokers, const char *group, char *errstr, size_t errstr_size);
int dn_kafka_group_lag(dn_kafka_group_t *g, const char *const *topics, size_t ntopics, int timeout_ms, int64_t *lag,
                       int *partitions, char *errstr, size_t errstr_size);
void dn_kafka_group_destroy(dn_kafka_group_t *g);
void dn_kafka_messages_destroy(rd_kafka_message_t **msgs, size_t n);

dn_kafka_producer_t *dn_kafka_producer_new(const char *brokers, char *errstr, size_t errstr_size);
/* Queues one record (key and value are copied). 0/-1 (queue full after retries, unknown topic). */
int dn_kafka_producer_send(dn_kafka_producer_t *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t value_len);
/* Waits up to timeout_ms until everything queued is acknowledged. Returns 0 if all records
 * sent since the previous flush were delivered, -1 if any failed or the wait timed out. */
int dn_kafka_producer_flush(dn_kafka_producer_t *p, int timeout_ms);
/* Serves delivery reports without blocking. */
void dn_kafka_producer_poll(dn_kafka_producer_t *p);
/* Flushes with the given bound, then frees. NULL does nothing. */
void dn_kafka_producer_destroy(dn_kafka_producer_t *p, int flush_timeout_ms);

#endif
