/*
 * stamps.h -- the merge rule: for every shared key, the stamp of the
 * change this node applied last (pure).
 *
 * A change is applied when it is newer than what this node has for its
 * key: the later stamp (wall-clock ms of the change) wins; on equal stamps
 * the larger node name wins, and between two changes of one node in the
 * same millisecond the one heard later (one node's messages arrive in
 * order). Every node applies the same rule to the same changes, whatever
 * order they arrive in (pub/sub, the whole table read at start, a node's
 * own replay after Redis came back), so all end with the same winner.
 * Entries with an expiry (affinities) are swept once it passed.
 */
#ifndef POOLGATE_CLUSTER_STAMPS_H
#define POOLGATE_CLUSTER_STAMPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_NAME_MAX 192   /* "a:" and an affinity key, "o:" and a VM name ... */

struct cl_stamps;

/* New empty table of at most max keys; NULL when out of memory. */
struct cl_stamps *cl_stamps_new(size_t max);
void              cl_stamps_free(struct cl_stamps *t);

/*
 * A change of `name` stamped (stamp, node), live until expires (wall ms;
 * 0: no expiry). Returns true, and records it, when it wins over what the
 * table holds (or the table holds nothing for name); false when it loses,
 * or when name is too long, it expired already (expires <= now_wall) or
 * the table is full (the caller then applies nothing).
 */
bool   cl_stamps_offer(struct cl_stamps *t, const char *name, uint64_t stamp,
    const char *node, uint64_t expires, uint64_t now_wall);

/*
 * cl_stamps_offer() that also records `tag`: a digest of what the change
 * says, its expiry aside (an affinity's VM), for cl_stamps_unchanged().
 * cl_stamps_offer() records tag 0, which matches nothing.
 */
bool   cl_stamps_offer_tagged(struct cl_stamps *t, const char *name,
    uint64_t stamp, const char *node, uint64_t expires, uint64_t tag,
    uint64_t now_wall);

/*
 * Whether a change of name by `node` saying `tag` and lasting until
 * `expires` would tell the other nodes nothing they need: the change
 * recorded last for name is node's own, live at now_wall, with the same
 * non-zero tag, and `expires` moves its expiry by less than slack_ms.
 * The caller then does not share it (the others keep an expiry at most
 * slack_ms earlier than node's own).
 */
bool   cl_stamps_unchanged(const struct cl_stamps *t, const char *name,
    const char *node, uint64_t tag, uint64_t expires, uint64_t slack_ms,
    uint64_t now_wall);

/* The stamp recorded for name, or 0 when none. */
uint64_t cl_stamps_get(const struct cl_stamps *t, const char *name);

/* Forget name (a VM left the pool). */
void   cl_stamps_forget(struct cl_stamps *t, const char *name);

/* Forget every entry whose expiry passed; returns how many. */
size_t cl_stamps_sweep(struct cl_stamps *t, uint64_t now_wall);

size_t cl_stamps_count(const struct cl_stamps *t);

/*
 * Call fn for every live entry (expiry not passed at now_wall) with its
 * name, stamp and node; fn must not change the table.
 */
void   cl_stamps_foreach(const struct cl_stamps *t, uint64_t now_wall,
    void (*fn)(const char *name, uint64_t stamp, const char *node, void *arg),
    void *arg);

#endif
