/* A tenant's payment page (tenants.<t>.payment_url in the policy file): the portal's pay
 * button for an invoice the billing system sent no payment_link for. The template is an
 * https:// URL with placeholders in its path or query: {amount} (the decimal amount,
 * 120.50), {amount_minor} (12050), {currency} (EUR) and {reference} (the invoice number),
 * each replaced URL-encoded. The portal only sends the customer there; a payment is
 * recorded when PaymentReceived arrives. */
#ifndef DN_PAYMENT_URL_H
#define DN_PAYMENT_URL_H

#include <stddef.h>
#include <stdint.h>

/* 0 if `tpl` is a usable template, else -1 with the problem: https:// with a host and no
 * placeholder before the path, only the four placeholders, {reference} among them. */
int dn_payment_url_check(const char *tpl, char *why, size_t whysz);

/* The template with its placeholders filled in (values URL-encoded, RFC 3986 unreserved
 * characters kept). 0, or -1 when it does not fit in `out`. */
int dn_payment_url_expand(const char *tpl, int64_t amount_minor, const char *currency, const char *reference, char *out,
                          size_t n);

#endif
