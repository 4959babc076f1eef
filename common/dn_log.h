/* dn_log: one JSON object per line on stderr.
 *
 *   dn_log_info("invoice stored", "event_id", id, "tenant_id", t, "invoice_id", inv, NULL);
 *
 * Arguments after the message are key/value string pairs ending with NULL; a NULL
 * value is skipped. Never pass contact data (email, phone, address) or secrets.
 * The level is checked before anything is formatted. */
#ifndef DN_LOG_H
#define DN_LOG_H

#include <stdarg.h>

typedef enum { DN_LOG_DEBUG = 0, DN_LOG_INFO, DN_LOG_WARN, DN_LOG_ERROR } dn_log_level_t;

/* service: name put in every line ("dunning-engine"); level: debug|info|warn|error.
 * Returns -1 for an unknown level name (the level stays info). */
int dn_log_init(const char *service, const char *level);
int dn_log_enabled(dn_log_level_t level);
void dn_log(dn_log_level_t level, const char *msg, ...) __attribute__((sentinel));
void dn_logv(dn_log_level_t level, const char *msg, va_list kv);

#define dn_log_debug(...)                                                                                              \
    do {                                                                                                               \
        if (dn_log_enabled(DN_LOG_DEBUG))                                                                              \
            dn_log(DN_LOG_DEBUG, __VA_ARGS__);                                                                         \
    } while (0)
#define dn_log_info(...)                                                                                               \
    do {                                                                                                               \
        if (dn_log_enabled(DN_LOG_INFO))                                                                               \
            dn_log(DN_LOG_INFO, __VA_ARGS__);                                                                          \
    } while (0)
#define dn_log_warn(...)  dn_log(DN_LOG_WARN, __VA_ARGS__)
#define dn_log_error(...) dn_log(DN_LOG_ERROR, __VA_ARGS__)

#endif
