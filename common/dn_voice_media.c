#include "dn_voice_media.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <espeak-ng/speak_lib.h>
#include <spandsp.h>

#include "dn_log.h"

/* ---- PCM buffers ---- */

void dn_pcm_free(dn_pcm_t *pcm)
{
    if (!pcm)
        return;
    free(pcm->samples);
    memset(pcm, 0, sizeof(*pcm));
}

double dn_pcm_seconds(const dn_pcm_t *pcm)
{
    if (!pcm || pcm->rate <= 0)
        return 0.0;
    return (double)pcm->n / (double)pcm->rate;
}

/* ---- WAV files ---- */

int dn_wav_write(const char *path, const dn_pcm_t *pcm, char *err, size_t errsz)
{
    if (!pcm || pcm->rate <= 0 || (pcm->n > 0 && !pcm->samples)) {
        snprintf(err, errsz, "wav %s: no audio to write", path);
        return -1;
    }
    SF_INFO info = {.samplerate = pcm->rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        snprintf(err, errsz, "wav %s: %s", path, sf_strerror(NULL));
        return -1;
    }
    int rc = 0;
    sf_count_t done = pcm->n > 0 ? sf_write_short(sf, pcm->samples, (sf_count_t)pcm->n) : 0;
    if (done != (sf_count_t)pcm->n) {
        snprintf(err, errsz, "wav %s: short write: %s", path, sf_strerror(sf));
        rc = -1;
    }
    if (sf_close(sf) != 0 && rc == 0) {
        snprintf(err, errsz, "wav %s: close failed", path);
        rc = -1;
    }
    return rc;
}

int dn_wav_read(const char *path, dn_pcm_t *out, char *err, size_t errsz)
{
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        snprintf(err, errsz, "wav %s: %s", path, sf_strerror(NULL));
        return -1;
    }
    int rc = -1;
    int16_t *samples = NULL;
    if (info.channels != 1) {
        snprintf(err, errsz, "wav %s: %d channels, want mono", path, info.channels);
        goto out;
    }
    if (info.frames < 0 || info.samplerate <= 0) {
        snprintf(err, errsz, "wav %s: bad header", path);
        goto out;
    }
    samples = malloc(((size_t)info.frames + 1) * sizeof(*samples));
    if (!samples) {
        snprintf(err, errsz, "wav %s: out of memory", path);
        goto out;
    }
    sf_count_t got = info.frames > 0 ? sf_read_short(sf, samples, info.frames) : 0;
    if (got != info.frames) {
        snprintf(err, errsz, "wav %s: short read (%lld of %lld samples)", path, (long long)got, (long long)info.frames);
        goto out;
    }
    out->samples = samples;
    out->n = (size_t)info.frames;
    out->rate = info.samplerate;
    samples = NULL; /* now the caller's */
    rc = 0;
out:
    free(samples);
    sf_close(sf);
    return rc;
}

/* ---- G.711 ---- */

size_t dn_g711_ulaw_encode(const int16_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = linear_to_ulaw(in[i]);
    return n;
}

size_t dn_g711_ulaw_decode(const uint8_t *in, size_t n, int16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = ulaw_to_linear(in[i]);
    return n;
}

size_t dn_g711_alaw_encode(const int16_t *in, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = linear_to_alaw(in[i]);
    return n;
}

size_t dn_g711_alaw_decode(const uint8_t *in, size_t n, int16_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = alaw_to_linear(in[i]);
    return n;
}

/* ---- text to speech ---- */

const char *dn_tts_voice(const char *locale)
{
    if (locale && strncasecmp(locale, "de", 2) == 0 && (locale[2] == '\0' || locale[2] == '-' || locale[2] == '_'))
        return "de";
    return "en";
}

/* espeak-ng keeps global state and is not thread-safe: one initialisation, one synthesis at
 * a time. The callback appends to tts_acc, which only the holder of tts_lock touches. */
static pthread_mutex_t tts_lock = PTHREAD_MUTEX_INITIALIZER;
static int tts_rate; /* espeak-ng's output rate once initialised; -1: initialisation failed */
static struct {
    short *buf;
    size_t n, cap;
    int oom;
} tts_acc;

static int tts_callback(short *wav, int n, espeak_EVENT *events)
{
    (void)events;
    if (!wav || n <= 0)
        return 0;
    if (tts_acc.n + (size_t)n > tts_acc.cap) {
        size_t cap = tts_acc.cap ? tts_acc.cap * 2 : 32768;
        while (cap < tts_acc.n + (size_t)n)
            cap *= 2;
        short *nb = realloc(tts_acc.buf, cap * sizeof(*nb));
        if (!nb) {
            tts_acc.oom = 1;
            return 1; /* abort the synthesis */
        }
        tts_acc.buf = nb;
        tts_acc.cap = cap;
    }
    memcpy(tts_acc.buf + tts_acc.n, wav, (size_t)n * sizeof(*wav));
    tts_acc.n += (size_t)n;
    return 0;
}

