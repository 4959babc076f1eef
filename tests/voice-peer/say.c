/* dn-voice-say: the voice test peer's greetings, spoken with the project's own speech path
 * (dn_tts_render: espeak-ng, 8000 Hz).
 *
 *   dn-voice-say [--locale L] [--speed WPM] [--lead MS] [--beep MS] OUT TEXT
 *
 * writes TEXT as OUT: raw G.711 u-law (what the peer's RTP sink streams) when OUT ends in
 * .ulaw, else a 16-bit WAV. --lead puts MS of silence before the speech (a phone picked up
 * and brought to the ear); --beep adds MS of a 1 kHz tone after it (an answering machine's
 * "record after the tone"). scripts/stack makes the peer's greetings with it. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_voice_media.h"

static void usage(void)
{
    fprintf(stderr, "usage: dn-voice-say [--locale L] [--speed WPM] [--lead MS] [--beep MS] OUT TEXT\n");
}

int main(int argc, char **argv)
{
    const char *locale = "en";
    int speed = 0, lead_ms = 0, beep_ms = 0;
    static const struct option opts[] = {{"locale", required_argument, NULL, 'l'},
                                         {"speed", required_argument, NULL, 's'},
                                         {"lead", required_argument, NULL, 'L'},
                                         {"beep", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            locale = optarg;
            break;
        case 's':
            speed = atoi(optarg);
            break;
        case 'L':
            lead_ms = atoi(optarg);
            break;
        case 'b':
            beep_ms = atoi(optarg);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (argc - optind != 2 || lead_ms < 0 || lead_ms > 10000 || beep_ms < 0 || beep_ms > 5000) {
        usage();
        return 2;
    }
    const char *out = argv[optind], *text = argv[optind + 1];
    char err[512];
    dn_tts_t tts = {.speed_wpm = speed};
    dn_pcm_t speech = {0};
    if (dn_tts_render(&tts, text, locale, &speech, err, sizeof(err)) < 0) {
        fprintf(stderr, "dn-voice-say: %s\n", err);
        return 1;
    }
    size_t lead = (size_t)lead_ms * 8, beep = (size_t)beep_ms * 8, n = lead + speech.n + beep;
    dn_pcm_t pcm = {.samples = calloc(n ? n : 1, sizeof(int16_t)), .n = n, .rate = DN_PCM_RATE};
    if (!pcm.samples) {
        fprintf(stderr, "dn-voice-say: out of memory\n");
        return 1;
    }
    memcpy(pcm.samples + lead, speech.samples, speech.n * sizeof(int16_t));
    for (size_t i = 0; i < beep; i++)
        pcm.samples[lead + speech.n + i] = (int16_t)lrint(12000.0 * sin(2 * M_PI * 1000.0 * (double)i / 8000.0));
    dn_pcm_free(&speech);
    int rc = 0;
    size_t len = strlen(out);
    if (len > 5 && !strcmp(out + len - 5, ".ulaw")) {
        unsigned char *u = malloc(n ? n : 1);
        FILE *f = u ? fopen(out, "wb") : NULL;
        int ok = f != NULL;
        if (ok) {
            dn_g711_ulaw_encode(pcm.samples, n, u);
            ok = fwrite(u, 1, n, f) == n;
            ok = fclose(f) == 0 && ok;
        }
        if (!ok) {
            fprintf(stderr, "dn-voice-say: cannot write %s\n", out);
            rc = 1;
        }
        free(u);
    } else if (dn_wav_write(out, &pcm, err, sizeof(err)) < 0) {
        fprintf(stderr, "dn-voice-say: %s\n", err);
        rc = 1;
    }
    dn_pcm_free(&pcm);
    return rc;
}
