/* libFuzzer target: the Mustache renderer of common/dn_template.c, and money formatting.
 *
 * Input: a template source, optionally followed by a line "===" and a JSON context. Without
 * a context (or with one that is not JSON) the template renders against a fixed context
 * shaped like the senders' (customer, invoice, amounts, a list of invoices) whose values are
 * hostile: markup, Mustache tags, SQL and CR/LF. The template renders in TEXT and in HTML
 * mode. Findings: a crash, a leak, a sanitizer report, a NULL result without an error
 * message, and any HTML-mode output in which a hostile value's '<' survived unescaped
 * though the template itself has no '<' and no raw tag. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_ctx[] =
    "{\"customer\": {\"name\": \"<script>alert(1)</script> {{customer.name}} '; DROP TABLE cases; --\","
    " \"email\": \"a@example.com\\r\\nBcc: x@example.com\"},"
    " \"invoice\": {\"number\": \"N-1\", \"due_date\": \"20 March 2026\", \"link\": \"https://pay/?a=1&b=<2>\"},"
    " \"amount\": \"\\u20ac1,234.56\", \"fee\": 0, \"paid\": false, \"rate\": 0.05, \"none\": null, \"empty\": \"\","
    " \"items\": [{\"number\": \"A\", \"amount\": 1}, {\"number\": \"{{#items}}\", \"amount\": -2}], \"list\": []}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) /* the senders read at most 64 KiB of template */
        return 0;
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';

    json_t *ctx = NULL;
    char *sep = strstr(in, "\n===\n");
    if (sep) {
        *sep = '\0';
        ctx = json_loads(sep + 5, JSON_DECODE_ANY, NULL);
    }
    int hostile = !ctx;
    if (!ctx)
        ctx = json_loads(fixed_ctx, 0, NULL);
    if (!ctx)
        abort();

    for (int mode = DN_TEMPLATE_TEXT; mode <= DN_TEMPLATE_HTML; mode++) {
        char err[256] = "";
        char *out = dn_template_render(in, ctx, (dn_template_mode_t)mode, err, sizeof(err));
        if (!out && !err[0])
            abort();
        /* Escaping: the fixed context's only '<' are in its values; a template without
         * '<' and without raw tags ({{{ or {{&) must not let one through in HTML. */
        if (out && hostile && mode == DN_TEMPLATE_HTML && strlen(in) == size && !strchr(in, '<') &&
            !strstr(in, "{{{") && !strstr(in, "{{&") && strchr(out, '<'))
            abort();
        free(out);
    }
    json_decref(ctx);

    /* Money: the first bytes as an amount, every currency family and locale family. */
    if (size >= 8) {
        int64_t minor;
        memcpy(&minor, data, sizeof(minor));
        static const char *const cur[] = {"EUR", "JPY", "BHD", "CHF", "XYZ", ""};
        static const char *const loc[] = {"en", "de-AT", "fr", ""};
        char buf[64];
        for (size_t c = 0; c < sizeof(cur) / sizeof(cur[0]); c++)
            for (size_t l = 0; l < sizeof(loc) / sizeof(loc[0]); l++)
                if (dn_money_format(minor, cur[c], loc[l], buf, sizeof(buf)) == 0 && !buf[0])
                    abort();
        dn_date_format_long((int32_t)(minor & 0x7fffffff) - (1 << 30), "de", buf, sizeof(buf));
    }
    free(in);
    return 0;
}
