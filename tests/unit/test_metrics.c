/* dn_metrics: the exact exposition text (labels, escaping, histograms, gauges, callbacks);
 * dn_http: the endpoints, status codes and the address file, over loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_http.h"
#include "dn_metrics.h"

static char *render(void)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(dn_metrics_render(&out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void assert_rendered(const char *expected)
{
    char *got = render();
    assert_string_equal(got, expected);
    free(got);
}

static int reset(void **state)
{
    (void)state;
    dn_metrics_reset();
    return 0;
}

static void test_empty(void **state)
{
    (void)state;
    assert_rendered("");
}

static void test_counter_with_labels(void **state)
{
    (void)state;
    dn_metric_t *c = dn_metrics_counter("t_events_total", "Events seen.", "topic,result");
    assert_non_null(c);
    dn_metrics_add(c, DN_LABELS("invoice-issued", "ok"), 1);
    dn_metrics_add(c, DN_LABELS("invoice-issued", "dead_letter"), 1);
    dn_metrics_add(c, DN_LABELS("invoice-issued", "ok"), 1);
    dn_metrics_add(c, DN_LABELS("invoice-issued", "ok"), -5); /* counters never go down */
    dn_metrics_add(c, DN_LABELS("payment-received", NULL), 0);
    assert_rendered("# HELP t_events_total Events seen.\n"
                    "# TYPE t_events_total counter\n"
                    "t_events_total{topic=\"invoice-issued\",result=\"ok\"} 2\n"
                    "t_events_total{topic=\"invoice-issued\",result=\"dead_letter\"} 1\n"
                    "t_events_total{topic=\"payment-received\",result=\"\"} 0\n");
}

static void test_unlabelled_counter_starts_at_zero(void **state)
{
    (void)state;
    dn_metric_t *c = dn_metrics_counter("t_relayed_total", "Rows relayed.", NULL);
    assert_rendered("# HELP t_relayed_total Rows relayed.\n# TYPE t_relayed_total counter\nt_relayed_total 0\n");
    dn_metrics_add(c, NULL, 1000);
    dn_metrics_add(c, NULL, 0.5);
    assert_rendered("# HELP t_relayed_total Rows relayed.\n# TYPE t_relayed_total counter\nt_relayed_total 1000.5\n");
}

static void test_escaping(void **state)
{
    (void)state;
    dn_metric_t *c = dn_metrics_counter("t_escape_total", "Back\\slash, \"quotes\" and a\nnewline.", "value");
    dn_metrics_add(c, DN_LABELS("a\\b \"c\"\nd"), 1);
    assert_rendered("# HELP t_escape_total Back\\\\slash, \"quotes\" and a\\nnewline.\n"
                    "# TYPE t_escape_total counter\n"
                    "t_escape_total{value=\"a\\\\b \\\"c\\\"\\nd\"} 1\n");
}

static void test_gauges(void **state)
{
    (void)state;
    dn_metric_t *g = dn_metrics_gauge("t_pending", "Pending rows.", NULL);
    dn_metric_t *l = dn_metrics_gauge("t_values", "Assorted values.", "k");
    dn_metrics_set(g, NULL, 7);
    dn_metrics_add(g, NULL, -2);
    dn_metrics_set(l, DN_LABELS("fraction"), 0.1);
    dn_metrics_set(l, DN_LABELS("big"), 1e20);
    dn_metrics_set(l, DN_LABELS("negative"), -3);
    dn_metrics_set(l, DN_LABELS("third"), 1.0 / 3.0);
    dn_metrics_set(l, DN_LABELS("inf"), INFINITY);
    dn_metrics_set(l, DN_LABELS("fraction"), 0.25); /* set replaces */
    assert_rendered("# HELP t_pending Pending rows.\n"
                    "# TYPE t_pending gauge\n"
                    "t_pending 5\n"
                    "# HELP t_values Assorted values.\n"
                    "# TYPE t_values gauge\n"
                    "t_values{k=\"fraction\"} 0.25\n"
                    "t_values{k=\"big\"} 1e+20\n"
                    "t_values{k=\"negative\"} -3\n"
                    "t_values{k=\"third\"} 0.33333333333333331\n"
                    "t_values{k=\"inf\"} +Inf\n");
}

