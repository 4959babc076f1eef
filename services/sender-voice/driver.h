/* sender-voice: the voice channel's driver of the sender core (common/dn_sender.h): the
 * reminder's voice template spoken (espeak-ng), played in a SIP call to the customer's
 * number, the menu key taken (RFC 4733 or in-band), never outside calling hours. */
#ifndef SENDER_VOICE_DRIVER_H
#define SENDER_VOICE_DRIVER_H

#include <stdint.h>

#include "dn_sender.h"

typedef struct voice_cfg {
    char *proxy;
    char *caller;
    char *user;
    char *password;
    char *audio_dir;
    int64_t ring_timeout_ms;
    int64_t key_timeout_ms;
    char *calling_hours;
    char *policy_file;
    int64_t options_interval_ms;
    int amd;
} voice_cfg_t;

extern const dn_sender_driver_t voice_driver;

#endif
