/* sender-sms: turns ReminderDue records of reminder-due.sms into text messages sent through
 * the Kannel SMS gateway's HTTP sendsms interface, and publishes a ReminderOutcome for each
 * through the outbox. A driver of the sender core (common/dn_sender.h; docs/sms.md):
 * driver.c is the channel, sms.c measures texts and quiet hours, kannel.c the gateway,
 * texts.c the SMS templates. */
#include "driver.h"

int main(int argc, char **argv)
{
    return dn_sender_main(&sms_driver, argc, argv);
}
