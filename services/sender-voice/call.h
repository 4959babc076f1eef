/* sender-voice: one phone call with libre (SIP session, SDP offer/answer, RTP), run to its
 * end on the calling thread: INVITE, ring, the message played as PCMU in 20 ms frames, the
 * menu key taken from RFC 4733 telephone-events (libre's telev) or in-band (spandsp through
 * dn_voice_media), BYE. With a voicemail message the callee's greeting is listened to
 * first (answering-machine detection, dn_amd). libre's loop (re_main) runs only inside call_run; call_init once
 * per process, on the thread that calls call_run. */
#ifndef SENDER_VOICE_CALL_H
#define SENDER_VOICE_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "dn_schemas_gen.h"
#include "dn_voice_media.h"

typedef struct call_params {
    const char *proxy;    /* host:port the INVITE goes to (UDP) */
    const char *number;   /* E.164, the Request-URI's user part */
    const char *caller;   /* a sip: URI, or a number put before @<our address> */
    const char *user;     /* digest credentials; NULL or "": none */
    const char *password; /* never logged */
    int64_t ring_timeout_ms, key_timeout_ms;
    const dn_pcm_t *message; /* 8000 Hz */
    /* Answering-machine detection: with a voicemail message, the callee's first audio is
     * listened to before anything is played (dn_amd); a person hears `message` and the
     * menu, a machine hears `voicemail` (no debt details, no menu) after its greeting and
     * beep. NULL: no detection, `message` is played at once. */
    const dn_pcm_t *voicemail;
} call_params_t;

typedef struct call_report {
    dn_call_outcome_t result;
    char digit[2];       /* "" when none */
    int64_t duration_ms; /* answer to hang-up */
    int64_t ring_ms;     /* INVITE to the answer or the final failure */
    int reached;         /* the trunk answered at all */
    int plays;           /* times the message was played */
    unsigned rtp_sent;   /* RTP packets sent */
    int hangup_by_peer;
    dn_amd_result_t amd; /* DN_AMD_UNKNOWN when not detected (off, or not answered) */
    char amd_reason[24]; /* dn_amd_reason, or "key" (a key was pressed while listening), "no_audio" */
    int greeting_ms;     /* a person's greeting as measured; a machine's from the answer to its end */
    int listen_ms;       /* answer to the decision */
    char reason[256];    /* "486 Busy Here", "no answer within 30 s" */
} call_report_t;

/* libre's initialisation (once). 0, or -1 with err. */
int call_init(char *err, size_t errsz);
void call_close(void);

/* An OPTIONS request to the proxy, waiting up to timeout_ms: 1 answered (reason: its status
 * line), 0 not (reason), -1 not sent. */
int call_ping(const char *proxy, int timeout_ms, char *reason, size_t n);

/* Places one call and runs it to its end. 0 with *r filled (the result says how it went),
 * or -1 when the call could not be set up here (sockets: r->reason). */
int call_run(const call_params_t *p, call_report_t *r);

#endif