static void test_histogram(void **state)
{
    (void)state;
    dn_metric_t *h = dn_metrics_histogram("t_latency_seconds", "Latency.", "work", DN_METRICS_BUCKETS(0.5, 1, 10));
    assert_non_null(h);
    dn_metrics_observe(h, DN_LABELS("records"), 0.25);
    dn_metrics_observe(h, DN_LABELS("records"), 0.5); /* a bound is inclusive */
    dn_metrics_observe(h, DN_LABELS("records"), 2);
    dn_metrics_observe(h, DN_LABELS("records"), 20);
    dn_metrics_observe(h, DN_LABELS("timers"), 1);
    assert_rendered("# HELP t_latency_seconds Latency.\n"
                    "# TYPE t_latency_seconds histogram\n"
                    "t_latency_seconds_bucket{work=\"records\",le=\"0.5\"} 2\n"
                    "t_latency_seconds_bucket{work=\"records\",le=\"1\"} 2\n"
                    "t_latency_seconds_bucket{work=\"records\",le=\"10\"} 3\n"
                    "t_latency_seconds_bucket{work=\"records\",le=\"+Inf\"} 4\n"
                    "t_latency_seconds_sum{work=\"records\"} 22.75\n"
                    "t_latency_seconds_count{work=\"records\"} 4\n"
                    "t_latency_seconds_bucket{work=\"timers\",le=\"0.5\"} 0\n"
                    "t_latency_seconds_bucket{work=\"timers\",le=\"1\"} 1\n"
                    "t_latency_seconds_bucket{work=\"timers\",le=\"10\"} 1\n"
                    "t_latency_seconds_bucket{work=\"timers\",le=\"+Inf\"} 1\n"
                    "t_latency_seconds_sum{work=\"timers\"} 1\n"
                    "t_latency_seconds_count{work=\"timers\"} 1\n");
}

static void test_unlabelled_histogram(void **state)
{
    (void)state;
    dn_metric_t *h = dn_metrics_histogram("t_size", "Sizes.", "", DN_METRICS_BUCKETS(1, 5));
    dn_metrics_observe(h, NULL, 3);
    assert_rendered("# HELP t_size Sizes.\n"
                    "# TYPE t_size histogram\n"
                    "t_size_bucket{le=\"1\"} 0\n"
                    "t_size_bucket{le=\"5\"} 1\n"
                    "t_size_bucket{le=\"+Inf\"} 1\n"
                    "t_size_sum 3\n"
                    "t_size_count 1\n");
}

static void test_latency_buckets(void **state)
{
    (void)state;
    dn_metric_t *h = dn_metrics_histogram("t_smtp_seconds", "SMTP.", NULL, DN_METRICS_LATENCY_BUCKETS);
    dn_metrics_observe(h, NULL, 0.003);
    char *got = render();
    assert_non_null(strstr(got, "t_smtp_seconds_bucket{le=\"0.001\"} 0\n"
                                "t_smtp_seconds_bucket{le=\"0.005\"} 1\n"
                                "t_smtp_seconds_bucket{le=\"0.01\"} 1\n"));
    assert_non_null(strstr(got, "t_smtp_seconds_bucket{le=\"10\"} 1\nt_smtp_seconds_bucket{le=\"+Inf\"} 1\n"));
    free(got);
}

static void lag_emit(dn_metrics_emitter_t *em, void *arg)
{
    const int *base = arg;
    dn_metrics_emit(em, DN_LABELS("invoice-issued"), *base);
    dn_metrics_emit(em, DN_LABELS("payment-received"), *base + 1);
}

static void test_callback_gauge(void **state)
{
    (void)state;
    static int base = 3;
    assert_non_null(dn_metrics_gauge_fn("t_lag", "Lag.", "topic", lag_emit, &base));
    assert_rendered("# HELP t_lag Lag.\n# TYPE t_lag gauge\nt_lag{topic=\"invoice-issued\"} 3\n"
                    "t_lag{topic=\"payment-received\"} 4\n");
    base = 10; /* evaluated at every render */
    assert_rendered("# HELP t_lag Lag.\n# TYPE t_lag gauge\nt_lag{topic=\"invoice-issued\"} 10\n"
                    "t_lag{topic=\"payment-received\"} 11\n");
}

