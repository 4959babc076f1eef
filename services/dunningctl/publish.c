/* dunningctl publish: JSON lines -> framed Avro records on a topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_avro.h"
#include "dn_kafka.h"
#include "dn_publish.h"
#include "dn_topics.h"

static int hex_value(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Decodes hex in place; returns the byte count or -1. */
static long unhex(char *s)
{
    size_t n = strlen(s), out = 0;
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        s[out++] = (char)(hi << 4 | lo);
    }
    return (long)out;
}

/* Builds the framed record and key of one JSON line (dn_publish_encode). 0/-1 with errstr. */
static int encode_line(const char *schema, const char *line, char **buf, size_t *len, char *key, size_t key_size,
                       char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (!j || !json_is_object(j))
        snprintf(errstr, errstr_size, "not a JSON object%s%s", j ? "" : ": ", j ? "" : jerr.text);
    else
        rc = dn_publish_encode(schema, j, buf, len, key, key_size, errstr, errstr_size);
    json_decref(j);
    return rc;
}

int ctl_publish_json(ctl_cfg_t *cfg, dn_topic_id_t topic, const char *json_line, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *j = json_loads(json_line, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(errstr, errstr_size, "not a JSON object: %s", jerr.text);
        return -1;
    }
    int rc = -1;
    dn_kafka_producer_t *p = dn_kafka_producer_new(cfg->common.kafka_brokers, errstr, errstr_size);
    if (p) {
        rc = dn_publish_json(p, topic, j, 30000, NULL, errstr, errstr_size);
        dn_kafka_producer_destroy(p, 1000);
    }
    json_decref(j);
    return rc;
}

int ctl_publish(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *topic_arg = NULL, *raw_key = "";
    int raw = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--raw") == 0)
            raw = 1;
        else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            raw_key = argv[++i];
        else if (!topic_arg && argv[i][0] != '-')
            topic_arg = argv[i];
        else {
            fprintf(stderr, "dunningctl publish: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    dn_topic_id_t topic;
    if (!topic_arg || dn_topic_lookup(topic_arg, &topic) < 0) {
        fprintf(stderr, "dunningctl publish: %s topic%s%s\n", topic_arg ? "unknown" : "missing", topic_arg ? " " : "",
                topic_arg ? topic_arg : "");
        return 2;
    }
    char errstr[512];
    dn_kafka_producer_t *p = dn_kafka_producer_new(cfg->common.kafka_brokers, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "dunningctl publish: %s\n", errstr);
        return 1;
    }
    const char *name = dn_topic_name(topic), *schema = dn_topic_schema(topic);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, published = 0, failed = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = '\0';
        if (got == 0)
            continue;
        char *buf = NULL, key[512];
        size_t len = 0;
        int rc;
        if (raw) {
            long n = unhex(line);
            rc = n < 0 ? -1 : dn_kafka_producer_send(p, name, raw_key, strlen(raw_key), line, (size_t)n);
            if (n < 0)
                snprintf(errstr, sizeof(errstr), "not hex");
        } else {
            rc = encode_line(schema, line, &buf, &len, key, sizeof(key), errstr, sizeof(errstr));
            if (rc == 0 && (rc = dn_kafka_producer_send(p, name, key, strlen(key), buf, len)) < 0)
                snprintf(errstr, sizeof(errstr), "produce failed");
        }
        free(buf);
        if (rc < 0) {
            fprintf(stderr, "dunningctl publish: line %ld: %s\n", lineno, errstr);
            failed++;
        } else {
            published++;
        }
    }
    free(line);
    int flushed = dn_kafka_producer_flush(p, 30000);
    dn_kafka_producer_destroy(p, 1000);
    fprintf(stderr, "dunningctl publish: %ld published to %s, %ld rejected%s\n", published, name, failed,
            flushed < 0 ? " (some were not acknowledged by the broker)" : "");
    return failed || flushed < 0 ? 1 : 0;
}

/* dunningctl encode SCHEMA: JSON lines -> hex of the framed records, one per line
 * (to build test records, or to feed `publish --raw`). */
int ctl_encode(ctl_cfg_t *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc != 1 || !dn_avro_schema_by_name(argv[0])) {
        fprintf(stderr, "usage: dunningctl encode SCHEMA < lines   (SCHEMA: InvoiceIssued, PaymentReceived, ...)\n");
        return 2;
    }
    char *line = NULL, errstr[512], key[512];
    size_t cap = 0;
    long lineno = 0, failed = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        if (got <= 1)
            continue;
        char *buf = NULL;
        size_t len = 0;
        if (encode_line(argv[0], line, &buf, &len, key, sizeof(key), errstr, sizeof(errstr)) < 0) {
            fprintf(stderr, "dunningctl encode: line %ld: %s\n", lineno, errstr);
            failed++;
            continue;
        }
        for (size_t i = 0; i < len; i++)
            printf("%02x", (unsigned char)buf[i]);
        putchar('\n');
        free(buf);
    }
    free(line);
    return failed ? 1 : 0;
}
