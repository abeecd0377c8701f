/*
 * text.h -- small text rules shared by every layer.
 */
#ifndef POOLGATE_TEXT_H
#define POOLGATE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The one rule for names of VMs and services, wherever a name is accepted
 * (configuration, admin API, status page, discovery, state files,
 * poolgatectl): 1 to max bytes of A-Z a-z 0-9 _ - . not starting with - or
 * . (a name reaches hook commands as an argument, where "-rf" would be an
 * option and ".." a path). s may be NULL (invalid).
 */
bool pg_name_valid(const char *s, size_t max);

/* The same rule for the len bytes at s (not NUL-terminated). */
bool pg_name_valid_n(const char *s, size_t len, size_t max);

/* What pg_name_valid accepts, for error messages. */
#define PG_NAME_RULE "A-Z a-z 0-9 _ - . (not starting with - or .)"

#endif
