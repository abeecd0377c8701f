/*
 * discofile.h -- the backends file of discovery (discovery.file): parsing (pure).
 *
 * One VM a line, fields separated by spaces or tabs:
 *
 *	# name   address      [weight]
 *	vm1      10.0.0.4
 *	vm2      10.0.0.5     2        # a comment may end a line too
 *	vm3      fd00::6      1
 *
 * name     [A-Za-z0-9_.-]{1,CFG_NAME_MAX}, unique in the file
 * address  a numeric IPv4 or IPv6 address (as cfg_parse_addr() takes it,
 *          "[fd00::6]" included), unicast (not 0.0.0.0, ::, multicast or
 *          255.255.255.255), unique in the file; compared as addresses, so
 *          "fd00::6" and "fd00:0::6" are the same one
 * weight   DF_WEIGHT_MIN..DF_WEIGHT_MAX, decimal; absent: the caller's
 *          default (discovery.weight)
 *
 * A '#' that starts a field starts a comment to the end of the line; blank
 * and comment-only lines are fine. Lines end with LF or CRLF; the last one
 * may lack its end. A UTF-8 byte order mark at the very start is skipped.
 * An empty file is valid and lists no VM: emptying the file is how an
 * operator empties that part of the pool.
 *
 * All or nothing. A file with any bad line is refused whole and the caller
 * keeps the set it applied last: every error is reported with its line, so
 * the operator sees all of them at once. Applying the good lines instead
 * would turn a typo in one line, or a file caught half-written, into that
 * VM -- or all the VMs after the cut -- draining away with its users'
 * sessions; refusing costs only the delay of the VMs that were being added
 * until the file is fixed.
 */
#ifndef POOLGATE_DISCOFILE_H
#define POOLGATE_DISCOFILE_H

#include <stdbool.h>
#include <stddef.h>

#include <netinet/in.h>

#include "config/config.h"

#define DF_LINE_MAX    512                  /* bytes a line, its LF/CRLF excluded */
#define DF_MAX_ENTRIES CFG_MAX_BACKENDS     /* VMs in one file */
#define DF_FILE_MAX    ((size_t)4 << 20)    /* bytes in a file */
#define DF_WEIGHT_MIN  1
#define DF_WEIGHT_MAX  1000                 /* as backends[].weight */
#define DF_ERRORS_MAX  20                   /* errors reported, then a count */
#define DF_ADDR_MAX    INET6_ADDRSTRLEN     /* address text with its NUL */

struct df_entry {
	char name[CFG_NAME_MAX + 1];
	char address[DF_ADDR_MAX];          /* canonical text (inet_ntop) */
	int  weight;
	int  line;                          /* 1-based */
};

/* The VMs of a valid file, in file order. */
struct df_list {
	struct df_entry *e;                 /* owned; NULL when n is 0 */
	size_t           n;
};

/*
 * Parse the file's bytes buf[0..len) (any bytes; buf may be NULL when len
 * is 0). fname names the file in messages only. default_weight is the
 * weight of a line without one (DF_WEIGHT_MIN..DF_WEIGHT_MAX).
 *
 * Returns 0 when every line is valid: *out holds the VMs (maybe none) and
 * is released with df_list_free(). Returns -1 when any line is bad (or the
 * file is larger than DF_FILE_MAX, or memory ran out): *out is empty and
 * errs gets one message a bad line, "FNAME:LINE: what (expected ...)", at
 * most DF_ERRORS_MAX of them and then "FNAME: N more errors not shown".
 * Bytes from the file appear in messages escaped (\xNN) and cut short,
 * so a message is always one printable line. *out is overwritten, not
 * freed first.
 */
int  df_parse(const char *buf, size_t len, const char *fname,
    int default_weight, struct df_list *out, struct cfg_errors *errs);

/* Free what l holds and empty it; l may be NULL. */
void df_list_free(struct df_list *l);

/*
 * True when the address in ss (AF_INET or AF_INET6) may be a VM's:
 * not unspecified (0.0.0.0, ::), not multicast, not 255.255.255.255.
 * Shared with DNS discovery, where such answers are sinkholes.
 */
bool df_addr_usable(const struct sockaddr_storage *ss);

#endif
