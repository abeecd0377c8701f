/*
 * check.h -- active health checks of one VM for one service (libevent).
 *
 * Every `interval` a check connects to the VM's address on the service's port
 * and, for type "ssh", reads the server's identification line, for type
 * "http", sends GET `path` and expects status `expect`, for type "rdp", sends
 * an X.224 Connection Request and expects a Connection Confirm; the whole probe must
 * finish within `timeout`. Every check ends in one call to the pool module,
 * mbr_check_result() (as relayd's check_*.c end in hce_notify_done), which
 * the data path also calls for passive failures (a connect that failed);
 * a check never touches forwarding state.
 *
 * A check context belongs to b->check[svc] and must be stopped (chk_stop)
 * before the backend is freed or the service index changes meaning.
 */
#ifndef POOLGATE_CHECK_H
#define POOLGATE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "backends/backend.h"
#include "backends/members.h"
#include "config/config.h"

/*
 * Start checking b (a member of m, which must outlive the check) for
 * service index svc as cs->check says; the first probe
 * runs at once. With type "none" the VM is marked healthy for the service
 * and nothing runs. An "http" check goes over TLS when ssl (the service's
 * client context, referenced by the check) is not NULL. Returns 0, or -1 on
 * allocation failure (logged).
 */
int  chk_start(struct event_base *base, struct members *m, struct backend *b,
    size_t svc, const struct cfg_service *cs, SSL_CTX *ssl);

/* Stop and free the check of b for svc (if any); health is left as it is. */
void chk_stop(struct backend *b, size_t svc);


/*
 * Judge the bytes an SSH server sent first (pure). Returns 1 when buf holds a
 * complete identification line starting "SSH-2.0-" or "SSH-1.99-", 0 when
 * more bytes are needed, -1 when it cannot be one (*why says why). Lines
 * before the identification that do not start "SSH-" are allowed, as
 * RFC 4253 4.2 says, up to CHK_SSH_BANNER_MAX bytes in all.
 */
#define CHK_SSH_BANNER_MAX 1024
int  chk_ssh_banner(const char *buf, size_t len, const char **why);

/*
 * The RDP check (check_rdp.c, pure). chk_rdp_request: the X.224 Connection
 * Request it sends (static bytes, *len set). chk_rdp_confirm judges what
 * the server sent back: 1 for a complete X.224 Connection Confirm (with a
 * negotiation response or failure, or none: the server answered as RDP),
 * 0 when more bytes are needed, -1 when it cannot be one (*why says why).
 */
#define CHK_RDP_CONFIRM_MAX 259
const uint8_t *chk_rdp_request(size_t *len);
int  chk_rdp_confirm(const uint8_t *buf, size_t len, const char **why);

#endif
