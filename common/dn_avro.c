#include "dn_avro.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_schemas_gen.h"
#include "dn_uuid.h"

typedef struct loaded {
    const dn_schema_info_t *info;
    avro_schema_t schema;
    avro_value_iface_t *iface; /* generic values of this schema */
    json_t *json;              /* the parsed .avsc: avro-c drops logicalType and defaults, this keeps them */
} loaded_t;

static loaded_t *loaded;
static size_t nloaded;

const char *dn_avro_code_str(dn_avro_code_t code)
{
    static const char *const names[] = {"ok",           "bad_framing",   "unknown_schema", "wrong_record_type",
                                        "decode_error", "invalid_field", "invalid_json"};
    return (unsigned)code < sizeof(names) / sizeof(names[0]) ? names[code] : "unknown";
}

__attribute__((format(printf, 3, 4))) static int set_err(dn_avro_err_t *err, dn_avro_code_t code, const char *fmt, ...);
static int set_err(dn_avro_err_t *err, dn_avro_code_t code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int dn_avro_init(char *errstr, size_t errstr_size)
{
    if (loaded)
        return 0;
    loaded_t *l = calloc(dn_schema_infos_n, sizeof(*l));
    if (!l)
        return snprintf(errstr, errstr_size, "out of memory"), -1;
    for (size_t i = 0; i < dn_schema_infos_n; i++) {
        l[i].info = &dn_schema_infos[i];
        if (avro_schema_from_json_length(l[i].info->json, strlen(l[i].info->json), &l[i].schema)) {
            snprintf(errstr, errstr_size, "schema %s: %s", l[i].info->name, avro_strerror());
            return -1; /* start-up failure: the process exits */
        }
        l[i].iface = avro_generic_class_from_schema(l[i].schema);
        l[i].json = json_loads(l[i].info->json, 0, NULL);
        if (!l[i].iface || !l[i].json) {
            snprintf(errstr, errstr_size, "schema %s: cannot load", l[i].info->name);
            return -1;
        }
    }
    nloaded = dn_schema_infos_n;
    loaded = l;
    return 0;
}

static loaded_t *by_id(int32_t id)
{
    for (size_t i = 0; i < nloaded; i++)
        if (loaded[i].info->id == id)
            return &loaded[i];
    return NULL;
}

/* The current version of a record: the highest id with that name. */
static loaded_t *current(const char *name)
{
    loaded_t *best = NULL;
    for (size_t i = 0; i < nloaded; i++)
        if (strcmp(loaded[i].info->name, name) == 0 && (!best || loaded[i].info->id > best->info->id))
            best = &loaded[i];
    return best;
}

const dn_schema_info_t *dn_avro_schema_by_id(int32_t id)
{
    loaded_t *l = by_id(id);
    return l ? l->info : NULL;
}

const dn_schema_info_t *dn_avro_schema_by_name(const char *name)
{
    loaded_t *l = current(name);
    return l ? l->info : NULL;
}

avro_schema_t dn_avro_schema(int32_t id)
{
    loaded_t *l = by_id(id);
    return l ? l->schema : NULL;
}

int dn_avro_frame_read(const void *buf, size_t len, int32_t *schema_id, const void **body, size_t *body_len,
                       dn_avro_err_t *err)
{
    const unsigned char *b = buf;
    if (err)
        err->schema_id = -1;
    if (!buf || len < 5)
        return set_err(err, DN_AVRO_BAD_FRAMING, "record of %zu bytes is shorter than the 5-byte framing", len);
    if (b[0] != 0)
        return set_err(err, DN_AVRO_BAD_FRAMING, "magic byte is 0x%02x, not 0 (not Confluent-framed Avro)", b[0]);
    *schema_id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4]);
    if (err)
        err->schema_id = *schema_id;
    *body = b + 5;
    *body_len = len - 5;
    return 0;
}

/* Walks an Avro body against its writer schema without allocating, checking that every
 * length and count fits in what is left. libavro trusts a string's length prefix and
 * allocates it before reading (a 10-byte record can ask for 2 GiB), so nothing reaches
 * it unchecked. Returns the bytes the record spans, or -1 if the body is not an instance. */
typedef struct scan {
    const unsigned char *p, *end;
    int depth;
} scan_t;

static int scan_varint(scan_t *s, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (s->p >= s->end)
            return -1;
        unsigned char b = *s->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return -1;
}

static int scan_skip(scan_t *s, int64_t n)
{
    if (n < 0 || n > s->end - s->p)
        return -1;
    s->p += n;
    return 0;
}

