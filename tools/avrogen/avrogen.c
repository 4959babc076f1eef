/* dn-avrogen REGISTRY OUTDIR: generates dn_schemas_gen.h/.c from schemas/registry.json
 * and the .avsc files it lists:
 *   - the schema ids and the embedded schema texts (dn_schema_infos), every version,
 *   - the topic table (enum dn_topic_id, dn_topic_defs),
 *   - one C struct and one field table (dn_record_desc_t) per record type and one C
 *     enum per Avro enum, deduplicated by name across files,
 *   - for every top-level record, inline _decode/_encode/_free/_from_value/_to_value
 *     wrappers around the generic table-walking functions of dn_avro.c.
 * A record name the registry lists under several ids (a new version keeps the old entry)
 * has all its versions embedded, so old records decode, but its C types, field tables and
 * wrappers come from the current version (the highest id) only: DN_SCHEMA_ID_<NAME> is the
 * current id, DN_SCHEMA_ID_<NAME>_V<n> the n-th version in id order.
 * It accepts exactly the type shapes our schemas use and fails loudly on others. */
#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 64

typedef struct named {
    char name[64];
    json_t *node; /* the record or enum definition */
    int is_enum;
    int emitted;
} named_t;

static named_t types[MAX_TYPES];
static int ntypes;

__attribute__((format(printf, 1, 2))) static void die(const char *fmt, ...);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dn-avrogen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* InvoiceIssued -> invoice_issued */
static void snake(const char *camel, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = camel; *p && o + 2 < size; p++) {
        if (isupper((unsigned char)*p) && p != camel)
            out[o++] = '_';
        out[o++] = (char)tolower((unsigned char)*p);
    }
    out[o] = '\0';
}

static void upper(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 1 < size; s++)
        out[o++] = (char)toupper((unsigned char)*s);
    out[o] = '\0';
}

static named_t *find_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot)
        name = dot + 1;
    for (int i = 0; i < ntypes; i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

static void collect(json_t *t);

static void add_named(json_t *def, int is_enum)
{
    const char *name = json_string_value(json_object_get(def, "name"));
    if (!name)
        die("a named type without a name");
    if (find_type(name))
        return; /* the same type defined in several files: one C type */
    if (ntypes == MAX_TYPES)
        die("too many named types");
    named_t *n = &types[ntypes++];
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->node = def;
    n->is_enum = is_enum;
    if (!is_enum) {
        json_t *f;
        size_t i;
        json_array_foreach(json_object_get(def, "fields"), i, f) collect(json_object_get(f, "type"));
    }
}

static void collect(json_t *t)
{
    if (json_is_array(t)) {
        size_t i;
        json_t *b;
        json_array_foreach(t, i, b) collect(b);
    } else if (json_is_object(t)) {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type && strcmp(type, "record") == 0)
            add_named(t, 0);
        else if (type && strcmp(type, "enum") == 0)
            add_named(t, 1);
        else if (type && strcmp(type, "array") == 0)
            collect(json_object_get(t, "items"));
    }
}

typedef struct shape {
    const char *kind;    /* DN_F_... */
    const char *logical; /* DN_L_... */
    const char *ctype;   /* C declaration type for the main member */
    const char *aux;     /* suffix of the aux member or NULL */
    const char *auxtype;
    named_t *ref;
} shape_t;

static const char *logical_of(json_t *t)
{
    const char *l = json_is_object(t) ? json_string_value(json_object_get(t, "logicalType")) : NULL;
    if (!l)
        return "DN_L_NONE";
    if (strcmp(l, "uuid") == 0)
        return "DN_L_UUID";
    if (strcmp(l, "date") == 0)
        return "DN_L_DATE";
    if (strcmp(l, "timestamp-millis") == 0)
        return "DN_L_TIMESTAMP_MS";
    die("unsupported logicalType %s", l);
    return NULL;
}

static const char *prim_of(json_t *t)
{
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_object(t))
        return json_string_value(json_object_get(t, "type"));
    return NULL;
}

