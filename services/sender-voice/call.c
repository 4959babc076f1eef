/* One call with libre. The state machine, driven by libre's timers and handlers:
 *
 *   CALLING --18x--> (ringing) --200/ACK--> LISTENING --human--> PLAYING --message done--> WAITING
 *      |  final >= 300, no answer in time         |                                        |
 *      |  (CANCEL), no response at all         machine                                     |
 *      |                                          v                                        |
 *      |                                   AFTER_GREETING --quiet (the beep is over)-->    |
 *      |                                   PLAYING the voicemail --done--> ENDING          |
 *      v                                                                                   v
 *   ENDING <-- key 1/2/3, second timeout, the callee's BYE, the call's limit
 *
 * LISTENING (only with a voicemail message): the callee's audio goes to the detector
 * (dn_amd: a short greeting then silence is a person, a long one a machine, nothing heard
 * within its timeout a person); a key pressed while listening is a person too. A machine's
 * greeting is waited out (QUIET_MS of silence after it, at most GREETING_MAX_MS) so the
 * voicemail is recorded from its start.
 *
 * A key pressed while the message plays is kept and acted on when it ends (the message is
 * always heard in full); 9 plays it again (up to MAX_PLAYS in all); no key within the key
 * timeout plays it once more, the second timeout ends the call as no_response. ENDING lets
 * the BYE or CANCEL go out and be answered (LINGER_MS), then leaves re_main. */
#include "call.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* libre's headers one by one, in their order: re.h would bring re_json.h, whose names clash
 * with jansson's. */
// clang-format off
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_sa.h>
#include <re_tmr.h>
#include <re_main.h>
#include <re_net.h>
#include <re_dns.h>
#include <re_msg.h>
#include <re_uri.h>
#include <re_sip.h>
#include <re_sipsess.h>
#include <re_sdp.h>
#include <re_rtp.h>
#include <re_telev.h>
#include <re_sys.h>
// clang-format on

#define FRAME_SAMPLES   160 /* 20 ms of 8000 Hz */
#define FRAME_MS        20
#define MAX_PLAYS       4
#define LINGER_MS       400
#define NO_RESPONSE_MS  8000 /* not even 100 Trying by then: the trunk is not there */
#define PT_PCMU         0
#define PT_TELEV        101
#define QUIET_MS        1000  /* silence after a machine's greeting: its beep is over */
#define GREETING_MAX_MS 30000 /* a machine's greeting waited for at most this long */

typedef enum { ST_CALLING, ST_LISTENING, ST_AFTER_GREETING, ST_PLAYING, ST_WAITING, ST_ENDING } call_state_t;

typedef struct vcall {
    const call_params_t *p;
    call_report_t *r;
    call_state_t st;
    struct dnsc *dnsc;
    struct sip *sip;
    struct sipsess_sock *sock;
    struct sipsess *sess;
    struct sdp_session *sdp;
    struct sdp_media *sdpm;
    struct rtp_sock *rtp;
    struct telev *tel;
    struct mbuf *frame;
    struct tmr t_ring, t_probe, t_frame, t_key, t_limit, t_linger, t_listen;
    struct sa laddr, raddr;
    int telev_pt;
    uint64_t t_invite, t_answer, t_play0, t_media0;
    size_t pos;      /* next sample of the message */
    unsigned frames; /* sent in this play */
    uint32_t ts;
    int responded, timeouts;
    char pending; /* a key pressed while the message played */
    dn_dtmf_detector_t *dtmf;
    size_t dtmf_seen;
    uint64_t last_telev;
    dn_amd_t *amd;
    const dn_pcm_t *playing; /* the message or the voicemail */
    int vm;                  /* playing the voicemail (to a machine) */
} vcall_t;

static void play_start(vcall_t *c);
static void play_voicemail(vcall_t *c);

int call_init(char *err, size_t errsz)
{
    int e = libre_init();
    if (e) {
        snprintf(err, errsz, "libre_init: %s", strerror(e));
        return -1;
    }
    return 0;
}