static int scan_value(scan_t *s, avro_schema_t sc)
{
    int64_t n;
    if (++s->depth > 64)
        return -1;
    int rc = 0;
    switch (avro_typeof(sc)) {
    case AVRO_NULL:
        break;
    case AVRO_BOOLEAN:
        rc = scan_skip(s, 1);
        break;
    case AVRO_INT32:
    case AVRO_INT64:
    case AVRO_ENUM:
        rc = scan_varint(s, &n);
        if (!rc && avro_typeof(sc) == AVRO_ENUM && (n < 0 || n >= (int64_t)avro_schema_enum_number_of_symbols(sc)))
            rc = -1;
        break;
    case AVRO_FLOAT:
        rc = scan_skip(s, 4);
        break;
    case AVRO_DOUBLE:
        rc = scan_skip(s, 8);
        break;
    case AVRO_STRING:
    case AVRO_BYTES:
        rc = scan_varint(s, &n) || scan_skip(s, n);
        break;
    case AVRO_FIXED:
        rc = scan_skip(s, avro_schema_fixed_size(sc));
        break;
    case AVRO_RECORD:
        for (size_t i = 0; !rc && i < avro_schema_record_size(sc); i++)
            rc = scan_value(s, avro_schema_record_field_get_by_index(sc, (int)i));
        break;
    case AVRO_UNION:
        rc = scan_varint(s, &n);
        if (!rc && (n < 0 || n >= (int64_t)avro_schema_union_size(sc)))
            rc = -1;
        if (!rc)
            rc = scan_value(s, avro_schema_union_branch(sc, (int)n));
        break;
    case AVRO_ARRAY:
    case AVRO_MAP:
        for (;;) {
            if ((rc = scan_varint(s, &n)) || n == 0)
                break;
            if (n < 0) { /* a block with its byte size */
                int64_t bytes;
                if ((rc = scan_varint(s, &bytes)))
                    break;
                if (n == INT64_MIN) { /* -n would overflow (found by tests/fuzz/fuzz_decode) */
                    rc = -1;
                    break;
                }
                n = -n;
            }
            if (n > s->end - s->p) { /* every item takes at least one byte */
                rc = -1;
                break;
            }
            for (int64_t i = 0; !rc && i < n; i++) {
                if (avro_typeof(sc) == AVRO_MAP) {
                    int64_t kl;
                    rc = scan_varint(s, &kl) || scan_skip(s, kl);
                }
                if (!rc)
                    rc = scan_value(s, avro_typeof(sc) == AVRO_MAP ? avro_schema_map_values(sc)
                                                                   : avro_schema_array_items(sc));
            }
            if (rc)
                break;
        }
        break;
    case AVRO_LINK:
        rc = scan_value(s, avro_schema_link_target(sc));
        break;
    default:
        rc = -1;
    }
    s->depth--;
    return rc;
}

static int resolve_value(json_t *root, json_t *rnode, avro_value_t *wv, avro_value_t *rv, const char *path,
                         dn_avro_err_t *err);

int dn_avro_decode(const void *buf, size_t len, const char *expect_name, avro_value_t *out, dn_avro_err_t *err)
{
    int32_t id = 0; /* set by dn_avro_frame_read; initialised for GCC -O3's sake */
    const void *body = NULL;
    size_t body_len = 0;
    if (dn_avro_frame_read(buf, len, &id, &body, &body_len, err) < 0)
        return -1;
    loaded_t *w = by_id(id);
    if (!w)
        return set_err(err, DN_AVRO_UNKNOWN_SCHEMA, "schema id %d is not in the registry", id);
    if (expect_name && strcmp(w->info->name, expect_name) != 0)
        return set_err(err, DN_AVRO_WRONG_TYPE, "record is a %s (schema id %d), this topic carries %s", w->info->name,
                       id, expect_name);
    scan_t sc = {.p = body, .end = (const unsigned char *)body + body_len};
    if (scan_value(&sc, w->schema) != 0)
        return set_err(err, DN_AVRO_DECODE_ERROR, "body does not decode as %s: a length or value runs past the end",
                       w->info->name);
    if (sc.p != sc.end)
        return set_err(err, DN_AVRO_DECODE_ERROR, "bytes left over after the %s record", w->info->name);
    loaded_t *r = current(w->info->name);
    if (avro_generic_value_new(r->iface, out))
        return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
    avro_reader_t reader = avro_reader_memory(body, (int64_t)body_len);
    int rc;
    if (w == r) {
        rc = avro_value_read(reader, out);
    } else {
        /* An older writer: read it as written, then resolve it into the current version by
         * field name, taking the reader's defaults for fields the writer did not have
         * (avro-c's resolved writer refuses those: "Reader field x doesn't appear in writer"). */
        avro_value_t wv;
        rc = avro_generic_value_new(w->iface, &wv);
        if (!rc) {
            rc = avro_value_read(reader, &wv);
            if (!rc && resolve_value(r->json, r->json, &wv, out, "", err) < 0) {
                avro_value_decref(&wv);
                avro_reader_free(reader);
                avro_value_decref(out);
                if (err)
                    err->schema_id = id;
                return -1;
            }
            avro_value_decref(&wv);
        }
    }
    /* avro_reader_is_eof() only works on file readers: probe for one more byte instead. */
    char extra;
    int trailing = !rc && avro_read(reader, &extra, 1) == 0;
    avro_reader_free(reader);
    if (rc || trailing) {
        avro_value_decref(out);
        if (trailing)
            return set_err(err, DN_AVRO_DECODE_ERROR, "bytes left over after the %s record", w->info->name);
        return set_err(err, DN_AVRO_DECODE_ERROR, "body does not decode as %s: %s", w->info->name, avro_strerror());
    }
    return 0;
}

int dn_avro_encode(int32_t schema_id, avro_value_t *val, char **buf, size_t *len)
{
    size_t size;
    if (avro_value_sizeof(val, &size))
        return -1;
    char *b = malloc(size + 5);
    if (!b)
        return -1;
    b[0] = 0;
    b[1] = (char)(schema_id >> 24);
    b[2] = (char)(schema_id >> 16);
    b[3] = (char)(schema_id >> 8);
    b[4] = (char)schema_id;
    avro_writer_t w = avro_writer_memory(b + 5, (int64_t)size);
    int rc = avro_value_write(w, val);
    avro_writer_free(w);
    if (rc) {
        free(b);
        return -1;
    }
    *buf = b;
    *len = size + 5;
    return 0;
}

