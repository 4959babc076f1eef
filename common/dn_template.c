#include "dn_template.h"

#include "dn_buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_currency.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

/* ---- parse: template text -> tree of nodes ---------------------------------------------- */

typedef enum { N_TEXT, N_VAR, N_RAW, N_SECTION, N_INVERTED } node_kind_t;

typedef struct node {
    node_kind_t kind;
    const char *s; /* TEXT: the text; others: the name (not NUL-terminated) */
    size_t len;
    int line;
    char sigil;         /* how the tag was written, for messages: 0 '&' '{' '#' '^' */
    struct node *child; /* SECTION/INVERTED: first child */
    struct node *next;
} node_t;

#define MAX_DEPTH 64
#define MAX_NAME  255

typedef struct parser {
    const char *tmpl;
    char *errstr;
    size_t errstr_size;
    /* open sections: the node and the address of the next-pointer to append to */
    node_t *open[MAX_DEPTH + 1];
    node_t **tail[MAX_DEPTH + 1];
    int depth;
} parser_t;

static void set_err(char *errstr, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *errstr, size_t size, const char *fmt, ...)
{
    if (!errstr || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

static void free_nodes(node_t *n)
{
    while (n) {
        node_t *next = n->next;
        free_nodes(n->child);
        free(n);
        n = next;
    }
}

static node_t *append(parser_t *p, node_kind_t kind, const char *s, size_t len, int line, char sigil)
{
    node_t *n = calloc(1, sizeof(*n));
    if (!n) {
        set_err(p->errstr, p->errstr_size, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->s = s;
    n->len = len;
    n->line = line;
    n->sigil = sigil;
    *p->tail[p->depth] = n;
    p->tail[p->depth] = &n->next;
    return n;
}

static int count_lines(const char *from, const char *to)
{
    int n = 0;
    for (; from < to; from++)
        n += *from == '\n';
    return n;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses tmpl into a tree (returned via *root). 0/-1 with errstr. */
static int parse(parser_t *p, node_t **root)
{
    const char *t = p->tmpl;
    const char *text = t; /* start of pending text */
    const char *pos = t;
    int line = 1; /* line number at `pos` */
    *root = NULL;
    p->depth = 0;
    p->open[0] = NULL;
    p->tail[0] = root;
    for (;;) {
        const char *open = strstr(pos, "{{");
        if (!open)
            break;
        line += count_lines(pos, open);
        int tag_line = line;
        char sigil = open[2];
        const char *body = open + 2;
        const char *close_str = "}}";
        if (sigil == '{') {
            close_str = "}}}";
            body++;
        } else if (sigil == '&' || sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!' || sigil == '>' ||
                   sigil == '=') {
            body++;
        } else {
            sigil = 0;
        }
        const char *close = strstr(body, close_str);
        if (!close) {
            set_err(p->errstr, p->errstr_size, "line %d: tag opened here is not closed with %s", tag_line, close_str);
            return -1;
        }
        const char *end = close + strlen(close_str); /* first char after the tag */
        const char *name = body, *name_end = close;
        while (name < name_end && (is_blank(*name) || *name == '\n' || *name == '\r'))
            name++;
        while (name_end > name && (is_blank(name_end[-1]) || name_end[-1] == '\n' || name_end[-1] == '\r'))
            name_end--;
        size_t name_len = (size_t)(name_end - name);
        if (sigil == '>' || sigil == '=') {
            set_err(p->errstr, p->errstr_size, "line %d: %s are not supported", tag_line,
                    sigil == '>' ? "partials ({{> name}})" : "delimiter changes ({{=...=}})");
            return -1;
        }
        if (sigil != '!') {
            if (name_len == 0) {
                set_err(p->errstr, p->errstr_size, "line %d: empty tag", tag_line);
                return -1;
            }
            if (name_len > MAX_NAME) {
                set_err(p->errstr, p->errstr_size, "line %d: name longer than %d characters", tag_line, MAX_NAME);
                return -1;
            }
            for (const char *c = name; c < name_end; c++) {
                if (is_blank(*c) || *c == '\n' || *c == '\r' || *c == '{' || *c == '}') {
                    set_err(p->errstr, p->errstr_size, "line %d: invalid name in tag {{%.*s}}", tag_line,
                            (int)(close - open - 2), open + 2);
                    return -1;
                }
            }
        }
        /* Standalone: a block tag alone on its line (blanks around it) removes the line. */
        const char *text_end = open, *resume = end;
        if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!') {
            const char *ls = open;
            while (ls > t && ls[-1] != '\n')
                ls--;
            int ok = ls >= text;
            for (const char *c = ls; ok && c < open; c++)
                ok = is_blank(*c);
            const char *le = end;
            while (ok && is_blank(*le))
                le++;
            if (ok && *le == '\r' && le[1] == '\n')
                le++;
            if (ok && (*le == '\n' || *le == '\0')) {
                text_end = ls;
                resume = *le ? le + 1 : le;
            }
        }
        if (text_end > text && !append(p, N_TEXT, text, (size_t)(text_end - text), tag_line, 0))
            return -1;
        line += count_lines(open, resume);
        text = pos = resume;

        if (sigil == '!')
            continue;
        if (sigil == '#' || sigil == '^') {
            if (p->depth == MAX_DEPTH) {
                set_err(p->errstr, p->errstr_size, "line %d: sections nested deeper than %d", tag_line, MAX_DEPTH);
                return -1;
            }
            node_t *n = append(p, sigil == '#' ? N_SECTION : N_INVERTED, name, name_len, tag_line, sigil);
            if (!n)
                return -1;
            p->depth++;
            p->open[p->depth] = n;
            p->tail[p->depth] = &n->child;
        } else if (sigil == '/') {
            node_t *top = p->open[p->depth];
            if (!top) {
                set_err(p->errstr, p->errstr_size, "line %d: {{/%.*s}} has no matching {{#%.*s}}", tag_line,
                        (int)name_len, name, (int)name_len, name);
                return -1;
            }
            if (top->len != name_len || memcmp(top->s, name, name_len) != 0) {
                set_err(p->errstr, p->errstr_size, "line %d: {{/%.*s}} does not close {{%c%.*s}} opened on line %d",
                        tag_line, (int)name_len, name, top->sigil, (int)top->len, top->s, top->line);
                return -1;
            }
            p->depth--;
        } else if (!append(p, sigil ? N_RAW : N_VAR, name, name_len, tag_line, sigil)) {
            return -1;
        }
    }
    if (*text && !append(p, N_TEXT, text, strlen(text), line, 0))
        return -1;
    if (p->depth > 0) {
        node_t *top = p->open[p->depth];
        set_err(p->errstr, p->errstr_size, "line %d: {{%c%.*s}} is not closed", top->line, top->sigil, (int)top->len,
                top->s);
        return -1;
    }
    return 0;
}

/* ---- render: tree + context stack -> text ----------------------------------------------- */

static int buf_add_html(dn_buf_t *b, const char *s, size_t n)
{
    const char *run = s;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        if (dn_buf_addn(b, run, (size_t)(s + i - run)) < 0 || dn_buf_addn(b, rep, strlen(rep)) < 0)
            return -1;
        run = s + i + 1;
    }
    return dn_buf_addn(b, run, (size_t)(s + n - run));
}

typedef struct frame {
    json_t *v;
    const struct frame *up;
} frame_t;

typedef struct renderer {
    dn_template_mode_t mode;
    dn_buf_t out;
    char *errstr;
    size_t errstr_size;
} renderer_t;

/* Resolves a (dotted) name against the stack. Returns the value (borrowed) or NULL if not defined. */
static json_t *lookup(const frame_t *f, const char *name, size_t len)
{
    if (len == 1 && name[0] == '.')
        return f->v;
    char seg[MAX_NAME + 1];
    const char *end = name + len;
    const char *dot = memchr(name, '.', len);
    size_t n = (size_t)((dot ? dot : end) - name);
    memcpy(seg, name, n);
    seg[n] = '\0';
    json_t *v = NULL;
    for (; f && !v; f = f->up) {
        if (json_is_object(f->v))
            v = json_object_get(f->v, seg);
    }
    /* The first part found, the rest must be right below it. */
    while (v && dot) {
        name = dot + 1;
        dot = memchr(name, '.', (size_t)(end - name));
        n = (size_t)((dot ? dot : end) - name);
        memcpy(seg, name, n);
        seg[n] = '\0';
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
    }
    return v;
}

static int truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    default:
        return 1;
    }
}

static int render_nodes(renderer_t *r, const node_t *n, const frame_t *f);

static int not_defined(renderer_t *r, const node_t *n)
{
    const char *open = n->sigil == '{' ? "{{{" : "{{";
    const char *close = n->sigil == '{' ? "}}}" : "}}";
    char sig[2] = {n->sigil && n->sigil != '{' ? n->sigil : 0, 0};
    set_err(r->errstr, r->errstr_size, "line %d: %s%s%.*s%s is not defined", n->line, open, sig, (int)n->len, n->s,
            close);
    return -1;
}

static int render_value(renderer_t *r, const node_t *n, json_t *v)
{
    char num[64];
    const char *s;
    size_t len;
    switch (json_typeof(v)) {
    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);
        break;
    case JSON_INTEGER:
        len = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = num;
        break;
    case JSON_REAL:
        len = (size_t)snprintf(num, sizeof(num), "%.15g", json_real_value(v));
        s = num;
        break;
    case JSON_TRUE:
        s = "true", len = 4;
        break;
    case JSON_FALSE:
        s = "false", len = 5;
        break;
    case JSON_NULL:
        return 0;
    default:
        set_err(r->errstr, r->errstr_size, "line %d: {{%.*s}} is %s, not a value", n->line, (int)n->len, n->s,
                json_is_object(v) ? "an object" : "an array");
        return -1;
    }
    int rc =
        n->kind == N_VAR && r->mode == DN_TEMPLATE_HTML ? buf_add_html(&r->out, s, len) : dn_buf_addn(&r->out, s, len);
    if (rc < 0)
        set_err(r->errstr, r->errstr_size, "out of memory");
    return rc;
}

