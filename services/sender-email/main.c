/* sender-email: delivers ReminderDue records of reminder-due.email over SMTP and publishes a
 * ReminderOutcome for each through the outbox. A driver of the sender core
 * (common/dn_sender.h; docs/senders.md): driver.c is the channel, mail.c MIME and SMTP,
 * templates.c the e-mail templates. */
#include "driver.h"

int main(int argc, char **argv)
{
    return dn_sender_main(&email_driver, argc, argv);
}
