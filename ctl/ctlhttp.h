/*
 * ctlhttp.h -- poolgatectl's HTTP/1.1 client: one request to the admin
 * endpoint with libevent's evhttp client, plain http:// only, a deadline of
 * CTLH_TIMEOUT_S seconds, a reply of at most CTLH_REPLY_MAX bytes.
 */
#ifndef POOLGATE_CTLHTTP_H
#define POOLGATE_CTLHTTP_H

#include <stddef.h>

#include "ctl/ctl.h"

#define CTLH_TIMEOUT_S   5
#define CTLH_REPLY_MAX   JSON_DOC_MAX   /* bytes of body */
#define CTLH_HEADERS_MAX 65536          /* bytes of the reply's head */

enum ctlh_method { CTLH_GET, CTLH_PUT, CTLH_POST, CTLH_DELETE };

/* A reply; body is owned (NUL-terminated, len bytes before the NUL). */
struct ctlh_reply {
	int     code;
	char   *body;
	size_t  len;
};

/*
 * Send one request for path (starting with "/") to ep and wait for the
 * reply, at most CTLH_TIMEOUT_S seconds. token (may be NULL) goes in
 * "Authorization: Bearer"; json (may be NULL) is the body, sent as
 * application/json. Each address of ep->host is tried in turn while the
 * connection is refused.
 *
 * Returns 0 with *r filled (any status; free it with ctlh_reply_free()), or
 * -1 with a message in err such as "cannot reach poolgate at
 * http://127.0.0.1:9100: connection refused" or "no valid reply from
 * poolgate at ...: the reply is not HTTP".
 */
int  ctlh_request(const struct ctl_endpoint *ep, enum ctlh_method m,
    const char *path, const char *token, const char *json,
    struct ctlh_reply *r, char *err, size_t errlen);

void ctlh_reply_free(struct ctlh_reply *r);

#endif
