/* dunningctl internals: one file per group of subcommands. */
#ifndef DN_CTL_H
#define DN_CTL_H

#include "dn_config.h"

typedef struct ctl_cfg {
    dn_common_cfg_t common;
} ctl_cfg_t;

/* Each returns the process exit status: 0 ok, 1 failure, 2 usage. */
int ctl_publish(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_encode(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_consume(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_case_show(ctl_cfg_t *cfg, int argc, char **argv);

#endif
