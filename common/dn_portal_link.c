/* dn_portal_link: signed portal links (dn_portal_link.h). */
#include "dn_portal_link.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_CONTEXT "dn-portal-link/1\n"
#define B64         sodium_base64_VARIANT_URLSAFE_NO_PADDING

static int key_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > DN_PORTAL_KEY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void dn_portal_keys_wipe(dn_portal_keys_t *keys)
{
    if (keys)
        sodium_memzero(keys, sizeof(*keys));
}

int dn_portal_keys_parse(const char *spec, dn_portal_keys_t *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    if (sodium_init() < 0) {
        snprintf(err, errsz, "libsodium could not be initialised");
        return -1;
    }
    const char *p = spec ? spec : "";
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    int n = 1;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (!colon) {
            snprintf(err, errsz, "DUNNING_PORTAL_KEYS: entry %d is not <id>:<base64 key>", n);
            goto fail;
        }
        size_t idlen = (size_t)(colon - p);
        if (!key_id_ok(p, idlen)) {
            snprintf(err, errsz, "DUNNING_PORTAL_KEYS: entry %d: the id must be 1-%d of A-Z a-z 0-9 _ -", n,
                     DN_PORTAL_KEY_ID_MAX);
            goto fail;
        }
        if (out->n == DN_PORTAL_KEYS_MAX) {
            snprintf(err, errsz, "DUNNING_PORTAL_KEYS: more than %d keys", DN_PORTAL_KEYS_MAX);
            goto fail;
        }
        dn_portal_key_t *k = &out->k[out->n];
        memcpy(k->id, p, idlen);
        k->id[idlen] = '\0';
        for (size_t i = 0; i < out->n; i++)
            if (!strcmp(out->k[i].id, k->id)) {
                snprintf(err, errsz, "DUNNING_PORTAL_KEYS: key id %s is listed twice", k->id);
                goto fail;
            }
        const char *b = colon + 1;
        size_t blen = len - idlen - 1;
        if (sodium_base642bin(k->key, sizeof(k->key), b, blen, " ", &k->len, NULL, sodium_base64_VARIANT_ORIGINAL) !=
                0 &&
            sodium_base642bin(k->key, sizeof(k->key), b, blen, " ", &k->len, NULL, B64) != 0) {
            snprintf(err, errsz, "DUNNING_PORTAL_KEYS: key %s is not base64 of at most %d bytes", k->id,
                     DN_PORTAL_KEY_MAX);
            goto fail;
        }
        if (k->len < DN_PORTAL_KEY_MIN) {
            snprintf(err, errsz, "DUNNING_PORTAL_KEYS: key %s has %zu bytes, at least %d are needed", k->id, k->len,
                     DN_PORTAL_KEY_MIN);
            goto fail;
        }
        out->n++;
        if (!end)
            return 0;
        p = end + 1;
        while (*p == ' ')
            p++;
        n++;
    }
fail:
    dn_portal_keys_wipe(out);
    return -1;
}

static void mac_of(const dn_portal_key_t *k, const char *payload, size_t plen, unsigned char mac[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k->key, k->len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)MAC_CONTEXT, sizeof(MAC_CONTEXT) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)k->id, strlen(k->id));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, plen);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= DN_PORTAL_ID_MAX && !strchr(s, '\n');
}