static void test_registration(void **state)
{
    (void)state;
    dn_metric_t *a = dn_metrics_counter("t_a_total", "A.", "x,y");
    assert_non_null(a);
    assert_ptr_equal(dn_metrics_counter("t_a_total", "A again.", "x,y"), a); /* the same metric */
    assert_null(dn_metrics_counter("t_a_total", "A.", "x"));                 /* other labels */
    assert_null(dn_metrics_gauge("t_a_total", "A.", "x,y"));                 /* other type */
    assert_null(dn_metrics_counter("1bad", "Bad name.", NULL));
    assert_null(dn_metrics_counter("t_b", "Bad label.", "ok,1x"));
    assert_null(dn_metrics_counter("t_c", "Too many labels.", "a,b,c,d"));
    assert_null(dn_metrics_counter("t_d", "Repeated label.", "a,a"));
    assert_null(dn_metrics_counter("t_e", "Reserved label.", "__name"));
    assert_null(dn_metrics_histogram("t_f", "le is reserved.", "le", DN_METRICS_BUCKETS(1)));
    assert_null(dn_metrics_histogram("t_g", "Not increasing.", NULL, DN_METRICS_BUCKETS(1, 1)));
    assert_null(dn_metrics_histogram("t_h", "No buckets.", NULL, NULL, 0));
    assert_non_null(dn_metrics_counter("ns:t_i_total", "Colons are allowed in names.", "a,b,c"));
    /* Updates of a failed registration, or of the wrong kind, do nothing. */
    dn_metrics_add(NULL, NULL, 1);
    dn_metrics_set(NULL, NULL, 1);
    dn_metrics_observe(NULL, NULL, 1);
    dn_metrics_set(a, DN_LABELS("1", "2"), 5);     /* set is for gauges */
    dn_metrics_observe(a, DN_LABELS("1", "2"), 5); /* observe for histograms */
    assert_rendered("# HELP t_a_total A.\n# TYPE t_a_total counter\n"
                    "# HELP ns:t_i_total Colons are allowed in names.\n# TYPE ns:t_i_total counter\n");
}

/* ---- dn_http ---- */

typedef struct {
    char body[8192];
    size_t len;
} buf_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    buf_t *b = arg;
    size_t len = size * n;
    if (b->len + len >= sizeof(b->body))
        return 0;
    memcpy(b->body + b->len, data, len);
    b->len += len;
    b->body[b->len] = '\0';
    return len;
}