static shape_t shape_of(json_t *t, const char *field)
{
    shape_t s = {0};
    static char ctype[160];
    int nullable = 0;
    if (json_is_array(t)) {
        if (json_array_size(t) != 2 ||
            strcmp(prim_of(json_array_get(t, 0)) ? prim_of(json_array_get(t, 0)) : "", "null"))
            die("field %s: only [\"null\", T] unions are supported", field);
        nullable = 1;
        t = json_array_get(t, 1);
    }
    const char *p = prim_of(t);
    if (!p)
        die("field %s: unsupported type", field);
    s.logical = logical_of(t);
    if (strcmp(p, "string") == 0) {
        s.kind = nullable ? "DN_F_NSTRING" : "DN_F_STRING";
        s.ctype = "char *";
    } else if (strcmp(p, "long") == 0) {
        s.kind = nullable ? "DN_F_NLONG" : "DN_F_LONG";
        s.ctype = "int64_t ";
        s.aux = nullable ? "has_" : NULL;
        s.auxtype = "bool ";
    } else if (strcmp(p, "int") == 0) {
        s.kind = nullable ? "DN_F_NINT" : "DN_F_INT";
        s.ctype = "int32_t ";
        s.aux = nullable ? "has_" : NULL;
        s.auxtype = "bool ";
    } else if (strcmp(p, "boolean") == 0 && !nullable) {
        s.kind = "DN_F_BOOL";
        s.ctype = "bool ";
    } else if (strcmp(p, "bytes") == 0) {
        s.kind = nullable ? "DN_F_NBYTES" : "DN_F_BYTES";
        s.ctype = "uint8_t *";
        s.aux = "_len";
        s.auxtype = "size_t ";
    } else if (strcmp(p, "array") == 0 && !nullable) {
        json_t *items = json_object_get(t, "items");
        const char *ip = prim_of(items) ? prim_of(items) : "";
        s.aux = "_n";
        s.auxtype = "size_t ";
        if (strcmp(ip, "string") == 0) {
            s.kind = "DN_F_STRARRAY";
            s.ctype = "char **";
            return s;
        }
        /* An array of records, defined here or referenced by name. */
        const char *name = json_is_object(items) ? json_string_value(json_object_get(items, "name")) : ip;
        s.ref = name ? find_type(name) : NULL;
        if (!s.ref || s.ref->is_enum || (json_is_object(items) && strcmp(ip, "record") != 0))
            die("field %s: only arrays of strings or of records are supported", field);
        char sn[96];
        snake(s.ref->name, sn, sizeof(sn));
        s.kind = "DN_F_RECARRAY";
        snprintf(ctype, sizeof(ctype), "dn_%s_t *", sn);
        s.ctype = ctype;
    } else {
        /* A record or enum, defined here or referenced by name. */
        const char *name = json_is_object(t) ? json_string_value(json_object_get(t, "name")) : p;
        s.ref = name ? find_type(name) : NULL;
        if (!s.ref)
            die("field %s: unsupported type %s", field, p);
        char sn[96];
        snake(s.ref->name, sn, sizeof(sn));
        if (s.ref->is_enum) {
            if (nullable)
                die("field %s: nullable enums are not supported", field);
            s.kind = "DN_F_ENUM";
            snprintf(ctype, sizeof(ctype), "dn_%s_t ", sn);
        } else {
            s.kind = nullable ? "DN_F_NRECORD" : "DN_F_RECORD";
            snprintf(ctype, sizeof(ctype), nullable ? "dn_%s_t *" : "dn_%s_t ", sn);
        }
        s.ctype = ctype;
    }
    return s;
}

