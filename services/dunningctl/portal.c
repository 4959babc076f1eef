/* dunningctl portal link|verify: the customer portal's signed links (dn_portal_link), for
 * support staff (a link for a customer on the phone) and for checking a link a customer
 * forwards. The keys come from DUNNING_PORTAL_KEYS and are never printed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_clock.h"
#include "dn_portal_link.h"

static int load_keys(dn_portal_keys_t *keys)
{
    char err[256];
    if (dn_portal_keys_parse(getenv("DUNNING_PORTAL_KEYS"), keys, err, sizeof(err)) < 0) {
        fprintf(stderr, "dunningctl: %s\n", err);
        return -1;
    }
    if (keys->n == 0) {
        fprintf(stderr, "dunningctl: DUNNING_PORTAL_KEYS is empty: no key to sign or verify with\n");
        return -1;
    }
    return 0;
}

static int portal_link(int argc, char **argv)
{
    const char *tenant = NULL, *customer = NULL, *url = getenv("DUNNING_PORTAL_URL");
    int64_t days = 30;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--tenant") && i + 1 < argc)
            tenant = argv[++i];
        else if (!strcmp(argv[i], "--customer") && i + 1 < argc)
            customer = argv[++i];
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = strtoll(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: dunningctl portal link --tenant T --customer C [--days 30]\n");
            return 2;
        }
    }
    if (!tenant || !customer || days < 1 || days > 365) {
        fprintf(stderr, "usage: dunningctl portal link --tenant T --customer C [--days 1..365]\n");
        return 2;
    }
    if (!url || !url[0]) {
        fprintf(stderr, "dunningctl: DUNNING_PORTAL_URL is not set\n");
        return 2;
    }
    dn_portal_keys_t keys;
    if (load_keys(&keys) < 0)
        return 2;
    char link[DN_PORTAL_TOKEN_MAX + 600];
    int rc =
        dn_portal_link_make(&keys, url, tenant, customer, dn_clock_now_ms() / 1000 + days * 86400, link, sizeof(link));
    dn_portal_keys_wipe(&keys);
    if (rc < 0) {
        fprintf(stderr, "dunningctl: no link: an id is empty, too long or holds a newline\n");
        return 1;
    }
    printf("%s\n", link);
    return 0;
}

static int portal_verify(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: dunningctl portal verify TOKEN|LINK\n");
        return 2;
    }
    const char *tok = strstr(argv[0], "/p/");
    tok = tok ? tok + 3 : argv[0];
    dn_portal_keys_t keys;
    if (load_keys(&keys) < 0)
        return 2;
    dn_portal_claims_t c;
    dn_portal_verdict_t v = dn_portal_token_verify(&keys, tok, dn_clock_now_ms() / 1000, &c);
    dn_portal_keys_wipe(&keys);
    if (v != DN_PORTAL_VALID) {
        printf("{\"valid\":false,\"why\":\"%s\"}\n", dn_portal_verdict_name(v));
        return 1;
    }
    char exp[40];
    dn_time_format(c.expires_s * 1000, exp, sizeof(exp));
    /* The ids are the billing system's references: printed as JSON strings. */
    json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s}", "valid", 1, "tenant_id", c.tenant, "customer_id", c.customer,
                          "expires_at", exp, "key_id", c.key_id);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", s ? s : "{\"valid\":true}");
    free(s);
    json_decref(o);
    return 0;
}

int ctl_portal(ctl_cfg_t *cfg, int argc, char **argv)
{
    (void)cfg;
    if (argc >= 1 && !strcmp(argv[0], "link"))
        return portal_link(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "verify"))
        return portal_verify(argc - 1, argv + 1);
    fprintf(stderr, "usage: dunningctl portal link|verify ...\n");
    return 2;
}