/* Fetches http://addr/path; returns the status, fills body and content type. */
static long fetch(const char *addr, const char *method, const char *path, buf_t *b, char *type, size_t type_size)
{
    char url[256];
    snprintf(url, sizeof(url), "http://%s%s", addr, path);
    memset(b, 0, sizeof(*b));
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (type)
        snprintf(type, type_size, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    return status;
}

static int db_ready;

static int check_db(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (db_ready)
        return 1;
    snprintf(why, why_size, "connection refused\nsecond line dropped");
    return 0;
}

static int check_always(void *arg, char *why, size_t why_size)
{
    (void)arg;
    (void)why;
    (void)why_size;
    return 1;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    char file[64], err[256], type[128], line[128];
    snprintf(file, sizeof(file), "/tmp/dn-test-http.%ld.addr", (long)getpid());
    dn_metric_t *c = dn_metrics_counter("t_http_total", "Counted.", "k");
    dn_metrics_add(c, DN_LABELS("v"), 2);
    const dn_http_check_t checks[] = {{"kafka", check_always, NULL}, {"postgres", check_db, NULL}};
    dn_http_t *h = dn_http_start("127.0.0.1:0", file, checks, 2, err, sizeof(err));
    assert_non_null(h);
    const char *addr = dn_http_bound(h);
    assert_int_equal(strncmp(addr, "127.0.0.1:", 10), 0);
    assert_true(atoi(addr + 10) > 0);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    line[strcspn(line, "\n")] = '\0';
    assert_string_equal(line, addr);

    buf_t b;
    assert_int_equal(fetch(addr, "GET", "/healthz", &b, type, sizeof(type)), 200);
    assert_string_equal(b.body, "ok\n");
    db_ready = 0;
    assert_int_equal(fetch(addr, "GET", "/readyz", &b, NULL, 0), 503);
    assert_string_equal(b.body, "postgres: connection refused\n");
    db_ready = 1;
    assert_int_equal(fetch(addr, "GET", "/readyz", &b, NULL, 0), 200);
    assert_string_equal(b.body, "ready\n");
    assert_int_equal(fetch(addr, "GET", "/metrics", &b, type, sizeof(type)), 200);
    assert_string_equal(type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(b.body, "# HELP t_http_total Counted.\n# TYPE t_http_total counter\nt_http_total{k=\"v\"} 2\n");
    assert_int_equal(fetch(addr, "GET", "/metrics?x=1", &b, NULL, 0), 200); /* a query string is ignored */
    assert_int_equal(fetch(addr, "HEAD", "/healthz", &b, NULL, 0), 200);
    assert_int_equal(b.len, 0);
    assert_int_equal(fetch(addr, "GET", "/nope", &b, NULL, 0), 404);
    assert_int_equal(fetch(addr, "POST", "/metrics", &b, NULL, 0), 405);
    assert_int_equal(fetch(addr, "DELETE", "/healthz", &b, NULL, 0), 405);

    dn_http_destroy(h);
    assert_int_equal(access(file, F_OK), -1); /* removed at the end */
}

static void test_http_disabled_and_errors(void **state)
{
    (void)state;
    char err[256];
    dn_http_t *h = dn_http_start("", NULL, NULL, 0, err, sizeof(err));
    assert_non_null(h);
    assert_string_equal(dn_http_bound(h), "");
    dn_http_destroy(h);
    dn_http_destroy(NULL);

    assert_int_equal(dn_http_addr_valid("", err, sizeof(err)), 0);
    assert_int_equal(dn_http_addr_valid("127.0.0.1:9464", err, sizeof(err)), 0);
    assert_int_equal(dn_http_addr_valid(":9464", err, sizeof(err)), 0);
    assert_int_equal(dn_http_addr_valid("[::1]:0", err, sizeof(err)), 0);
    assert_int_equal(dn_http_addr_valid("localhost:65535", err, sizeof(err)), 0);
    assert_int_equal(dn_http_addr_valid("127.0.0.1", err, sizeof(err)), -1);
    assert_int_equal(dn_http_addr_valid("127.0.0.1:65536", err, sizeof(err)), -1);
    assert_int_equal(dn_http_addr_valid("127.0.0.1:http", err, sizeof(err)), -1);
    assert_int_equal(dn_http_addr_valid("::1:9464", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "brackets"));

    /* A port in use: the second server cannot start, and says why. */
    dn_http_t *first = dn_http_start("127.0.0.1:0", NULL, NULL, 0, err, sizeof(err));
    assert_non_null(first);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", dn_http_bound(first));
    assert_null(dn_http_start(addr, NULL, NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot listen on"));
    dn_http_destroy(first);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, reset, reset),
        cmocka_unit_test_setup_teardown(test_counter_with_labels, reset, reset),
        cmocka_unit_test_setup_teardown(test_unlabelled_counter_starts_at_zero, reset, reset),
        cmocka_unit_test_setup_teardown(test_escaping, reset, reset),
        cmocka_unit_test_setup_teardown(test_gauges, reset, reset),
        cmocka_unit_test_setup_teardown(test_histogram, reset, reset),
        cmocka_unit_test_setup_teardown(test_unlabelled_histogram, reset, reset),
        cmocka_unit_test_setup_teardown(test_latency_buckets, reset, reset),
        cmocka_unit_test_setup_teardown(test_callback_gauge, reset, reset),
        cmocka_unit_test_setup_teardown(test_registration, reset, reset),
        cmocka_unit_test_setup_teardown(test_http_endpoints, reset, reset),
        cmocka_unit_test_setup_teardown(test_http_disabled_and_errors, reset, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
