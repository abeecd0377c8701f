/*
 * knownhosts.c -- see knownhosts.h. config checked ssh_host_ca (a key
 * line, or a whole @cert-authority line) and ssh_host_principal (a host
 * name), so the line needs no escaping for known_hosts; one newline in
 * either would make two lines, so that is refused here too.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "admin/html.h"
#include "admin/knownhosts.h"

#define KH_MARKER "@cert-authority"

int
kh_line(const struct pg_config *cfg, struct evbuffer *out)
{
	const char *ca = cfg->ssh_host_ca, *p = cfg->ssh_host_principal;
	int rc;

	if (ca == NULL || strpbrk(ca, "\r\n") != NULL)
		return -1;
	if (strncmp(ca, KH_MARKER " ", sizeof(KH_MARKER)) == 0)
		rc = evbuffer_add_printf(out, "%s\n", ca);
	else if (p != NULL && strpbrk(p, "\r\n ,") == NULL)
		rc = evbuffer_add_printf(out, KH_MARKER " %s,[%s]:* %s\n", p, p, ca);
	else
		return -1;
	return rc < 0 ? -1 : 0;
}

void
kh_handle(const struct pg_config *cfg, struct evhttp_request *req,
    struct evbuffer *out)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	int code = 200;

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (kh_line(cfg, out) != 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		evbuffer_add_printf(out, "no SSH host identity: the configuration needs"
		    " ssh_host_ca and ssh_host_principal (or ssh_host_ca as a whole"
		    " @cert-authority line)\n");
		code = 404;
	}
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Not Found", out);
}

void
kh_render_html(const struct pg_config *cfg, struct evbuffer *out)
{
	struct evbuffer *line = evbuffer_new();
	char *text = NULL;
	size_t n;

	if (line == NULL || kh_line(cfg, line) != 0)
		goto out;
	n = evbuffer_get_length(line);
	if ((text = malloc(n)) == NULL)
		goto out;
	evbuffer_remove(line, text, n);
	text[n - 1] = '\0';     /* the newline */
	evbuffer_add_printf(out, "<h2>SSH host identity</h2>\n<p class=\"mut\">"
	    "Every VM's host key is signed by the pool's CA. Add this line to "
	    "<code>~/.ssh/known_hosts</code> (or get it from <a href=\""
	    "/ssh_known_hosts\">/ssh_known_hosts</a>) and log in to any VM "
	    "without a host-key prompt:</p>\n<pre id=\"known_hosts\">");
	html_escape(out, text);
	evbuffer_add_printf(out, "</pre>\n");
out:
	free(text);
	if (line != NULL)
		evbuffer_free(line);
}
