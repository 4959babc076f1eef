#include "kannel.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kannel {
    CURL *curl;
    char *url, *user, *password, *from;
    int64_t timeout_ms;
};

typedef struct answer {
    char buf[512];
    size_t len;
} answer_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    answer_t *a = arg;
    size_t n = size * nmemb, room = sizeof(a->buf) - 1 - a->len;
    memcpy(a->buf + a->len, data, n < room ? n : room);
    a->len += n < room ? n : room;
    a->buf[a->len] = '\0';
    return n;
}

kannel_t *kannel_new(const char *url, const char *user, const char *password, const char *from, int64_t timeout_ms,
                     char *errstr, size_t errstr_size)
{
    static int global_done;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(errstr, errstr_size, "not an http:// or https:// URL");
        return NULL;
    }
    if (strchr(url, '?')) {
        snprintf(errstr, errstr_size, "the URL must not have a query (credentials go in their own variables)");
        return NULL;
    }
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(errstr, errstr_size, "curl_global_init failed");
            return NULL;
        }
        global_done = 1;
    }
    kannel_t *k = calloc(1, sizeof(*k));
    if (!k || !(k->url = strdup(url)) || !(k->user = strdup(user)) || !(k->password = strdup(password)) ||
        !(k->from = strdup(from)) || !(k->curl = curl_easy_init())) {
        snprintf(errstr, errstr_size, "out of memory");
        kannel_destroy(k);
        return NULL;
    }
    k->timeout_ms = timeout_ms;
    return k;
}

void kannel_destroy(kannel_t *k)
{
    if (!k)
        return;
    if (k->curl)
        curl_easy_cleanup(k->curl);
    if (k->password)
        memset(k->password, 0, strlen(k->password));
    free(k->url);
    free(k->user);
    free(k->password);
    free(k->from);
    free(k);
}

/* Appends "&name=<escaped value>" (no '&' first). 0/-1. */
static int add_param(CURL *curl, char *buf, size_t size, size_t *len, const char *name, const char *value)
{
    char *esc = curl_easy_escape(curl, value, 0);
    if (!esc)
        return -1;
    int n = snprintf(buf + *len, size - *len, "%s%s=%s", *len && buf[*len - 1] != '?' ? "&" : "", name, esc);
    curl_free(esc);
    if (n < 0 || (size_t)n >= size - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* One line of Kannel's answer for logs and outcomes, runs of 6 or more digits masked (a
 * gateway could echo the number). */
static void summarize(const char *body, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; body[i] && body[i] != '\n' && body[i] != '\r' && o + 4 < size;) {
        size_t digits = strspn(body + i, "0123456789");
        if (digits >= 6) {
            memcpy(out + o, "...", 3);
            o += 3;
            i += digits;
            continue;
        }
        unsigned char c = (unsigned char)body[i++];
        out[o++] = c < 0x20 ? ' ' : (char)c;
    }
    out[o] = '\0';
}

/* GET url; fills *status (0 if not reached) and the answer. CURLcode. */
static CURLcode get(kannel_t *k, const char *url, long *status, answer_t *a)
{
    CURL *c = k->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(k->timeout_ms < 5000 ? k->timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "dunning-sender-sms");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    *status = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

kannel_result_t kannel_send(kannel_t *k, const char *to, const char *text, sms_coding_t coding, int *reached,
                            char *reason, size_t reason_size)
{
    size_t size = strlen(k->url) +
                  3 * (strlen(text) + strlen(to) + strlen(k->user) + strlen(k->password) + strlen(k->from)) + 200;
    char *url = malloc(size);
    *reached = 0;
    if (!url) {
        snprintf(reason, reason_size, "out of memory");
        return KANNEL_TRANSIENT;
    }
    size_t len = (size_t)snprintf(url, size, "%s?", k->url);
    int ok = add_param(k->curl, url, size, &len, "username", k->user) == 0 &&
             add_param(k->curl, url, size, &len, "password", k->password) == 0 &&
             (!k->from[0] || add_param(k->curl, url, size, &len, "from", k->from) == 0) &&
             add_param(k->curl, url, size, &len, "to", to) == 0 &&
             add_param(k->curl, url, size, &len, "text", text) == 0 &&
             add_param(k->curl, url, size, &len, "charset", "UTF-8") == 0 &&
             (coding != SMS_UCS2 || add_param(k->curl, url, size, &len, "coding", "2") == 0);
    if (!ok) {
        free(url);
        snprintf(reason, reason_size, "out of memory");
        return KANNEL_TRANSIENT;
    }
    answer_t a = {.len = 0};
    a.buf[0] = '\0';
    long status = 0;
    CURLcode rc = get(k, url, &status, &a);
    memset(url, 0, size); /* the password */
    free(url);
    if (rc != CURLE_OK) {
        snprintf(reason, reason_size, "kannel: %s", curl_easy_strerror(rc));
        return KANNEL_TRANSIENT;
    }
    *reached = 1;
    char said[256];
    summarize(a.buf, said, sizeof(said));
    snprintf(reason, reason_size, "kannel %ld: %s", status, said[0] ? said : "(no answer text)");
    if (status >= 200 && status < 300)
        return KANNEL_ACCEPTED;
    if (status == 401 || status == 403 || status == 407 || status == 408 || status == 429)
        return KANNEL_TRANSIENT;
    if (status >= 400 && status < 500)
        return KANNEL_PERMANENT;
    return KANNEL_TRANSIENT;
}

int kannel_probe(kannel_t *k)
{
    answer_t a = {.len = 0};
    long status = 0;
    return get(k, k->url, &status, &a) == CURLE_OK;
}
