#include "address.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct country {
    char code[3];
    const char *name;
} country_t;

/* ISO 3166-1 alpha-2, sorted by code; English short names in capitals as the UPU recommends for
 * the last line of an international address. */
static const country_t countries[] = {
    {"AD", "ANDORRA"},
    {"AE", "UNITED ARAB EMIRATES"},
    {"AF", "AFGHANISTAN"},
    {"AG", "ANTIGUA AND BARBUDA"},
    {"AI", "ANGUILLA"},
    {"AL", "ALBANIA"},
    {"AM", "ARMENIA"},
    {"AO", "ANGOLA"},
    {"AQ", "ANTARCTICA"},
    {"AR", "ARGENTINA"},
    {"AS", "AMERICAN SAMOA"},
    {"AT", "AUSTRIA"},
    {"AU", "AUSTRALIA"},
    {"AW", "ARUBA"},
    {"AX", "ALAND ISLANDS"},
    {"AZ", "AZERBAIJAN"},
    {"BA", "BOSNIA AND HERZEGOVINA"},
    {"BB", "BARBADOS"},
    {"BD", "BANGLADESH"},
    {"BE", "BELGIUM"},
    {"BF", "BURKINA FASO"},
    {"BG", "BULGARIA"},
    {"BH", "BAHRAIN"},
    {"BI", "BURUNDI"},
    {"BJ", "BENIN"},
    {"BL", "SAINT BARTHELEMY"},
    {"BM", "BERMUDA"},
    {"BN", "BRUNEI DARUSSALAM"},
    {"BO", "BOLIVIA"},
    {"BQ", "BONAIRE, SINT EUSTATIUS AND SABA"},
    {"BR", "BRAZIL"},
    {"BS", "BAHAMAS"},
    {"BT", "BHUTAN"},
    {"BV", "BOUVET ISLAND"},
    {"BW", "BOTSWANA"},
    {"BY", "BELARUS"},
    {"BZ", "BELIZE"},
    {"CA", "CANADA"},
    {"CC", "COCOS (KEELING) ISLANDS"},
    {"CD", "CONGO, DEMOCRATIC REPUBLIC"},
    {"CF", "CENTRAL AFRICAN REPUBLIC"},
    {"CG", "CONGO"},
    {"CH", "SWITZERLAND"},
    {"CI", "COTE D'IVOIRE"},
    {"CK", "COOK ISLANDS"},
    {"CL", "CHILE"},
    {"CM", "CAMEROON"},
    {"CN", "CHINA"},
    {"CO", "COLOMBIA"},
    {"CR", "COSTA RICA"},
    {"CU", "CUBA"},
    {"CV", "CABO VERDE"},
    {"CW", "CURACAO"},
    {"CX", "CHRISTMAS ISLAND"},
    {"CY", "CYPRUS"},
    {"CZ", "CZECHIA"},
    {"DE", "GERMANY"},
    {"DJ", "DJIBOUTI"},
    {"DK", "DENMARK"},
    {"DM", "DOMINICA"},
    {"DO", "DOMINICAN REPUBLIC"},
    {"DZ", "ALGERIA"},
    {"EC", "ECUADOR"},
    {"EE", "ESTONIA"},
    {"EG", "EGYPT"},
    {"EH", "WESTERN SAHARA"},
    {"ER", "ERITREA"},
    {"ES", "SPAIN"},
    {"ET", "ETHIOPIA"},
    {"FI", "FINLAND"},
    {"FJ", "FIJI"},
    {"FK", "FALKLAND ISLANDS"},
    {"FM", "MICRONESIA"},
    {"FO", "FAROE ISLANDS"},
    {"FR", "FRANCE"},
    {"GA", "GABON"},
    {"GB", "UNITED KINGDOM"},
    {"GD", "GRENADA"},
    {"GE", "GEORGIA"},
    {"GF", "FRENCH GUIANA"},
    {"GG", "GUERNSEY"},
    {"GH", "GHANA"},
    {"GI", "GIBRALTAR"},
    {"GL", "GREENLAND"},
    {"GM", "GAMBIA"},
    {"GN", "GUINEA"},
    {"GP", "GUADELOUPE"},
    {"GQ", "EQUATORIAL GUINEA"},
    {"GR", "GREECE"},
    {"GS", "SOUTH GEORGIA AND THE SOUTH SANDWICH ISLANDS"},
    {"GT", "GUATEMALA"},
    {"GU", "GUAM"},
    {"GW", "GUINEA-BISSAU"},
    {"GY", "GUYANA"},
    {"HK", "HONG KONG"},
    {"HM", "HEARD ISLAND AND MCDONALD ISLANDS"},
    {"HN", "HONDURAS"},
    {"HR", "CROATIA"},
    {"HT", "HAITI"},
    {"HU", "HUNGARY"},
    {"ID", "INDONESIA"},
    {"IE", "IRELAND"},
    {"IL", "ISRAEL"},
    {"IM", "ISLE OF MAN"},
    {"IN", "INDIA"},
    {"IO", "BRITISH INDIAN OCEAN TERRITORY"},
    {"IQ", "IRAQ"},
    {"IR", "IRAN"},
    {"IS", "ICELAND"},
    {"IT", "ITALY"},
    {"JE", "JERSEY"},
    {"JM", "JAMAICA"},
    {"JO", "JORDAN"},
    {"JP", "JAPAN"},
    {"KE", "KENYA"},
    {"KG", "KYRGYZSTAN"},
    {"KH", "CAMBODIA"},
    {"KI", "KIRIBATI"},
    {"KM", "COMOROS"},
    {"KN", "SAINT KITTS AND NEVIS"},
    {"KP", "KOREA, DEMOCRATIC PEOPLE'S REPUBLIC"},
    {"KR", "KOREA, REPUBLIC OF"},
    {"KW", "KUWAIT"},
    {"KY", "CAYMAN ISLANDS"},
    {"KZ", "KAZAKHSTAN"},
    {"LA", "LAO PEOPLE'S DEMOCRATIC REPUBLIC"},
    {"LB", "LEBANON"},
    {"LC", "SAINT LUCIA"},
    {"LI", "LIECHTENSTEIN"},
    {"LK", "SRI LANKA"},
    {"LR", "LIBERIA"},
    {"LS", "LESOTHO"},
    {"LT", "LITHUANIA"},
    {"LU", "LUXEMBOURG"},
    {"LV", "LATVIA"},
    {"LY", "LIBYA"},
    {"MA", "MOROCCO"},
    {"MC", "MONACO"},
    {"MD", "MOLDOVA"},
    {"ME", "MONTENEGRO"},
    {"MF", "SAINT MARTIN (FRENCH PART)"},
    {"MG", "MADAGASCAR"},
    {"MH", "MARSHALL ISLANDS"},
    {"MK", "NORTH MACEDONIA"},
    {"ML", "MALI"},
    {"MM", "MYANMAR"},
    {"MN", "MONGOLIA"},
    {"MO", "MACAO"},
    {"MP", "NORTHERN MARIANA ISLANDS"},
    {"MQ", "MARTINIQUE"},
    {"MR", "MAURITANIA"},
    {"MS", "MONTSERRAT"},
    {"MT", "MALTA"},
    {"MU", "MAURITIUS"},
    {"MV", "MALDIVES"},
    {"MW", "MALAWI"},
    {"MX", "MEXICO"},
    {"MY", "MALAYSIA"},
    {"MZ", "MOZAMBIQUE"},
    {"NA", "NAMIBIA"},
    {"NC", "NEW CALEDONIA"},
    {"NE", "NIGER"},
    {"NF", "NORFOLK ISLAND"},
    {"NG", "NIGERIA"},
    {"NI", "NICARAGUA"},
    {"NL", "NETHERLANDS"},
    {"NO", "NORWAY"},
    {"NP", "NEPAL"},
    {"NR", "NAURU"},
    {"NU", "NIUE"},
    {"NZ", "NEW ZEALAND"},
    {"OM", "OMAN"},
    {"PA", "PANAMA"},
    {"PE", "PERU"},
    {"PF", "FRENCH POLYNESIA"},
    {"PG", "PAPUA NEW GUINEA"},
    {"PH", "PHILIPPINES"},
    {"PK", "PAKISTAN"},
    {"PL", "POLAND"},
    {"PM", "SAINT PIERRE AND MIQUELON"},
    {"PN", "PITCAIRN"},
    {"PR", "PUERTO RICO"},
    {"PS", "PALESTINE"},
    {"PT", "PORTUGAL"},
    {"PW", "PALAU"},
    {"PY", "PARAGUAY"},
    {"QA", "QATAR"},
    {"RE", "REUNION"},
    {"RO", "ROMANIA"},
    {"RS", "SERBIA"},
    {"RU", "RUSSIAN FEDERATION"},
    {"RW", "RWANDA"},
    {"SA", "SAUDI ARABIA"},
    {"SB", "SOLOMON ISLANDS"},
    {"SC", "SEYCHELLES"},
    {"SD", "SUDAN"},
    {"SE", "SWEDEN"},
    {"SG", "SINGAPORE"},
    {"SH", "SAINT HELENA, ASCENSION AND TRISTAN DA CUNHA"},
    {"SI", "SLOVENIA"},
    {"SJ", "SVALBARD AND JAN MAYEN"},
    {"SK", "SLOVAKIA"},
    {"SL", "SIERRA LEONE"},
    {"SM", "SAN MARINO"},
    {"SN", "SENEGAL"},
    {"SO", "SOMALIA"},
    {"SR", "SURINAME"},
    {"SS", "SOUTH SUDAN"},
    {"ST", "SAO TOME AND PRINCIPE"},
    {"SV", "EL SALVADOR"},
    {"SX", "SINT MAARTEN (DUTCH PART)"},
    {"SY", "SYRIAN ARAB REPUBLIC"},
    {"SZ", "ESWATINI"},
    {"TC", "TURKS AND CAICOS ISLANDS"},
    {"TD", "CHAD"},
    {"TF", "FRENCH SOUTHERN TERRITORIES"},
    {"TG", "TOGO"},
    {"TH", "THAILAND"},
    {"TJ", "TAJIKISTAN"},
    {"TK", "TOKELAU"},
    {"TL", "TIMOR-LESTE"},
    {"TM", "TURKMENISTAN"},
    {"TN", "TUNISIA"},
    {"TO", "TONGA"},
    {"TR", "TURKIYE"},
    {"TT", "TRINIDAD AND TOBAGO"},
    {"TV", "TUVALU"},
    {"TW", "TAIWAN"},
    {"TZ", "TANZANIA"},
    {"UA", "UKRAINE"},
    {"UG", "UGANDA"},
    {"UM", "UNITED STATES MINOR OUTLYING ISLANDS"},
    {"US", "UNITED STATES OF AMERICA"},
    {"UY", "URUGUAY"},
    {"UZ", "UZBEKISTAN"},
    {"VA", "HOLY SEE"},
    {"VC", "SAINT VINCENT AND THE GRENADINES"},
    {"VE", "VENEZUELA"},
    {"VG", "VIRGIN ISLANDS (BRITISH)"},
    {"VI", "VIRGIN ISLANDS (U.S.)"},
    {"VN", "VIET NAM"},
    {"VU", "VANUATU"},
    {"WF", "WALLIS AND FUTUNA"},
    {"WS", "SAMOA"},
    {"YE", "YEMEN"},
    {"YT", "MAYOTTE"},
    {"ZA", "SOUTH AFRICA"},
    {"ZM", "ZAMBIA"},
    {"ZW", "ZIMBABWE"},
};

