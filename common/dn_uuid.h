/* dn_uuid: UUID text helpers (libuuid). */
#ifndef DN_UUID_H
#define DN_UUID_H

#include <stddef.h>

#define DN_UUID_STR_LEN 37 /* 36 + NUL */

/* Random (v4) UUID. */
void dn_uuid_random(char out[DN_UUID_STR_LEN]);
/* Name-based (v5, SHA-1) UUID in the dunning namespace from the parts joined with '\x1f':
 * the same parts always give the same id, which makes emitted events idempotent. */
void dn_uuid_derive(char out[DN_UUID_STR_LEN], const char *const *parts, size_t nparts);
/* 1 if s is a canonical UUID text (8-4-4-4-12 hex). */
int dn_uuid_valid(const char *s);

#endif