int dn_portal_token_make(const dn_portal_keys_t *keys, const char *tenant, const char *customer, int64_t expires_s,
                         char *out, size_t outsz)
{
    if (!keys || keys->n == 0 || !id_ok(tenant) || !id_ok(customer) || expires_s <= 0)
        return -1;
    char plain[2 * DN_PORTAL_ID_MAX + 32];
    int pn = snprintf(plain, sizeof(plain), "1\n%s\n%s\n%" PRId64, tenant, customer, expires_s);
    if (pn < 0 || (size_t)pn >= sizeof(plain))
        return -1;
    const dn_portal_key_t *k = &keys->k[0];
    char payload[sodium_base64_ENCODED_LEN(sizeof(plain), B64)];
    sodium_bin2base64(payload, sizeof(payload), (const unsigned char *)plain, (size_t)pn, B64);
    unsigned char mac[32];
    mac_of(k, payload, strlen(payload), mac);
    char mac64[sodium_base64_ENCODED_LEN(32, B64)];
    sodium_bin2base64(mac64, sizeof(mac64), mac, sizeof(mac), B64);
    int n = snprintf(out, outsz, "%s.%s.%s", k->id, payload, mac64);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

dn_portal_verdict_t dn_portal_token_verify(const dn_portal_keys_t *keys, const char *token, int64_t now_s,
                                           dn_portal_claims_t *claims)
{
    memset(claims, 0, sizeof(*claims));
    if (!token || strlen(token) >= DN_PORTAL_TOKEN_MAX)
        return DN_PORTAL_MALFORMED;
    const char *d1 = strchr(token, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.') || !key_id_ok(token, (size_t)(d1 - token)))
        return DN_PORTAL_MALFORMED;
    const dn_portal_key_t *k = NULL;
    size_t idlen = (size_t)(d1 - token);
    for (size_t i = 0; keys && i < keys->n && !k; i++)
        if (strlen(keys->k[i].id) == idlen && !memcmp(keys->k[i].id, token, idlen))
            k = &keys->k[i];
    if (!k)
        return DN_PORTAL_UNKNOWN_KEY;
    const char *payload = d1 + 1;
    size_t plen = (size_t)(d2 - payload);
    unsigned char given[32], want[32];
    size_t glen = 0;
    if (sodium_base642bin(given, sizeof(given), d2 + 1, strlen(d2 + 1), NULL, &glen, NULL, B64) != 0 ||
        glen != sizeof(given))
        return DN_PORTAL_MALFORMED;
    mac_of(k, payload, plen, want);
    if (sodium_memcmp(given, want, sizeof(want)) != 0)
        return DN_PORTAL_BAD_MAC;
    /* Authentic from here on. */
    char plain[2 * DN_PORTAL_ID_MAX + 32];
    size_t pn = 0;
    if (sodium_base642bin((unsigned char *)plain, sizeof(plain) - 1, payload, plen, NULL, &pn, NULL, B64) != 0)
        return DN_PORTAL_MALFORMED;
    plain[pn] = '\0';
    char *t = plain + 2, *c = NULL, *e = NULL;
    if (strncmp(plain, "1\n", 2) != 0 || !(c = strchr(t, '\n')) || !(e = strchr(c + 1, '\n')))
        return DN_PORTAL_MALFORMED;
    *c++ = '\0';
    *e++ = '\0';
    char *stop = NULL;
    long long exp = strtoll(e, &stop, 10);
    if (!id_ok(t) || !id_ok(c) || !stop || *stop || exp <= 0)
        return DN_PORTAL_MALFORMED;
    if ((int64_t)exp <= now_s)
        return DN_PORTAL_EXPIRED;
    snprintf(claims->tenant, sizeof(claims->tenant), "%s", t);
    snprintf(claims->customer, sizeof(claims->customer), "%s", c);
    claims->expires_s = (int64_t)exp;
    snprintf(claims->key_id, sizeof(claims->key_id), "%s", k->id);
    return DN_PORTAL_VALID;
}

const char *dn_portal_verdict_name(dn_portal_verdict_t v)
{
    switch (v) {
    case DN_PORTAL_VALID:
        return "valid";
    case DN_PORTAL_MALFORMED:
        return "malformed";
    case DN_PORTAL_UNKNOWN_KEY:
        return "unknown_key";
    case DN_PORTAL_BAD_MAC:
        return "bad_mac";
    case DN_PORTAL_EXPIRED:
        return "expired";
    }
    return "malformed";
}

int dn_portal_link_make(const dn_portal_keys_t *keys, const char *base_url, const char *tenant, const char *customer,
                        int64_t expires_s, char *out, size_t outsz)
{
    char token[DN_PORTAL_TOKEN_MAX];
    if (!base_url || !base_url[0] || dn_portal_token_make(keys, tenant, customer, expires_s, token, sizeof(token)) < 0)
        return -1;
    size_t bl = strlen(base_url);
    while (bl > 0 && base_url[bl - 1] == '/')
        bl--;
    int n = snprintf(out, outsz, "%.*s/p/%s", (int)bl, base_url, token);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

void dn_portal_short_id(const dn_portal_keys_t *keys, const char *reminder_id, char out[DN_PORTAL_SHORT_LEN + 1])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char k[32], mac[32];
    crypto_auth_hmacsha256(k, (const unsigned char *)"dn-portal-short/1", 17, keys->k[0].key);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, k, sizeof(k));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)reminder_id, strlen(reminder_id));
    crypto_auth_hmacsha256_final(&st, mac);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | mac[i];
    for (int i = 0; i < DN_PORTAL_SHORT_LEN; i++, v /= 62)
        out[i] = b62[v % 62];
    out[DN_PORTAL_SHORT_LEN] = '\0';
    sodium_memzero(k, sizeof(k));
}

int dn_portal_short_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n != DN_PORTAL_SHORT_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}
