#include "mail.h"

#include "dn_buf.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- encodings ---- */

static const char hex[] = "0123456789ABCDEF";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(dn_buf_t *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        dn_buf_addn(b, q, 4);
    }
}

char *mail_qp_encode(const char *in)
{
    dn_buf_t b = {0};
    const char *p = in;
    dn_buf_addn(&b, "", 0);
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        int col = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            for (int pass = 0; pass < 2; pass++) {
                /* '.' at the start of a line is encoded so no SMTP server ever sees a lone dot;
                 * blanks at the end of a line would be stripped in transit. */
                int enc = c == '=' || (c < 32 && c != '\t') || c > 126 || (col == 0 && c == '.') ||
                          ((c == ' ' || c == '\t') && i + 1 == n);
                int w = enc ? 3 : 1;
                if (col + w > 75 && pass == 0) {
                    dn_buf_add(&b, "=\r\n"); /* soft line break: lines stay within 76 characters */
                    col = 0;
                    continue;
                }
                if (enc) {
                    char e[3] = {'=', hex[c >> 4], hex[c & 15]};
                    dn_buf_addn(&b, e, 3);
                } else {
                    dn_buf_addn(&b, (const char *)&c, 1);
                }
                col += w;
                break;
            }
        }
        dn_buf_add(&b, "\r\n");
        p += eol ? (size_t)(eol - p) + 1 : strlen(p);
    }
    return dn_buf_take(&b, NULL);
}

static int is_ascii_printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
            return 0;
    }
    return 1;
}

char *mail_encode_header(const char *value, int is_phrase)
{
    dn_buf_t b = {0};
    dn_buf_addn(&b, "", 0);
    if (is_ascii_printable(value)) {
        if (!is_phrase) {
            dn_buf_add(&b, value);
        } else if (strpbrk(value, "()<>[]:;@\\,.\"")) {
            /* A display name with specials goes in a quoted string. */
            dn_buf_add(&b, "\"");
            for (const char *c = value; *c; c++) {
                if (*c == '"' || *c == '\\')
                    dn_buf_add(&b, "\\");
                dn_buf_addn(&b, c, 1);
            }
            dn_buf_add(&b, "\"");
        } else {
            dn_buf_add(&b, value);
        }
        return dn_buf_take(&b, NULL);
    }
    /* RFC 2047 B words of at most 45 bytes (60 base64 chars + 12 = 72 < 75), never splitting
     * a UTF-8 sequence, separated by folding whitespace. */
    const unsigned char *s = (const unsigned char *)value;
    size_t n = strlen(value), i = 0;
    while (i < n) {
        size_t take = n - i < 45 ? n - i : 45;
        while (take > 0 && i + take < n && (s[i + take] & 0xC0) == 0x80)
            take--; /* do not end inside a multi-byte character */
        if (take == 0)
            take = n - i < 45 ? n - i : 45;
        if (i > 0)
            dn_buf_add(&b, "\r\n ");
        dn_buf_add(&b, "=?UTF-8?B?");
        base64(&b, s + i, take);
        dn_buf_add(&b, "?=");
        i += take;
    }
    return dn_buf_take(&b, NULL);
}

/* Folds a long plain-ASCII header at blanks so lines stay near 78 characters. */
static void add_folded(dn_buf_t *b, const char *name, const char *value)
{
    dn_buf_add(b, name);
    dn_buf_add(b, ": ");
    size_t col = strlen(name) + 2;
    const char *p = value;
    while (*p) {
        if (p[0] == '\r' && p[1] == '\n') { /* already folded (encoded words) */
            dn_buf_addn(b, p, 2);
            p += 2;
            col = 0;
            continue;
        }
        size_t word = strcspn(p + 1, " \r") + 1;
        if (col + word > 78 && col > 1 && *p == ' ') {
            dn_buf_add(b, "\r\n");
            col = 0;
        }
        dn_buf_addn(b, p, word);
        col += word;
        p += word;
    }
    dn_buf_add(b, "\r\n");
}

int mail_addr_valid(const char *addr)
{
    size_t n = strlen(addr);
    const char *at = strchr(addr, '@');
    if (n == 0 || n > 254 || !at || at == addr || !at[1] || strchr(at + 1, '@'))
        return 0;
    for (const char *c = addr; *c; c++) {
        if (*c <= 32 || *c >= 127 || strchr("<>()[]\\,;:\"", *c))
            return 0;
    }
    return 1;
}