static int cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const country_t *)elem)->code);
}

const char *address_country_name(const char *code)
{
    char up[3];
    if (!code || strlen(code) != 2)
        return NULL;
    for (int i = 0; i < 2; i++)
        up[i] = (char)(code[i] >= 'a' && code[i] <= 'z' ? code[i] - 'a' + 'A' : code[i]);
    up[2] = '\0';
    const country_t *c = bsearch(up, countries, sizeof(countries) / sizeof(countries[0]), sizeof(countries[0]), cmp);
    return c ? c->name : NULL;
}

typedef struct lines {
    char *p;
    size_t n, cap;
    int oom;
} lines_t;

/* Appends one line: control characters become spaces, outer spaces are dropped, an empty
 * line is left out. parts are joined by single spaces (empty ones skipped). */
static void add(lines_t *l, const char *const *parts, size_t nparts)
{
    size_t start = l->n;
    for (size_t i = 0; i < nparts && !l->oom; i++) {
        const char *s = parts[i] ? parts[i] : "";
        size_t len = strlen(s);
        if (l->n + len + 3 > l->cap) {
            size_t cap = (l->cap ? l->cap * 2 : 256) + len + 3;
            char *p = realloc(l->p, cap);
            if (!p) {
                l->oom = 1;
                return;
            }
            l->p = p;
            l->cap = cap;
        }
        size_t at = l->n;
        if (at > start && len) /* separator after the previous non-empty part */
            l->p[l->n++] = ' ';
        size_t mark = l->n;
        for (size_t k = 0; k < len; k++) {
            unsigned char c = (unsigned char)s[k];
            l->p[l->n++] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
        }
        /* trim what this part added */
        size_t b = mark;
        while (b < l->n && l->p[b] == ' ')
            b++;
        memmove(l->p + mark, l->p + b, l->n - b);
        l->n -= b - mark;
        while (l->n > mark && l->p[l->n - 1] == ' ')
            l->n--;
        if (l->n == mark)
            l->n = at; /* empty part: no separator either */
    }
    if (l->oom)
        return;
    if (l->n > start)
        l->p[l->n++] = '\n';
    l->p[l->n] = '\0';
}

