/* dn_signal: SIGTERM/SIGINT handling for service loops.
 * The handler only sets a flag; the loop checks dn_signal_stopping() and shuts down
 * in order. A second signal exits at once (status 130). */
#ifndef DN_SIGNAL_H
#define DN_SIGNAL_H

void dn_signal_install(void);
int dn_signal_stopping(void);

#endif