/* ---- strings ---------------------------------------------------------------- */

static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + k >= n) /* the continuation bytes i+1 .. i+k must exist */
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        i += k + 1;
    }
    return true;
}

static int check_string(const char *path, const char *s, size_t len, dn_logical_t logical, dn_avro_err_t *err)
{
    if (memchr(s, '\0', len))
        return set_err(err, DN_AVRO_INVALID_FIELD, "field %s: contains a NUL byte", path);
    if (!utf8_valid((const unsigned char *)s, len))
        return set_err(err, DN_AVRO_INVALID_FIELD, "field %s: not valid UTF-8", path);
    if (logical == DN_L_UUID && !dn_uuid_valid(s))
        return set_err(err, DN_AVRO_INVALID_FIELD, "field %s: not a UUID", path);
    return 0;
}

/* Reads a string value (avro-c sizes include the terminating NUL). */
static int read_string(avro_value_t *v, const char *path, dn_logical_t logical, char **out, dn_avro_err_t *err)
{
    const char *s;
    size_t size;
    if (avro_value_get_string(v, &s, &size))
        return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not a string", path);
    size_t len = size ? size - 1 : 0;
    if (check_string(path, s, len, logical, err) < 0)
        return -1;
    if (!(*out = strndup(s, len)))
        return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
    return 0;
}

/* ---- field tables --------------------------------------------------------------- */

#define AT(base, off, type)  ((type *)((char *)(base) + (off)))
#define CAT(base, off, type) ((type const *)((const char *)(base) + (off)))

static int from_value(const dn_record_desc_t *d, avro_value_t *v, void *out, const char *prefix, dn_avro_err_t *err);

/* For a ["null", T] union: 1 and the T branch in *b if set, 0 if null, -1 on error. */
static int union_branch(avro_value_t *u, avro_value_t *b)
{
    int disc;
    if (avro_value_get_discriminant(u, &disc) || avro_value_get_current_branch(u, b))
        return -1;
    return disc == 0 ? 0 : 1;
}

static int field_from_value(const dn_field_desc_t *f, avro_value_t *fv, void *out, const char *path, dn_avro_err_t *err)
{
    avro_value_t b;
    int set = 1;
    switch (f->kind) {
    case DN_F_NSTRING:
    case DN_F_NLONG:
    case DN_F_NINT:
    case DN_F_NBYTES:
    case DN_F_NRECORD:
        if ((set = union_branch(fv, &b)) < 0)
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: bad union", path);
        fv = &b;
        break;
    default:
        break;
    }
    switch (f->kind) {
    case DN_F_STRING:
    case DN_F_NSTRING:
        return set ? read_string(fv, path, f->logical, AT(out, f->offset, char *), err) : 0;
    case DN_F_LONG:
    case DN_F_NLONG:
        if (f->kind == DN_F_NLONG)
            *AT(out, f->aux, bool) = set;
        return set && avro_value_get_long(fv, AT(out, f->offset, int64_t))
                   ? set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not a long", path)
                   : 0;
    case DN_F_INT:
    case DN_F_NINT:
        if (f->kind == DN_F_NINT)
            *AT(out, f->aux, bool) = set;
        return set && avro_value_get_int(fv, AT(out, f->offset, int32_t))
                   ? set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not an int", path)
                   : 0;
    case DN_F_BOOL: {
        int x;
        if (avro_value_get_boolean(fv, &x))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not a boolean", path);
        *AT(out, f->offset, bool) = x != 0;
        return 0;
    }
    case DN_F_BYTES:
    case DN_F_NBYTES: {
        const void *p;
        size_t n;
        if (!set)
            return 0;
        if (avro_value_get_bytes(fv, &p, &n))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not bytes", path);
        uint8_t *copy = malloc(n ? n : 1);
        if (!copy)
            return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
        memcpy(copy, p, n);
        *AT(out, f->offset, uint8_t *) = copy;
        *AT(out, f->aux, size_t) = n;
        return 0;
    }
    case DN_F_ENUM: {
        int x;
        if (avro_value_get_enum(fv, &x) || x < 0 || x >= f->enm->nsymbols)
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not a %s symbol", path, f->enm->name);
        *AT(out, f->offset, int) = x;
        return 0;
    }
    case DN_F_RECORD:
        return from_value(f->rec, fv, AT(out, f->offset, char), path, err);
    case DN_F_NRECORD: {
        if (!set)
            return 0;
        void *rec = calloc(1, f->rec->size);
        if (!rec)
            return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
        *AT(out, f->offset, void *) = rec;
        return from_value(f->rec, fv, rec, path, err);
    }
    case DN_F_STRARRAY: {
        size_t n;
        if (avro_value_get_size(fv, &n))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not an array", path);
        char **items = calloc(n ? n : 1, sizeof(char *));
        if (!items)
            return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
        *AT(out, f->offset, char **) = items;
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            char ipath[300];
            snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
            if (avro_value_get_by_index(fv, i, &e, NULL) || read_string(&e, ipath, DN_L_NONE, &items[i], err) < 0)
                return -1;
            *AT(out, f->aux, size_t) = i + 1;
        }
        return 0;
    }
    case DN_F_RECARRAY: {
        size_t n;
        if (avro_value_get_size(fv, &n))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not an array", path);
        char *items = calloc(n ? n : 1, f->rec->size);
        if (!items)
            return set_err(err, DN_AVRO_DECODE_ERROR, "out of memory");
        *AT(out, f->offset, void *) = items;
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            char ipath[300];
            snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
            *AT(out, f->aux, size_t) = i + 1; /* counted before it is read, so that a half-read item is freed */
            if (avro_value_get_by_index(fv, i, &e, NULL))
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not an array item", ipath);
            if (from_value(f->rec, &e, items + i * f->rec->size, ipath, err) < 0)
                return -1;
        }
        return 0;
    }
    }
    return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: unsupported kind", path);
}

