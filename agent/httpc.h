/*
 * httpc.h -- a small blocking HTTP/1.1 client for the VM's JupyterHub and
 * the Azure instance metadata service: one request per connection
 * ("Connection: close"), plain http only, every step bounded by one
 * deadline, the answer bounded in bytes. The collector thread uses it; the
 * event loop never waits on it.
 */
#ifndef POOLGATE_AGENT_HTTPC_H
#define POOLGATE_AGENT_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HCL_HEAD_MAX   16384     /* bytes of an answer's head */
#define HCL_HOST_MAX   255
#define HCL_PATH_MAX   2048

struct hcl_url {
	char host[HCL_HOST_MAX + 1];  /* without brackets for IPv6 */
	char port[6];
	char path[HCL_PATH_MAX];      /* the base path, without a trailing '/' */
	bool v6;                      /* written in brackets */
};

/*
 * Parse "http://HOST[:PORT][/PATH]" (HOST a name, an IPv4 address or an
 * IPv6 address in brackets; no user info, query or fragment). Returns 0,
 * or -1.
 */
int  hcl_parse_url(const char *url, struct hcl_url *u);

struct hcl_resp {
	int     status;
	char   *body;     /* NUL-terminated; the caller frees (hcl_resp_free) */
	size_t  len;
};

enum hcl_parse { HCL_ERROR = -1, HCL_MORE = 0, HCL_DONE = 1 };

/*
 * Pure. Read an answer from buf[0..len): status line, head (at most
 * HCL_HEAD_MAX bytes), then a body framed by Content-Length, chunked
 * Transfer-Encoding (decoded) or the end of the connection (eof true).
 * HCL_MORE: not complete yet (never when eof). HCL_DONE: *out filled. Any
 * malformed answer, a body over body_max, two different Content-Length or
 * a transfer coding other than chunked: HCL_ERROR with a message in err.
 */
enum hcl_parse hcl_parse_response(const char *buf, size_t len, bool eof,
    size_t body_max, struct hcl_resp *out, char *err, size_t errlen);

/*
 * Send METHOD base.path + path_query to base, with the extra header lines
 * in headers (NULL-terminated array of "Name: value", no CR or LF; may be
 * NULL) and, when body is not NULL, that body as application/json. Waits
 * at most timeout_ms for everything. Returns 0 with *out filled (any
 * status), or -1 with a message in err.
 */
int  hcl_request(const char *method, const struct hcl_url *base,
    const char *path_query, const char *const *headers, const char *body,
    size_t body_len, uint64_t timeout_ms, size_t body_max,
    struct hcl_resp *out, char *err, size_t errlen);

void hcl_resp_free(struct hcl_resp *r);

#endif
