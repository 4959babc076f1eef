/* dn_voice_media: espeak-ng speech at 8 kHz and its cache, WAV round trips, G.711 against
 * spandsp's own codec, DTMF from spandsp's generator, answering-machine decisions on
 * synthetic and synthesized greetings (exact outcomes and decision times). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sndfile.h>
#include <spandsp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_voice_media.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/dn-voice-media.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char path[512];
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
                continue;
            snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static size_t count_files(const char *dir, const char *suffix)
{
    size_t n = 0, sl = strlen(suffix);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] != '.' && l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static double rms(const int16_t *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return n ? sqrt(sum / (double)n) : 0;
}

static dn_pcm_t render(const dn_tts_t *cfg, const char *text, const char *locale, int want_rc)
{
    char err[512] = "";
    dn_pcm_t pcm = {0};
    int rc = dn_tts_render(cfg, text, locale, &pcm, err, sizeof(err));
    if (rc < 0)
        fail_msg("tts failed: %s", err);
    assert_int_equal(rc, want_rc);
    assert_int_equal(pcm.rate, DN_PCM_RATE);
    assert_non_null(pcm.samples);
    return pcm;
}

static void test_pcm_seconds(void **state)
{
    (void)state;
    int16_t s[4000] = {0};
    dn_pcm_t pcm = {.samples = s, .n = 4000, .rate = 8000};
    assert_true(fabs(dn_pcm_seconds(&pcm) - 0.5) < 1e-12);
    pcm.rate = 0;
    assert_true(dn_pcm_seconds(&pcm) == 0.0);
    assert_true(dn_pcm_seconds(NULL) == 0.0);
    dn_pcm_free(NULL);
    dn_pcm_t owned = {.samples = malloc(8), .n = 4, .rate = 8000};
    dn_pcm_free(&owned);
    assert_null(owned.samples);
    assert_int_equal(owned.n, 0);
    dn_pcm_free(&owned); /* twice: nothing */
}

static void test_tts_voice(void **state)
{
    (void)state;
    assert_string_equal(dn_tts_voice("en"), "en");
    assert_string_equal(dn_tts_voice("en-GB"), "en");
    assert_string_equal(dn_tts_voice("de"), "de");
    assert_string_equal(dn_tts_voice("de-DE"), "de");
    assert_string_equal(dn_tts_voice("de_AT"), "de");
    assert_string_equal(dn_tts_voice("dev"), "en");
    assert_string_equal(dn_tts_voice("fr-FR"), "en");
    assert_string_equal(dn_tts_voice(NULL), "en");
}

static void test_tts_en_and_cache(void **state)
{
    (void)state;
    dn_tts_t cfg = {.cache_dir = tmpdir};
    const char *text = "Hello, this is a test.";
    dn_pcm_t a = render(&cfg, text, "en", 0);
    double secs = dn_pcm_seconds(&a);
    assert_true(secs >= 0.8 && secs <= 4.0);
    assert_true(rms(a.samples, a.n) > 500.0);
    assert_int_equal(count_files(tmpdir, ".wav"), 1);
    assert_int_equal(count_files(tmpdir, ".tmp"), 0);

    dn_pcm_t b = render(&cfg, text, "en-US", 1); /* same voice: a cache hit */
    assert_int_equal(b.n, a.n);
    assert_memory_equal(b.samples, a.samples, a.n * sizeof(*a.samples));
    dn_pcm_free(&b);

    /* another speed is another entry, and slower speech is longer */
    dn_tts_t slow = {.cache_dir = tmpdir, .speed_wpm = 100};
    dn_pcm_t c = render(&slow, text, "en", 0);
    assert_true(c.n > a.n);
    assert_int_equal(count_files(tmpdir, ".wav"), 2);
    dn_pcm_free(&c);

    /* without a cache: synthesized each time. espeak-ng carries state from one synthesis to
     * the next, so the audio is alike, not bit-identical (one reason for the cache). */
    dn_pcm_t d = render(NULL, text, "en", 0);
    assert_true(labs((long)d.n - (long)a.n) < (long)a.n / 20);
    dn_pcm_free(&d);
    dn_pcm_free(&a);
}

