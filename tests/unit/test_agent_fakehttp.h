/*
 * test_agent_fakehttp.h -- a fake HTTP/1.1 server on 127.0.0.1 for the
 * agent's tests (JupyterHub, the Azure metadata service): one thread, one
 * request per connection, canned answers chosen by method and path prefix,
 * every request recorded.
 */
#ifndef TEST_AGENT_FAKEHTTP_H
#define TEST_AGENT_FAKEHTTP_H

#include <stdbool.h>
#include <stddef.h>

struct fh_route {
	const char *method;   /* "GET" */
	const char *path;     /* a prefix of the request target */
	int         status;
	const char *body;
	bool        chunked;  /* send the body with chunked framing */
	int         delay_ms; /* wait before answering */
};

struct fh;

/* Start serving routes (copied; the first match wins; else 404). */
struct fh  *fh_start(const struct fh_route *routes, size_t n);
int         fh_port(const struct fh *f);
/* Replace the routes. */
void        fh_set_routes(struct fh *f, const struct fh_route *routes, size_t n);
/* Requests seen whose method and target prefix match. */
size_t      fh_count(struct fh *f, const char *method, const char *prefix);
/*
 * The last such request's head and body (copies into head/body, which may be
 * NULL); false when none.
 */
bool        fh_last(struct fh *f, const char *method, const char *prefix,
    char *head, size_t hsize, char *body, size_t bsize);
void        fh_stop(struct fh *f);

#endif
