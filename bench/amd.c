/* dn-bench-amd: the answering-machine detector's error rate on spoken greetings.
 *
 *   dn-bench-amd [--markdown]
 *
 * Speaks a corpus of greetings with the project's speech path (dn_tts_render, espeak-ng,
 * 8000 Hz): what people say when they pick up (from "Hello?" to "Anna Example speaking,
 * who is calling, please?") and answering-machine announcements, in English and German,
 * each at three speech rates, after three lead-in silences and with three levels of line
 * noise, then a machine's beep or a person's silence. Every variant goes through dn_amd
 * with the defaults sender-voice uses, in 20 ms frames as RTP delivers them. Prints, per
 * greeting, how often it was taken for a person and the median time to the decision, then
 * the confusion matrix and the two error rates: people taken for machines (they hear the
 * short voicemail instead of their reminder) and machines taken for people (the full
 * reminder, amounts included, goes onto a recording). The two greetings of the stack's SIP
 * peer (scripts/stack) are in the corpus as "peer". One JSON line on stdout at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_voice_media.h"

typedef struct greeting {
    const char *who; /* "person" or "machine" */
    const char *locale;
    const char *text;
    const char *tag; /* "peer" for the stack's two */
} greeting_t;

static const greeting_t CORPUS[] = {
    {"person", "en", "Hello?", "peer"},
    {"person", "en", "Yes?", NULL},
    {"person", "en", "Hello, Anna speaking.", NULL},
    {"person", "en", "Good morning, Smith residence.", NULL},
    {"person", "en", "Hi, who is this?", NULL},
    {"person", "en", "Anna Example speaking, who is calling, please?", NULL},
    {"person", "de", "Hallo?", NULL},
    {"person", "de", "Ja, bitte?", NULL},
    {"person", "de", "Müller.", NULL},
    {"person", "de", "Guten Tag, Müller am Apparat.", NULL},
    {"person", "de", "Hallo, hier ist Anna Beispiel, wer ist da bitte?", NULL},
    {"machine", "en",
     "Hello, you have reached the voicemail of Anna Example. I cannot take your call right now. Please leave a "
     "message after the tone.",
     "peer"},
    {"machine", "en", "The person you are calling is not available. Please leave a message after the tone.", NULL},
    {"machine", "en", "Hi, this is Anna. Leave a message.", NULL},
    {"machine", "en", "You have reached 0 3 0, 1 2 3 4 5 6 7. Please leave your name and number after the beep.", NULL},
    {"machine", "en", "Thank you for calling Example Limited. Our office is closed. Please call again on Monday.",
     NULL},
    {"machine", "de",
     "Hallo, Sie sind verbunden mit der Mailbox von Anna Beispiel. Bitte hinterlassen Sie eine Nachricht nach dem "
     "Signalton.",
     NULL},
    {"machine", "de", "Der Teilnehmer ist zur Zeit nicht erreichbar. Bitte sprechen Sie nach dem Signalton.", NULL},
    {"machine", "de", "Hier ist Anna, sprich nach dem Piep.", NULL},
};
#define N_CORPUS (sizeof(CORPUS) / sizeof(CORPUS[0]))

static const int SPEEDS[] = {130, 160, 200};        /* words per minute */
static const int LEADS_MS[] = {0, 300, 800};        /* silence before the greeting */
static const double NOISE_DBFS[] = {-90, -55, -45}; /* white noise under it */
#define VARIANTS 27

/* A random sample of white noise at rms `dbfs` (Box-Muller on a fixed generator). */
static double noise(double dbfs, unsigned *seed)
{
    double u1 = (rand_r(seed) + 1.0) / ((double)RAND_MAX + 2.0), u2 = (rand_r(seed) + 1.0) / ((double)RAND_MAX + 2.0);
    return 32768.0 * pow(10.0, dbfs / 20.0) * sqrt(-2.0 * log(u1)) * cos(2 * M_PI * u2);
}

/* Lead, the speech, then a machine's 500 ms beep and 3 s of line, or a person's 6 s of
 * silence; noise over all of it. */