static void emit_string_literal(FILE *f, const char *s)
{
    fputc('"', f);
    int col = 0;
    for (; *s; s++, col++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n\"\n    \"", f);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\%03o", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* Emits the types a record needs before the record itself. */
static void emit_type(FILE *h, named_t *n)
{
    if (n->emitted)
        return;
    n->emitted = 1;
    char sn[96], up[96];
    snake(n->name, sn, sizeof(sn));
    upper(sn, up, sizeof(up));
    json_t *doc = json_object_get(n->node, "doc");
    if (n->is_enum) {
        fprintf(h, "/* %s */\ntypedef enum dn_%s {\n", doc ? json_string_value(doc) : n->name, sn);
        size_t i;
        json_t *sym;
        json_array_foreach(json_object_get(n->node, "symbols"), i, sym)
        {
            char su[96];
            upper(json_string_value(sym), su, sizeof(su));
            fprintf(h, "    DN_%s_%s = %zu,\n", up, su, i);
        }
        fprintf(h, "} dn_%s_t;\nextern const dn_enum_desc_t dn_%s_enum;\n", sn, sn);
        fprintf(h, "const char *dn_%s_str(dn_%s_t v);\nint dn_%s_parse(const char *s, dn_%s_t *out);\n\n", sn, sn, sn,
                sn);
        return;
    }
    size_t i;
    json_t *fd;
    json_array_foreach(json_object_get(n->node, "fields"), i, fd)
    {
        shape_t s = shape_of(json_object_get(fd, "type"), json_string_value(json_object_get(fd, "name")));
        if (s.ref)
            emit_type(h, s.ref);
    }
    fprintf(h, "/* %s */\ntypedef struct dn_%s {\n", doc ? json_string_value(doc) : n->name, sn);
    json_array_foreach(json_object_get(n->node, "fields"), i, fd)
    {
        const char *fname = json_string_value(json_object_get(fd, "name"));
        shape_t s = shape_of(json_object_get(fd, "type"), fname);
        fprintf(h, "    %s%s;\n", s.ctype, fname);
        if (s.aux && strcmp(s.aux, "has_") == 0)
            fprintf(h, "    %shas_%s;\n", s.auxtype, fname);
        else if (s.aux)
            fprintf(h, "    %s%s%s;\n", s.auxtype, fname, s.aux);
    }
    fprintf(h, "} dn_%s_t;\nextern const dn_record_desc_t dn_%s_desc;\n\n", sn, sn);
}

static void emit_tables(FILE *c, named_t *n)
{
    char sn[96];
    snake(n->name, sn, sizeof(sn));
    size_t i;
    json_t *x;
    if (n->is_enum) {
        fprintf(c, "static const char *const dn_%s_symbols[] = {", sn);
        json_array_foreach(json_object_get(n->node, "symbols"), i, x)
            fprintf(c, "%s\"%s\"", i ? ", " : "", json_string_value(x));
        fprintf(c, "};\nconst dn_enum_desc_t dn_%s_enum = {\"%s\", dn_%s_symbols, %zu};\n", sn, n->name, sn,
                json_array_size(json_object_get(n->node, "symbols")));
        fprintf(c,
                "const char *dn_%s_str(dn_%s_t v)\n{\n    return (int)v >= 0 && (int)v < %zu ? dn_%s_symbols[v] : "
                "\"?\";\n}\n",
                sn, sn, json_array_size(json_object_get(n->node, "symbols")), sn);
        fprintf(c,
                "int dn_%s_parse(const char *s, dn_%s_t *out)\n{\n    for (int i = 0; i < %zu; i++)\n"
                "        if (strcmp(s, dn_%s_symbols[i]) == 0)\n            return *out = (dn_%s_t)i, 0;\n"
                "    return -1;\n}\n\n",
                sn, sn, json_array_size(json_object_get(n->node, "symbols")), sn, sn);
        return;
    }
    fprintf(c, "static const dn_field_desc_t dn_%s_fields[] = {\n", sn);
    json_array_foreach(json_object_get(n->node, "fields"), i, x)
    {
        const char *fname = json_string_value(json_object_get(x, "name"));
        shape_t s = shape_of(json_object_get(x, "type"), fname);
        char aux[200] = "0", ref[200] = "NULL", enm[200] = "NULL";
        if (s.aux && strcmp(s.aux, "has_") == 0)
            snprintf(aux, sizeof(aux), "offsetof(dn_%s_t, has_%s)", sn, fname);
        else if (s.aux)
            snprintf(aux, sizeof(aux), "offsetof(dn_%s_t, %s%s)", sn, fname, s.aux);
        if (s.ref) {
            char rs[96];
            snake(s.ref->name, rs, sizeof(rs));
            snprintf(s.ref->is_enum ? enm : ref, 200, "&dn_%s_%s", rs, s.ref->is_enum ? "enum" : "desc");
        }
        fprintf(c, "    {\"%s\", %s, %s, offsetof(dn_%s_t, %s), %s, %s, %s},\n", fname, s.kind, s.logical, sn, fname,
                aux, ref, enm);
    }
    fprintf(c, "};\nconst dn_record_desc_t dn_%s_desc = {\"%s\", sizeof(dn_%s_t), dn_%s_fields, %zu};\n\n", sn, n->name,
            sn, sn, json_array_size(json_object_get(n->node, "fields")));
}

/* Versions: registry entries that share a record name. The current one has the highest id. */
static const char *entry_name(json_t *schemas, size_t i)
{
    return json_string_value(json_object_get(json_array_get(schemas, i), "name"));
}

static json_int_t entry_id(json_t *schemas, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(schemas, i), "id"));
}