static void add1(lines_t *l, const char *s)
{
    add(l, &s, 1);
}

static int empty(const char *s)
{
    if (!s)
        return 1;
    for (; *s; s++) {
        if ((unsigned char)*s > 0x20 && *s != 0x7f)
            return 0;
    }
    return 1;
}

char *address_block(const char *name, const dn_postal_address_t *a, const char *home, const char **why)
{
    *why = NULL;
    if (!a) {
        *why = "no postal address";
        return NULL;
    }
    if (empty(a->line1) || empty(a->city) || empty(a->country)) {
        *why = "postal address incomplete (line1, city and country are required)";
        return NULL;
    }
    const char *country = address_country_name(a->country);
    if (!country) {
        *why = "postal address country is not an ISO 3166-1 alpha-2 code";
        return NULL;
    }
    char cc[3] = {(char)(a->country[0] & ~0x20), (char)(a->country[1] & ~0x20), '\0'};
    lines_t l = {0};
    add1(&l, name);
    add1(&l, a->line1);
    add1(&l, a->line2);
    if (!strcmp(cc, "US") || !strcmp(cc, "CA") || !strcmp(cc, "AU")) {
        const char *p[] = {a->city, a->region, a->postal_code};
        add(&l, p, 3);
    } else if (!strcmp(cc, "GB") || !strcmp(cc, "IE")) {
        add1(&l, a->city);
        add1(&l, a->region);
        add1(&l, a->postal_code);
    } else {
        const char *p[] = {a->postal_code, a->city};
        add(&l, p, 2);
        add1(&l, a->region);
    }
    if (!home || strcasecmp(home, cc) != 0)
        add1(&l, country);
    if (l.oom || !l.p) {
        free(l.p);
        *why = "out of memory";
        return NULL;
    }
    if (l.n && l.p[l.n - 1] == '\n')
        l.p[--l.n] = '\0';
    return l.p;
}
