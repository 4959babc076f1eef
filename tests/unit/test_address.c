/* sender-letter's address.c: the window-envelope address block and country names. Whether
 * the block fits the window (too many or too long lines) is measured by pdf.c's layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

/* An address from its fields (NULL for absent ones); the strings stay the caller's. */
static dn_postal_address_t addr(const char *line1, const char *line2, const char *postal_code, const char *city,
                                const char *region, const char *country)
{
    return (dn_postal_address_t){
        .line1 = (char *)line1,
        .line2 = (char *)line2,
        .postal_code = (char *)postal_code,
        .city = (char *)city,
        .region = (char *)region,
        .country = (char *)country,
    };
}

static void expect_block(const char *name, dn_postal_address_t a, const char *home, const char *want)
{
    const char *why = "junk";
    char *got = address_block(name, &a, home, &why);
    if (!got)
        fail_msg("address_block failed: %s", why ? why : "(no reason)");
    assert_null(why);
    assert_string_equal(got, want);
    free(got);
}

static void expect_refused(const char *name, const dn_postal_address_t *a, const char *home, const char *want_why)
{
    const char *why = NULL;
    char *got = address_block(name, a, home, &why);
    if (got) {
        free(got);
        fail_msg("built an address, expected: %s", want_why);
    }
    assert_non_null(why);
    assert_string_equal(why, want_why);
}

static void test_domestic(void **state)
{
    (void)state;
    /* DIN 5008: name, street, postal code and city; no country line at home. */
    expect_block("Erika Mustermann",
                 addr("Heidestra\xC3\x9F"
                      "e 17",
                      NULL, "51147", "K\xC3\xB6ln", NULL, "DE"),
                 "DE",
                 "Erika Mustermann\nHeidestra\xC3\x9F"
                 "e 17\n51147 K\xC3\xB6ln");
    expect_block("Beispiel GmbH", addr("Hauptstr. 1", "c/o Erika Mustermann", "10115", "Berlin", NULL, "DE"), "DE",
                 "Beispiel GmbH\nHauptstr. 1\nc/o Erika Mustermann\n10115 Berlin");
    /* Codes in any case. */
    expect_block("Erika Mustermann", addr("Hauptstr. 1", "", "10115", "Berlin", "", "de"), "De",
                 "Erika Mustermann\nHauptstr. 1\n10115 Berlin");
    /* A region is its own line after the city for most countries. */
    expect_block("Mario Rossi", addr("Via Roma 1", NULL, "00184", "Roma", "RM", "IT"), "IT",
                 "Mario Rossi\nVia Roma 1\n00184 Roma\nRM");
}

static void test_country_line(void **state)
{
    (void)state;
    /* Abroad: the country's English name in capitals as the last line. */
    expect_block("Erika Mustermann",
                 addr("Heidestra\xC3\x9F"
                      "e 17",
                      NULL, "51147", "K\xC3\xB6ln", NULL, "DE"),
                 "AT",
                 "Erika Mustermann\nHeidestra\xC3\x9F"
                 "e 17\n51147 K\xC3\xB6ln\nGERMANY");
    expect_block("Max Muster", addr("Bahnhofstrasse 1", NULL, "8001", "Z\xC3\xBCrich", NULL, "ch"), "DE",
                 "Max Muster\nBahnhofstrasse 1\n8001 Z\xC3\xBCrich\nSWITZERLAND");
    /* No home country given: always the country line. */
    expect_block("Erika Mustermann", addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, "DE"), NULL,
                 "Erika Mustermann\nHauptstr. 1\n10115 Berlin\nGERMANY");
}

static void test_country_layouts(void **state)
{
    (void)state;
    /* US, CA, AU: "<city> <region> <postal code>". */
    expect_block("Jane Doe", addr("1600 Amphitheatre Pkwy", "Suite 100", "94043", "Mountain View", "CA", "US"), "DE",
                 "Jane Doe\n1600 Amphitheatre Pkwy\nSuite 100\nMountain View CA 94043\nUNITED STATES OF AMERICA");
    expect_block("Jane Doe", addr("1600 Amphitheatre Pkwy", NULL, "94043", "Mountain View", "CA", "US"), "US",
                 "Jane Doe\n1600 Amphitheatre Pkwy\nMountain View CA 94043");
    expect_block("John Smith", addr("24 Sussex Drive", NULL, "K1M 1M4", "Ottawa", "ON", "CA"), "DE",
                 "John Smith\n24 Sussex Drive\nOttawa ON K1M 1M4\nCANADA");
    expect_block("Bruce Wayne", addr("1 Macquarie St", NULL, "2000", "Sydney", NULL, "AU"), "DE",
                 "Bruce Wayne\n1 Macquarie St\nSydney 2000\nAUSTRALIA");
    /* GB, IE: the city, the region, then the postal code, each on its own line. */
    expect_block("J. Bloggs", addr("10 Downing Street", NULL, "SW1A 2AA", "London", NULL, "GB"), "GB",
                 "J. Bloggs\n10 Downing Street\nLondon\nSW1A 2AA");
    expect_block("M. Murphy", addr("1 Main Street", NULL, "A65 F4E2", "Bray", "Co. Wicklow", "ie"), "DE",
                 "M. Murphy\n1 Main Street\nBray\nCo. Wicklow\nA65 F4E2\nIRELAND");
}

