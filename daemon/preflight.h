/*
 * preflight.h -- `poolgate -t`: what a start would find wrong beyond the
 * file's syntax and values (config_load): certificates and keys that do not
 * load or match, a token file that cannot be read or that others may read,
 * a hook command that is missing or not executable by the user poolgate
 * becomes, a user that does not exist, a state_dir that user could not
 * write. Reads files, changes nothing.
 */
#ifndef POOLGATE_PREFLIGHT_H
#define POOLGATE_PREFLIGHT_H

#include <stdio.h>

#include "config/config.h"

/*
 * Check cfg (loaded from cfg->path) as a start would and write one line per
 * problem to out: "FILE:LINE: setting: what is wrong" (the line of the
 * setting in the file; "FILE: setting: ..." when it cannot be found).
 * Returns the number of problems (0: a start would get past all of them).
 */
size_t pf_check(const struct pg_config *cfg, FILE *out);

#endif
