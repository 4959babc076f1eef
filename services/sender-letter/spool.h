/* sender-letter: the spool folder, the hand-off to the print-and-mail house.
 *
 * A letter is written atomically: into a temporary file in the same folder (a name starting
 * with '.', never matched by *.pdf), fsync'ed, renamed to its final name, and the folder
 * fsync'ed, so a file with its final name is always complete. Then one JSON line is appended
 * to manifest.jsonl (one write(), O_APPEND, fsync). The final name is derived from the
 * reminder's event id, so writing the same reminder again replaces the file rather than
 * adding a second letter. */
#ifndef SENDER_LETTER_SPOOL_H
#define SENDER_LETTER_SPOOL_H

#include <stddef.h>

#define SPOOL_MANIFEST "manifest.jsonl"

/* Creates dir (and its parents) if missing; checks that it is a writable folder. 0/-1. */
int spool_prepare(const char *dir, char *errstr, size_t errstr_size);

/* Writes buf as dir/name atomically. *existed is 1 when a file of that name was there already
 * (it is replaced). 0, or -1 with errstr (the temporary file is removed). */
int spool_write(const char *dir, const char *name, const void *buf, size_t len, int *existed, char *errstr,
                size_t errstr_size);

/* 1 if the manifest has a line for event_id, 0 if not (or there is no manifest), -1 on error. */
int spool_manifest_has(const char *dir, const char *event_id, char *errstr, size_t errstr_size);

/* Appends line (no newline in it; one is added) to the manifest and fsyncs it. 0/-1. */
int spool_manifest_append(const char *dir, const char *line, char *errstr, size_t errstr_size);

#endif
