/* sender-email: building RFC 5322 messages and sending them over SMTP (libcurl). */
#ifndef SENDER_MAIL_H
#define SENDER_MAIL_H

#include <stddef.h>
#include <stdint.h>

/* What goes into one message. Every string is UTF-8; header values must not contain CR or LF
 * (mail_build refuses them: no header injection through customer data or templates). */
typedef struct mail_msg {
    const char *from_name;     /* display name of the sender, may be NULL */
    const char *from_addr;     /* billing@example.com */
    const char *reply_to_name; /* may be NULL */
    const char *reply_to_addr; /* NULL = no Reply-To header */
    const char *to_name;       /* customer name, may be NULL */
    const char *to_addr;       /* validated with mail_addr_valid */
    const char *subject;
    const char *text;             /* text/plain part */
    const char *html;             /* text/html part */
    const char *message_id;       /* without the angle brackets: reminder-<event id>@dunning */
    const char *list_unsubscribe; /* full header value, e.g. "<mailto:billing@example.com?subject=unsubscribe>" */
    int64_t date_ms;              /* Date header (Unix ms, shown in UTC) */
} mail_msg_t;

/* The message with CRLF line ends: headers, then multipart/alternative text + HTML, both
 * UTF-8 quoted-printable. Returns a malloc'd buffer (caller frees) and its length, or NULL
 * with errstr ("subject contains a line break"). */
char *mail_build(const mail_msg_t *m, size_t *len, char *errstr, size_t errstr_size);

/* 1 if addr is a plain ASCII address we are willing to put on the wire: local@domain, no
 * spaces, no control characters, none of <>()[]\,;:" and at most 254 characters. */
int mail_addr_valid(const char *addr);

/* Splits a From setting, "Accounts Receivable <billing@example.com>" or "billing@example.com",
 * into its display name (possibly "") and address. 0, or -1 if malformed. */
int mail_parse_mailbox(const char *s, char *name, size_t name_size, char *addr, size_t addr_size);

/* Quoted-printable (RFC 2045) with CRLF line ends; '\n' in the input is a hard line break.
 * Exposed for tests. Returns a malloc'd string or NULL. */
char *mail_qp_encode(const char *in);
/* An unstructured header value (Subject) or display name: as is when plain ASCII, else
 * RFC 2047 encoded words (=?UTF-8?B?...?=) folded with CRLF SP. Malloc'd or NULL. */
char *mail_encode_header(const char *value, int is_phrase);

/* SMTP client. One libcurl easy handle, reused across sends so the connection is kept. */
typedef struct smtp smtp_t;

typedef enum {
    SMTP_OK = 0,
    SMTP_TRANSIENT, /* 4xx, or no answer (connect, timeout, connection dropped): try again later */
    SMTP_PERMANENT, /* 5xx: the server refuses this message for good */
} smtp_result_t;

/* url: smtp://[user:password@]host[:port][/helo-domain] or smtps://...; tls: none, try or
 * required (STARTTLS on smtp://). 0 ok / NULL with errstr. */
smtp_t *smtp_new(const char *url, const char *tls, int64_t timeout_ms, char *errstr, size_t errstr_size);
/* Sends one message. fresh: open a new connection (after a failure). *code is the last SMTP
 * reply code (0 if none); errstr gets libcurl's description (never the recipient). */
smtp_result_t smtp_send(smtp_t *s, const char *mail_from, const char *rcpt, const char *msg, size_t len, int fresh,
                        long *code, char *errstr, size_t errstr_size);
void smtp_destroy(smtp_t *s);

#endif