/* 1-based position of entry i among the entries of its name, in id order. */
static int version_of(json_t *schemas, size_t i)
{
    int v = 1;
    for (size_t k = 0; k < json_array_size(schemas); k++)
        if (k != i && strcmp(entry_name(schemas, k), entry_name(schemas, i)) == 0 &&
            entry_id(schemas, k) < entry_id(schemas, i))
            v++;
    return v;
}

static int nversions(json_t *schemas, size_t i)
{
    int n = 0;
    for (size_t k = 0; k < json_array_size(schemas); k++)
        n += strcmp(entry_name(schemas, k), entry_name(schemas, i)) == 0;
    return n;
}

static int is_current(json_t *schemas, size_t i)
{
    return version_of(schemas, i) == nversions(schemas, i);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        die("usage: dn-avrogen schemas/registry.json OUTDIR");
    json_error_t jerr;
    json_t *reg = json_load_file(argv[1], 0, &jerr);
    if (!reg)
        die("%s:%d: %s", argv[1], jerr.line, jerr.text);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");

    json_t *schemas = json_object_get(reg, "schemas"), *topics = json_object_get(reg, "topics");
    size_t nschemas = json_array_size(schemas);
    json_t **parsed = calloc(nschemas, sizeof(*parsed));
    char **texts = calloc(nschemas, sizeof(*texts));
    for (size_t i = 0; i < nschemas; i++) {
        json_t *e = json_array_get(schemas, i);
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(json_object_get(e, "file")));
        parsed[i] = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!parsed[i])
            die("%s:%d: %s", path, jerr.line, jerr.text);
        if (!json_is_integer(json_object_get(e, "id")) || entry_id(schemas, i) <= 0)
            die("%s: schema id must be a positive integer", path);
        for (size_t k = 0; k < i; k++)
            if (entry_id(schemas, k) == entry_id(schemas, i))
                die("schema id %lld is listed twice", (long long)entry_id(schemas, i));
        const char *name = json_string_value(json_object_get(parsed[i], "name"));
        if (!name || strcmp(name, json_string_value(json_object_get(e, "name"))) != 0)
            die("%s: record name does not match the registry entry", path);
        texts[i] = json_dumps(parsed[i], JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    /* The C types come from the current version of each name only. */
    for (size_t i = 0; i < nschemas; i++)
        if (is_current(schemas, i))
            collect(parsed[i]);

    char hpath[8192], cpath[8192];
    snprintf(hpath, sizeof(hpath), "%s/dn_schemas_gen.h", argv[2]);
    snprintf(cpath, sizeof(cpath), "%s/dn_schemas_gen.c", argv[2]);
    FILE *h = fopen(hpath, "w"), *c = fopen(cpath, "w");
    if (!h || !c)
        die("cannot write into %s", argv[2]);
    fprintf(h, "/* Generated by tools/avrogen from schemas/. Do not edit. */\n#ifndef DN_SCHEMAS_GEN_H\n"
               "#define DN_SCHEMAS_GEN_H\n\n#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n\n"
               "#include \"dn_avro.h\"\n\n");
    fprintf(c, "/* Generated by tools/avrogen from schemas/. Do not edit. */\n#include \"dn_schemas_gen.h\"\n\n"
               "#include <string.h>\n\n");

    /* Schema ids and texts. */
    for (size_t i = 0; i < nschemas; i++) {
        json_t *e = json_array_get(schemas, i);
        char sn[96], up[96];
        snake(json_string_value(json_object_get(e, "name")), sn, sizeof(sn));
        upper(sn, up, sizeof(up));
        long long id = (long long)json_integer_value(json_object_get(e, "id"));
        if (is_current(schemas, i))
            fprintf(h, "#define DN_SCHEMA_ID_%s %lld\n", up, id);
        if (nversions(schemas, i) > 1)
            fprintf(h, "#define DN_SCHEMA_ID_%s_V%d %lld\n", up, version_of(schemas, i), id);
    }
    fprintf(h, "extern const dn_schema_info_t dn_schema_infos[];\nextern const size_t dn_schema_infos_n;\n\n");
    fprintf(c, "const dn_schema_info_t dn_schema_infos[] = {\n");
    for (size_t i = 0; i < nschemas; i++) {
        json_t *e = json_array_get(schemas, i);
        fprintf(c, "    {%lld, \"%s\",\n    ", (long long)json_integer_value(json_object_get(e, "id")),
                json_string_value(json_object_get(e, "name")));
        emit_string_literal(c, texts[i]);
        fprintf(c, "},\n");
    }
    fprintf(c, "};\nconst size_t dn_schema_infos_n = %zu;\n\n", nschemas);

    /* Topics. */
    fprintf(h, "typedef enum dn_topic_id {\n");
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t) fprintf(h, "    DN_TOPIC_%s,\n", json_string_value(json_object_get(t, "id")));
    fprintf(h, "    DN_TOPIC__COUNT\n} dn_topic_id_t;\n\ntypedef struct dn_topic_def {\n    const char *name;\n"
               "    const char *schema;\n    int32_t schema_id;\n} dn_topic_def_t;\n"
               "extern const dn_topic_def_t dn_topic_defs[DN_TOPIC__COUNT];\n\n");
    fprintf(c, "const dn_topic_def_t dn_topic_defs[DN_TOPIC__COUNT] = {\n");
    json_array_foreach(topics, i, t)
    {
        const char *schema = json_string_value(json_object_get(t, "schema"));
        long long id = -1;
        for (size_t k = 0; k < nschemas; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(schemas, k), "name")), schema) == 0 &&
                is_current(schemas, k))
                id = json_integer_value(json_object_get(json_array_get(schemas, k), "id"));
        if (id < 0)
            die("topic %s names unknown schema %s", json_string_value(json_object_get(t, "name")), schema);
        fprintf(c, "    {\"%s\", \"%s\", %lld},\n", json_string_value(json_object_get(t, "name")), schema, id);
    }
    fprintf(c, "};\n\n");

    /* Types and field tables. */
    for (int k = 0; k < ntypes; k++)
        emit_type(h, &types[k]);
    for (int k = 0; k < ntypes; k++)
        emit_tables(c, &types[k]);

    /* Wrappers for the top-level records. */
    for (size_t k = 0; k < nschemas; k++) {
        if (!is_current(schemas, k))
            continue;
        char sn[96];
        snake(json_string_value(json_object_get(json_array_get(schemas, k), "name")), sn, sizeof(sn));
        fprintf(h,
                "static inline int dn_%1$s_decode(const void *buf, size_t len, dn_%1$s_t *out, dn_avro_err_t *err)\n"
                "{\n    return dn_record_decode(&dn_%1$s_desc, buf, len, out, err);\n}\n"
                "static inline int dn_%1$s_encode(const dn_%1$s_t *in, char **buf, size_t *len)\n"
                "{\n    return dn_record_encode(&dn_%1$s_desc, in, buf, len);\n}\n"
                "static inline int dn_%1$s_from_value(avro_value_t *v, dn_%1$s_t *out, dn_avro_err_t *err)\n"
                "{\n    return dn_record_from_value(&dn_%1$s_desc, v, out, err);\n}\n"
                "static inline int dn_%1$s_to_value(const dn_%1$s_t *in, avro_value_t *v)\n"
                "{\n    return dn_record_to_value(&dn_%1$s_desc, in, v);\n}\n"
                "static inline void dn_%1$s_free(dn_%1$s_t *x)\n{\n    dn_record_free(&dn_%1$s_desc, x);\n}\n\n",
                sn);
    }
    fprintf(h, "#endif\n");
    if (fclose(h) || fclose(c))
        die("write error");
    for (size_t k = 0; k < nschemas; k++) {
        free(texts[k]);
        json_decref(parsed[k]);
    }
    free(texts);
    free(parsed);
    json_decref(reg);
    return 0;
}