/* Called with tts_lock held. */
static int tts_init(const char *data_path, char *err, size_t errsz)
{
    if (tts_rate == 0) {
        int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0);
        if (rate <= 0) {
            tts_rate = -1;
        } else {
            tts_rate = rate;
            espeak_SetSynthCallback(tts_callback);
        }
    }
    if (tts_rate < 0) {
        snprintf(err, errsz, "tts: espeak-ng initialisation failed (data path %s)", data_path ? data_path : "default");
        return -1;
    }
    return 0;
}

/* libsamplerate's sinc converter from `rate` to DN_PCM_RATE. */
static int resample(const short *in, size_t n, int rate, dn_pcm_t *out, char *err, size_t errsz)
{
    int rc = -1;
    float *fin = NULL, *fout = NULL;
    int16_t *samples = NULL;
    double ratio = (double)DN_PCM_RATE / (double)rate;
    size_t cap = (size_t)ceil((double)n * ratio) + 64;
    if (n > (size_t)INT32_MAX / 2) {
        snprintf(err, errsz, "tts: audio too long");
        return -1;
    }
    fin = malloc((n ? n : 1) * sizeof(*fin));
    fout = malloc(cap * sizeof(*fout));
    samples = malloc(cap * sizeof(*samples));
    if (!fin || !fout || !samples) {
        snprintf(err, errsz, "tts: out of memory");
        goto out;
    }
    src_short_to_float_array(in, fin, (int)n);
    SRC_DATA d = {.data_in = fin,
                  .data_out = fout,
                  .input_frames = (long)n,
                  .output_frames = (long)cap,
                  .src_ratio = ratio,
                  .end_of_input = 1};
    int e = src_simple(&d, SRC_SINC_MEDIUM_QUALITY, 1);
    if (e != 0) {
        snprintf(err, errsz, "tts: resampling failed: %s", src_strerror(e));
        goto out;
    }
    src_float_to_short_array(fout, samples, (int)d.output_frames_gen);
    out->samples = samples;
    out->n = (size_t)d.output_frames_gen;
    out->rate = DN_PCM_RATE;
    samples = NULL; /* now the caller's */
    rc = 0;
out:
    free(fin);
    free(fout);
    free(samples);
    return rc;
}

static int synthesize(const dn_tts_t *cfg, const char *voice, int speed, const char *text, dn_pcm_t *out, char *err,
                      size_t errsz)
{
    int rc = -1;
    pthread_mutex_lock(&tts_lock);
    if (tts_init(cfg->data_path, err, errsz) < 0)
        goto out;
    if (espeak_SetVoiceByName(voice) != EE_OK) {
        snprintf(err, errsz, "tts: espeak-ng has no voice %s", voice);
        goto out;
    }
    espeak_SetParameter(espeakRATE, speed, 0);
    tts_acc.n = 0;
    tts_acc.oom = 0;
    espeak_ERROR e = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
    if (e != EE_OK || tts_acc.oom) {
        snprintf(err, errsz, "tts: synthesis failed%s", tts_acc.oom ? ": out of memory" : "");
        goto out;
    }
    if (tts_acc.n == 0) {
        snprintf(err, errsz, "tts: synthesis produced no audio");
        goto out;
    }
    rc = resample(tts_acc.buf, tts_acc.n, tts_rate, out, err, errsz);
out:
    /* keep the buffer for the next call, but not a large one */
    if (tts_acc.cap > (size_t)22050 * 60) {
        free(tts_acc.buf);
        memset(&tts_acc, 0, sizeof(tts_acc));
    }
    pthread_mutex_unlock(&tts_lock);
    return rc;
}

/* <dir>/<32 hex digits>.wav: BLAKE2b-128 of the key's parts, each ending with a NUL. */
static int cache_path(const char *dir, const char *voice, int speed, const char *text, char *path, size_t size)
{
    static const char tag[] = "dn_tts/1";
    char speed_s[16];
    unsigned char h[16];
    char hex[sizeof(h) * 2 + 1];
    snprintf(speed_s, sizeof(speed_s), "%d", speed);
    crypto_generichash_state st;
    if (crypto_generichash_init(&st, NULL, 0, sizeof(h)) != 0)
        return -1;
    crypto_generichash_update(&st, (const unsigned char *)tag, sizeof(tag));
    crypto_generichash_update(&st, (const unsigned char *)voice, strlen(voice) + 1);
    crypto_generichash_update(&st, (const unsigned char *)speed_s, strlen(speed_s) + 1);
    crypto_generichash_update(&st, (const unsigned char *)text, strlen(text));
    crypto_generichash_final(&st, h, sizeof(h));
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    int len = snprintf(path, size, "%s/%s.wav", dir, hex);
    return len > 0 && (size_t)len < size ? 0 : -1;
}