void call_close(void)
{
    libre_close();
}

static void linger_done(void *arg)
{
    (void)arg;
    re_cancel();
}

/* The end: the result is set; the session's BYE (or CANCEL) goes out as it is freed. */
static void finish(vcall_t *c, dn_call_outcome_t result, char digit)
{
    if (c->st == ST_ENDING)
        return;
    uint64_t now = tmr_jiffies();
    if (c->t_answer)
        c->r->duration_ms = (int64_t)(now - c->t_answer);
    else
        c->r->ring_ms = (int64_t)(now - c->t_invite);
    c->r->result = result;
    c->r->digit[0] = digit;
    c->r->digit[1] = '\0';
    c->st = ST_ENDING;
    tmr_cancel(&c->t_ring);
    tmr_cancel(&c->t_probe);
    tmr_cancel(&c->t_frame);
    tmr_cancel(&c->t_key);
    tmr_cancel(&c->t_limit);
    tmr_cancel(&c->t_listen);
    c->sess = mem_deref(c->sess);
    tmr_start(&c->t_linger, LINGER_MS, linger_done, c);
}

static int is_menu_key(char d)
{
    return d == '1' || d == '2' || d == '3' || d == '9';
}

static void key_timeout(void *arg)
{
    vcall_t *c = arg;
    if (++c->timeouts >= 2 || c->r->plays >= MAX_PLAYS) {
        finish(c, DN_CALL_OUTCOME_NO_RESPONSE, 0);
        return;
    }
    play_start(c);
}

/* A key, from either detector. */
static void heard_person(vcall_t *c, const char *reason);

static void on_key(vcall_t *c, char d)
{
    if (!is_menu_key(d) || c->vm)
        return; /* a machine's voicemail has no menu */
    if (c->st == ST_LISTENING) {
        c->pending = d;
        heard_person(c, "key");
        return;
    }
    if (c->st == ST_PLAYING) {
        c->pending = d;
        return;
    }
    if (c->st != ST_WAITING)
        return;
    tmr_cancel(&c->t_key);
    if (d != '9') {
        finish(c, DN_CALL_OUTCOME_ANSWERED, d);
        return;
    }
    if (c->r->plays >= MAX_PLAYS) {
        tmr_start(&c->t_key, (uint64_t)c->p->key_timeout_ms, key_timeout, c);
        return;
    }
    play_start(c);
}

static void message_done(vcall_t *c)
{
    if (c->vm) {
        snprintf(c->r->reason, sizeof(c->r->reason), "answering machine (greeting %.1f s): voicemail left",
                 c->r->greeting_ms / 1000.0);
        finish(c, DN_CALL_OUTCOME_ANSWERING_MACHINE, 0);
        return;
    }
    c->st = ST_WAITING;
    char d = c->pending;
    c->pending = 0;
    if (d) {
        on_key(c, d);
        return;
    }
    tmr_start(&c->t_key, (uint64_t)c->p->key_timeout_ms, key_timeout, c);
}

/* Sends the next 20 ms frame; schedules the one after on the play's own clock. */
static void frame_tick(void *arg)
{
    vcall_t *c = arg;
    const dn_pcm_t *m = c->playing;
    int16_t pcm[FRAME_SAMPLES] = {0};
    size_t n = m->n - c->pos < FRAME_SAMPLES ? m->n - c->pos : FRAME_SAMPLES;
    memcpy(pcm, m->samples + c->pos, n * sizeof(int16_t));
    c->pos += n;
    mbuf_rewind(c->frame);
    mbuf_set_end(c->frame, RTP_HEADER_SIZE + FRAME_SAMPLES);
    mbuf_set_pos(c->frame, RTP_HEADER_SIZE);
    dn_g711_ulaw_encode(pcm, FRAME_SAMPLES, c->frame->buf + RTP_HEADER_SIZE);
    if (rtp_send(c->rtp, &c->raddr, false, c->frames == 0, PT_PCMU, c->ts, c->frame) == 0)
        c->r->rtp_sent++;
    c->ts += FRAME_SAMPLES;
    c->frames++;
    if (c->pos >= m->n) {
        message_done(c);
        return;
    }
    uint64_t due = c->t_play0 + (uint64_t)c->frames * FRAME_MS, now = tmr_jiffies();
    tmr_start(&c->t_frame, due > now ? due - now : 0, frame_tick, c);
}

