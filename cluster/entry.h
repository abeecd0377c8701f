/*
 * entry.h -- what poolgate nodes share through Redis, as text (pure).
 *
 * Every shared entry is one Redis key under the configured prefix, and the
 * same "NAME VALUE" pair travels on the pub/sub channel when it changes, so
 * a node applies a message and a key read back at start with one decoder.
 * NAME is the key without the prefix; VALUE is a line of fields separated
 * by one space, starting with the format version and the entry's stamp
 * (wall-clock milliseconds of the change):
 *
 *   a:<affinity key>  1 STAMP VM EXPIRES NODE          affinity (STAMP: its last change)
 *   o:<vm>            1 STAMP ready|drain|maint NODE   operator state
 *   v:<vm>            1 STAMP add ADDRESS WEIGHT MAX NODE   VM added through the API
 *   v:<vm>            1 STAMP del NODE                 ... and removed again
 *   n:<node>          1 STAMP serving|draining runner|standby [VM=SESSIONS ...]
 *                                                    a node's heartbeat
 *   h:<vm>            1 STAMP busy|idle NODE           the last of vm_busy and
 *                                                    vm_idle the hook runner
 *                                                    ran for the VM
 *
 * The stamp leads so that Redis can keep the newest value by itself (the
 * conditional write in link.c compares it). Everything read back is
 * untrusted: another node of another version, or anyone who can write to
 * Redis, may have put it there. cl_decode() checks every field (names by
 * the one name rule, numbers in range, no stray bytes) and refuses the
 * whole entry otherwise, saying why.
 */
#ifndef POOLGATE_CLUSTER_ENTRY_H
#define POOLGATE_CLUSTER_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"
#include "backends/backend.h"
#include "config/config.h"

#define CL_VALUE_MAX    (64u * 1024u)  /* longest value read or written */
#define CL_NODE_VMS_MAX CFG_MAX_BACKENDS
#define CL_STAMP_MAX    ((uint64_t)1 << 53)  /* beyond any wall clock in ms */

enum cl_kind { CL_AFF = 0, CL_OPER, CL_VM, CL_NODE, CL_EDGE };

struct cl_vmcount {
	char     vm[CFG_NAME_MAX + 1];
	uint32_t sessions;
};

struct cl_entry {
	enum cl_kind kind;
	uint64_t     stamp;                     /* wall ms of the change */
	char         node[CFG_NAME_MAX + 1];    /* who made it (CL_NODE: the node itself) */
	union {
		struct {                        /* CL_AFF */
			char     key[AFF_KEY_MAX + 1];
			char     vm[CFG_NAME_MAX + 1];
			uint64_t expires;       /* wall ms */
		} aff;
		struct {                        /* CL_OPER */
			char          vm[CFG_NAME_MAX + 1];
			enum be_admin admin;
		} oper;
		struct {                        /* CL_VM */
			char vm[CFG_NAME_MAX + 1];
			bool removed;
			char address[64];       /* numeric, as written; "" when removed */
			int  weight;
			int  max_sessions;
		} vm;
		struct {                        /* CL_EDGE */
			char vm[CFG_NAME_MAX + 1];
			bool busy;              /* vm_busy; false: vm_idle */
		} edge;
		struct {                        /* CL_NODE */
			bool              draining;
			bool              runner;   /* it runs the hooks */
			size_t            nvms;
			struct cl_vmcount vms[CL_NODE_VMS_MAX];
		} node;
	} u;
};

/*
 * Encode e as its key name (without the prefix) and value. Returns 0, or
 * -1 when a buffer is too small or a field could not be decoded back
 * (invalid name, key with a space): an encoder never writes what the
 * decoder would refuse.
 */
int cl_encode(const struct cl_entry *e, char *name, size_t namelen,
    char *value, size_t valuelen);

/*
 * Decode one entry from its key name (prefix removed) and value, neither
 * NUL-terminated. Returns 0 and fills *e; or -1 and writes why into `why`
 * (a short phrase for the log line, never the raw bytes). e is large
 * (CL_NODE carries every VM): keep it off small stacks.
 */
int cl_decode(const char *name, size_t namelen, const char *value,
    size_t valuelen, struct cl_entry *e, char *why, size_t whylen);

#endif
