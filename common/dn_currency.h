/* dn_currency: ISO 4217 currencies and their minor-unit exponents. */
#ifndef DN_CURRENCY_H
#define DN_CURRENCY_H

/* Exponent (digits after the decimal point: EUR 2, JPY 0, BHD 3) or -1 if the code is
 * not an active ISO 4217 currency. */
int dn_currency_exponent(const char *code);

#endif
