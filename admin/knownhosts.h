/*
 * knownhosts.h -- the pool's SSH host identity for users: the one
 * known_hosts line "@cert-authority NAMES KEY" made from ssh_host_ca and
 * ssh_host_principal (config.h), served on GET /ssh_known_hosts and shown
 * on the status page.
 */
#ifndef POOLGATE_KNOWNHOSTS_H
#define POOLGATE_KNOWNHOSTS_H

#include <event2/buffer.h>
#include <event2/http.h>

#include "config/config.h"

/*
 * Append the line and a newline to out: ssh_host_ca as it is when it is a
 * whole "@cert-authority NAMES KEY" line already, else "@cert-authority
 * P,[P]:* KEY" with P = ssh_host_principal ("[P]:*" so that users who
 * connect to another port than 22 match too). Returns 0, or -1 (out
 * untouched) when cfg lacks what the line needs or out cannot grow.
 */
int  kh_line(const struct pg_config *cfg, struct evbuffer *out);

/*
 * Answer GET or HEAD /ssh_known_hosts of req with cfg's line (200,
 * text/plain), or 404 naming the missing settings. out is the caller's
 * empty reply buffer.
 */
void kh_handle(const struct pg_config *cfg, struct evhttp_request *req,
    struct evbuffer *out);

/*
 * The status page's "SSH host identity" section: the line and where users
 * put it, HTML-escaped. Nothing when kh_line() has no line.
 */
void kh_render_html(const struct pg_config *cfg, struct evbuffer *out);

#endif
