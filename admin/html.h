/*
 * html.h -- HTML escaping of the status page (statuspage.c): every value
 * put into the page -- VM and user names, health and agent texts, event
 * texts -- goes through html_escape().
 */
#ifndef POOLGATE_HTML_H
#define POOLGATE_HTML_H

#include <event2/buffer.h>

/*
 * Append s (a C string: any bytes) to out, escaped for HTML text and for
 * quoted attribute values: & < > " ' as entities, tab, newline and CR as a
 * space, other control bytes and DEL as U+FFFD, well-formed UTF-8
 * (json_utf8_seq) as it is, and each byte that does not start a well-formed
 * sequence as U+FFFD (one per byte, as lib/json.h's writer does).
 */
void html_escape(struct evbuffer *out, const char *s);

#endif