static void play_from_start(vcall_t *c)
{
    c->st = ST_PLAYING;
    c->r->plays++;
    c->pos = 0;
    c->frames = 0;
    c->t_play0 = tmr_jiffies();
    /* The timestamp goes on with the time that passed (a talkspurt after silence). */
    c->ts = (uint32_t)((c->t_play0 - c->t_media0) * (DN_PCM_RATE / 1000));
    frame_tick(c);
}

static void play_start(vcall_t *c)
{
    c->playing = c->p->message;
    play_from_start(c);
}

static void play_voicemail(vcall_t *c)
{
    tmr_cancel(&c->t_listen);
    c->playing = c->p->voicemail;
    c->vm = 1;
    play_from_start(c);
}

static void amd_note(vcall_t *c, const char *reason)
{
    c->r->amd = c->amd ? dn_amd_result(c->amd) : DN_AMD_UNKNOWN;
    snprintf(c->r->amd_reason, sizeof(c->r->amd_reason), "%s", reason);
    c->r->greeting_ms = c->amd ? dn_amd_greeting_ms(c->amd) : 0;
    c->r->listen_ms = (int)(tmr_jiffies() - c->t_answer);
}

/* Decided: a person (the detector, a key, or nothing heard). The message and the menu. */
static void heard_person(vcall_t *c, const char *reason)
{
    tmr_cancel(&c->t_listen);
    amd_note(c, reason);
    c->r->amd = DN_AMD_HUMAN;
    play_start(c);
}

/* A machine's greeting has gone on for GREETING_MAX_MS: speak anyway. */
static void greeting_too_long(void *arg)
{
    play_voicemail(arg);
}

/* No audio from the callee at all within the detector's timeout (frames never came). */
static void listen_timeout(void *arg)
{
    vcall_t *c = arg;
    if (c->st == ST_LISTENING)
        heard_person(c, "no_audio");
}

/* The callee's audio while listening or waiting out a machine's greeting. */
static void amd_audio(vcall_t *c, const int16_t *pcm, size_t n)
{
    dn_amd_result_t res = dn_amd_feed(c->amd, pcm, n);
    if (c->st == ST_LISTENING) {
        if (res == DN_AMD_HUMAN) {
            heard_person(c, dn_amd_reason(c->amd));
        } else if (res == DN_AMD_MACHINE) {
            amd_note(c, dn_amd_reason(c->amd));
            c->st = ST_AFTER_GREETING;
            tmr_start(&c->t_listen, GREETING_MAX_MS, greeting_too_long, c);
        }
        return;
    }
    if (c->st == ST_AFTER_GREETING && dn_amd_quiet_ms(c->amd) >= QUIET_MS) {
        c->r->greeting_ms = (int)(tmr_jiffies() - c->t_answer) - dn_amd_quiet_ms(c->amd);
        play_voicemail(c);
    }
}

