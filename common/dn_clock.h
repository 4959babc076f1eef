/* dn_clock: the one clock every service reads.
 *
 * Real time by default. In simulated mode (demos, tests) time runs `speed` times
 * faster from `epoch_ms`, which the clock showed at real time `origin_ms`:
 *   now = epoch_ms + (real_now - origin_ms) * speed
 * Speed 0 freezes simulated time at epoch_ms (tests step it explicitly).
 *
 * The values come from DUNNING_CLOCK_SPEED/EPOCH_MS/ORIGIN_MS, or from a clock file
 * (DUNNING_CLOCK_FILE, one line "speed epoch_ms origin_ms") that every service re-reads
 * when it changes; scripts/stack writes it at start and `dunningctl clock set` moves it,
 * so every service sees the same simulated time. */
#ifndef DN_CLOCK_H
#define DN_CLOCK_H

#include <stdint.h>
#include <stddef.h>

struct dn_common_cfg;

void dn_clock_init(int64_t speed, int64_t epoch_ms, int64_t origin_ms);
/* Uses the clock file when cfg names one; -1 if it cannot be read (the env values stay). */
int dn_clock_init_from_cfg(const struct dn_common_cfg *cfg);
int dn_clock_init_file(const char *path);
/* Parses a clock file line "speed epoch_ms origin_ms"; 0/-1. */
int dn_clock_parse_line(const char *line, int64_t *speed, int64_t *epoch_ms, int64_t *origin_ms);
int64_t dn_clock_now_ms(void);
/* Simulated ms per real ms (1 when real or frozen). */
int64_t dn_clock_speed(void);
int dn_clock_frozen(void);
/* Real milliseconds until simulated time `sim_ms` (0 if already past). */
int64_t dn_clock_real_delay_ms(int64_t sim_ms);
int64_t dn_clock_real_now_ms(void);

/* Calendar helpers (UTC). A "date" is days since 1970-01-01 (Avro's date). */
int32_t dn_date_from_ms(int64_t ms);
int64_t dn_date_to_ms(int32_t days);
/* "2026-11-24" -> days; -1 on error. */
int dn_date_parse(const char *s, int32_t *days);
void dn_date_format(int32_t days, char *buf, size_t size); /* YYYY-MM-DD */
/* ISO 8601 "2026-11-24T10:00:00Z", "...T10:00:00.123+01:00", or a date -> Unix ms; -1 on error. */
int dn_time_parse(const char *s, int64_t *ms);
void dn_time_format(int64_t ms, char *buf, size_t size); /* 2026-11-24T10:00:00.000Z; outside years 0-9999 the number */

#endif
