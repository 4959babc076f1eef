/* The input records' one path (records.c): the dispatch table by topic and handle_record. */
#ifndef DN_ENGINE_RECORDS_H
#define DN_ENGINE_RECORDS_H

#include <librdkafka/rdkafka.h>

#include "engine.h"

/* Handles one consumed record in the transaction in hand: H_OK, H_REJECT (e->reject_code
 * and e->reject_reason say why: the caller dead-letters it) or H_DBERR. */
int handle_record(engine_t *e, const rd_kafka_message_t *m);

#endif
