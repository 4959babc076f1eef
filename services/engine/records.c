/* The input records (see records.h): one table of {decode, validate, apply} by topic, and
 * the one path every record takes through it. Decoding and validation are the same for
 * every type: decode (a failure is a rejection with the decoder's code), check the input
 * contract (validate.h), apply (handlers.h), free the decoded record. Held input comes back
 * through handle_bytes when its invoice arrives (the invoice handler is handed it). */
#include <string.h>

#include "dn_avro.h"
#include "dn_topics.h"
#include "cards.h"
#include "handlers.h"
#include "records.h"
#include "validate.h"

/* The decoded record in hand: one of the six input types. */
typedef union input_record {
    dn_invoice_issued_t invoice;
    dn_payment_received_t payment;
    dn_payment_failed_t failed;
    dn_case_command_t command;
    dn_reminder_outcome_t outcome;
    dn_payment_method_updated_t payment_method;
} input_record_t;

typedef struct record_handler {
    size_t size; /* of the decoded record type */
    int (*decode)(const void *payload, size_t len, void *v, dn_avro_err_t *err);
    int (*validate)(engine_t *e, const void *v);
    int (*apply)(engine_t *e, void *v, const void *payload, size_t len, int replay);
    void (*free)(void *v);
} record_handler_t;

/* decode_T, validate_T and free_T of a record type T (the generated decoders are typed). */
#define RECORD_TYPE(type, check)                                                                                       \
    static int decode_##type(const void *payload, size_t len, void *v, dn_avro_err_t *err)                             \
    {                                                                                                                  \
        return dn_##type##_decode(payload, len, v, err);                                                               \
    }                                                                                                                  \
    static int validate_##type(engine_t *e, const void *v)                                                             \
    {                                                                                                                  \
        return check(e, v);                                                                                            \
    }                                                                                                                  \
    static void free_##type(void *v)                                                                                   \
    {                                                                                                                  \
        dn_##type##_free(v);                                                                                           \
    }
RECORD_TYPE(invoice_issued, validate_invoice)
RECORD_TYPE(payment_received, validate_payment)
RECORD_TYPE(payment_failed, validate_failed)
RECORD_TYPE(case_command, validate_command)
RECORD_TYPE(reminder_outcome, validate_outcome)
RECORD_TYPE(payment_method_updated, validate_payment_method)

static int handle_bytes(engine_t *e, dn_topic_id_t topic, const void *payload, size_t len, int replay);

static int apply_invoice(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_invoice(e, v, payload, len, handle_bytes); /* it replays the invoice's held input */
}

static int apply_payment(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_payment(e, v);
}

static int apply_failed(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_failed(e, v, payload, len, replay);
}

static int apply_command(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_command(e, v, payload, len, replay);
}

static int apply_outcome(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_outcome(e, v);
}

static int apply_payment_method(engine_t *e, void *v, const void *payload, size_t len, int replay)
{
    return handle_payment_method(e, v);
}

#define HANDLER(type, apply)                                                                                           \
    {                                                                                                                  \
        sizeof(dn_##type##_t), decode_##type, validate_##type, apply, free_##type                                      \
    }
/* By topic; the topics the engine does not consume have no entry. */
static const record_handler_t handlers[DN_TOPIC__COUNT] = {
    [DN_TOPIC_INVOICE_ISSUED] = HANDLER(invoice_issued, apply_invoice),
    [DN_TOPIC_PAYMENT_RECEIVED] = HANDLER(payment_received, apply_payment),
    [DN_TOPIC_PAYMENT_FAILED] = HANDLER(payment_failed, apply_failed),
    [DN_TOPIC_CASE_COMMANDS] = HANDLER(case_command, apply_command),
    [DN_TOPIC_REMINDER_OUTCOMES] = HANDLER(reminder_outcome, apply_outcome),
    [DN_TOPIC_PAYMENT_METHOD_UPDATED] = HANDLER(payment_method_updated, apply_payment_method),
};

static int handle_bytes(engine_t *e, dn_topic_id_t topic, const void *payload, size_t len, int replay)
{
    const record_handler_t *h = (unsigned)topic < DN_TOPIC__COUNT ? &handlers[topic] : NULL;
    input_record_t v;
    dn_avro_err_t err;
    if (!h || !h->decode)
        return reject(e, "unknown_topic", "no handler for topic %s", dn_topic_name(topic));
    memset(&v, 0, h->size);
    if (h->decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    int rc = h->validate(e, &v);
    if (rc == H_OK)
        rc = h->apply(e, &v, payload, len, replay);
    h->free(&v);
    return rc;
}

int handle_record(engine_t *e, const rd_kafka_message_t *m)
{
    dn_topic_id_t topic;
    e->reject_code = NULL;
    if (dn_topic_lookup(rd_kafka_topic_name(m->rkt), &topic) < 0)
        return reject(e, "unknown_topic", "no handler for topic %s", rd_kafka_topic_name(m->rkt));
    if (!m->payload || m->len == 0)
        return reject(e, "bad_framing", "empty record");
    return handle_bytes(e, topic, m->payload, m->len, 0);
}