static int16_t *build(const dn_pcm_t *speech, int machine, int lead_ms, double dbfs, unsigned seed, size_t *n)
{
    size_t lead = (size_t)lead_ms * 8, beep = machine ? 4000 : 0, tail = machine ? 24000 : 48000;
    *n = lead + speech->n + beep + tail;
    int16_t *b = calloc(*n, sizeof(int16_t));
    if (!b)
        return NULL;
    memcpy(b + lead, speech->samples, speech->n * sizeof(int16_t));
    for (size_t i = 0; i < beep; i++)
        b[lead + speech->n + i] = (int16_t)lrint(12000.0 * sin(2 * M_PI * 1000.0 * (double)i / 8000.0));
    for (size_t i = 0; i < *n; i++) {
        double v = b[i] + noise(dbfs, &seed);
        b[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    return b;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv)
{
    int md = argc > 1 && !strcmp(argv[1], "--markdown");
    int confusion[2][2] = {{0}}; /* [truth machine][said machine] */
    int undecided = 0;
    if (md) {
        printf("| greeting | lang | truth | speech s | taken for a person | median decision ms |\n");
        printf("|---|---|---|---|---|---|\n");
    }
    for (size_t g = 0; g < N_CORPUS; g++) {
        const greeting_t *gr = &CORPUS[g];
        int machine = !strcmp(gr->who, "machine"), as_person = 0, at[VARIANTS], k = 0;
        double speech_s = 0;
        for (size_t sp = 0; sp < 3; sp++) {
            dn_tts_t tts = {.speed_wpm = SPEEDS[sp]};
            dn_pcm_t speech = {0};
            char err[256];
            if (dn_tts_render(&tts, gr->text, gr->locale, &speech, err, sizeof(err)) < 0) {
                fprintf(stderr, "dn-bench-amd: %s\n", err);
                return 1;
            }
            if (sp == 1)
                speech_s = dn_pcm_seconds(&speech);
            for (size_t l = 0; l < 3; l++)
                for (size_t z = 0; z < 3; z++) {
                    size_t n;
                    int16_t *b = build(&speech, machine, LEADS_MS[l], NOISE_DBFS[z], (unsigned)(g * 100 + k), &n);
                    dn_amd_t *a = dn_amd_new(NULL);
                    if (!b || !a) {
                        fprintf(stderr, "dn-bench-amd: out of memory\n");
                        return 1;
                    }
                    dn_amd_result_t r = DN_AMD_UNKNOWN;
                    for (size_t off = 0; off < n && r == DN_AMD_UNKNOWN; off += 160)
                        r = dn_amd_feed(a, b + off, n - off < 160 ? n - off : 160);
                    if (r == DN_AMD_UNKNOWN)
                        undecided++;
                    int said_machine = r == DN_AMD_MACHINE;
                    confusion[machine][said_machine]++;
                    as_person += !said_machine;
                    at[k++] = dn_amd_elapsed_ms(a);
                    dn_amd_destroy(a);
                    free(b);
                }
            dn_pcm_free(&speech);
        }
        qsort(at, VARIANTS, sizeof(int), cmp_int);
        if (md)
            printf("| %s%s | %s | %s | %.1f | %d/%d | %d |\n", gr->text, gr->tag ? " (peer)" : "", gr->locale, gr->who,
                   speech_s, as_person, VARIANTS, at[VARIANTS / 2]);
        else
            fprintf(stderr, "%-8s %s %4.1fs person %2d/%d  median %5d ms  %s\n", gr->who, gr->locale, speech_s,
                    as_person, VARIANTS, at[VARIANTS / 2], gr->text);
    }
    int people = confusion[0][0] + confusion[0][1], machines = confusion[1][0] + confusion[1][1];
    double p_as_m = (double)confusion[0][1] / people, m_as_p = (double)confusion[1][0] / machines;
    if (md)
        printf("\nPeople taken for machines: %d of %d (%.1f%%); machines taken for people: %d of %d (%.1f%%).\n",
               confusion[0][1], people, 100 * p_as_m, confusion[1][0], machines, 100 * m_as_p);
    printf("{\"people\":%d,\"people_as_machine\":%d,\"machines\":%d,\"machines_as_person\":%d,"
           "\"person_error\":%.4f,\"machine_error\":%.4f,\"undecided\":%d}\n",
           people, confusion[0][1], machines, confusion[1][0], p_as_m, m_as_p, undecided);
    return 0;
}