static void test_tts_de(void **state)
{
    (void)state;
    dn_tts_t cfg = {.cache_dir = tmpdir};
    const char *text = "Guten Tag, dies ist eine freundliche Zahlungserinnerung.";
    dn_pcm_t de = render(&cfg, text, "de-DE", 0);
    double secs = dn_pcm_seconds(&de);
    assert_true(secs >= 1.5 && secs <= 8.0);
    assert_true(rms(de.samples, de.n) > 500.0);
    dn_pcm_t en = render(&cfg, text, "en", 0); /* another voice: not the German entry */
    assert_true(en.n != de.n || memcmp(en.samples, de.samples, de.n * sizeof(*de.samples)) != 0);
    dn_pcm_t again = render(&cfg, text, "de", 1);
    assert_int_equal(again.n, de.n);
    dn_pcm_free(&again);
    dn_pcm_free(&en);
    dn_pcm_free(&de);
}

static void test_tts_errors(void **state)
{
    (void)state;
    char err[256] = "";
    dn_pcm_t pcm = {0};
    assert_int_equal(dn_tts_render(NULL, "", "en", &pcm, err, sizeof(err)), -1);
    assert_string_equal(err, "tts: empty text");
    assert_null(pcm.samples);
    assert_int_equal(dn_tts_render(NULL, NULL, "en", &pcm, err, sizeof(err)), -1);

    /* a cache directory that does not exist: synthesized all the same, nothing stored */
    dn_tts_t cfg = {.cache_dir = "/nonexistent/dn-voice-media"};
    dn_pcm_t a = render(&cfg, "One.", "en", 0);
    dn_pcm_t b = render(&cfg, "One.", "en", 0);
    dn_pcm_free(&a);
    dn_pcm_free(&b);

    /* a broken cache entry is replaced */
    dn_tts_t ok = {.cache_dir = tmpdir};
    dn_pcm_t c = render(&ok, "Two.", "en", 0);
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    int broke = 0;
    dn_pcm_t probe;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
        memset(&probe, 0, sizeof(probe));
        if (dn_wav_read(path, &probe, err, sizeof(err)) == 0 && probe.n == c.n &&
            memcmp(probe.samples, c.samples, c.n * sizeof(*c.samples)) == 0) {
            FILE *f = fopen(path, "w");
            fputs("not a wav file", f);
            fclose(f);
            broke = 1;
        }
        dn_pcm_free(&probe);
    }
    closedir(d);
    assert_true(broke);
    dn_pcm_t r = render(&ok, "Two.", "en", 0); /* synthesized again */
    assert_true(labs((long)r.n - (long)c.n) < (long)c.n / 20);
    dn_pcm_free(&r);
    r = render(&ok, "Two.", "en", 1); /* and stored again */
    dn_pcm_free(&r);
    dn_pcm_free(&c);
}

static void *render_thread(void *arg)
{
    const char *text = arg;
    char err[256];
    static const dn_tts_t cfg = {0};
    long ok = 0;
    for (int i = 0; i < 3; i++) {
        dn_pcm_t pcm = {0};
        if (dn_tts_render(&cfg, text, i % 2 ? "de" : "en", &pcm, err, sizeof(err)) == 0 && pcm.n > 4000 &&
            pcm.rate == DN_PCM_RATE)
            ok++;
        dn_pcm_free(&pcm);
    }
    return (void *)ok;
}

/* espeak-ng is not thread-safe: dn_tts_render serializes it */
static void test_tts_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    const char *texts[] = {"First caller.", "Second caller.", "Third caller.", "Fourth caller."};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, render_thread, (void *)texts[i]), 0);
    for (int i = 0; i < 4; i++) {
        void *ok;
        assert_int_equal(pthread_join(t[i], &ok), 0);
        assert_int_equal((long)ok, 3);
    }
}

