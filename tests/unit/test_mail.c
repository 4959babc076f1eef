/* sender-email's mail.c: quoted-printable, RFC 2047 headers, addresses, building a message.
 * No smtp_* here: that is the network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail.h"

static char *rep(const char *s, size_t n)
{
    size_t len = strlen(s);
    char *p = malloc(len * n + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        memcpy(p + i * len, s, len);
    p[len * n] = '\0';
    return p;
}

/* a followed by b, malloc'd; both are freed. */
static char *cat(char *a, char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 1);
    assert_non_null(p);
    memcpy(p, a, la);
    memcpy(p + la, b, lb + 1);
    free(a);
    free(b);
    return p;
}

static void expect_qp(const char *in, const char *want)
{
    char *got = mail_qp_encode(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* expect_qp with malloc'd arguments, which it frees. */
static void expect_qp_free(char *in, char *want)
{
    expect_qp(in, want);
    free(in);
    free(want);
}

static void test_qp_plain(void **state)
{
    (void)state;
    expect_qp("", "");
    expect_qp("Hello", "Hello\r\n");
    expect_qp("a b\tc", "a b\tc\r\n");
    expect_qp("a=b", "a=3Db\r\n");
    expect_qp("==", "=3D=3D\r\n");
    expect_qp("Gr\xC3\xBC\xC3\x9F"
              "e",
              "Gr=C3=BC=C3=9Fe\r\n");
    expect_qp("12 \xE2\x82\xAC", "12 =E2=82=AC\r\n");
    expect_qp("bell\x07", "bell=07\r\n");
    expect_qp("del\x7F", "del=7F\r\n");
    expect_qp("~!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}", "~!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}\r\n");
}

static void test_qp_lines(void **state)
{
    (void)state;
    /* '\n' is a hard line break and becomes CRLF; an existing CRLF stays one. */
    expect_qp("one\ntwo\n", "one\r\ntwo\r\n");
    expect_qp("one\r\ntwo", "one\r\ntwo\r\n");
    expect_qp("a\n\nb", "a\r\n\r\nb\r\n");
    expect_qp("\n", "\r\n");
    /* Blanks at the end of a line are encoded; inside a line they are not. */
    expect_qp("end \nnext", "end=20\r\nnext\r\n");
    expect_qp("end\t\nnext", "end=09\r\nnext\r\n");
    expect_qp("two  \n", "two =20\r\n");
    expect_qp("last ", "last=20\r\n");
    expect_qp("end \r\nnext", "end=20\r\nnext\r\n");
    /* A dot starting a line is encoded (SMTP's lone dot). */
    expect_qp(".\n", "=2E\r\n");
    expect_qp("a.b\n.c", "a.b\r\n=2Ec\r\n");
}

static void test_qp_soft_breaks(void **state)
{
    (void)state;
    /* 75 characters fit a line; the 76th goes after a soft break ("=" makes 76). */
    expect_qp_free(rep("a", 75), cat(rep("a", 75), strdup("\r\n")));
    expect_qp_free(rep("a", 76), cat(rep("a", 75), strdup("=\r\na\r\n")));
    expect_qp_free(rep("a", 151), cat(cat(rep("a", 75), strdup("=\r\n")), cat(rep("a", 75), strdup("=\r\na\r\n"))));
    /* An escape is never split: =C3 does not fit after 73 characters. */
    expect_qp_free(cat(rep("a", 73), strdup("\xC3\xA9")), cat(rep("a", 73), strdup("=\r\n=C3=A9\r\n")));
    expect_qp_free(cat(rep("a", 72), strdup("\xC3\xA9")), cat(rep("a", 72), strdup("=C3=\r\n=A9\r\n")));
    /* A trailing blank that does not fit moves to the next line, still encoded. */
    expect_qp_free(cat(rep("a", 75), strdup(" ")), cat(rep("a", 75), strdup("=\r\n=20\r\n")));
    /* Each hard line starts counting anew. */
    expect_qp_free(cat(cat(rep("a", 75), strdup("\n")), rep("b", 75)),
                   cat(cat(rep("a", 75), strdup("\r\n")), cat(rep("b", 75), strdup("\r\n"))));
    /* Every output line stays within 76 characters. */
    char *in = rep("\xE2\x82\xAC x=", 100);
    char *out = mail_qp_encode(in);
    assert_non_null(out);
    for (char *line = out; *line;) {
        char *end = strstr(line, "\r\n");
        assert_non_null(end);
        assert_true(end - line <= 76);
        line = end + 2;
    }
    free(in);
    free(out);
}

static void expect_header(const char *value, int is_phrase, const char *want)
{
    char *got = mail_encode_header(value, is_phrase);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_encode_header(void **state)
{
    (void)state;
    expect_header("Payment reminder", 0, "Payment reminder");
    expect_header("", 0, "");
    expect_header("Re: invoice 2026-001, \"final\"", 0, "Re: invoice 2026-001, \"final\"");
    expect_header("Acme GmbH", 1, "Acme GmbH");
    /* Phrases with specials are quoted, with " and \ escaped. */
    expect_header("Acme, Inc.", 1, "\"Acme, Inc.\"");
    expect_header("Billing <Acme>", 1, "\"Billing <Acme>\"");
    expect_header("Say \"hi\"", 1, "\"Say \\\"hi\\\"\"");
    expect_header("a\\b", 1, "\"a\\\\b\"");
    expect_header("user@host", 1, "\"user@host\"");
    /* Non-ASCII: RFC 2047 B words, phrase or not. */
    expect_header("M\xC3\xBCller GmbH", 1, "=?UTF-8?B?TcO8bGxlciBHbWJI?=");
    expect_header("M\xC3\xBCller GmbH", 0, "=?UTF-8?B?TcO8bGxlciBHbWJI?=");
    expect_header("Gr\xC3\xBC\xC3\x9F"
                  "e",
                  0, "=?UTF-8?B?R3LDvMOfZQ==?=");
    expect_header("a\tb", 0, "=?UTF-8?B?YQli?=");
}

static void test_encode_header_long(void **state)
{
    (void)state;
    /* At most 45 bytes a word, never ending inside a character: 30 x ä (2 bytes) is 22 + 8. */
    char *v = rep("\xC3\xA4", 30);
    expect_header(v, 0,
                  "=?UTF-8?B?w6TDpMOkw6TDpMOkw6TDpMOkw6TDpMOkw6TDpMOkw6TDpMOkw6TDpMOkw6Q=?=\r\n"
                  " =?UTF-8?B?w6TDpMOkw6TDpMOkw6TDpA==?=");
    free(v);
    /* 20 x € (3 bytes): 15 fill 45 bytes exactly, then 5. */
    v = rep("\xE2\x82\xAC", 20);
    expect_header(v, 0,
                  "=?UTF-8?B?4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs4oKs?=\r\n"
                  " =?UTF-8?B?4oKs4oKs4oKs4oKs4oKs?=");
    free(v);
}

static void test_addr_valid(void **state)
{
    (void)state;
    assert_int_equal(mail_addr_valid("billing@example.com"), 1);
    assert_int_equal(mail_addr_valid("first.last+tag@sub.example.co.uk"), 1);
    assert_int_equal(mail_addr_valid("a@b"), 1);
    assert_int_equal(mail_addr_valid(""), 0);
    assert_int_equal(mail_addr_valid("billing"), 0);
    assert_int_equal(mail_addr_valid("@example.com"), 0);
    assert_int_equal(mail_addr_valid("billing@"), 0);
    assert_int_equal(mail_addr_valid("a@b@c"), 0);
    assert_int_equal(mail_addr_valid("bill ing@example.com"), 0);
    assert_int_equal(mail_addr_valid("bill\ting@example.com"), 0);
    assert_int_equal(mail_addr_valid("billing@example.com\r\nBcc: x@y"), 0);
    assert_int_equal(mail_addr_valid("m\xC3\xBCller@example.de"), 0);
    assert_int_equal(mail_addr_valid("del\x7F@example.com"), 0);
    static const char specials[] = "<>()[]\\,;:\"";
    for (const char *c = specials; *c; c++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "a%cb@example.com", *c);
        if (mail_addr_valid(addr))
            fail_msg("accepted %s", addr);
    }
    /* At most 254 characters. */
    char *local = rep("a", 242);
    char *addr = cat(local, strdup("@example.com")); /* 254 */
    assert_int_equal(strlen(addr), 254);
    assert_int_equal(mail_addr_valid(addr), 1);
    addr = cat(strdup("a"), addr);
    assert_int_equal(mail_addr_valid(addr), 0);
    free(addr);
}

static void expect_mailbox(const char *s, int rc, const char *name, const char *addr)
{
    char n[64] = "junk", a[64] = "junk";
    assert_int_equal(mail_parse_mailbox(s, n, sizeof(n), a, sizeof(a)), rc);
    if (rc == 0) {
        assert_string_equal(n, name);
        assert_string_equal(a, addr);
    }
}

static void test_parse_mailbox(void **state)
{
    (void)state;
    expect_mailbox("Accounts Receivable <billing@example.com>", 0, "Accounts Receivable", "billing@example.com");
    expect_mailbox("billing@example.com", 0, "", "billing@example.com");
    expect_mailbox("  billing@example.com  ", 0, "", "billing@example.com");
    expect_mailbox("<billing@example.com>", 0, "", "billing@example.com");
    expect_mailbox("  Acme   <billing@example.com>  ", 0, "Acme", "billing@example.com");
    expect_mailbox("\"Acme, Inc.\" <billing@example.com>", 0, "Acme, Inc.", "billing@example.com");
    expect_mailbox("M\xC3\xBCller GmbH <mueller@example.de>", 0, "M\xC3\xBCller GmbH", "mueller@example.de");
    expect_mailbox("", -1, NULL, NULL);
    expect_mailbox("Acme", -1, NULL, NULL);
    expect_mailbox("Acme <billing@example.com", -1, NULL, NULL);
    expect_mailbox("Acme <billing@example.com> trailing", -1, NULL, NULL);
    expect_mailbox("Acme <not an address>", -1, NULL, NULL);
    expect_mailbox("Acme <>", -1, NULL, NULL);
    expect_mailbox("Acme\r\n <billing@example.com>", -1, NULL, NULL);
    expect_mailbox("billing@example.com\nBcc: x@y", -1, NULL, NULL);
    /* Too long for the caller's buffers. */
    char n[8], a[64];
    assert_int_equal(mail_parse_mailbox("Accounts Receivable <billing@example.com>", n, sizeof(n), a, sizeof(a)), -1);
    assert_int_equal(mail_parse_mailbox("Acme <billing@example.com>", a, sizeof(a), n, sizeof(n)), -1);
    assert_int_equal(mail_parse_mailbox("billing@example.com", a, sizeof(a), n, sizeof(n)), -1);
}

static mail_msg_t sample(void)
{
    return (mail_msg_t){
        .from_name = "Acme Billing",
        .from_addr = "billing@acme.example",
        .to_name = "J\xC3\xB6rg M\xC3\xBCller",
        .to_addr = "joerg@example.com",
        .subject = "Payment reminder: invoice 2026-001",
        .text = "Dear J\xC3\xB6rg,\nplease pay 12 \xE2\x82\xAC.\n",
        .html = "<p>Dear J&ouml;rg</p>\n",
        .message_id = "reminder-0b7e@dunning",
        .list_unsubscribe = "<mailto:billing@acme.example?subject=unsubscribe>",
        .date_ms = 1768516200000, /* Thu, 15 Jan 2026 22:30:00 UTC */
    };
}

#define BOUNDARY "=_dunning_reminder-0b7e.dunning"
#define BODY                                                                                                           \
    "MIME-Version: 1.0\r\n"                                                                                            \
    "Content-Type: multipart/alternative;\r\n boundary=\"" BOUNDARY "\"\r\n"                                           \
    "\r\n"                                                                                                             \
    "This is a multi-part message in MIME format.\r\n"                                                                 \
    "\r\n"                                                                                                             \
    "--" BOUNDARY "\r\n"                                                                                               \
    "Content-Type: text/plain; charset=UTF-8\r\n"                                                                      \
    "Content-Transfer-Encoding: quoted-printable\r\n"                                                                  \
    "\r\n"                                                                                                             \
    "Dear J=C3=B6rg,\r\n"                                                                                              \
    "please pay 12 =E2=82=AC.\r\n"                                                                                     \
    "\r\n"                                                                                                             \
    "--" BOUNDARY "\r\n"                                                                                               \
    "Content-Type: text/html; charset=UTF-8\r\n"                                                                       \
    "Content-Transfer-Encoding: quoted-printable\r\n"                                                                  \
    "\r\n"                                                                                                             \
    "<p>Dear J&ouml;rg</p>\r\n"                                                                                        \
    "\r\n"                                                                                                             \
    "--" BOUNDARY "--\r\n"

static void expect_build(const mail_msg_t *m, const char *want)
{
    char err[128] = "";
    size_t len = 0;
    char *msg = mail_build(m, &len, err, sizeof(err));
    if (!msg)
        fail_msg("mail_build failed: %s", err);
    assert_string_equal(msg, want);
    assert_int_equal(len, strlen(want));
    free(msg);
}

static void test_build(void **state)
{
    (void)state;
    mail_msg_t m = sample();
    expect_build(&m, "From: Acme Billing <billing@acme.example>\r\n"
                     "To: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@example.com>\r\n"
                     "Subject: Payment reminder: invoice 2026-001\r\n"
                     "Date: Thu, 15 Jan 2026 22:30:00 +0000\r\n"
                     "Message-ID: <reminder-0b7e@dunning>\r\n"
                     "List-Unsubscribe: <mailto:billing@acme.example?subject=unsubscribe>\r\n"
                     "Auto-Submitted: auto-generated\r\n" BODY);

    /* No names, a Reply-To, no List-Unsubscribe, a non-ASCII subject, a quoted sender name. */
    m.from_name = NULL;
    m.to_name = "";
    m.reply_to_name = "Acme, Inc.";
    m.reply_to_addr = "ar@acme.example";
    m.list_unsubscribe = NULL;
    m.subject = "Zahlungserinnerung f\xC3\xBCr Sie";
    expect_build(&m, "From: <billing@acme.example>\r\n"
                     "To: <joerg@example.com>\r\n"
                     "Reply-To: \"Acme, Inc.\" <ar@acme.example>\r\n"
                     "Subject: =?UTF-8?B?WmFobHVuZ3NlcmlubmVydW5nIGbDvHIgU2ll?=\r\n"
                     "Date: Thu, 15 Jan 2026 22:30:00 +0000\r\n"
                     "Message-ID: <reminder-0b7e@dunning>\r\n"
                     "Auto-Submitted: auto-generated\r\n" BODY);

    /* A long ASCII subject is folded at a blank before 78 characters. */
    m = sample();
    m.subject = "abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij";
    m.list_unsubscribe = "";
    expect_build(&m, "From: Acme Billing <billing@acme.example>\r\n"
                     "To: =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= <joerg@example.com>\r\n"
                     "Subject: abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij\r\n"
                     " abcdefghij\r\n"
                     "Date: Thu, 15 Jan 2026 22:30:00 +0000\r\n"
                     "Message-ID: <reminder-0b7e@dunning>\r\n"
                     "Auto-Submitted: auto-generated\r\n" BODY);
}

static void expect_refused(const mail_msg_t *m, const char *want_err)
{
    char err[128] = "";
    size_t len = 12345;
    char *msg = mail_build(m, &len, err, sizeof(err));
    if (msg) {
        free(msg);
        fail_msg("built a message, expected: %s", want_err);
    }
    assert_string_equal(err, want_err);
}

static void test_build_refuses_injection(void **state)
{
    (void)state;
    static const char *const breaks[] = {"\r\nBcc: evil@example.net", "\nBcc: evil@example.net", "\rX: y"};
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        char v[96];
        mail_msg_t m = sample();
        snprintf(v, sizeof(v), "Reminder%s", breaks[i]);
        m.subject = v;
        expect_refused(&m, "subject contains a line break");
        m = sample();
        m.from_name = v;
        expect_refused(&m, "sender name contains a line break");
        m = sample();
        m.to_name = v;
        expect_refused(&m, "recipient name contains a line break");
        m = sample();
        m.message_id = v;
        expect_refused(&m, "message id contains a line break");
        m = sample();
        m.list_unsubscribe = v;
        expect_refused(&m, "List-Unsubscribe contains a line break");
        snprintf(v, sizeof(v), "joerg@example.com%s", breaks[i]);
        m = sample();
        m.to_addr = v;
        expect_refused(&m, "recipient address contains a line break");
        m = sample();
        m.from_addr = v;
        expect_refused(&m, "sender address contains a line break");
    }
}

static void test_build_refuses_reply_to_injection(void **state)
{
    (void)state;
    mail_msg_t m = sample();
    m.reply_to_addr = "ar@acme.example>\r\nBcc: <evil@example.net";
    expect_refused(&m, "reply-to address contains a line break");
    m = sample();
    m.reply_to_name = "AR\r\nBcc: evil@example.net";
    m.reply_to_addr = "ar@acme.example";
    expect_refused(&m, "reply-to name contains a line break");
    m = sample();
    m.reply_to_addr = "ar@acme.example> <evil@example.net";
    expect_refused(&m, "reply-to address is not valid");
}

static void test_build_refuses_bad_fields(void **state)
{
    (void)state;
    mail_msg_t m = sample();
    m.to_addr = "not an address";
    expect_refused(&m, "recipient address is not valid");
    m = sample();
    m.from_addr = "billing";
    expect_refused(&m, "sender address is not valid");
    m = sample();
    char *subject = rep("s", 901);
    m.subject = subject;
    expect_refused(&m, "subject longer than 900 bytes");
    free(subject);
    subject = rep("s", 900);
    m.subject = subject;
    char err[128];
    size_t len;
    char *msg = mail_build(&m, &len, err, sizeof(err));
    assert_non_null(msg);
    free(msg);
    free(subject);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qp_plain),
        cmocka_unit_test(test_qp_lines),
        cmocka_unit_test(test_qp_soft_breaks),
        cmocka_unit_test(test_encode_header),
        cmocka_unit_test(test_encode_header_long),
        cmocka_unit_test(test_addr_valid),
        cmocka_unit_test(test_parse_mailbox),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_build_refuses_injection),
        cmocka_unit_test(test_build_refuses_reply_to_injection),
        cmocka_unit_test(test_build_refuses_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
