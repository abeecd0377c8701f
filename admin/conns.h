/*
 * conns.h -- the operator endpoint's connections: a cap on how many are
 * open and a deadline on each request.
 *
 * libevent 2.1's evhttp has neither: no cap on connections, and its
 * timeout (evhttp_set_timeout) is an idle timeout, so a client sending a
 * byte every few seconds holds its connection, and a descriptor of the
 * data plane's budget, for ever. Nor does it say when it frees a
 * connection. So every connection evhttp accepts gets, through
 * evhttp_set_bevcb(), a bufferevent_filter (no filter functions: bytes
 * pass through) over a socket bufferevent. The filter's free_context
 * callback is the hook "evhttp freed this connection" (it runs when
 * libevent finalizes the filter, after evhttp_connection_free); that is
 * when a connection stops counting.
 *
 * Neither limit closes a connection itself, which evhttp alone may do:
 * they shutdown(SHUT_RDWR) its socket, evhttp's next read or write fails,
 * and evhttp frees the connection.
 *
 *   cap        at most max_conns connections count as open. A new one past
 *              that pushes out the connection whose deadline is nearest
 *              (the one that waited longest for its request), so a crowd
 *              of slow clients cannot keep an operator or a monitor out;
 *              at twice max_conns (old ones not yet freed) the new one is
 *              shut down at once.
 *   deadline   a connection must send a whole request within deadline_ms
 *              of its accept, and a reply must be written and the next
 *              request read within deadline_ms of the previous request
 *              (ac_request). Past it the socket is shut down.
 *
 * Both are logged at warning, at most one line per AC_LOG_EVERY_MS for
 * each, with the number of connections the quiet time hid; except a
 * kept-alive connection that sent nothing since its last reply went out,
 * which is closed at its deadline without a word (evhttp's idle timeout
 * would close it then too).
 *
 * Main thread only, like evhttp.
 */
#ifndef POOLGATE_ADMIN_CONNS_H
#define POOLGATE_ADMIN_CONNS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp;
struct evhttp_request;

#define AC_CONNS_MAX     64       /* connections of the operator endpoint */
#define AC_DEADLINE_MS   10000    /* per request, from its start to the reply */
#define AC_LOG_EVERY_MS  10000    /* at most one line per limit this often */

struct ac_guard;

/*
 * Guard every connection http accepts from now on (evhttp_set_bevcb; http
 * must not have a bevcb of its own), with at most max_conns (at least 1)
 * open and deadline_ms per request. base is http's. Returns the guard, or
 * NULL when out of memory. http and base are borrowed: call ac_free()
 * after evhttp_free(http) and before event_base_free(base).
 */
struct ac_guard *ac_new(struct evhttp *http, struct event_base *base,
    size_t max_conns, uint64_t deadline_ms);

/*
 * req was read whole and is being answered (call it from the request
 * callback): its connection's deadline starts again from now, for writing
 * the reply and reading the next request. A request on a connection the
 * guard does not know (accepted when no memory was left) is ignored.
 */
void ac_request(struct ac_guard *g, struct evhttp_request *req);

/* Connections accepted and not yet freed by evhttp (those shut down too). */
size_t ac_count(const struct ac_guard *g);

/*
 * Forget the connections (libevent frees what is left of them when it
 * finalizes their bufferevents, later) and free g. Call after
 * evhttp_free(); g may be NULL.
 */
void ac_free(struct ac_guard *g);

#endif
