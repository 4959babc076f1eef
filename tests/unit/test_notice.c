/* dn_notice: a consolidated notice's items brought up to date at the last mile. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_notice.h"

/* A notice of three dunned invoices (malloc'd as the decoder leaves them). */
static void notice(dn_reminder_due_t *rd)
{
    memset(rd, 0, sizeof(*rd));
    rd->notice_kind = "customer_notice";
    rd->items = calloc(3, sizeof(*rd->items));
    rd->items_n = 3;
    const char *ids[] = {"INV-1", "INV-2", "INV-3"};
    const int64_t out[] = {10000, 20000, 30000};
    for (int i = 0; i < 3; i++) {
        rd->items[i] = (dn_notice_item_t){.invoice_id = strdup(ids[i]),
                                          .stage_name = strdup("first_reminder"),
                                          .stage = 1,
                                          .outstanding_minor = out[i],
                                          .fee_minor = 500,
                                          .total_due_minor = out[i] + 500,
                                          .dunned = true};
    }
    rd->outstanding_minor = 60000;
    rd->fee_minor = 1500;
    rd->total_due_minor = 61500;
}

static void release(dn_reminder_due_t *rd)
{
    for (size_t i = 0; i < rd->items_n; i++)
        dn_record_free(&dn_notice_item_desc, &rd->items[i]);
    free(rd->items);
}

static void test_unchanged(void **state)
{
    (void)state;
    dn_reminder_due_t rd;
    notice(&rd);
    dn_notice_case_t now[3] = {{1, "overdue", NULL, 10000, 500, 0},
                               {1, "overdue", NULL, 20000, 500, 0},
                               {1, "handed_over", NULL, 30000, 500, 0}};
    int changed = 0;
    assert_int_equal(dn_notice_refresh(&rd, now, &changed), 3);
    assert_int_equal(changed, 0);
    assert_int_equal(rd.items_n, 3);
    assert_int_equal(rd.total_due_minor, 61500);
    release(&rd);
}

static void test_paid_and_promised(void **state)
{
    (void)state;
    dn_reminder_due_t rd;
    notice(&rd);
    /* INV-1 paid, INV-2 under a promise, INV-3 part paid (fee first, then 5000 principal) */
    dn_notice_case_t now[3] = {
        {1, "resolved", NULL, 0, 0, 0}, {1, "promised", NULL, 20000, 500, 0}, {1, "overdue", NULL, 25000, 0, 0}};
    int changed = 0;
    assert_int_equal(dn_notice_refresh(&rd, now, &changed), 1);
    assert_int_equal(changed, 1);
    assert_int_equal(rd.items_n, 2);
    assert_string_equal(rd.items[0].invoice_id, "INV-2");
    assert_false(rd.items[0].dunned);
    assert_string_equal(rd.items[0].not_dunned_reason, "promise");
    assert_string_equal(rd.items[1].invoice_id, "INV-3");
    assert_true(rd.items[1].dunned);
    assert_int_equal(rd.items[1].total_due_minor, 25000);
    assert_int_equal(rd.outstanding_minor, 25000);
    assert_int_equal(rd.amount_minor, 25000);
    assert_int_equal(rd.fee_minor, 0);
    assert_int_equal(rd.total_due_minor, 25000);
    release(&rd);
}

static void test_nothing_left(void **state)
{
    (void)state;
    dn_reminder_due_t rd;
    notice(&rd);
    dn_notice_case_t now[3] = {
        {0, "", NULL, 0, 0, 0}, {1, "written_off", NULL, 20000, 500, 0}, {1, "paused", "dispute", 30000, 500, 0}};
    int changed = 0;
    assert_int_equal(dn_notice_refresh(&rd, now, &changed), 0);
    assert_int_equal(rd.items_n, 1);
    assert_string_equal(rd.items[0].not_dunned_reason, "dispute");
    assert_int_equal(rd.total_due_minor, 0);
    release(&rd);
}

static void test_never_dunned_again(void **state)
{
    (void)state;
    dn_reminder_due_t rd;
    notice(&rd);
    rd.items[2].dunned = false;
    rd.items[2].not_dunned_reason = strdup("plan");
    dn_notice_case_t now[3] = {
        {1, "overdue", NULL, 10000, 500, 0}, {1, "overdue", NULL, 20000, 500, 0}, {1, "overdue", NULL, 30000, 500, 0}};
    int changed = 0;
    assert_int_equal(dn_notice_refresh(&rd, now, &changed), 2);
    assert_int_equal(changed, 0);
    assert_false(rd.items[2].dunned);
    release(&rd);
}

static void test_kinds(void **state)
{
    (void)state;
    dn_reminder_due_t rd = {0};
    assert_false(dn_notice_is_customer_level(&rd));
    rd.notice_kind = "instalment";
    assert_false(dn_notice_is_customer_level(&rd));
    rd.notice_kind = "card_expiry";
    assert_true(dn_notice_is_customer_level(&rd));
    rd.notice_kind = "customer_notice";
    assert_true(dn_notice_is_customer_level(&rd));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged),    cmocka_unit_test(test_paid_and_promised),
        cmocka_unit_test(test_nothing_left), cmocka_unit_test(test_never_dunned_again),
        cmocka_unit_test(test_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
