/* libFuzzer target: framed Avro bytes -> every schema's decoder -> the engine's validation.
 *
 * The input is a Kafka record value as a consumer receives it (magic byte, schema id, Avro
 * body). It is decoded as every record type this build knows (the one its schema id names
 * gets past the framing; the others must fail cleanly with wrong_record_type), the engine's
 * five input records then run through the policy library's input checks
 * (common/policy/dn_validate.c), the same code the engine runs before it touches PostgreSQL, and the bytes go through
 * the JSON view that `dunningctl consume` prints. Any crash, leak, sanitizer report or a rejection without a code and a
 * reason is a finding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_avro.h"
#include "dn_validate.h"

/* The policies, and the verdict of the check in hand. */
static policy_set_t *policies;
static const char *reject_code;
static char reject_reason[512];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    if (dn_avro_init(err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz_decode: %s\n", err);
        exit(1);
    }
    const char *path = getenv("DUNNING_POLICY_FILE");
    if (!(policies = dn_policy_set_load(path ? path : DN_FUZZ_POLICY_FILE, err, sizeof(err)))) {
        fprintf(stderr, "fuzz_decode: %s\n", err);
        exit(1);
    }
    return 0;
}

/* A decode failure or a rejection must say what and why: code set, reason not empty. */
static void check_err(const dn_avro_err_t *err)
{
    if (err->code == DN_AVRO_OK || !dn_avro_code_str(err->code) || !err->msg[0] ||
        !memchr(err->msg, '\0', sizeof(err->msg)))
        abort();
}

static void check_verdict(int rc)
{
    if (rc == DN_VALIDATE_REJECT && (!reject_code || !reject_reason[0]))
        abort();
    if (rc != DN_VALIDATE_OK && rc != DN_VALIDATE_REJECT)
        abort();
}

#define DECODE(type, validate)                                                                                         \
    do {                                                                                                               \
        dn_##type##_t v;                                                                                               \
        dn_avro_err_t err = {0};                                                                                       \
        reject_code = NULL;                                                                                            \
        reject_reason[0] = '\0';                                                                                       \
        if (dn_##type##_decode(data, size, &v, &err) == 0) {                                                           \
            check_verdict(validate(policies, &v, &reject_code, reject_reason, sizeof(reject_reason)));                 \
            dn_##type##_free(&v);                                                                                      \
        } else {                                                                                                       \
            check_err(&err);                                                                                           \
        }                                                                                                              \
    } while (0)

static int no_validation(const policy_set_t *ps, const void *v, const char **code, char *reason, size_t reason_size)
{
    return DN_VALIDATE_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The engine's own inputs, validated as the engine does. */
    DECODE(invoice_issued, dn_validate_invoice);
    DECODE(payment_received, dn_validate_payment);
    DECODE(payment_failed, dn_validate_failed);
    DECODE(case_command, dn_validate_command);
    DECODE(reminder_outcome, dn_validate_outcome);
    /* What the senders and the billing system consume. */
    DECODE(reminder_due, no_validation);
    DECODE(payment_retry_due, no_validation);
    DECODE(dunning_case_event, no_validation);
    DECODE(dead_letter, no_validation);
    DECODE(payment_method_updated, no_validation); /* not an engine input yet */

    dn_avro_err_t err = {0};
    json_t *j = dn_avro_to_json(data, size, &err);
    if (j) {
        char *s = json_dumps(j, JSON_COMPACT);
        free(s);
        json_decref(j);
    } else {
        check_err(&err);
    }
    return 0;
}