static void rtp_recv(const struct sa *src, const struct rtp_header *hdr, struct mbuf *mb, void *arg)
{
    vcall_t *c = arg;
    (void)src;
    if (c->st == ST_CALLING || c->st == ST_ENDING)
        return;
    if (hdr->pt == c->telev_pt) {
        int event;
        bool end;
        if (telev_recv(c->tel, mb, &event, &end) == 0 && end) {
            int d = telev_code2digit(event);
            c->last_telev = tmr_jiffies();
            if (d > 0)
                on_key(c, (char)d);
        }
        return;
    }
    if (hdr->pt != PT_PCMU)
        return;
    int16_t pcm[1024];
    size_t n = mbuf_get_left(mb);
    if (n > sizeof(pcm) / sizeof(pcm[0]))
        n = sizeof(pcm) / sizeof(pcm[0]);
    dn_g711_ulaw_decode(mbuf_buf(mb), n, pcm);
    if (c->amd && (c->st == ST_LISTENING || c->st == ST_AFTER_GREETING))
        amd_audio(c, pcm, n);
    if (!c->dtmf || c->st == ST_ENDING)
        return;
    size_t seen = dn_dtmf_detector_feed(c->dtmf, pcm, n);
    const char *digits = dn_dtmf_detector_digits(c->dtmf);
    while (c->dtmf_seen < seen) {
        char d = digits[c->dtmf_seen++];
        /* A gateway that sends the key both ways: the event came first. */
        if (!c->last_telev || tmr_jiffies() - c->last_telev > 500)
            on_key(c, d);
    }
}

static void call_limit(void *arg)
{
    vcall_t *c = arg;
    snprintf(c->r->reason, sizeof(c->r->reason), "the call reached its longest length");
    if (c->r->amd == DN_AMD_MACHINE) {
        finish(c, DN_CALL_OUTCOME_ANSWERING_MACHINE, 0);
        return;
    }
    finish(c, c->pending && c->pending != '9' ? DN_CALL_OUTCOME_ANSWERED : DN_CALL_OUTCOME_NO_RESPONSE,
           c->pending && c->pending != '9' ? c->pending : 0);
}

static void ring_timeout(void *arg)
{
    vcall_t *c = arg;
    if (!c->responded) {
        snprintf(c->r->reason, sizeof(c->r->reason), "no response from the SIP proxy within %d ms", NO_RESPONSE_MS);
        finish(c, DN_CALL_OUTCOME_TRUNK_ERROR, 0);
        return;
    }
    snprintf(c->r->reason, sizeof(c->r->reason), "no answer within %lld s", (long long)(c->p->ring_timeout_ms / 1000));
    finish(c, DN_CALL_OUTCOME_NO_ANSWER, 0);
}

static void probe_timeout(void *arg)
{
    vcall_t *c = arg;
    if (!c->responded)
        ring_timeout(c);
}

static void progress_handler(const struct sip_msg *msg, void *arg)
{
    vcall_t *c = arg;
    (void)msg;
    c->responded = 1;
    c->r->reached = 1;
}

static int answer_handler(const struct sip_msg *msg, void *arg)
{
    vcall_t *c = arg;
    c->responded = 1;
    c->r->reached = 1;
    if (!msg_ctype_cmp(&msg->ctyp, "application", "sdp") || !mbuf_get_left(msg->mb))
        return 0;
    return sdp_decode(c->sdp, msg->mb, false);
}

static void estab_handler(const struct sip_msg *msg, void *arg)
{
    vcall_t *c = arg;
    (void)msg;
    if (c->st != ST_CALLING)
        return;
    c->t_answer = tmr_jiffies();
    c->r->ring_ms = (int64_t)(c->t_answer - c->t_invite);
    tmr_cancel(&c->t_ring);
    tmr_cancel(&c->t_probe);
    const struct sa *ra = sdp_media_raddr(c->sdpm);
    if (!ra || !sa_isset(ra, SA_ALL) || !sdp_media_rformat(c->sdpm, "PCMU")) {
        snprintf(c->r->reason, sizeof(c->r->reason), "the answer offers no PCMU audio");
        c->t_answer = 0;
        finish(c, DN_CALL_OUTCOME_TRUNK_ERROR, 0);
        return;
    }
    sa_cpy(&c->raddr, ra);
    const struct sdp_format *te = sdp_media_rformat(c->sdpm, "telephone-event");
    c->telev_pt = te ? te->pt : -1;
    c->t_media0 = c->t_answer;
    /* Longest call: listening, every play, every key wait and a margin. */
    uint64_t msg_ms = (uint64_t)(dn_pcm_seconds(c->p->message) * 1000.0);
    uint64_t listen_ms = c->p->voicemail ? GREETING_MAX_MS + 10000 : 0;
    tmr_start(&c->t_limit, listen_ms + (msg_ms + (uint64_t)c->p->key_timeout_ms) * MAX_PLAYS + 30000, call_limit, c);
    if (!c->p->voicemail) {
        play_start(c);
        return;
    }
    dn_amd_params_t ap;
    dn_amd_params_default(&ap);
    if (!(c->amd = dn_amd_new(&ap))) {
        heard_person(c, "no_detector");
        return;
    }
    c->st = ST_LISTENING;
    tmr_start(&c->t_listen, (uint64_t)ap.timeout_ms + 500, listen_timeout, c);
}