int mail_parse_mailbox(const char *s, char *name, size_t name_size, char *addr, size_t addr_size)
{
    const char *lt = strrchr(s, '<');
    name[0] = addr[0] = '\0';
    if (strpbrk(s, "\r\n"))
        return -1;
    if (!lt) {
        while (*s == ' ')
            s++;
        size_t n = strlen(s);
        while (n && s[n - 1] == ' ')
            n--;
        if (n >= addr_size)
            return -1;
        memcpy(addr, s, n);
        addr[n] = '\0';
        return mail_addr_valid(addr) ? 0 : -1;
    }
    const char *gt = strchr(lt, '>');
    if (!gt || gt[1 + strspn(gt + 1, " ")] != '\0' || (size_t)(gt - lt - 1) >= addr_size)
        return -1;
    memcpy(addr, lt + 1, (size_t)(gt - lt - 1));
    addr[gt - lt - 1] = '\0';
    const char *ns = s, *ne = lt;
    while (ns < ne && *ns == ' ')
        ns++;
    while (ne > ns && ne[-1] == ' ')
        ne--;
    if (ne - ns >= 2 && *ns == '"' && ne[-1] == '"') {
        ns++;
        ne--;
    }
    if ((size_t)(ne - ns) >= name_size)
        return -1;
    memcpy(name, ns, (size_t)(ne - ns));
    name[ne - ns] = '\0';
    return mail_addr_valid(addr) ? 0 : -1;
}

static void format_date(int64_t ms, char *buf, size_t size)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

static void add_mailbox(dn_buf_t *b, const char *header, const char *name, const char *addr)
{
    if (name && *name) {
        char *enc = mail_encode_header(name, 1);
        if (!enc) {
            b->oom = 1;
            return;
        }
        dn_buf_t v = {0};
        dn_buf_add(&v, enc);
        dn_buf_add(&v, " <");
        dn_buf_add(&v, addr);
        dn_buf_add(&v, ">");
        free(enc);
        if (v.oom) {
            b->oom = 1;
        } else {
            add_folded(b, header, v.p);
        }
        free(v.p);
    } else {
        dn_buf_printf(b, "%s: <%s>\r\n", header, addr);
    }
}

