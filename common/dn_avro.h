/* dn_avro: the schemas, the Confluent wire framing, and JSON conversion.
 *
 * Wire format of every record value: byte 0 = 0 (magic), bytes 1..4 = schema id
 * (big-endian), then the Avro binary body. Schema ids and topics come from
 * schemas/registry.json; the generated file dn_schemas_gen.h (built from
 * the .avsc files in schemas/ by tools/avrogen) embeds them and declares one C struct per
 * record with _decode/_encode/_free functions, e.g.
 *
 *   dn_invoice_issued_t inv;
 *   if (dn_invoice_issued_decode(buf, len, &inv, &err) == 0) { ...; dn_invoice_issued_free(&inv); }
 *
 * Decoding resolves an older writer schema into the current reader schema. */
#ifndef DN_AVRO_H
#define DN_AVRO_H

#include <avro.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Why a record could not be decoded; the code goes into DeadLetter.error_code. */
typedef enum {
    DN_AVRO_OK = 0,
    DN_AVRO_BAD_FRAMING,    /* too short or magic byte != 0: "bad_framing" */
    DN_AVRO_UNKNOWN_SCHEMA, /* schema id not in the registry: "unknown_schema" */
    DN_AVRO_WRONG_TYPE,     /* a known schema, but not the record this topic carries: "wrong_record_type" */
    DN_AVRO_DECODE_ERROR,   /* truncated/garbage body or trailing bytes: "decode_error" */
    DN_AVRO_INVALID_FIELD,  /* decoded, but a field breaks the contract (bad UUID, invalid UTF-8): "invalid_field" */
    DN_AVRO_JSON_ERROR,     /* JSON input does not match the schema: "invalid_json" */
} dn_avro_code_t;

typedef struct dn_avro_err {
    dn_avro_code_t code;
    int32_t schema_id; /* from the framing, -1 if unknown */
    char msg[256];     /* human-readable, names the field: "field contact.email: expected string or null" */
} dn_avro_err_t;

const char *dn_avro_code_str(dn_avro_code_t code);

/* One record schema known to this build. */
typedef struct dn_schema_info {
    int32_t id;
    const char *name; /* "InvoiceIssued" */
    const char *json; /* the .avsc text */
} dn_schema_info_t;

/* Loads (once, thread-safe enough for start-up) every embedded schema. 0/-1. */
int dn_avro_init(char *errstr, size_t errstr_size);
const dn_schema_info_t *dn_avro_schema_by_id(int32_t id);
const dn_schema_info_t *dn_avro_schema_by_name(const char *name); /* the current (highest id) version */
avro_schema_t dn_avro_schema(int32_t id);                         /* borrowed; valid until process exit */

/* Framing. dn_avro_frame_read: checks magic and length, returns schema id and body. */
int dn_avro_frame_read(const void *buf, size_t len, int32_t *schema_id, const void **body, size_t *body_len,
                       dn_avro_err_t *err);

/* Decodes a framed record into a new avro value of the schema `expect_name`'s current
 * version (resolving from the writer schema). Caller owns *out: avro_value_decref(out). */
int dn_avro_decode(const void *buf, size_t len, const char *expect_name, avro_value_t *out, dn_avro_err_t *err);

/* Encodes `val` (an instance of schema `schema_id`) framed. *buf is malloc'd; caller frees. */
int dn_avro_encode(int32_t schema_id, avro_value_t *val, char **buf, size_t *len);

/* JSON <-> Avro, schema-driven, in the friendly form people write by hand:
 * unions are plain values (null or the value; a record union by its object),
 * dates as "YYYY-MM-DD" (or days), timestamp-millis as ISO 8601 (or ms), bytes as
 * base64 strings, enums as their symbol, absent fields with a default take it.
 * dn_avro_from_json: builds a new value of the current schema `name`; caller decrefs. */
int dn_avro_from_json(const char *name, json_t *json, avro_value_t *out, dn_avro_err_t *err);
/* Framed bytes -> JSON object (any schema id in the registry). Returns a new reference or NULL. */
json_t *dn_avro_to_json(const void *buf, size_t len, dn_avro_err_t *err);

/* Field tables: tools/avrogen emits one dn_record_desc_t per record type, and the
 * generic functions below walk them, so no per-field code is written by hand or
 * generated (the schemas are the single source). */
typedef enum {
    DN_F_STRING,   /* char * */
    DN_F_NSTRING,  /* char *, NULL = null */
    DN_F_LONG,     /* int64_t */
    DN_F_NLONG,    /* int64_t + bool has_<f> (aux) */
    DN_F_INT,      /* int32_t */
    DN_F_NINT,     /* int32_t + bool has_<f> (aux) */
    DN_F_BOOL,     /* bool */
    DN_F_BYTES,    /* uint8_t * + size_t <f>_len (aux) */
    DN_F_NBYTES,   /* uint8_t * (NULL = null) + size_t <f>_len (aux) */
    DN_F_ENUM,     /* int-sized C enum, symbols in `enm` */
    DN_F_RECORD,   /* embedded struct described by `rec` */
    DN_F_NRECORD,  /* pointer to a malloc'd struct described by `rec`, NULL = null */
    DN_F_STRARRAY, /* char ** + size_t <f>_n (aux) */
    DN_F_RECARRAY, /* array of records: malloc'd dn_T_t * (items described by `rec`) + size_t <f>_n (aux) */
} dn_field_kind_t;

typedef enum { DN_L_NONE = 0, DN_L_UUID, DN_L_DATE, DN_L_TIMESTAMP_MS } dn_logical_t;

typedef struct dn_enum_desc {
    const char *name;
    const char *const *symbols;
    int nsymbols;
} dn_enum_desc_t;

typedef struct dn_record_desc dn_record_desc_t;

typedef struct dn_field_desc {
    const char *name;
    dn_field_kind_t kind;
    dn_logical_t logical;
    size_t offset;
    size_t aux; /* offset of has_<f>, <f>_len or <f>_n */
    const dn_record_desc_t *rec;
    const dn_enum_desc_t *enm;
} dn_field_desc_t;

struct dn_record_desc {
    const char *name; /* full Avro name without namespace, e.g. "InvoiceIssued" */
    size_t size;      /* sizeof the C struct */
    const dn_field_desc_t *fields;
    size_t nfields;
};

/* Avro value (of the record's schema) -> struct. On error the struct holds what was
 * read so far; free it with dn_record_free. */
int dn_record_from_value(const dn_record_desc_t *d, avro_value_t *v, void *out, dn_avro_err_t *err);
int dn_record_to_value(const dn_record_desc_t *d, const void *in, avro_value_t *v);
void dn_record_free(const dn_record_desc_t *d, void *rec);
/* Framed bytes <-> struct, with the current schema of d->name. */
int dn_record_decode(const dn_record_desc_t *d, const void *buf, size_t len, void *out, dn_avro_err_t *err);
int dn_record_encode(const dn_record_desc_t *d, const void *in, char **buf, size_t *len);

/* A DeadLetter keeps at most this much of the original record, so that it always fits one
 * Kafka message (the default limit is about 1 MB) and can never block the outbox. */
#define DN_DEAD_LETTER_PAYLOAD_MAX (256 * 1024)
/* Cuts dl->payload to DN_DEAD_LETTER_PAYLOAD_MAX; when it does, dl->reason becomes a copy
 * in buf that says so ("... (payload cut to the first 262144 of 1048790 bytes)"). Call it
 * on every DeadLetter before encoding it. */
struct dn_dead_letter;
void dn_dead_letter_clamp(struct dn_dead_letter *dl, char *buf, size_t size);

#endif
