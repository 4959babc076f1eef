/* dn_web's pure parts: which URL paths may map into the static directory, MIME types,
 * and the per-address limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>

#include <cmocka.h>

#include "dn_web.h"

static void test_path_safe(void **state)
{
    (void)state;
    assert_true(dn_web_path_safe("/"));
    assert_true(dn_web_path_safe("/index.html"));
    assert_true(dn_web_path_safe("/js/app.mjs"));
    assert_false(dn_web_path_safe("/../etc/passwd"));
    assert_false(dn_web_path_safe("/js/../../x"));
    assert_false(dn_web_path_safe("/.git/config"));
    assert_false(dn_web_path_safe("//etc/passwd"));
    assert_false(dn_web_path_safe("/a%2e%2e/b"));
    assert_false(dn_web_path_safe("/a\\b"));
    assert_false(dn_web_path_safe("relative.html"));
}

static void test_mime(void **state)
{
    (void)state;
    assert_string_equal(dn_web_mime("/x/index.html"), "text/html; charset=utf-8");
    assert_string_equal(dn_web_mime("/app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(dn_web_mime("/app.mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(dn_web_mime("/s.css"), "text/css; charset=utf-8");
    assert_string_equal(dn_web_mime("/logo.svg"), "image/svg+xml");
    assert_string_equal(dn_web_mime("/a.b/noext"), "application/octet-stream");
}

static void test_limit(void **state)
{
    (void)state;
    dn_web_limit_t *l = dn_web_limit_new(2, 3, 1000);
    assert_false(dn_web_limit_blocked(l, "10.0.0.1", 0));
    assert_true(dn_web_limit_hit(l, "10.0.0.1", 0));
    assert_true(dn_web_limit_hit(l, "10.0.0.1", 10));
    assert_false(dn_web_limit_hit(l, "10.0.0.1", 20)); /* the third reaches the limit */
    assert_true(dn_web_limit_blocked(l, "10.0.0.1", 30));
    assert_false(dn_web_limit_blocked(l, "10.0.0.2", 30));   /* per address */
    assert_false(dn_web_limit_blocked(l, "10.0.0.1", 1000)); /* a new window */
    dn_web_limit_destroy(l);
    dn_web_limit_destroy(NULL);

    /* keys longer than an address (a portal link): counted as themselves, no collision on
     * a common prefix */
    char a[300], b[300];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[sizeof(b) - 2] = 'y';
    l = dn_web_limit_new(4, 3, 1000);
    assert_true(dn_web_limit_hit(l, a, 0));
    assert_true(dn_web_limit_hit(l, a, 1));
    assert_false(dn_web_limit_hit(l, a, 2));
    assert_true(dn_web_limit_blocked(l, a, 3));
    assert_false(dn_web_limit_blocked(l, b, 3));
    assert_true(dn_web_limit_hit(l, b, 3));
    dn_web_limit_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_safe),
        cmocka_unit_test(test_mime),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
