#include "dn_uuid.h"

#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

/* Namespace of every derived id: fixed random bytes; changing them changes every derived id. */
static const uuid_t dunning_ns = {0x5b, 0x3f, 0x51, 0x0e, 0x7c, 0x2a, 0x5d, 0x41,
                                  0x9a, 0x6e, 0x2f, 0x0c, 0x8d, 0x91, 0x44, 0x17};

void dn_uuid_random(char out[DN_UUID_STR_LEN])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

void dn_uuid_derive(char out[DN_UUID_STR_LEN], const char *const *parts, size_t nparts)
{
    size_t len = 0;
    for (size_t i = 0; i < nparts; i++)
        len += strlen(parts[i]) + 1;
    char small[512] = {0};
    char *buf = len <= sizeof(small) ? small : malloc(len);
    if (!buf)
        abort(); /* out of memory deriving an id: nothing sensible to continue with */
    size_t off = 0;
    for (size_t i = 0; i < nparts; i++) {
        size_t n = strlen(parts[i]);
        memcpy(buf + off, parts[i], n);
        off += n;
        if (i + 1 < nparts)
            buf[off++] = '\x1f';
    }
    uuid_t u;
    uuid_generate_sha1(u, dunning_ns, buf, off);
    uuid_unparse_lower(u, out);
    if (buf != small)
        free(buf);
}

int dn_uuid_valid(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr(hex, s[i])) {
            return 0;
        }
    }
    return 1;
}
