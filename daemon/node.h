/*
 * node.h -- the daemon's side of a cluster (cluster/cluster.h): this node
 * started, changed or stopped as the configuration's cluster group says,
 * and the sink's shared() passed on.
 */
#ifndef POOLGATE_DAEMON_NODE_H
#define POOLGATE_DAEMON_NODE_H

#include <stddef.h>

#include "backends/sink.h"
#include "config/config.h"

struct pg_server;

#define NODE_PASSWORD_MAX 256

/*
 * Before a (re)load changes anything: read cluster.password_file of ncfg
 * into pw (len bytes, NUL-terminated; "" without a file). Returns 0, or -1
 * with a message naming the file in err (pw wiped).
 */
int  node_prepare(const struct pg_config *ncfg, char *pw, size_t len,
    char *err, size_t errlen);

/*
 * Make srv's cluster node match ncfg (and the password read by
 * node_prepare): started, kept (the same settings), started again (other
 * settings) or stopped. Out of memory is fatal.
 */
void node_configure(struct pg_server *srv, const struct pg_config *ncfg,
    const char *pw);

/* The sink's shared(): arg is the server. */
void node_on_shared(void *arg, enum mbr_shared what, const char *name);

/* At exit. */
void node_free(struct pg_server *srv);

#endif