static void test_wav_round_trip(void **state)
{
    (void)state;
    char path[128], err[512];
    snprintf(path, sizeof(path), "%s/round.wav", tmpdir);
    size_t n = 12345;
    int16_t *s = malloc(n * sizeof(*s));
    srand(7);
    for (size_t i = 0; i < n; i++)
        s[i] = (int16_t)(i < 3 ? (i == 0 ? -32768 : i == 1 ? 32767 : 0) : (rand() % 65536) - 32768);
    dn_pcm_t pcm = {.samples = s, .n = n, .rate = 8000};
    assert_int_equal(dn_wav_write(path, &pcm, err, sizeof(err)), 0);
    dn_pcm_t back = {0};
    assert_int_equal(dn_wav_read(path, &back, err, sizeof(err)), 0);
    assert_int_equal(back.rate, 8000);
    assert_int_equal(back.n, n);
    assert_memory_equal(back.samples, s, n * sizeof(*s));
    dn_pcm_free(&back);

    /* 44 bytes of header and the samples: a plain PCM WAV */
    FILE *f = fopen(path, "rb");
    unsigned char hdr[44];
    assert_int_equal(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_memory_equal(hdr, "RIFF", 4);
    assert_memory_equal(hdr + 8, "WAVEfmt ", 8);
    assert_int_equal(hdr[22], 1);                   /* channels */
    assert_int_equal(hdr[24] | hdr[25] << 8, 8000); /* rate */
    assert_int_equal(hdr[34], 16);                  /* bits */
    assert_int_equal(size, 44 + (long)(n * 2));

    /* empty audio round-trips too */
    dn_pcm_t empty = {.samples = NULL, .n = 0, .rate = 8000};
    assert_int_equal(dn_wav_write(path, &empty, err, sizeof(err)), 0);
    assert_int_equal(dn_wav_read(path, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 0);
    dn_pcm_free(&back);
    free(s);
}

static void test_wav_errors(void **state)
{
    (void)state;
    char path[128], err[512] = "";
    dn_pcm_t out = {0};
    assert_int_equal(dn_wav_read("/nonexistent/x.wav", &out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/x.wav"));
    assert_null(out.samples);
    int16_t s[2] = {1, 2};
    dn_pcm_t pcm = {.samples = s, .n = 2, .rate = 8000};
    assert_int_equal(dn_wav_write("/nonexistent/x.wav", &pcm, err, sizeof(err)), -1);

    /* a stereo file is refused */
    snprintf(path, sizeof(path), "%s/stereo.wav", tmpdir);
    SF_INFO info = {.samplerate = 8000, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    short frames[8] = {0};
    sf_write_short(sf, frames, 8);
    sf_close(sf);
    assert_int_equal(dn_wav_read(path, &out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "2 channels"));
    assert_null(out.samples);
}

static void test_g711(void **state)
{
    (void)state;
    enum { N = 65536 };
    int16_t *in = malloc(N * sizeof(*in)), *dec = malloc(N * sizeof(*dec)), *ref_dec = malloc(N * sizeof(*dec));
    uint8_t *enc = malloc(N), *ref = malloc(N);
    for (int i = 0; i < N; i++)
        in[i] = (int16_t)(i - 32768);
    for (int law = 0; law < 2; law++) {
        g711_state_t *g = g711_init(NULL, law == 0 ? G711_ULAW : G711_ALAW);
        assert_int_equal(law == 0 ? dn_g711_ulaw_encode(in, N, enc) : dn_g711_alaw_encode(in, N, enc), N);
        assert_int_equal(g711_encode(g, ref, in, N), N);
        assert_memory_equal(enc, ref, N);
        assert_int_equal(law == 0 ? dn_g711_ulaw_decode(enc, N, dec) : dn_g711_alaw_decode(enc, N, dec), N);
        assert_int_equal(g711_decode(g, ref_dec, ref, N), N);
        assert_memory_equal(dec, ref_dec, N * sizeof(*dec));
        for (int i = 0; i < N; i++) {
            int x = in[i], e = abs(x - dec[i]);
            /* the codec's clipping: u-law's top is 32124, A-law's 32256 */
            int limit = law == 0 ? 32124 : 32256;
            int xc = x > limit ? limit : x < -limit ? -limit : x;
            if (abs(xc - dec[i]) > abs(xc) / 16 + 16)
                fail_msg("%s: %d -> %d (error %d)", law == 0 ? "ulaw" : "alaw", x, dec[i], e);
        }
        /* every code decodes to a value that encodes back to the same code */
        for (int c = 0; c < 256; c++) {
            uint8_t code = (uint8_t)c, again;
            int16_t v;
            if (law == 0) {
                dn_g711_ulaw_decode(&code, 1, &v);
                dn_g711_ulaw_encode(&v, 1, &again);
                if (c != 0x7F) /* u-law's negative zero is coded as positive zero */
                    assert_int_equal(again, code);
            } else {
                dn_g711_alaw_decode(&code, 1, &v);
                dn_g711_alaw_encode(&v, 1, &again);
                assert_int_equal(again, code);
            }
        }
        g711_free(g);
    }
    int16_t zero = 0;
    uint8_t z;
    dn_g711_ulaw_encode(&zero, 1, &z);
    assert_int_equal(z, 0xFF);
    dn_g711_alaw_encode(&zero, 1, &z);
    assert_int_equal(z, 0xD5);
    free(in);
    free(dec);
    free(ref_dec);
    free(enc);
    free(ref);
}

/* spandsp's generator: digits, then silence */
static size_t dtmf_generate(const char *digits, int16_t *buf, size_t cap)
{
    dtmf_tx_state_t *tx = dtmf_tx_init(NULL);
    assert_non_null(tx);
    assert_int_equal(dtmf_tx_put(tx, digits, -1), 0);
    size_t n = 0;
    int got;
    while (n + 160 <= cap && (got = dtmf_tx(tx, buf + n, 160)) > 0)
        n += (size_t)got;
    dtmf_tx_free(tx);
    memset(buf + n, 0, 1600 * sizeof(*buf)); /* 200 ms of silence */
    return n + 1600;
}

static void test_dtmf(void **state)
{
    (void)state;
    static int16_t buf[8000 * 10];
    size_t n = dtmf_generate("123#", buf, 8000 * 8);
    dn_dtmf_detector_t *d = dn_dtmf_detector_new();
    assert_non_null(d);
    assert_string_equal(dn_dtmf_detector_digits(d), "");
    /* in 20 ms packets, as RTP brings them */
    for (size_t off = 0; off < n; off += 160)
        dn_dtmf_detector_feed(d, buf + off, n - off < 160 ? n - off : 160);
    assert_string_equal(dn_dtmf_detector_digits(d), "123#");

    dn_dtmf_detector_reset(d);
    assert_string_equal(dn_dtmf_detector_digits(d), "");
    n = dtmf_generate("0*9D", buf, 8000 * 8);
    assert_int_equal(dn_dtmf_detector_feed(d, buf, n), 4); /* in one piece */
    assert_string_equal(dn_dtmf_detector_digits(d), "0*9D");

    /* speech is not a digit */
    dn_dtmf_detector_reset(d);
    dn_tts_t cfg = {.cache_dir = tmpdir};
    dn_pcm_t speech = render(&cfg, "Hello, this is a test.", "en", 1);
    assert_int_equal(dn_dtmf_detector_feed(d, speech.samples, speech.n), 0);
    dn_pcm_free(&speech);
    dn_dtmf_detector_destroy(d);
    dn_dtmf_detector_destroy(NULL);
}

/* ---- answering-machine detection ---- */

static size_t add_tone(int16_t *buf, size_t at, int ms, double hz, double amp)
{
    size_t n = (size_t)ms * 8;
    for (size_t i = 0; i < n; i++)
        buf[at + i] = (int16_t)lrint(amp * sin(2 * M_PI * hz * (double)(at + i) / 8000.0));
    return at + n;
}

static size_t add_silence(int16_t *buf, size_t at, int ms)
{
    size_t n = (size_t)ms * 8;
    memset(buf + at, 0, n * sizeof(*buf));
    return at + n;
}

/* Feeds in pieces of `chunk` samples until decided; returns the decision, *at_ms its time. */
static dn_amd_result_t amd_run(const dn_amd_params_t *p, const int16_t *buf, size_t n, size_t chunk, int *at_ms,
                               const char **reason)
{
    dn_amd_t *a = dn_amd_new(p);
    assert_non_null(a);
    dn_amd_result_t r = DN_AMD_UNKNOWN;
    for (size_t off = 0; off < n && r == DN_AMD_UNKNOWN; off += chunk)
        r = dn_amd_feed(a, buf + off, n - off < chunk ? n - off : chunk);
    assert_int_equal(r, dn_amd_result(a));
    *at_ms = dn_amd_elapsed_ms(a);
    *reason = dn_amd_reason(a);
    dn_amd_destroy(a);
    return r;
}

static void test_amd_synthetic(void **state)
{
    (void)state;
    static int16_t buf[8000 * 8];
    int at;
    const char *why;
    size_t n;

    /* "Hello?": 0.8 s of speech-level tone, then 1 s of silence: human when 0.8 s quiet */
    n = add_silence(buf, add_tone(buf, 0, 800, 300, 8000), 1000);
    assert_int_equal(amd_run(NULL, buf, n, 160, &at, &why), DN_AMD_HUMAN);
    assert_int_equal(at, 1600);
    assert_string_equal(why, "short_greeting");
    assert_int_equal(amd_run(NULL, buf, n, 37, &at, &why), DN_AMD_HUMAN); /* any chunking */
    assert_int_equal(at, 1600);

    /* after a little ring-back silence, 1.8 s of greeting: still human */
    n = add_silence(buf, add_tone(buf, add_silence(buf, 0, 400), 1800, 300, 8000), 1000);
    assert_int_equal(amd_run(NULL, buf, n, 160, &at, &why), DN_AMD_HUMAN);
    assert_int_equal(at, 400 + 1800 + 800);

    /* 3 s continuous: a machine, decided at 2.5 s */
    n = add_tone(buf, 0, 3000, 300, 8000);
    assert_int_equal(amd_run(NULL, buf, n, 160, &at, &why), DN_AMD_MACHINE);
    assert_int_equal(at, 2500);
    assert_string_equal(why, "long_greeting");

    /* words with 300 ms pauses are one greeting: a machine */
    n = 0;
    for (int w = 0; w < 6; w++)
        n = add_silence(buf, add_tone(buf, n, 500, 220 + 40 * w, 6000), 300);
    assert_int_equal(amd_run(NULL, buf, n, 160, &at, &why), DN_AMD_MACHINE);
    assert_int_equal(at, 2500); /* 100 ms into the 4th word (2400-2900 ms) */

    /* silence only: unknown until the timeout, then human */
    n = add_silence(buf, 0, 6000);
    dn_amd_t *a = dn_amd_new(NULL);
    assert_int_equal(dn_amd_feed(a, buf, 4980 * 8), DN_AMD_UNKNOWN);
    assert_string_equal(dn_amd_reason(a), "");
    assert_int_equal(dn_amd_feed(a, buf, 20 * 8), DN_AMD_HUMAN);
    assert_string_equal(dn_amd_reason(a), "timeout");
    assert_int_equal(dn_amd_greeting_ms(a), 0);
    /* final: speech afterwards changes nothing */
    n = add_tone(buf, 0, 3000, 300, 8000);
    assert_int_equal(dn_amd_feed(a, buf, n), DN_AMD_HUMAN);
    dn_amd_destroy(a);

    /* line noise at -55 dBFS is silence */
    srand(3);
    for (size_t i = 0; i < 6000 * 8; i++)
        buf[i] = (int16_t)((rand() % 101) - 50); /* rms ~29: -61 dBFS */
    add_tone(buf, 8000, 3000, 300, 80);          /* a hum of rms 57: -55 dBFS */
    assert_int_equal(amd_run(NULL, buf, 6000 * 8, 160, &at, &why), DN_AMD_HUMAN);
    assert_string_equal(why, "timeout");

    /* a click (40 ms) is not a greeting; a 2 s greeting then silence is left to the timeout */
    n = add_silence(buf, add_tone(buf, 0, 40, 1000, 20000), 500);
    n = add_silence(buf, add_tone(buf, n, 2000, 300, 8000), 4000);
    a = dn_amd_new(NULL);
    assert_int_equal(dn_amd_feed(a, buf, (540 + 2000 + 800) * 8), DN_AMD_UNKNOWN);
    assert_int_equal(dn_amd_greeting_ms(a), 2000);
    assert_int_equal(dn_amd_feed(a, buf + (540 + 2000 + 800) * 8, n - (540 + 2000 + 800) * 8), DN_AMD_HUMAN);
    assert_int_equal(dn_amd_elapsed_ms(a), 5000);
    assert_string_equal(dn_amd_reason(a), "timeout");
    dn_amd_destroy(a);

    /* after a machine is decided the quiet time goes on: 3 s greeting, a 400 ms beep, 1.2 s
     * of silence; elapsed and greeting stay where the decision was */
    n = add_silence(buf, add_tone(buf, add_tone(buf, 0, 3000, 300, 8000), 400, 1000, 12000), 1200);
    a = dn_amd_new(NULL);
    assert_int_equal(dn_amd_feed(a, buf, 3000 * 8), DN_AMD_MACHINE);
    assert_int_equal(dn_amd_quiet_ms(a), 0);
    assert_int_equal(dn_amd_feed(a, buf + 3000 * 8, (400 + 600) * 8), DN_AMD_MACHINE);
    assert_int_equal(dn_amd_quiet_ms(a), 600);
    assert_int_equal(dn_amd_feed(a, buf + 4000 * 8, n - 4000 * 8), DN_AMD_MACHINE);
    assert_int_equal(dn_amd_quiet_ms(a), 1200);
    assert_int_equal(dn_amd_elapsed_ms(a), 2500);
    assert_int_equal(dn_amd_greeting_ms(a), 2500);
    dn_amd_destroy(a);

    /* the parameters are the caller's */
    dn_amd_params_t p;
    dn_amd_params_default(&p);
    assert_int_equal(p.frame_ms, 20);
    assert_int_equal(p.human_max_speech_ms, 1800);
    assert_int_equal(p.silence_after_ms, 800);
    assert_int_equal(p.machine_speech_ms, 2500);
    assert_int_equal(p.timeout_ms, 5000);
    p.machine_speech_ms = 1000; /* 0.8 s then silence ... */
    p.human_max_speech_ms = 500;
    n = add_silence(buf, add_tone(buf, 0, 800, 300, 8000), 5000);
    assert_int_equal(amd_run(&p, buf, n, 160, &at, &why), DN_AMD_HUMAN); /* ... left to the timeout */
    assert_string_equal(why, "timeout");
    p.machine_speech_ms = 400;
    assert_null(dn_amd_new(&p)); /* machine_speech_ms <= human_max_speech_ms */
    dn_amd_params_default(&p);
    p.frame_ms = 200;
    assert_null(dn_amd_new(&p));
    dn_amd_destroy(NULL);
    assert_string_equal(dn_amd_result_name(DN_AMD_HUMAN), "human");
    assert_string_equal(dn_amd_result_name(DN_AMD_MACHINE), "machine");
    assert_string_equal(dn_amd_result_name(DN_AMD_UNKNOWN), "unknown");
}

/* espeak-ng's speech as the callee: "Hello?" is a human, a voicemail greeting a machine */
static void test_amd_speech(void **state)
{
    (void)state;
    dn_tts_t cfg = {.cache_dir = tmpdir};
    int at;
    const char *why;
    static int16_t buf[8000 * 20];

    dn_pcm_t hello = render(&cfg, "Hello?", "en", 0);
    assert_true(hello.n + 8000 * 2 < sizeof(buf) / sizeof(buf[0]));
    memcpy(buf, hello.samples, hello.n * sizeof(*buf));
    size_t n = add_silence(buf, hello.n, 2000);
    assert_int_equal(amd_run(NULL, buf, n, 160, &at, &why), DN_AMD_HUMAN);
    assert_string_equal(why, "short_greeting");
    dn_pcm_free(&hello);

    dn_pcm_t vm = render(&cfg,
                         "Hi, you have reached the voicemail of Jane Miller. I can't take your call right now, "
                         "please leave a message after the tone.",
                         "en", 0);
    assert_true(vm.n < sizeof(buf) / sizeof(buf[0]));
    assert_int_equal(amd_run(NULL, vm.samples, vm.n, 160, &at, &why), DN_AMD_MACHINE);
    assert_string_equal(why, "long_greeting");
    assert_true(at >= 2500 && at <= 3000);
    dn_pcm_free(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcm_seconds),
        cmocka_unit_test(test_tts_voice),
        cmocka_unit_test(test_tts_en_and_cache),
        cmocka_unit_test(test_tts_de),
        cmocka_unit_test(test_tts_errors),
        cmocka_unit_test(test_tts_threads),
        cmocka_unit_test(test_wav_round_trip),
        cmocka_unit_test(test_wav_errors),
        cmocka_unit_test(test_g711),
        cmocka_unit_test(test_dtmf),
        cmocka_unit_test(test_amd_synthetic),
        cmocka_unit_test(test_amd_speech),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