char *mail_build(const mail_msg_t *m, size_t *len, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *what;
        size_t off;
    } headers[] = {
        {"sender name", offsetof(mail_msg_t, from_name)},
        {"sender address", offsetof(mail_msg_t, from_addr)},
        {"recipient name", offsetof(mail_msg_t, to_name)},
        {"recipient address", offsetof(mail_msg_t, to_addr)},
        {"reply-to name", offsetof(mail_msg_t, reply_to_name)},
        {"reply-to address", offsetof(mail_msg_t, reply_to_addr)},
        {"subject", offsetof(mail_msg_t, subject)},
        {"message id", offsetof(mail_msg_t, message_id)},
        {"List-Unsubscribe", offsetof(mail_msg_t, list_unsubscribe)},
    };
    /* No header value may carry a line break: it would start a header of its own. */
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        const char *v = *(const char *const *)((const char *)m + headers[i].off);
        if (has_line_break(v)) {
            snprintf(errstr, errstr_size, "%s contains a line break", headers[i].what);
            return NULL;
        }
    }
    if (!mail_addr_valid(m->to_addr) || !mail_addr_valid(m->from_addr)) {
        snprintf(errstr, errstr_size, "%s address is not valid",
                 mail_addr_valid(m->from_addr) ? "recipient" : "sender");
        return NULL;
    }
    if (m->reply_to_addr && *m->reply_to_addr && !mail_addr_valid(m->reply_to_addr)) {
        snprintf(errstr, errstr_size, "reply-to address is not valid");
        return NULL;
    }
    if (strlen(m->subject) > 900) {
        snprintf(errstr, errstr_size, "subject longer than 900 bytes");
        return NULL;
    }
    char date[64];
    format_date(m->date_ms, date, sizeof(date));
    char *subject = mail_encode_header(m->subject, 0);
    char *text = mail_qp_encode(m->text);
    char *html = mail_qp_encode(m->html);
    dn_buf_t b = {0};
    if (!subject || !text || !html) {
        b.oom = 1;
        goto out;
    }
    /* "=_" never occurs in quoted-printable output, so this boundary cannot clash. */
    char boundary[128];
    snprintf(boundary, sizeof(boundary), "=_dunning_%.100s", m->message_id);
    for (char *c = boundary; *c; c++) {
        if (*c == '@')
            *c = '.';
    }
    add_mailbox(&b, "From", m->from_name, m->from_addr);
    add_mailbox(&b, "To", m->to_name, m->to_addr);
    if (m->reply_to_addr && *m->reply_to_addr)
        add_mailbox(&b, "Reply-To", m->reply_to_name, m->reply_to_addr);
    add_folded(&b, "Subject", subject);
    dn_buf_printf(&b, "Date: %s\r\n", date);
    dn_buf_printf(&b, "Message-ID: <%s>\r\n", m->message_id);
    if (m->list_unsubscribe && *m->list_unsubscribe)
        add_folded(&b, "List-Unsubscribe", m->list_unsubscribe);
    dn_buf_add(&b, "Auto-Submitted: auto-generated\r\n");
    dn_buf_add(&b, "MIME-Version: 1.0\r\n");
    dn_buf_printf(&b, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n", boundary);
    dn_buf_add(&b, "\r\nThis is a multi-part message in MIME format.\r\n");
    dn_buf_printf(&b, "\r\n--%s\r\n", boundary);
    dn_buf_add(&b, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    dn_buf_add(&b, text);
    dn_buf_printf(&b, "\r\n--%s\r\n", boundary);
    dn_buf_add(&b, "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    dn_buf_add(&b, html);
    dn_buf_printf(&b, "\r\n--%s--\r\n", boundary);
out:
    free(subject);
    free(text);
    free(html);
    char *msg = dn_buf_take(&b, len);
    if (!msg)
        snprintf(errstr, errstr_size, "out of memory");
    return msg;
}

/* ---- SMTP ---- */

struct smtp {
    CURL *curl;
    char *url;
    long use_ssl;
    long timeout_ms;
};

typedef struct upload {
    const char *p;
    size_t left;
} upload_t;

static size_t read_cb(char *dst, size_t size, size_t nmemb, void *userdata)
{
    upload_t *u = userdata;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;
    memcpy(dst, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

smtp_t *smtp_new(const char *url, const char *tls, int64_t timeout_ms, char *errstr, size_t errstr_size)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(errstr, errstr_size, "curl_global_init failed");
            return NULL;
        }
        global_done = 1;
    }
    long use_ssl;
    if (strcmp(tls, "none") == 0)
        use_ssl = CURLUSESSL_NONE;
    else if (strcmp(tls, "try") == 0)
        use_ssl = CURLUSESSL_TRY;
    else if (strcmp(tls, "required") == 0)
        use_ssl = CURLUSESSL_ALL;
    else {
        snprintf(errstr, errstr_size, "DUNNING_SMTP_TLS: use none, try or required");
        return NULL;
    }
    /* Check the URL now so a typo stops the service at start, not at the first reminder. */
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             (strcmp(scheme, "smtp") == 0 || strcmp(scheme, "smtps") == 0) && *host;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok) {
        snprintf(errstr, errstr_size, "DUNNING_SMTP_URL: not an smtp://host[:port] or smtps:// URL");
        return NULL;
    }
    smtp_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->url = strdup(url)) || !(s->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "out of memory");
        smtp_destroy(s);
        return NULL;
    }
    s->use_ssl = use_ssl;
    s->timeout_ms = (long)timeout_ms;
    return s;
}

smtp_result_t smtp_send(smtp_t *s, const char *mail_from, const char *rcpt, const char *msg, size_t len, int fresh,
                        long *code, char *errstr, size_t errstr_size)
{
    char from[300], to[300], curl_err[CURL_ERROR_SIZE] = "";
    snprintf(from, sizeof(from), "<%s>", mail_from);
    snprintf(to, sizeof(to), "<%s>", rcpt);
    struct curl_slist *rcpts = curl_slist_append(NULL, to);
    upload_t up = {msg, len};
    *code = 0;
    if (!rcpts) {
        snprintf(errstr, errstr_size, "out of memory");
        return SMTP_TRANSIENT;
    }
    CURL *c = s->curl;
    /* The same easy handle every time: libcurl keeps the connection open between sends. */
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_USE_SSL, s->use_ssl);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s->timeout_ms < 10000 ? s->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_READDATA, NULL);
    curl_slist_free_all(rcpts);
    if (rc == CURLE_OK) {
        snprintf(errstr, errstr_size, "ok");
        return SMTP_OK;
    }
    snprintf(errstr, errstr_size, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    /* A reply code decides; no reply at all (refused, timed out, dropped) is transient. */
    if (*code >= 500 && *code < 600)
        return SMTP_PERMANENT;
    return SMTP_TRANSIENT;
}

void smtp_destroy(smtp_t *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl); /* NULL: nothing */
    free(s->url);
    free(s);
}