/* prefix.name into path (for error messages; built for every field, so no printf). */
static void join_path(char *path, size_t size, const char *prefix, const char *name)
{
    size_t a = strlen(prefix), b = strlen(name), dot = a > 0;
    if (a + dot + b >= size) {
        snprintf(path, size, "%s%s%s", prefix, dot ? "." : "", name);
        return;
    }
    memcpy(path, prefix, a);
    path[a] = '.';
    memcpy(path + a + dot, name, b + 1);
}

static int from_value(const dn_record_desc_t *d, avro_value_t *v, void *out, const char *prefix, dn_avro_err_t *err)
{
    for (size_t i = 0; i < d->nfields; i++) {
        const dn_field_desc_t *f = &d->fields[i];
        char path[256];
        join_path(path, sizeof(path), prefix, f->name);
        avro_value_t fv;
        if (avro_value_get_by_name(v, f->name, &fv, NULL))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: missing from the record", path);
        if (field_from_value(f, &fv, out, path, err) < 0)
            return -1;
    }
    return 0;
}

int dn_record_from_value(const dn_record_desc_t *d, avro_value_t *v, void *out, dn_avro_err_t *err)
{
    return from_value(d, v, out, "", err);
}

static int set_union(avro_value_t *u, int set, avro_value_t *b)
{
    if (avro_value_set_branch(u, set ? 1 : 0, b))
        return -1;
    return set ? 0 : avro_value_set_null(b);
}