static void cache_store(const char *path, const dn_pcm_t *pcm)
{
    static atomic_uint seq;
    char tmp[4200], err[512];
    snprintf(tmp, sizeof(tmp), "%s.%ld.%u.tmp", path, (long)getpid(), atomic_fetch_add(&seq, 1));
    if (dn_wav_write(tmp, pcm, err, sizeof(err)) < 0) {
        unlink(tmp);
        dn_log_warn("tts cache not written", "detail", err, NULL);
        return;
    }
    if (rename(tmp, path) < 0) {
        dn_log_warn("tts cache not written", "path", path, "detail", strerror(errno), NULL);
        unlink(tmp);
    }
}

int dn_tts_render(const dn_tts_t *cfg, const char *text, const char *locale, dn_pcm_t *out, char *err, size_t errsz)
{
    static const dn_tts_t none = {0};
    if (!cfg)
        cfg = &none;
    if (!text || !*text) {
        snprintf(err, errsz, "tts: empty text");
        return -1;
    }
    const char *voice = dn_tts_voice(locale);
    int speed = cfg->speed_wpm > 0 ? cfg->speed_wpm : DN_TTS_SPEED_DEFAULT;
    if (speed < espeakRATE_MINIMUM)
        speed = espeakRATE_MINIMUM;
    if (speed > espeakRATE_MAXIMUM)
        speed = espeakRATE_MAXIMUM;

    char path[4096];
    int cached = cfg->cache_dir && *cfg->cache_dir;
    if (cached) {
        if (sodium_init() < 0 || cache_path(cfg->cache_dir, voice, speed, text, path, sizeof(path)) < 0) {
            snprintf(err, errsz, "tts: cache path for %s failed", cfg->cache_dir);
            return -1;
        }
        if (access(path, R_OK) == 0) {
            dn_pcm_t pcm = {0};
            char rerr[512];
            if (dn_wav_read(path, &pcm, rerr, sizeof(rerr)) == 0 && pcm.rate == DN_PCM_RATE && pcm.n > 0) {
                *out = pcm;
                return 1;
            }
            dn_log_warn("tts cache entry unusable, synthesizing", "path", path, "detail",
                        pcm.samples ? "not 8000 Hz audio, or empty" : rerr, NULL);
            dn_pcm_free(&pcm);
        }
    }
    dn_pcm_t pcm = {0};
    if (synthesize(cfg, voice, speed, text, &pcm, err, errsz) < 0)
        return -1;
    if (cached)
        cache_store(path, &pcm);
    *out = pcm;
    return 0;
}

/* ---- in-band DTMF ---- */

struct dn_dtmf_detector {
    dtmf_rx_state_t *rx;
    char digits[DN_DTMF_MAX_DIGITS + 1];
    size_t n;
};

static void dtmf_digits(void *user_data, const char *digits, int len)
{
    dn_dtmf_detector_t *d = user_data;
    for (int i = 0; i < len && d->n < DN_DTMF_MAX_DIGITS; i++)
        d->digits[d->n++] = digits[i];
    d->digits[d->n] = '\0';
}

dn_dtmf_detector_t *dn_dtmf_detector_new(void)
{
    dn_dtmf_detector_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->rx = dtmf_rx_init(NULL, dtmf_digits, d);
    if (!d->rx) {
        free(d);
        return NULL;
    }
    return d;
}

size_t dn_dtmf_detector_feed(dn_dtmf_detector_t *d, const int16_t *samples, size_t n)
{
    while (n > 0) {
        int chunk = n > 8000 ? 8000 : (int)n;
        dtmf_rx(d->rx, samples, chunk);
        samples += chunk;
        n -= (size_t)chunk;
    }
    return d->n;
}

const char *dn_dtmf_detector_digits(const dn_dtmf_detector_t *d)
{
    return d->digits;
}

void dn_dtmf_detector_reset(dn_dtmf_detector_t *d)
{
    d->n = 0;
    d->digits[0] = '\0';
}

void dn_dtmf_detector_destroy(dn_dtmf_detector_t *d)
{
    if (!d)
        return;
    dtmf_rx_free(d->rx);
    free(d);
}

/* ---- answering-machine detection ---- */

#define AMD_MAX_FRAME_MS 100

struct dn_amd {
    dn_amd_params_t p;
    double min_power; /* mean square of a frame at speech_dbfs */
    int16_t frame[DN_PCM_RATE / 1000 * AMD_MAX_FRAME_MS];
    size_t frame_n, fill;
    int elapsed_ms;
    int voiced_run_ms;  /* before the greeting: voiced time in a row */
    int started, ended; /* the greeting */
    int onset_ms, last_voiced_ms, silence_run_ms;
    int quiet_ms; /* silent frames in a row at the end of the audio fed, also after the decision */
    dn_amd_result_t result;
    const char *reason;
};

