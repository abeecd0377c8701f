/*
 * check_agent.h -- the agent check of one VM (libevent).
 *
 * Every `interval` the check connects to the VM's address on the agent port,
 * sends nothing, and reads one line (backends/agent.h) until CR/LF or the end
 * of the connection, all within `timeout`. A valid reply is applied to the
 * backend (agent_apply) and a change of the agent's admin or operational
 * state is logged. A connection that fails, times out or brings no valid
 * line changes nothing in the backend, as in HAProxy (reachability is the
 * health checks' business): the error goes to b->agent_last and is logged
 * when the agent becomes unreachable and again when it answers.
 *
 * With `report`, each round then asks the same port `GET /v1/report`
 * (HTTP/1.1, Connection: close) and reads the answer until the agent closes,
 * at most REP_HTTP_MAX bytes within `timeout`: the parsed report, or why
 * there is none, goes to the pool module (mbr_report). The next round
 * starts `interval` after this one started.
 *
 * A check context belongs to b->agent_check and must be stopped (agent_stop)
 * before the backend is freed.
 */
#ifndef POOLGATE_CHECK_AGENT_H
#define POOLGATE_CHECK_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "backends/backend.h"
#include "backends/members.h"

/*
 * Start (or restart) the agent check of b, a member of m, on port
 * (1..65535); the first probe runs at once. A reply that changes what
 * selection reads is told to the pool module (mbr_agent_changed); m must
 * outlive the check. The figures the agent reported before are kept: call
 * be_agent_clear() as well when they no longer apply. Returns 0, or -1 on
 * allocation failure (logged).
 */
int  agent_start(struct event_base *base, struct members *m, struct backend *b,
    int port, uint64_t interval_ms, uint64_t timeout_ms, bool report);

/*
 * Stop and free the agent check of b (if any). What the agent reported stays
 * in b; when the agent check is removed from the configuration, follow with
 * be_agent_clear(b), or an agent's drain would never be undone.
 */
void agent_stop(struct backend *b);

#endif
