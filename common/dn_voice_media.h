/* dn_voice_media: the audio side of a voice-call reminder (SIP and RTP are done elsewhere).
 *
 *  - text to speech with espeak-ng, resampled (libsamplerate) to 8000 Hz mono 16-bit PCM,
 *    with an optional cache of rendered WAV files keyed by (voice, speed, text);
 *  - WAV files of 16-bit mono PCM (libsndfile);
 *  - G.711 u-law and A-law over buffers (spandsp);
 *  - in-band DTMF detection (spandsp's dtmf_rx);
 *  - answering-machine detection on the callee's audio: an energy detector over 20 ms frames
 *    and the length of the first greeting.
 *
 * Everything here works on 8000 Hz mono 16-bit PCM (DN_PCM_RATE) unless it says otherwise.
 * dn_tts_render may be called from several threads (espeak-ng is not thread-safe: calls are
 * serialized inside); a dn_dtmf_detector_t or dn_amd_t belongs to one call and one thread. */
#ifndef DN_VOICE_MEDIA_H
#define DN_VOICE_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#define DN_PCM_RATE 8000 /* the telephone rate every function here produces and expects */

/* A buffer of mono 16-bit samples. Owned by whoever filled it; free with dn_pcm_free. */
typedef struct dn_pcm {
    int16_t *samples;
    size_t n; /* samples */
    int rate; /* Hz */
} dn_pcm_t;

/* Frees pcm->samples and zeroes *pcm. NULL, or an already freed pcm, does nothing. */
void dn_pcm_free(dn_pcm_t *pcm);
/* Duration in seconds (n / rate); 0 for NULL or a rate <= 0. */
double dn_pcm_seconds(const dn_pcm_t *pcm);

/* ---- text to speech ---- */

#define DN_TTS_SPEED_DEFAULT 160 /* words per minute; espeak-ng accepts 80..450 */

typedef struct dn_tts {
    const char *cache_dir; /* rendered audio is kept here as <hash>.wav; NULL or "": no cache.
                            * The directory must exist. */
    int speed_wpm;         /* 0: DN_TTS_SPEED_DEFAULT; clamped to 80..450 */
    const char *data_path; /* espeak-ng-data's parent directory; NULL: espeak-ng's default.
                            * espeak-ng is initialised once: the first call's value is used. */
} dn_tts_t;

/* The espeak-ng voice for a locale: "de", "de-DE", "de_AT" -> "de"; everything else
 * (including "en-GB" and NULL) -> "en". */
const char *dn_tts_voice(const char *locale);

/* Speaks UTF-8 `text` (plain text, no SSML) in the locale's voice into *out: 8000 Hz mono
 * 16-bit PCM that the caller frees with dn_pcm_free.
 * With a cache_dir, the audio for (voice, speed, text) is first looked up as
 * <cache_dir>/<hex BLAKE2b-128 of "dn_tts/1", voice, speed, text>.wav and, when absent,
 * synthesized and stored there (written to a temporary file and renamed, so readers never
 * see half a file; a failure to store is logged, not returned).
 * Returns 1 for a cache hit, 0 when synthesized, -1 on error (err filled; *out untouched). */
int dn_tts_render(const dn_tts_t *cfg, const char *text, const char *locale, dn_pcm_t *out, char *err, size_t errsz);

/* ---- WAV files ---- */

/* Writes pcm as a 16-bit PCM mono WAV file at pcm->rate. 0, or -1 with err. */
int dn_wav_write(const char *path, const dn_pcm_t *pcm, char *err, size_t errsz);
/* Reads a mono WAV file (any PCM format libsndfile reads, converted to 16 bit) into *out,
 * out->rate being the file's rate. 0, or -1 with err (a file with several channels is an error). */
int dn_wav_read(const char *path, dn_pcm_t *out, char *err, size_t errsz);

/* ---- G.711 (ITU-T, as spandsp implements it) ---- */

/* Each codes n samples from in to out (n bytes for the encoders, n samples for the
 * decoders) and returns n. in and out must not overlap. */
size_t dn_g711_ulaw_encode(const int16_t *in, size_t n, uint8_t *out);
size_t dn_g711_ulaw_decode(const uint8_t *in, size_t n, int16_t *out);
size_t dn_g711_alaw_encode(const int16_t *in, size_t n, uint8_t *out);
size_t dn_g711_alaw_decode(const uint8_t *in, size_t n, int16_t *out);