static int field_to_value(const dn_field_desc_t *f, const void *in, avro_value_t *fv)
{
    avro_value_t b;
    switch (f->kind) {
    case DN_F_STRING: {
        const char *s = *CAT(in, f->offset, char *);
        return s ? avro_value_set_string(fv, s) : -1;
    }
    case DN_F_NSTRING: {
        const char *s = *CAT(in, f->offset, char *);
        if (set_union(fv, s != NULL, &b))
            return -1;
        return s ? avro_value_set_string(&b, s) : 0;
    }
    case DN_F_LONG:
        return avro_value_set_long(fv, *CAT(in, f->offset, int64_t));
    case DN_F_NLONG: {
        bool has = *CAT(in, f->aux, bool);
        return set_union(fv, has, &b) || (has && avro_value_set_long(&b, *CAT(in, f->offset, int64_t))) ? -1 : 0;
    }
    case DN_F_INT:
        return avro_value_set_int(fv, *CAT(in, f->offset, int32_t));
    case DN_F_NINT: {
        bool has = *CAT(in, f->aux, bool);
        return set_union(fv, has, &b) || (has && avro_value_set_int(&b, *CAT(in, f->offset, int32_t))) ? -1 : 0;
    }
    case DN_F_BOOL:
        return avro_value_set_boolean(fv, *CAT(in, f->offset, bool));
    case DN_F_BYTES:
    case DN_F_NBYTES: {
        uint8_t *p = *CAT(in, f->offset, uint8_t *);
        size_t n = *CAT(in, f->aux, size_t);
        if (f->kind == DN_F_NBYTES) {
            if (set_union(fv, p != NULL, &b))
                return -1;
            if (!p)
                return 0;
            fv = &b;
        }
        return avro_value_set_bytes(fv, p ? (void *)p : (void *)"", p ? n : 0);
    }
    case DN_F_ENUM:
        return avro_value_set_enum(fv, *CAT(in, f->offset, int));
    case DN_F_RECORD:
        return dn_record_to_value(f->rec, CAT(in, f->offset, char), fv);
    case DN_F_NRECORD: {
        const void *rec = *CAT(in, f->offset, void *);
        if (set_union(fv, rec != NULL, &b))
            return -1;
        return rec ? dn_record_to_value(f->rec, rec, &b) : 0;
    }
    case DN_F_STRARRAY: {
        char *const *items = *CAT(in, f->offset, char **);
        size_t n = *CAT(in, f->aux, size_t);
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            if (!items[i] || avro_value_append(fv, &e, NULL) || avro_value_set_string(&e, items[i]))
                return -1;
        }
        return 0;
    }
    case DN_F_RECARRAY: {
        const char *items = *CAT(in, f->offset, char *);
        size_t n = *CAT(in, f->aux, size_t);
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            if (!items || avro_value_append(fv, &e, NULL) || dn_record_to_value(f->rec, items + i * f->rec->size, &e))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

int dn_record_to_value(const dn_record_desc_t *d, const void *in, avro_value_t *v)
{
    for (size_t i = 0; i < d->nfields; i++) {
        avro_value_t fv;
        if (avro_value_get_by_name(v, d->fields[i].name, &fv, NULL) || field_to_value(&d->fields[i], in, &fv))
            return -1;
    }
    return 0;
}

void dn_record_free(const dn_record_desc_t *d, void *rec)
{
    if (!rec)
        return;
    for (size_t i = 0; i < d->nfields; i++) {
        const dn_field_desc_t *f = &d->fields[i];
        switch (f->kind) {
        case DN_F_STRING:
        case DN_F_NSTRING:
        case DN_F_BYTES:
        case DN_F_NBYTES:
            free(*AT(rec, f->offset, void *));
            break;
        case DN_F_RECORD:
            dn_record_free(f->rec, AT(rec, f->offset, char));
            break;
        case DN_F_NRECORD:
            dn_record_free(f->rec, *AT(rec, f->offset, void *));
            free(*AT(rec, f->offset, void *));
            break;
        case DN_F_STRARRAY: {
            char **items = *AT(rec, f->offset, char **);
            for (size_t k = 0; items && k < *AT(rec, f->aux, size_t); k++)
                free(items[k]);
            free(items);
            break;
        }
        case DN_F_RECARRAY: {
            char *items = *AT(rec, f->offset, char *);
            for (size_t k = 0; items && k < *AT(rec, f->aux, size_t); k++)
                dn_record_free(f->rec, items + k * f->rec->size);
            free(items);
            break;
        }
        default:
            break;
        }
    }
    memset(rec, 0, d->size);
}

int dn_record_decode(const dn_record_desc_t *d, const void *buf, size_t len, void *out, dn_avro_err_t *err)
{
    avro_value_t v;
    memset(out, 0, d->size);
    if (dn_avro_decode(buf, len, d->name, &v, err) < 0)
        return -1;
    int rc = from_value(d, &v, out, "", err);
    avro_value_decref(&v);
    if (rc < 0)
        dn_record_free(d, out);
    return rc;
}

int dn_record_encode(const dn_record_desc_t *d, const void *in, char **buf, size_t *len)
{
    loaded_t *l = current(d->name);
    avro_value_t v;
    if (!l || avro_generic_value_new(l->iface, &v))
        return -1;
    int rc = dn_record_to_value(d, in, &v) == 0 ? dn_avro_encode(l->info->id, &v, buf, len) : -1;
    avro_value_decref(&v);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = b64[v >> 18 & 63];
        *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Returns a malloc'd buffer and its length in *n, or NULL if s is not base64. */
static unsigned char *base64_decode(const char *s, size_t *n)
{
    size_t len = strlen(s);
    if (len % 4)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = s[i + k] ? strchr(b64, s[i + k]) : NULL;
            if (s[i + k] == '=' && i + 4 == len && k >= 2) {
                pad++;
                v <<= 6;
            } else if (c && !pad) {
                v = v << 6 | (uint32_t)(c - b64);
            } else {
                free(out);
                return NULL;
            }
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    *n = o;
    return out;
}

static const char *type_name(json_t *node)
{
    if (json_is_string(node))
        return json_string_value(node);
    return json_string_value(json_object_get(node, "type"));
}

static const char *logical_name(json_t *node)
{
    return json_is_object(node) ? json_string_value(json_object_get(node, "logicalType")) : NULL;
}

/* Finds the definition of a named type anywhere in the schema. */
static json_t *find_named(json_t *node, const char *name)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *x, *hit;
        json_array_foreach(node, i, x) if ((hit = find_named(x, name))) return hit;
        return NULL;
    }
    if (!json_is_object(node))
        return NULL;
    const char *n = json_string_value(json_object_get(node, "name"));
    const char *t = type_name(node);
    if (n && t && (strcmp(t, "record") == 0 || strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0) &&
        strcmp(n, name) == 0)
        return node;
    json_t *hit;
    if ((hit = find_named(json_object_get(node, "type"), name)) ||
        (hit = find_named(json_object_get(node, "items"), name)))
        return hit;
    json_t *fields = json_object_get(node, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) if ((hit = find_named(json_object_get(f, "type"), name))) return hit;
    return NULL;
}

static json_t *deref(json_t *root, json_t *node)
{
    const char *t = type_name(node);
    static const char *const prims[] = {"null",   "boolean", "int",  "long",  "float", "double", "bytes",
                                        "string", "record",  "enum", "array", "map",   "fixed"};
    if (!t || json_is_array(node))
        return node;
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(t, prims[i]) == 0)
            return node;
    const char *dot = strrchr(t, '.');
    json_t *def = find_named(root, dot ? dot + 1 : t);
    return def ? def : node;
}

static int json_to_avro(json_t *root, json_t *node, json_t *j, avro_value_t *v, const char *path, dn_avro_err_t *err);

static int union_from_json(json_t *root, json_t *node, json_t *j, avro_value_t *v, const char *path, dn_avro_err_t *err)
{
    size_t i;
    json_t *branch;
    avro_value_t b;
    json_array_foreach(node, i, branch)
    {
        int is_null = strcmp(type_name(branch) ? type_name(branch) : "", "null") == 0;
        if (is_null != json_is_null(j))
            continue;
        if (avro_value_set_branch(v, (int)i, &b))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: cannot set union branch", path);
        return json_to_avro(root, branch, j, &b, path, err);
    }
    return set_err(err, DN_AVRO_JSON_ERROR, "field %s: %s is not allowed here", path,
                   json_is_null(j) ? "null" : "a value");
}

