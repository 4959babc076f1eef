/* Dunning policies from a YAML file in config/policies/ (see docs/policies.md).
 *
 *   tenants:
 *     default:                       # any tenant without an entry of its own
 *       default_policy: standard
 *       segments: {chronic_late: strict}
 *       policies:
 *         standard:
 *           stages:
 *             - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder}
 *
 * Loaded and validated once at start; errors name the file, line and field. */
#ifndef DN_ENGINE_POLICY_H
#define DN_ENGINE_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_CHANNELS 3

typedef enum { CH_EMAIL = 0, CH_SMS, CH_LETTER } channel_t;

typedef struct stage {
    char *name;
    char *template_key;
    int64_t offset_ms; /* from the due date (00:00 UTC); negative = before it */
    channel_t channels[POLICY_MAX_CHANNELS];
    size_t nchannels;
    char *action; /* final_notice, collections_handover, suspend_service or NULL */
} stage_t;

typedef struct policy {
    char *name;
    stage_t *stages; /* ordered by offset; stage numbers are index + 1 */
    size_t nstages;
} policy_t;

typedef struct tenant_policies {
    char *tenant; /* "default" for the fallback */
    char *default_policy;
    char **segment_names, **segment_policies;
    size_t nsegments;
    policy_t *policies;
    size_t npolicies;
} tenant_policies_t;

typedef struct policy_set {
    tenant_policies_t *tenants;
    size_t ntenants;
} policy_set_t;

/* Loads one YAML file. NULL with errstr "file:line: field: problem" on error. */
policy_set_t *policy_set_load(const char *path, char *errstr, size_t errstr_size);
void policy_set_destroy(policy_set_t *ps);

/* The policy for an invoice: by name if given, else by segment, else the tenant default;
 * a tenant without an entry uses "default". NULL if a named policy does not exist. */
const policy_t *policy_select(const policy_set_t *ps, const char *tenant, const char *name, const char *segment);
const policy_t *policy_find(const policy_set_t *ps, const char *tenant, const char *name);
const char *channel_name(channel_t ch);

#endif
