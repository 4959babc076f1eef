/* sender-letter: turns ReminderDue records of reminder-due.letter into print-ready PDF
 * letters in a spool folder (the hand-off to a print-and-mail house) and publishes a
 * ReminderOutcome for each through the outbox. A driver of the sender core
 * (common/dn_sender.h; docs/letters.md): driver.c is the channel, pdf.c the layout,
 * address.c the window address, spool.c the folder, texts.c the letter templates. */
#include "driver.h"

int main(int argc, char **argv)
{
    return dn_sender_main(&letter_driver, argc, argv);
}