static int json_to_avro(json_t *root, json_t *node, json_t *j, avro_value_t *v, const char *path, dn_avro_err_t *err)
{
    if (json_is_array(node))
        return union_from_json(root, node, j, v, path, err);
    node = deref(root, node);
    const char *t = type_name(node), *logical = logical_name(node);
    if (!t)
        return set_err(err, DN_AVRO_JSON_ERROR, "field %s: schema type unknown", path);
    if (strcmp(t, "null") == 0)
        return json_is_null(j) ? avro_value_set_null(v)
                               : set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected null", path);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(j) ? avro_value_set_boolean(v, json_is_true(j))
                                  : set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected true or false", path);
    if (strcmp(t, "int") == 0) {
        int32_t days;
        if (logical && strcmp(logical, "date") == 0 && json_is_string(j)) {
            if (dn_date_parse(json_string_value(j), &days) < 0)
                return set_err(err, DN_AVRO_JSON_ERROR, "field %s: '%.40s' is not a date (YYYY-MM-DD)", path,
                               json_string_value(j));
            return avro_value_set_int(v, days);
        }
        json_int_t x = json_integer_value(j);
        if (!json_is_integer(j) || x < INT32_MIN || x > INT32_MAX)
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected %s", path,
                           logical ? "a date (YYYY-MM-DD)" : "a 32-bit integer");
        return avro_value_set_int(v, (int32_t)x);
    }
    if (strcmp(t, "long") == 0) {
        int64_t ms;
        if (logical && strcmp(logical, "timestamp-millis") == 0 && json_is_string(j)) {
            if (dn_time_parse(json_string_value(j), &ms) < 0)
                return set_err(err, DN_AVRO_JSON_ERROR, "field %s: '%.40s' is not an ISO 8601 time with a zone", path,
                               json_string_value(j));
            return avro_value_set_long(v, ms);
        }
        if (!json_is_integer(j))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected %s", path,
                           logical ? "an ISO 8601 time or milliseconds" : "an integer");
        return avro_value_set_long(v, json_integer_value(j));
    }
    if (strcmp(t, "string") == 0) {
        if (!json_is_string(j))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected a string", path);
        if (strlen(json_string_value(j)) != json_string_length(j))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: contains a NUL character", path);
        return avro_value_set_string(v, json_string_value(j));
    }
    if (strcmp(t, "bytes") == 0) {
        size_t n;
        unsigned char *p = json_is_string(j) ? base64_decode(json_string_value(j), &n) : NULL;
        if (!p)
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected a base64 string", path);
        int rc = avro_value_set_bytes(v, p, n);
        free(p);
        return rc;
    }
    if (strcmp(t, "enum") == 0) {
        json_t *syms = json_object_get(node, "symbols"), *s;
        size_t i;
        json_array_foreach(syms, i, s) if (json_is_string(j) && json_equal(s, j)) return avro_value_set_enum(v, (int)i);
        return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected one of the %s symbols", path,
                       json_string_value(json_object_get(node, "name")));
    }
    if (strcmp(t, "array") == 0) {
        if (!json_is_array(j))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected an array", path);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x)
        {
            avro_value_t e;
            char ipath[300];
            snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
            if (avro_value_append(v, &e, NULL) ||
                json_to_avro(root, json_object_get(node, "items"), x, &e, ipath, err) < 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(t, "record") == 0) {
        if (!json_is_object(j))
            return set_err(err, DN_AVRO_JSON_ERROR, "field %s: expected an object", *path ? path : "(record)");
        json_t *fields = json_object_get(node, "fields"), *f;
        const char *key;
        json_t *x;
        json_object_foreach(j, key, x)
        {
            int known = 0;
            size_t i;
            json_array_foreach(fields, i, f) known |= strcmp(json_string_value(json_object_get(f, "name")), key) == 0;
            if (!known)
                return set_err(err, DN_AVRO_JSON_ERROR, "field %s%s%s: not in the %s schema", path, *path ? "." : "",
                               key, json_string_value(json_object_get(node, "name")));
        }
        size_t i;
        json_array_foreach(fields, i, f)
        {
            const char *name = json_string_value(json_object_get(f, "name"));
            char fpath[256];
            snprintf(fpath, sizeof(fpath), "%s%s%s", path, *path ? "." : "", name);
            json_t *val = json_object_get(j, name);
            if (!val)
                val = json_object_get(f, "default");
            if (!val)
                return set_err(err, DN_AVRO_JSON_ERROR, "field %s: required field missing", fpath);
            avro_value_t fv;
            if (avro_value_get_by_name(v, name, &fv, NULL) ||
                json_to_avro(root, json_object_get(f, "type"), val, &fv, fpath, err) < 0)
                return -1;
        }
        return 0;
    }
    return set_err(err, DN_AVRO_JSON_ERROR, "field %s: schema type %s is not supported", path, t);
}

/* ---- schema resolution ------------------------------------------------------------ */

/* The Avro type name of a writer value: "int", ..., or a named type's name. */
static const char *writer_type(avro_value_t *wv)
{
    static const char *const names[] = {
        [AVRO_STRING] = "string", [AVRO_BYTES] = "bytes",   [AVRO_INT32] = "int",       [AVRO_INT64] = "long",
        [AVRO_FLOAT] = "float",   [AVRO_DOUBLE] = "double", [AVRO_BOOLEAN] = "boolean", [AVRO_NULL] = "null",
        [AVRO_ARRAY] = "array",   [AVRO_MAP] = "map",
    };
    avro_type_t t = avro_value_get_type(wv);
    if (t == AVRO_RECORD || t == AVRO_ENUM || t == AVRO_FIXED)
        return avro_schema_name(avro_value_get_schema(wv));
    return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "?";
}

/* Does the reader schema node (deref'd) take a writer value of this type as it is? */
static int same_type(json_t *root, json_t *rnode, avro_value_t *wv)
{
    rnode = deref(root, rnode);
    const char *t = type_name(rnode), *w = writer_type(wv);
    avro_type_t wt = avro_value_get_type(wv);
    if (!t)
        return 0;
    if (wt == AVRO_RECORD || wt == AVRO_ENUM || wt == AVRO_FIXED) {
        const char *n = json_string_value(json_object_get(rnode, "name"));
        const char *dot = n ? strrchr(n, '.') : NULL;
        return n && strcmp(dot ? dot + 1 : n, w) == 0;
    }
    return strcmp(t, w) == 0;
}

/* Copies writer value wv (an older version) into reader value rv, whose schema is the
 * JSON node rnode of the reader's .avsc root: fields by name, the reader's default for a
 * field the writer lacks, enum symbols by name, union branches by type, int -> long. */
static int resolve_value(json_t *root, json_t *rnode, avro_value_t *wv, avro_value_t *rv, const char *path,
                         dn_avro_err_t *err)
{
    avro_value_t wb, rb;
    const char *where = *path ? path : "(record)";
    if (avro_value_get_type(wv) == AVRO_UNION) {
        if (avro_value_get_current_branch(wv, &wb))
            return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: bad union", where);
        wv = &wb;
    }
    if (json_is_array(rnode)) {
        size_t i;
        json_t *branch;
        json_array_foreach(rnode, i, branch) if (same_type(root, branch, wv))
        {
            if (avro_value_set_branch(rv, (int)i, &rb))
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: cannot set union branch", where);
            return resolve_value(root, branch, wv, &rb, path, err);
        }
        return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: the current schema has no %s branch", where,
                       writer_type(wv));
    }
    rnode = deref(root, rnode);
    const char *t = type_name(rnode);
    if (!t)
        return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: schema type unknown", where);
    int rc = -1;
    switch (avro_value_get_type(wv)) {
    case AVRO_NULL:
        rc = strcmp(t, "null") == 0 ? avro_value_set_null(rv) : -1;
        break;
    case AVRO_BOOLEAN: {
        int x;
        rc = strcmp(t, "boolean") == 0 && !avro_value_get_boolean(wv, &x) ? avro_value_set_boolean(rv, x) : -1;
        break;
    }
    case AVRO_INT32: {
        int32_t x;
        if (avro_value_get_int(wv, &x))
            break;
        rc = strcmp(t, "int") == 0    ? avro_value_set_int(rv, x)
             : strcmp(t, "long") == 0 ? avro_value_set_long(rv, x)
                                      : -1;
        break;
    }
    case AVRO_INT64: {
        int64_t x;
        rc = strcmp(t, "long") == 0 && !avro_value_get_long(wv, &x) ? avro_value_set_long(rv, x) : -1;
        break;
    }
    case AVRO_STRING: {
        const char *x;
        size_t size;
        rc = strcmp(t, "string") == 0 && !avro_value_get_string(wv, &x, &size)
                 ? avro_value_set_string_len(rv, x, size ? size : 1)
                 : -1;
        break;
    }
    case AVRO_BYTES: {
        const void *x;
        size_t n;
        rc = strcmp(t, "bytes") == 0 && !avro_value_get_bytes(wv, &x, &n) ? avro_value_set_bytes(rv, (void *)x, n) : -1;
        break;
    }
    case AVRO_ENUM: {
        int x;
        if (strcmp(t, "enum") || avro_value_get_enum(wv, &x))
            break;
        const char *sym = avro_schema_enum_get(avro_value_get_schema(wv), x);
        json_t *s;
        size_t i;
        json_array_foreach(json_object_get(rnode, "symbols"), i,
                           s) if (sym && strcmp(json_string_value(s), sym) == 0) return avro_value_set_enum(rv, (int)i)
            ? set_err(err, DN_AVRO_DECODE_ERROR, "field %s: bad enum", where)
            : 0;
        return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: symbol %s is not in the current schema", where,
                       sym ? sym : "?");
    }
    case AVRO_ARRAY: {
        size_t n;
        if (strcmp(t, "array") || avro_value_get_size(wv, &n))
            break;
        for (size_t i = 0; i < n; i++) {
            avro_value_t we, re;
            char ipath[300];
            snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
            if (avro_value_get_by_index(wv, i, &we, NULL) || avro_value_append(rv, &re, NULL))
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: bad array", ipath);
            if (resolve_value(root, json_object_get(rnode, "items"), &we, &re, ipath, err) < 0)
                return -1;
        }
        return 0;
    }
    case AVRO_RECORD: {
        if (strcmp(t, "record"))
            break;
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(rnode, "fields"), i, f)
        {
            const char *name = json_string_value(json_object_get(f, "name"));
            char fpath[256];
            snprintf(fpath, sizeof(fpath), "%s%s%s", path, *path ? "." : "", name);
            avro_value_t wf, rf;
            if (avro_value_get_by_name(rv, name, &rf, NULL))
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: missing from the current schema", fpath);
            if (avro_value_get_by_name(wv, name, &wf, NULL) == 0) {
                if (resolve_value(root, json_object_get(f, "type"), &wf, &rf, fpath, err) < 0)
                    return -1;
                continue;
            }
            json_t *def = json_object_get(f, "default");
            if (!def)
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: not written and without a default", fpath);
            if (json_to_avro(root, json_object_get(f, "type"), def, &rf, fpath, err) < 0)
                return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: bad default in the current schema", fpath);
        }
        return 0;
    }
    default:
        break;
    }
    if (rc)
        return set_err(err, DN_AVRO_DECODE_ERROR, "field %s: a %s cannot be read as %s", where, writer_type(wv), t);
    return 0;
}

