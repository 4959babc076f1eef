/* sender-letter: the recipient's postal address as the lines of a window envelope.
 *
 *   name                      (may wrap when long)
 *   line1
 *   line2                     (when given)
 *   <postal code> <city>      (most countries; US, CA, AU: "<city> <region> <postal code>";
 *                              GB, IE: "<city>", then "<postal code>")
 *   region                    (when given and not part of the line above)
 *   COUNTRY                   (its English name in capitals, when it is not the sender's)
 *
 * Control characters become spaces, so every field stays one line. */
#ifndef SENDER_LETTER_ADDRESS_H
#define SENDER_LETTER_ADDRESS_H

#include "dn_schemas_gen.h"

/* The lines joined by '\n' (malloc'd), or NULL if a required field (line1, city, country) is
 * empty or memory ran out; *why says which. The postal code may be empty (Ireland, Hong Kong
 * and others have addresses without one). Whether the lines fit the window is the layout's
 * check (pdf.c). home: the sender's country (ISO 3166-1 alpha-2). */
char *address_block(const char *name, const dn_postal_address_t *a, const char *home, const char **why);

/* English short name of an ISO 3166-1 alpha-2 code in capitals ("DE" -> "GERMANY"), or NULL. */
const char *address_country_name(const char *code);

#endif
