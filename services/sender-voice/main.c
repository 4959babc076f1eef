/* sender-voice: turns ReminderDue records of reminder-due.voice into phone calls over SIP
 * (libre) that play the reminder as speech and take the customer's key, and publishes a
 * ReminderOutcome with the call's record for each through the outbox. A driver of the
 * sender core (common/dn_sender.h; docs/voice.md): driver.c is the channel, call.c one call. */
#include "driver.h"

int main(int argc, char **argv)
{
    return dn_sender_main(&voice_driver, argc, argv);
}