static void test_cleaning(void **state)
{
    (void)state;
    /* Control characters become spaces, so a field stays one line; outer blanks go. */
    expect_block("Erika\tMustermann", addr("  Hauptstr. 1  ", NULL, " 10115 ", "Berlin\n", NULL, "DE"), "DE",
                 "Erika Mustermann\nHauptstr. 1\n10115 Berlin");
    expect_block("Erika\r\nMustermann", addr("Haupt\x7Fstr. 1", NULL, "10115", "Berlin", NULL, "DE"), "DE",
                 "Erika  Mustermann\nHaupt str. 1\n10115 Berlin");
    /* No name, or one of blanks only: no line for it; empty parts are skipped. */
    expect_block(NULL, addr("Hauptstr. 1", "   ", "10115", "Berlin", NULL, "DE"), "DE", "Hauptstr. 1\n10115 Berlin");
    expect_block(" \t ", addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, "DE"), "DE", "Hauptstr. 1\n10115 Berlin");
    expect_block("Jane Doe", addr("1 Main St", NULL, "12345", "Springfield", "  ", "US"), "US",
                 "Jane Doe\n1 Main St\nSpringfield 12345");
    /* No postal code (countries without one): the city alone. */
    expect_block("A. Person", addr("Street 1", NULL, NULL, "Dublin", NULL, "IE"), "IE", "A. Person\nStreet 1\nDublin");
    expect_block("A. Person", addr("Street 1", NULL, "", "Hong Kong", NULL, "HK"), "DE",
                 "A. Person\nStreet 1\nHong Kong\nHONG KONG");
}

static void test_refused(void **state)
{
    (void)state;
    static const char incomplete[] = "postal address incomplete (line1, city and country are required)";
    static const char bad_country[] = "postal address country is not an ISO 3166-1 alpha-2 code";
    dn_postal_address_t a;
    expect_refused("Erika", NULL, "DE", "no postal address");
    a = addr(NULL, NULL, "10115", "Berlin", NULL, "DE");
    expect_refused("Erika", &a, "DE", incomplete);
    a = addr(" \t", "c/o X", "10115", "Berlin", NULL, "DE");
    expect_refused("Erika", &a, "DE", incomplete);
    a = addr("Hauptstr. 1", NULL, "10115", "", NULL, "DE");
    expect_refused("Erika", &a, "DE", incomplete);
    a = addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, NULL);
    expect_refused("Erika", &a, "DE", incomplete);
    a = addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, "XX");
    expect_refused("Erika", &a, "DE", bad_country);
    a = addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, "DEU");
    expect_refused("Erika", &a, "DE", bad_country);
    a = addr("Hauptstr. 1", NULL, "10115", "Berlin", NULL, "Germany");
    expect_refused("Erika", &a, "DE", bad_country);
}

static void test_country_name(void **state)
{
    (void)state;
    assert_string_equal(address_country_name("DE"), "GERMANY");
    assert_string_equal(address_country_name("de"), "GERMANY");
    assert_string_equal(address_country_name("gB"), "UNITED KINGDOM");
    assert_string_equal(address_country_name("US"), "UNITED STATES OF AMERICA");
    assert_string_equal(address_country_name("AD"), "ANDORRA");  /* the first */
    assert_string_equal(address_country_name("ZW"), "ZIMBABWE"); /* the last */
    assert_string_equal(address_country_name("CI"), "COTE D'IVOIRE");
    assert_string_equal(address_country_name("TR"), "TURKIYE");
    assert_null(address_country_name("XX"));
    assert_null(address_country_name("UK"));
    assert_null(address_country_name("D"));
    assert_null(address_country_name("DEU"));
    assert_null(address_country_name(""));
    assert_null(address_country_name(NULL));
    assert_null(address_country_name("1!"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domestic), cmocka_unit_test(test_country_line), cmocka_unit_test(test_country_layouts),
        cmocka_unit_test(test_cleaning), cmocka_unit_test(test_refused),      cmocka_unit_test(test_country_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