int dn_avro_from_json(const char *name, json_t *json, avro_value_t *out, dn_avro_err_t *err)
{
    loaded_t *l = current(name);
    if (err)
        err->schema_id = -1;
    if (!l)
        return set_err(err, DN_AVRO_UNKNOWN_SCHEMA, "no schema named %s", name);
    if (avro_generic_value_new(l->iface, out))
        return set_err(err, DN_AVRO_JSON_ERROR, "out of memory");
    if (json_to_avro(l->json, l->json, json, out, "", err) < 0) {
        avro_value_decref(out);
        return -1;
    }
    return 0;
}

static json_t *avro_to_json(json_t *root, json_t *node, avro_value_t *v)
{
    if (json_is_array(node)) {
        int disc;
        avro_value_t b;
        if (avro_value_get_discriminant(v, &disc) || avro_value_get_current_branch(v, &b))
            return NULL;
        return avro_to_json(root, json_array_get(node, (size_t)disc), &b);
    }
    node = deref(root, node);
    const char *t = type_name(node), *logical = logical_name(node);
    char buf[48];
    if (!t)
        return NULL;
    if (strcmp(t, "null") == 0)
        return json_null();
    if (strcmp(t, "boolean") == 0) {
        int x;
        return avro_value_get_boolean(v, &x) ? NULL : json_boolean(x);
    }
    if (strcmp(t, "int") == 0) {
        int32_t x;
        if (avro_value_get_int(v, &x))
            return NULL;
        if (logical && strcmp(logical, "date") == 0) {
            dn_date_format(x, buf, sizeof(buf));
            return json_string(buf);
        }
        return json_integer(x);
    }
    if (strcmp(t, "long") == 0) {
        int64_t x;
        if (avro_value_get_long(v, &x))
            return NULL;
        if (logical && strcmp(logical, "timestamp-millis") == 0) {
            dn_time_format(x, buf, sizeof(buf));
            return json_string(buf);
        }
        return json_integer(x);
    }
    if (strcmp(t, "string") == 0) {
        const char *s;
        size_t size;
        return avro_value_get_string(v, &s, &size) ? NULL : json_stringn(s, size ? size - 1 : 0);
    }
    if (strcmp(t, "bytes") == 0) {
        const void *p;
        size_t n;
        if (avro_value_get_bytes(v, &p, &n))
            return NULL;
        char *s = base64_encode(p, n);
        json_t *r = s ? json_string(s) : NULL;
        free(s);
        return r;
    }
    if (strcmp(t, "enum") == 0) {
        int x;
        json_t *sym = avro_value_get_enum(v, &x) ? NULL : json_array_get(json_object_get(node, "symbols"), (size_t)x);
        return sym ? json_incref(sym) : NULL;
    }
    if (strcmp(t, "array") == 0) {
        size_t n;
        json_t *arr = json_array();
        if (avro_value_get_size(v, &n))
            n = 0;
        for (size_t i = 0; i < n; i++) {
            avro_value_t e;
            json_t *x =
                avro_value_get_by_index(v, i, &e, NULL) ? NULL : avro_to_json(root, json_object_get(node, "items"), &e);
            if (!x) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, x);
        }
        return arr;
    }
    if (strcmp(t, "record") == 0) {
        json_t *obj = json_object(), *f;
        size_t i;
        json_array_foreach(json_object_get(node, "fields"), i, f)
        {
            const char *name = json_string_value(json_object_get(f, "name"));
            avro_value_t fv;
            json_t *x =
                avro_value_get_by_name(v, name, &fv, NULL) ? NULL : avro_to_json(root, json_object_get(f, "type"), &fv);
            if (!x) {
                json_decref(obj);
                return NULL;
            }
            json_object_set_new(obj, name, x);
        }
        return obj;
    }
    return NULL;
}

