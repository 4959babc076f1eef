/* dunning-portal: what main.c and api.c share. */
#ifndef PORTAL_H
#define PORTAL_H

#include <stdint.h>

#include "dn_config.h"
#include "dn_kafka.h"
#include "dn_pg.h"
#include "dn_portal_link.h"
#include "dn_web.h"

typedef struct portal_cfg {
    dn_common_cfg_t common;
    char *addr;
    char *addr_file;
    char *keys;
    int64_t promise_max_days;
    int64_t per_address_per_min;
    int64_t per_link_per_min;
    int trust_forwarded;
} portal_cfg_t;

typedef struct portal {
    const portal_cfg_t *cfg;
    dn_portal_keys_t keys;
    unsigned char form_key[32]; /* the form tokens' MAC key, derived from the signing key */
    dn_pg_t *pg;
    dn_kafka_producer_t *producer;
    dn_web_limit_t *by_addr, *by_link;
} portal_t;

/* Adds the routes (api.c). 0/-1. */
int portal_routes(portal_t *p, dn_web_t *w);

#endif