static dn_call_outcome_t result_of(uint16_t scode)
{
    switch (scode) {
    case 486:
    case 600:
        return DN_CALL_OUTCOME_BUSY;
    case 603:
        return DN_CALL_OUTCOME_REJECTED;
    case 404:
    case 410:
    case 484:
    case 604:
        return DN_CALL_OUTCOME_INVALID_NUMBER;
    case 408:
    case 480:
    case 487:
        return DN_CALL_OUTCOME_NO_ANSWER;
    default:
        return DN_CALL_OUTCOME_TRUNK_ERROR;
    }
}

static void close_handler(int err, const struct sip_msg *msg, void *arg)
{
    vcall_t *c = arg;
    if (c->st == ST_ENDING)
        return;
    if (c->st != ST_CALLING) {
        /* The callee hung up (BYE), or the dialog failed. */
        c->r->hangup_by_peer = 1;
        snprintf(c->r->reason, sizeof(c->r->reason), "the callee hung up");
        if (c->r->amd == DN_AMD_MACHINE) {
            finish(c, DN_CALL_OUTCOME_ANSWERING_MACHINE, 0);
            return;
        }
        char d = c->pending && c->pending != '9' ? c->pending : 0;
        finish(c, d ? DN_CALL_OUTCOME_ANSWERED : DN_CALL_OUTCOME_NO_RESPONSE, d);
        return;
    }
    if (err || !msg) {
        snprintf(c->r->reason, sizeof(c->r->reason), "sip: %s", strerror(err ? err : EPROTO));
        finish(c, DN_CALL_OUTCOME_TRUNK_ERROR, 0);
        return;
    }
    c->r->reached = 1;
    snprintf(c->r->reason, sizeof(c->r->reason), "%u %.*s", msg->scode, (int)msg->reason.l, msg->reason.p);
    finish(c, result_of(msg->scode), 0);
}

/* Someone calls us: not taken. */
static void conn_handler(const struct sip_msg *msg, void *arg)
{
    vcall_t *c = arg;
    (void)sip_treply(NULL, c->sip, msg, 486, "Busy Here");
}

static int auth_handler(char **user, char **pass, const char *realm, void *arg)
{
    vcall_t *c = arg;
    (void)realm;
    int err = str_dup(user, c->p->user);
    return err ? err : str_dup(pass, c->p->password);
}

/* The local address the proxy is reached from (so that RTP leaves from the address the
 * SDP names). */