json_t *dn_avro_to_json(const void *buf, size_t len, dn_avro_err_t *err)
{
    avro_value_t v;
    if (dn_avro_decode(buf, len, NULL, &v, err) < 0)
        return NULL;
    int32_t id =
        (int32_t)((uint32_t)((const unsigned char *)buf)[1] << 24 | (uint32_t)((const unsigned char *)buf)[2] << 16 |
                  (uint32_t)((const unsigned char *)buf)[3] << 8 | ((const unsigned char *)buf)[4]);
    loaded_t *l = current(by_id(id)->info->name);
    json_t *j = avro_to_json(l->json, l->json, &v);
    avro_value_decref(&v);
    if (!j)
        set_err(err, DN_AVRO_DECODE_ERROR, "record cannot be shown as JSON (invalid UTF-8?)");
    return j;
}

void dn_dead_letter_clamp(struct dn_dead_letter *dl, char *buf, size_t size)
{
    if (dl->payload_len <= DN_DEAD_LETTER_PAYLOAD_MAX)
        return;
    snprintf(buf, size, "%s (payload cut to the first %d of %zu bytes)", dl->reason ? dl->reason : "",
             DN_DEAD_LETTER_PAYLOAD_MAX, dl->payload_len);
    dl->reason = buf;
    dl->payload_len = DN_DEAD_LETTER_PAYLOAD_MAX;
}