static int render_nodes(renderer_t *r, const node_t *n, const frame_t *f)
{
    for (; n; n = n->next) {
        if (n->kind == N_TEXT) {
            if (dn_buf_addn(&r->out, n->s, n->len) < 0) {
                set_err(r->errstr, r->errstr_size, "out of memory");
                return -1;
            }
            continue;
        }
        json_t *v = lookup(f, n->s, n->len);
        if (!v)
            return not_defined(r, n);
        if (n->kind == N_VAR || n->kind == N_RAW) {
            if (render_value(r, n, v) < 0)
                return -1;
        } else if (n->kind == N_INVERTED) {
            if (!truthy(v) && render_nodes(r, n->child, f) < 0)
                return -1;
        } else if (truthy(v)) {
            if (json_is_array(v)) {
                for (size_t i = 0; i < json_array_size(v); i++) {
                    frame_t inner = {json_array_get(v, i), f};
                    if (render_nodes(r, n->child, &inner) < 0)
                        return -1;
                }
            } else {
                frame_t inner = {v, f};
                if (render_nodes(r, n->child, &inner) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

char *dn_template_render(const char *tmpl, json_t *ctx, dn_template_mode_t mode, char *errstr, size_t errstr_size)
{
    parser_t p = {.tmpl = tmpl, .errstr = errstr, .errstr_size = errstr_size};
    renderer_t r = {.mode = mode, .errstr = errstr, .errstr_size = errstr_size};
    node_t *root = NULL;
    char *result = NULL;
    set_err(errstr, errstr_size, "%s", "");
    if (parse(&p, &root) < 0)
        goto out;
    frame_t top = {ctx, NULL};
    if (dn_buf_addn(&r.out, "", 0) < 0) {
        set_err(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (render_nodes(&r, root, &top) < 0)
        goto out;
    result = r.out.p;
    r.out.p = NULL; /* now owned by the caller */
out:
    free(r.out.p);
    free_nodes(root);
    return result;
}

/* ---- money ------------------------------------------------------------------------------- */

typedef struct money_locale {
    const char *prefix; /* matches "de", "de-AT", "de_CH" */
    char group, decimal;
    int symbol_after; /* 1: "1.234,56 €"; 0: "€1,234.56" */
} money_locale_t;

static const money_locale_t locales[] = {
    {"en", ',', '.', 0}, /* first = the default for any locale not listed */
    {"de", '.', ',', 1},
};

typedef struct money_symbol {
    const char *code, *symbol;
} money_symbol_t;

static const money_symbol_t symbols[] = {
    {"EUR", "\xe2\x82\xac"}, /* € */
    {"USD", "$"},
    {"GBP", "\xc2\xa3"}, /* £ */
    {"JPY", "\xc2\xa5"}, /* ¥ */
};

static const money_locale_t *find_locale(const char *locale)
{
    for (size_t i = 0; locale && i < sizeof(locales) / sizeof(locales[0]); i++) {
        size_t n = strlen(locales[i].prefix);
        if (strncmp(locale, locales[i].prefix, n) == 0 && (locale[n] == '\0' || locale[n] == '-' || locale[n] == '_'))
            return &locales[i];
    }
    return &locales[0];
}

int dn_money_format(int64_t minor, const char *currency, const char *locale, char *buf, size_t size)
{
    if (size > 0)
        buf[0] = '\0';
    int exp = dn_currency_exponent(currency);
    if (exp < 0 || size == 0)
        return -1;
    const money_locale_t *loc = find_locale(locale);
    const char *symbol = NULL;
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        if (strcmp(symbols[i].code, currency) == 0)
            symbol = symbols[i].symbol;
    }

    /* Digits of |minor| (via uint64 so INT64_MIN works), right to left. */
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    while (nd <= exp)
        digits[nd++] = '0'; /* 5 minor with exponent 2 -> "0.05" */

    char num[64];
    size_t k = 0;
    for (int i = nd - 1; i >= 0; i--) {
        num[k++] = digits[i];
        int pos = i - exp; /* digits left of the decimal point still to come */
        if (pos > 0 && pos % 3 == 0)
            num[k++] = loc->group;
        if (i == exp && exp > 0)
            num[k++] = loc->decimal;
    }
    num[k] = '\0';

    const char *sign = minor < 0 ? "-" : "";
    int n;
    if (loc->symbol_after)
        n = snprintf(buf, size, "%s%s %s", sign, num, symbol ? symbol : currency);
    else if (symbol)
        n = snprintf(buf, size, "%s%s%s", sign, symbol, num);
    else
        n = snprintf(buf, size, "%s%s %s", sign, currency, num);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* A file name component: letters, digits, '-', '_', '.', not starting with '.'. */
static int plain_component(const char *s)
{
    if (!s || !*s || *s == '.' || strlen(s) > 128)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return 0;
    return 1;
}

#define RESOLVE_MAX_LOCALES 8

/* Appends loc ("de_AT" or "de-AT") and its shorter forms, without duplicates. */
static void add_locale_chain(const char *loc, char chain[RESOLVE_MAX_LOCALES][40], int *n)
{
    char buf[40];
    size_t len = loc ? strlen(loc) : 0;
    if (len == 0 || len >= sizeof(buf))
        return;
    for (size_t i = 0; i < len; i++) {
        char c = loc[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return;
        buf[i] = c == '_' ? '-' : c;
    }
    buf[len] = '\0';
    while (*n < RESOLVE_MAX_LOCALES) {
        int dup = 0;
        for (int i = 0; i < *n; i++)
            dup |= strcmp(chain[i], buf) == 0;
        if (!dup)
            snprintf(chain[(*n)++], sizeof(chain[0]), "%s", buf);
        char *dash = strrchr(buf, '-');
        if (!dash)
            break;
        *dash = '\0';
    }
}

static void folder_default_locale(const char *dir, const char *folder, char *out, size_t size)
{
    char path[1200];
    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/%s/default_locale", dir, folder);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(out, (int)size, f)) {
        size_t n = strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
            out[--n] = '\0';
    }
    fclose(f);
}

int dn_template_resolve(const char *dir, const char *tenant, const char *key, const char *channel, const char *locale,
                        const char *ext, char *folder, size_t folder_size, char *found_locale, size_t locale_size,
                        char *errstr, size_t errstr_size)
{
    if (!plain_component(key) || !plain_component(channel) || !plain_component(ext)) {
        snprintf(errstr, errstr_size, "template key is not a valid file name");
        return -1;
    }
    const char *folders[2] = {plain_component(tenant) && strcmp(tenant, "default") != 0 ? tenant : NULL, "default"};
    char tried[512] = "";
    for (int f = 0; f < 2; f++) {
        if (!folders[f])
            continue;
        char chain[RESOLVE_MAX_LOCALES][40], def[40];
        int n = 0;
        add_locale_chain(locale, chain, &n);
        folder_default_locale(dir, folders[f], def, sizeof(def));
        add_locale_chain(def, chain, &n);
        if (f == 1)
            add_locale_chain("en", chain, &n);
        for (int i = 0; i < n; i++) {
            char path[1400];
            snprintf(path, sizeof(path), "%s/%s/%s.%s.%s.%s", dir, folders[f], key, channel, chain[i], ext);
            if (access(path, F_OK) == 0) {
                snprintf(folder, folder_size, "%s", folders[f]);
                snprintf(found_locale, locale_size, "%s", chain[i]);
                return 0;
            }
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof(tried) - used, "%s%s/%s", used ? ", " : "", folders[f], chain[i]);
        }
    }
    snprintf(errstr, errstr_size, "no %s template %s (tried %s)", channel, key, tried);
    return -1;
}

void dn_date_format_long(int32_t days, const char *locale, char *buf, size_t size)
{
    static const char *const en[12] = {"January", "February", "March",     "April",   "May",      "June",
                                       "July",    "August",   "September", "October", "November", "December"};
    static const char *const de[12] = {"Januar", "Februar", "März",      "April",   "Mai",      "Juni",
                                       "Juli",   "August",  "September", "Oktober", "November", "Dezember"};
    static const char *const fr[12] = {"janvier", "février", "mars",      "avril",   "mai",      "juin",
                                       "juillet", "août",    "septembre", "octobre", "novembre", "décembre"};
    static const char *const es[12] = {"enero", "febrero", "marzo",      "abril",   "mayo",      "junio",
                                       "julio", "agosto",  "septiembre", "octubre", "noviembre", "diciembre"};
    char iso[16];
    dn_date_format(days, iso, sizeof(iso)); /* YYYY-MM-DD */
    int y = atoi(iso), m = atoi(iso + 5), d = atoi(iso + 8);
    if (m < 1 || m > 12) {
        snprintf(buf, size, "%s", iso);
        return;
    }
    const char *l = locale ? locale : "en";
    if (strncmp(l, "de", 2) == 0 && (l[2] == '\0' || l[2] == '-' || l[2] == '_'))
        snprintf(buf, size, "%d. %s %d", d, de[m - 1], y);
    else if (strncmp(l, "fr", 2) == 0 && (l[2] == '\0' || l[2] == '-' || l[2] == '_'))
        snprintf(buf, size, "%d %s %d", d, fr[m - 1], y);
    else if (strncmp(l, "es", 2) == 0 && (l[2] == '\0' || l[2] == '-' || l[2] == '_'))
        snprintf(buf, size, "%d de %s de %d", d, es[m - 1], y);
    else
        snprintf(buf, size, "%d %s %d", d, en[m - 1], y);
}

int dn_template_each(const char *dir, const char *channel, const char *ext, dn_template_each_fn fn, void *arg,
                     FILE *out, int *sets)
{
    int problems = 0;
    *sets = 0;
    DIR *top = opendir(dir);
    if (!top) {
        fprintf(out, "%s: %s\n", dir, strerror(errno));
        return 1;
    }
    char mark_txt[64], ext_txt[32];
    snprintf(mark_txt, sizeof(mark_txt), ".%s.", channel);
    snprintf(ext_txt, sizeof(ext_txt), ".%s", ext);
    size_t mlen = strlen(mark_txt), elen = strlen(ext_txt);
    struct dirent *de;
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        char folder[1400];
        snprintf(folder, sizeof(folder), "%s/%s", dir, de->d_name);
        DIR *d = opendir(folder);
        if (!d)
            continue;
        struct dirent *fe;
        while ((fe = readdir(d))) {
            /* <key>.<channel>.<locale>.<ext> */
            char key[256], locale[64];
            const char *name = fe->d_name, *mark = strstr(name, mark_txt);
            size_t len = strlen(name);
            if (!mark || len < elen || strcmp(name + len - elen, ext_txt) != 0)
                continue;
            size_t klen = (size_t)(mark - name);
            const char *loc = mark + mlen;
            if (name + len - elen <= loc)
                continue;
            size_t llen = (size_t)(name + len - elen - loc);
            if (klen == 0 || klen >= sizeof(key) || llen == 0 || llen >= sizeof(locale))
                continue;
            memcpy(key, name, klen);
            key[klen] = '\0';
            memcpy(locale, loc, llen);
            locale[llen] = '\0';
            problems += fn(dir, de->d_name, key, locale, arg, out);
            (*sets)++;
        }
        closedir(d);
    }
    closedir(top);
    return problems;
}

char *dn_template_read_file(const char *path, size_t max_bytes, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(errstr, errstr_size, "%s", strerror(errno));
        return NULL;
    }
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (size_t)n <= max_bytes && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    if (!buf) {
        if (max_bytes >= 1024 * 1024)
            snprintf(errstr, errstr_size, "cannot read (or larger than %zu MiB)", max_bytes / (1024 * 1024));
        else
            snprintf(errstr, errstr_size, "cannot read (or larger than %zu KiB)", max_bytes / 1024);
    }
    return buf;
}