void dn_amd_params_default(dn_amd_params_t *p)
{
    p->speech_dbfs = -40.0;
    p->frame_ms = 20;
    p->min_speech_ms = 60;
    p->human_max_speech_ms = 1800;
    p->silence_after_ms = 800;
    p->machine_speech_ms = 2500;
    p->timeout_ms = 5000;
}

dn_amd_t *dn_amd_new(const dn_amd_params_t *params)
{
    dn_amd_params_t p;
    if (params)
        p = *params;
    else
        dn_amd_params_default(&p);
    if (p.frame_ms < 5 || p.frame_ms > AMD_MAX_FRAME_MS || p.min_speech_ms <= 0 || p.human_max_speech_ms <= 0 ||
        p.silence_after_ms <= 0 || p.machine_speech_ms <= p.human_max_speech_ms || p.timeout_ms <= 0 ||
        !(p.speech_dbfs <= 0.0))
        return NULL;
    dn_amd_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->p = p;
    double rms = 32768.0 * pow(10.0, p.speech_dbfs / 20.0);
    a->min_power = rms * rms;
    a->frame_n = (size_t)(DN_PCM_RATE / 1000 * p.frame_ms);
    a->reason = "";
    return a;
}

static void amd_decide(dn_amd_t *a, dn_amd_result_t r, const char *reason)
{
    a->result = r;
    a->reason = reason;
}

static int amd_voiced(const dn_amd_t *a)
{
    double sum = 0.0;
    for (size_t i = 0; i < a->frame_n; i++)
        sum += (double)a->frame[i] * (double)a->frame[i];
    return sum / (double)a->frame_n >= a->min_power;
}

static void amd_frame(dn_amd_t *a)
{
    int voiced = amd_voiced(a);
    const dn_amd_params_t *p = &a->p;
    a->quiet_ms = voiced ? 0 : a->quiet_ms + p->frame_ms;
    if (a->result != DN_AMD_UNKNOWN)
        return; /* decided: only the quiet time goes on */
    a->elapsed_ms += p->frame_ms;

    if (!a->started) {
        a->voiced_run_ms = voiced ? a->voiced_run_ms + p->frame_ms : 0;
        if (a->voiced_run_ms >= p->min_speech_ms) {
            a->started = 1;
            a->onset_ms = a->elapsed_ms - a->voiced_run_ms;
            a->last_voiced_ms = a->elapsed_ms;
            a->silence_run_ms = 0;
        }
    } else if (!a->ended) {
        if (voiced) {
            a->last_voiced_ms = a->elapsed_ms;
            a->silence_run_ms = 0;
        } else {
            a->silence_run_ms += p->frame_ms;
        }
        int greeting = a->last_voiced_ms - a->onset_ms;
        if (greeting >= p->machine_speech_ms) {
            amd_decide(a, DN_AMD_MACHINE, "long_greeting");
            return;
        }
        if (a->silence_run_ms >= p->silence_after_ms) {
            a->ended = 1;
            if (greeting <= p->human_max_speech_ms) {
                amd_decide(a, DN_AMD_HUMAN, "short_greeting");
                return;
            }
            /* between a human's and a machine's greeting: the timeout decides */
        }
    }
    if (a->elapsed_ms >= p->timeout_ms)
        amd_decide(a, DN_AMD_HUMAN, "timeout");
}

dn_amd_result_t dn_amd_feed(dn_amd_t *a, const int16_t *samples, size_t n)
{
    while (n > 0) {
        size_t take = a->frame_n - a->fill;
        if (take > n)
            take = n;
        memcpy(a->frame + a->fill, samples, take * sizeof(*samples));
        a->fill += take;
        samples += take;
        n -= take;
        if (a->fill == a->frame_n) {
            a->fill = 0;
            amd_frame(a);
        }
    }
    return a->result;
}

dn_amd_result_t dn_amd_result(const dn_amd_t *a)
{
    return a->result;
}

const char *dn_amd_reason(const dn_amd_t *a)
{
    return a->reason;
}

int dn_amd_elapsed_ms(const dn_amd_t *a)
{
    return a->elapsed_ms;
}

int dn_amd_quiet_ms(const dn_amd_t *a)
{
    return a->quiet_ms;
}

int dn_amd_greeting_ms(const dn_amd_t *a)
{
    return a->started ? a->last_voiced_ms - a->onset_ms : 0;
}

const char *dn_amd_result_name(dn_amd_result_t r)
{
    switch (r) {
    case DN_AMD_HUMAN:
        return "human";
    case DN_AMD_MACHINE:
        return "machine";
    default:
        return "unknown";
    }
}

void dn_amd_destroy(dn_amd_t *a)
{
    free(a);
}
