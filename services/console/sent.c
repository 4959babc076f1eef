/* What was sent, as files the senders keep (see console.h): a letter's PDF in the print
 * spool (sender-letter's letter-<event id>.pdf) and a call's message in the voice sender's
 * audio folder (<event id>.wav). A reminder is found only under its own case, which the
 * caller has scoped to the user's tenants: another tenant's file is never reachable by
 * guessing ids. Calls access.c only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_log.h"

/* The whole file (malloc'd), or NULL (errno set). At most 64 MiB. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *p = cap <= (64u << 20) ? realloc(buf, cap) : NULL;
            if (!p) {
                free(buf);
                fclose(f);
                errno = EFBIG;
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

void sent_file(console_t *c, dn_web_req_t *req, const char *login, const char *case_id, const char *event_id,
               const char *kind)
{
    int letter = strcmp(kind, "letter") == 0;
    /* the reminder, under this case only: its id must be one of the case's deliveries */
    const char *params[] = {case_id, event_id, letter ? "letter" : "voice"};
    PGresult *r = dn_pg_query(c->pg,
                              "SELECT 1 FROM deliveries WHERE case_id = $1::uuid AND event_id::text = $2 "
                              "AND channel = $3",
                              3, params);
    if (!r) {
        console_db_error(c, req);
        return;
    }
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        dn_web_error(req, 404, "no such %s for this case", letter ? "letter" : "call");
        return;
    }
    char path[4200];
    if (letter)
        snprintf(path, sizeof(path), "%s/letter-%s.pdf", c->cfg.spool_dir, event_id);
    else
        snprintf(path, sizeof(path), "%s/%s.wav", c->cfg.audio_dir, event_id);
    size_t len = 0;
    char *data = slurp(path, &len);
    if (!data) {
        if (errno == ENOENT)
            dn_web_error(req, 404,
                         letter ? "the letter's PDF is no longer in the print spool (collected by the print house)"
                                : "the call's audio is no longer in the voice sender's folder");
        else {
            dn_log_error("sent file not readable", "case_id", case_id, "event_id", event_id, "detail", strerror(errno),
                         NULL);
            dn_web_error(req, 500, "the file could not be read");
        }
        return;
    }
    json_t *detail =
        json_pack("{s:s, s:s, s:s}", "export", letter ? "letter" : "audio", "case_id", case_id, "event_id", event_id);
    access_log(c, req, login, "export", detail);
    json_decref(detail);
    char disposition[96];
    snprintf(disposition, sizeof(disposition), "%s; filename=\"%s-%s.%s\"", letter ? "attachment" : "inline",
             letter ? "letter" : "call", event_id, letter ? "pdf" : "wav");
    dn_web_body(req, 200, letter ? "application/pdf" : "audio/wav", data, len, disposition);
}
