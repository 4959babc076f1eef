/* dn_portal_link: the signed links that take a customer from a reminder to the portal.
 *
 * A token names (tenant, customer, expiry) and is authenticated with HMAC-SHA256
 * (libsodium's crypto_auth_hmacsha256) under one of the keys of DUNNING_PORTAL_KEYS:
 *
 *     <key id>.<payload>.<mac>
 *     payload = base64url("1\n" tenant "\n" customer "\n" expiry as Unix seconds)
 *     mac     = base64url(HMAC-SHA256(key, "dn-portal-link/1\n" key id "." payload))
 *
 * (base64url without padding: the token is safe in a URL path as it is). The ids are the
 * billing system's opaque references, never contact data. Several keys allow rotation: the
 * first one listed signs, every one listed verifies; a key taken off the list revokes every
 * link it signed. The link is <DUNNING_PORTAL_URL>/p/<token>.
 *
 * Verification answers only "valid" with the names, or why not (for the log: the portal
 * shows one neutral page for all of them, so nobody learns whether a customer exists). */
#ifndef DN_PORTAL_LINK_H
#define DN_PORTAL_LINK_H

#include <stddef.h>
#include <stdint.h>

#define DN_PORTAL_KEYS_MAX   8
#define DN_PORTAL_KEY_ID_MAX 16 /* characters: A-Z a-z 0-9 _ - */
#define DN_PORTAL_KEY_MIN    32 /* bytes of key material, at least */
#define DN_PORTAL_KEY_MAX    64
#define DN_PORTAL_ID_MAX     128 /* bytes of a tenant or customer id in a token */
#define DN_PORTAL_TOKEN_MAX  512 /* a token's characters, with its NUL */

typedef struct dn_portal_key {
    char id[DN_PORTAL_KEY_ID_MAX + 1];
    unsigned char key[DN_PORTAL_KEY_MAX];
    size_t len;
} dn_portal_key_t;

typedef struct dn_portal_keys {
    dn_portal_key_t k[DN_PORTAL_KEYS_MAX];
    size_t n; /* k[0] signs */
} dn_portal_keys_t;

/* Parses DUNNING_PORTAL_KEYS: "<id>:<key in base64>[,<id>:<key>...]", each key at least 32
 * bytes (e.g. `openssl rand -base64 32`), ids unique. An empty spec gives no keys (links
 * are off). 0, or -1 with err (which never contains key material). The parsed keys are
 * wiped by dn_portal_keys_wipe. */
int dn_portal_keys_parse(const char *spec, dn_portal_keys_t *out, char *err, size_t errsz);
void dn_portal_keys_wipe(dn_portal_keys_t *keys);

/* Makes a token for (tenant, customer) that expires at expires_s (Unix seconds) with
 * keys->k[0]. 0, or -1 (no keys, an id empty, too long or holding a newline, out too
 * small). */
int dn_portal_token_make(const dn_portal_keys_t *keys, const char *tenant, const char *customer, int64_t expires_s,
                         char *out, size_t outsz);

typedef enum {
    DN_PORTAL_VALID = 0,
    DN_PORTAL_MALFORMED,   /* not three parts, bad base64, bad payload */
    DN_PORTAL_UNKNOWN_KEY, /* a key id not (or no longer) listed */
    DN_PORTAL_BAD_MAC,     /* tampered, or signed by another key of the same id */
    DN_PORTAL_EXPIRED,
} dn_portal_verdict_t;

typedef struct dn_portal_claims {
    char tenant[DN_PORTAL_ID_MAX + 1];
    char customer[DN_PORTAL_ID_MAX + 1];
    int64_t expires_s;
    char key_id[DN_PORTAL_KEY_ID_MAX + 1];
} dn_portal_claims_t;

/* Checks token at now_s (the MAC in constant time, before anything of the payload is
 * believed). DN_PORTAL_VALID with *claims filled, or why not (claims zeroed). */
dn_portal_verdict_t dn_portal_token_verify(const dn_portal_keys_t *keys, const char *token, int64_t now_s,
                                           dn_portal_claims_t *claims);
/* "valid", "malformed", "unknown_key", "bad_mac", "expired". */
const char *dn_portal_verdict_name(dn_portal_verdict_t v);

/* The link: "<base_url without a trailing slash>/p/<token>". 0, or -1 (as make, or out too
 * small). */
int dn_portal_link_make(const dn_portal_keys_t *keys, const char *base_url, const char *tenant, const char *customer,
                        int64_t expires_s, char *out, size_t outsz);

/* The SMS's short link, <base_url>/s/<short id>: a short id stands for one reminder's
 * token (the portal looks it up in portal_short_links and then checks the token as it
 * would the long link's). The id is 8 base62 characters (47 bits) of HMAC-SHA256 over the
 * reminder's event id under a key derived from keys->k[0]: the same reminder always gets
 * the same id (a retry sends the same text), and nobody without the key can guess one. */
#define DN_PORTAL_SHORT_LEN 8
void dn_portal_short_id(const dn_portal_keys_t *keys, const char *reminder_id, char out[DN_PORTAL_SHORT_LEN + 1]);
/* 1 if s has a short id's shape (8 of 0-9 A-Z a-z). */
int dn_portal_short_id_valid(const char *s);

#endif