/* ---- in-band DTMF ---- */

#define DN_DTMF_MAX_DIGITS 64 /* digits kept; later ones are dropped until dn_dtmf_detector_reset */

typedef struct dn_dtmf_detector dn_dtmf_detector_t;

/* A detector (spandsp dtmf_rx with its default thresholds), or NULL when out of memory. */
dn_dtmf_detector_t *dn_dtmf_detector_new(void);
/* Feeds n samples of 8000 Hz audio. Returns the number of digits seen so far. */
size_t dn_dtmf_detector_feed(dn_dtmf_detector_t *d, const int16_t *samples, size_t n);
/* The digits seen so far ("0"-"9", "*", "#", "A"-"D"), NUL-terminated; valid until the next
 * feed, reset or destroy. */
const char *dn_dtmf_detector_digits(const dn_dtmf_detector_t *d);
/* Forgets the digits seen (the detector's tone state is kept). */
void dn_dtmf_detector_reset(dn_dtmf_detector_t *d);
void dn_dtmf_detector_destroy(dn_dtmf_detector_t *d);

/* ---- answering-machine detection ----
 *
 * Each frame is voiced when its level, 20 log10(RMS / 32768) dBFS, is at least speech_dbfs
 * (a sine of amplitude 8000 is -15 dBFS, line noise is below -50). The greeting starts
 * with min_speech_ms of voiced frames in a row and lasts to its last voiced frame; pauses
 * shorter than silence_after_ms inside it belong to it. Then:
 *   - greeting still going on after machine_speech_ms                       -> MACHINE
 *   - greeting of at most human_max_speech_ms, then silence_after_ms quiet   -> HUMAN
 *   - nothing decided after timeout_ms (no speech at all, or a greeting
 *     between human_max_speech_ms and machine_speech_ms)                     -> HUMAN
 * A decision is final: later frames do not change it (nor the elapsed and greeting times);
 * they only go on counting the quiet time, so a caller can wait for the end of a machine's
 * greeting (its beep) before it speaks. */
typedef enum { DN_AMD_UNKNOWN = 0, DN_AMD_HUMAN, DN_AMD_MACHINE } dn_amd_result_t;

typedef struct dn_amd_params {
    double speech_dbfs;      /* -40: voiced-frame threshold (speech on a phone line is ~-20 dBFS) */
    int frame_ms;            /* 20 */
    int min_speech_ms;       /* 60: voiced time in a row that starts the greeting (not a click) */
    int human_max_speech_ms; /* 1800: a greeting at most this long followed by silence is a human */
    int silence_after_ms;    /* 800: the silence that ends the greeting */
    int machine_speech_ms;   /* 2500: a greeting this long is a machine */
    int timeout_ms;          /* 5000: undecided by then: human */
} dn_amd_params_t;

/* Fills p with the defaults above. */
void dn_amd_params_default(dn_amd_params_t *p);

typedef struct dn_amd dn_amd_t;

/* A detector; params NULL: the defaults. NULL when out of memory or when a parameter is out
 * of range (frame_ms 5..100, the durations > 0, machine_speech_ms > human_max_speech_ms). */
dn_amd_t *dn_amd_new(const dn_amd_params_t *params);
/* Feeds n samples of the callee's 8000 Hz audio, in any chunking (whole frame_ms frames are
 * judged as they fill). Returns the decision so far. */
dn_amd_result_t dn_amd_feed(dn_amd_t *a, const int16_t *samples, size_t n);
dn_amd_result_t dn_amd_result(const dn_amd_t *a);
/* Why it was decided: "short_greeting", "long_greeting", "timeout", or "" while unknown. */
const char *dn_amd_reason(const dn_amd_t *a);
/* Milliseconds of audio judged so far, and the greeting's length (0 before it starts). */
int dn_amd_elapsed_ms(const dn_amd_t *a);
int dn_amd_greeting_ms(const dn_amd_t *a);
/* Milliseconds of silent frames in a row at the end of the audio fed so far (0 after a
 * voiced frame), counted before and after the decision. */
int dn_amd_quiet_ms(const dn_amd_t *a);
/* "unknown", "human", "machine". */
const char *dn_amd_result_name(dn_amd_result_t r);
void dn_amd_destroy(dn_amd_t *a);

#endif