static int local_addr(const char *proxy, struct sa *out)
{
    struct sa dst;
    if (sa_decode(&dst, proxy, strlen(proxy)) != 0)
        return net_default_source_addr_get(AF_INET, out);
    int fd = socket(sa_af(&dst), SOCK_DGRAM, 0);
    if (fd < 0)
        return errno;
    int err = 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (connect(fd, &dst.u.sa, dst.len) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        err = errno;
    else
        err = sa_set_sa(out, (struct sockaddr *)&ss);
    close(fd);
    sa_set_port(out, 0);
    return err;
}

/* A SIP stack on UDP at the local address towards the proxy. 0, or an errno with reason. */
static int sip_stack(const char *proxy, struct sa *laddr, struct dnsc **dnsc, struct sip **sip, char *reason, size_t n)
{
    int err = local_addr(proxy, laddr);
    if (err) {
        snprintf(reason, n, "no local address towards %s: %s", proxy, strerror(err));
        return err;
    }
    struct sa nsv[4];
    uint32_t nsn = 4;
    char domain[64] = "";
    if (dns_srv_get(domain, sizeof(domain), nsv, &nsn) != 0)
        nsn = 0;
    if ((err = dnsc_alloc(dnsc, NULL, nsv, nsn)) ||
        (err = sip_alloc(sip, *dnsc, 32, 32, 32, "dunning sender-voice", NULL, NULL)) ||
        (err = sip_transp_add(*sip, SIP_TRANSP_UDP, laddr)))
        snprintf(reason, n, "sip stack: %s", strerror(err));
    return err;
}

static int setup(vcall_t *c)
{
    const call_params_t *p = c->p;
    int err = sip_stack(p->proxy, &c->laddr, &c->dnsc, &c->sip, c->r->reason, sizeof(c->r->reason));
    if (err)
        return err;
    if ((err = sipsess_listen(&c->sock, c->sip, 32, conn_handler, c))) {
        snprintf(c->r->reason, sizeof(c->r->reason), "sip stack: %s", strerror(err));
        return err;
    }
    if ((err = rtp_listen(&c->rtp, IPPROTO_UDP, &c->laddr, 10000, 60000, false, rtp_recv, NULL, c)) ||
        (err = telev_alloc(&c->tel, FRAME_MS)) || (err = sdp_session_alloc(&c->sdp, &c->laddr)) ||
        (err = sdp_media_add(&c->sdpm, c->sdp, "audio", sa_port(rtp_local(c->rtp)), "RTP/AVP")) ||
        (err = sdp_format_add(NULL, c->sdpm, false, "0", "PCMU", 8000, 1, NULL, NULL, NULL, false, NULL)) ||
        (err = sdp_format_add(NULL, c->sdpm, false, "101", "telephone-event", 8000, 1, NULL, NULL, NULL, false,
                              "0-15")) ||
        (err = sdp_media_set_lattr(c->sdpm, true, "ptime", "%d", FRAME_MS))) {
        snprintf(c->r->reason, sizeof(c->r->reason), "media: %s", strerror(err));
        return err;
    }
    if (!(c->frame = mbuf_alloc(RTP_HEADER_SIZE + FRAME_SAMPLES)))
        return ENOMEM;
    c->dtmf = dn_dtmf_detector_new();
    return 0;
}

static int dial(vcall_t *c)
{
    const call_params_t *p = c->p;
    char to[256], from[256];
    snprintf(to, sizeof(to), "sip:%s@%s", p->number, p->proxy);
    if (!strncmp(p->caller, "sip:", 4) || !strncmp(p->caller, "sips:", 5))
        snprintf(from, sizeof(from), "%s", p->caller);
    else
        re_snprintf(from, sizeof(from), "sip:%s@%j", p->caller, &c->laddr);
    struct mbuf *desc = NULL;
    int err = sdp_encode(&desc, c->sdp, true);
    if (err)
        return err;
    int auth = p->user && p->user[0];
    c->t_invite = tmr_jiffies();
    err = sipsess_connect(&c->sess, c->sock, to, NULL, from, "dunning", NULL, 0, "application/sdp", desc,
                          auth ? auth_handler : NULL, c, false, NULL, answer_handler, progress_handler, estab_handler,
                          NULL, NULL, close_handler, c, NULL);
    mem_deref(desc);
    if (err)
        snprintf(c->r->reason, sizeof(c->r->reason), "invite: %s", strerror(err));
    return err;
}

int call_run(const call_params_t *p, call_report_t *r)
{
    vcall_t c;
    memset(&c, 0, sizeof(c));
    memset(r, 0, sizeof(*r));
    c.p = p;
    c.r = r;
    c.telev_pt = -1;
    tmr_init(&c.t_ring);
    tmr_init(&c.t_probe);
    tmr_init(&c.t_frame);
    tmr_init(&c.t_key);
    tmr_init(&c.t_limit);
    tmr_init(&c.t_linger);
    tmr_init(&c.t_listen);
    int rc = -1;
    if (setup(&c) != 0)
        goto out;
    if (dial(&c) != 0) {
        r->result = DN_CALL_OUTCOME_TRUNK_ERROR;
        rc = 0;
        goto out;
    }
    tmr_start(&c.t_probe, NO_RESPONSE_MS, probe_timeout, &c);
    tmr_start(&c.t_ring, (uint64_t)p->ring_timeout_ms, ring_timeout, &c);
    (void)re_main(NULL);
    rc = 0;
out:
    tmr_cancel(&c.t_ring);
    tmr_cancel(&c.t_probe);
    tmr_cancel(&c.t_frame);
    tmr_cancel(&c.t_key);
    tmr_cancel(&c.t_limit);
    tmr_cancel(&c.t_linger);
    tmr_cancel(&c.t_listen);
    c.sess = mem_deref(c.sess);
    c.sock = mem_deref(c.sock);
    if (c.sip)
        sip_close(c.sip, true);
    c.sip = mem_deref(c.sip);
    c.dnsc = mem_deref(c.dnsc);
    c.sdp = mem_deref(c.sdp);
    c.rtp = mem_deref(c.rtp);
    c.tel = mem_deref(c.tel);
    c.frame = mem_deref(c.frame);
    dn_dtmf_detector_destroy(c.dtmf);
    dn_amd_destroy(c.amd);
    return rc;
}

/* ---- the trunk's OPTIONS ping ---- */

typedef struct ping {
    int answered;
    char *reason;
    size_t n;
} ping_t;

static void ping_response(int err, const struct sip_msg *msg, void *arg)
{
    ping_t *pg = arg;
    if (err)
        snprintf(pg->reason, pg->n, "no answer to OPTIONS: %s", strerror(err));
    else if (msg->scode < 200)
        return; /* provisional: keep waiting */
    else {
        pg->answered = 1;
        re_snprintf(pg->reason, pg->n, "%u %r", msg->scode, &msg->reason);
    }
    re_cancel();
}

static void ping_timeout(void *arg)
{
    ping_t *pg = arg;
    snprintf(pg->reason, pg->n, "no answer to OPTIONS within the timeout");
    re_cancel();
}

int call_ping(const char *proxy, int timeout_ms, char *reason, size_t n)
{
    struct sa laddr;
    struct dnsc *dnsc = NULL;
    struct sip *sip = NULL;
    struct sip_request *req = NULL;
    ping_t pg = {.reason = reason, .n = n};
    struct tmr t;
    tmr_init(&t);
    int rc = -1;
    if (sip_stack(proxy, &laddr, &dnsc, &sip, reason, n) != 0)
        goto out;
    char uri[256];
    snprintf(uri, sizeof(uri), "sip:%s", proxy);
    /* Any final response (200, or 404/405 from a trunk that does not serve OPTIONS) says the
     * trunk is there; only silence or a transport error says it is not. */
    int err = sip_requestf(&req, sip, true, "OPTIONS", uri, NULL, NULL, NULL, ping_response, &pg,
                           "To: <%s>\r\n"
                           "From: <sip:dunning@%j>;tag=%016llx\r\n"
                           "Call-ID: %016llx\r\n"
                           "CSeq: 1 OPTIONS\r\n"
                           "Max-Forwards: 70\r\n"
                           "Accept: application/sdp\r\n"
                           "Content-Length: 0\r\n\r\n",
                           uri, &laddr, rand_u64(), rand_u64());
    if (err) {
        snprintf(reason, n, "OPTIONS not sent: %s", strerror(err));
        goto out;
    }
    tmr_start(&t, (uint64_t)timeout_ms, ping_timeout, &pg);
    (void)re_main(NULL);
    rc = pg.answered;
out:
    tmr_cancel(&t);
    req = mem_deref(req);
    if (sip)
        sip_close(sip, true);
    sip = mem_deref(sip);
    dnsc = mem_deref(dnsc);
    return rc;
}
