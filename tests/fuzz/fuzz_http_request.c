/*
 * fuzz_http_request.c -- the request head parser (http/http.c), and the
 * chunked tracker on whatever follows a chunked request's head.
 *
 * Besides "no crash", it checks the contract the proxy relies on: a verdict
 * is one of the documented values; HTTP_AGAIN only under the caps; slices
 * lie inside the head; a prefix of the input never gets a different verdict
 * (only HTTP_AGAIN); the chunked tracker gives the same answer however the
 * body is split; http_req_rebase() onto a copy of the head gives what a parse
 * of the copy gives.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static char copy[2 * HTTP_HEAD_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_slice(struct http_slice s, const char *buf, int head_len)
{
	if (s.p == NULL) {
		check(s.len == 0);
		return;
	}
	check(s.p >= buf && s.p + s.len <= buf + head_len);
}

static void
check_verdict(int rc, size_t len)
{
	switch (rc) {
	case HTTP_AGAIN:
		check(len < HTTP_HEAD_MAX);
		break;
	case -400: case -414: case -431: case -501: case -505:
		break;
	default:
		check(rc > 0 && (size_t)rc <= len && rc <= HTTP_HEAD_MAX);
	}
}

/* Same body framing verdict in one call and in pieces cut by `seed`. */
static void
check_chunked(const char *b, size_t len, uint32_t seed)
{
	struct http_chunked c;
	size_t once, used, total = 0, from = 0;
	int want, rc = HTTP_CHUNKED_MORE;

	http_chunked_init(&c);
	want = http_chunked_feed(&c, b, len, &once);
	check(once <= len && (want != HTTP_CHUNKED_MORE || once == len));
	http_chunked_init(&c);
	while (from < len && rc == HTTP_CHUNKED_MORE) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 7;
		if (n > len - from)
			n = len - from;
		rc = http_chunked_feed(&c, b + from, n, &used);
		check(used <= n && (rc != HTTP_CHUNKED_MORE || used == n));
		total += used;
		from += n;
	}
	check(rc == want && total == once);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct http_req r, r2;
	size_t cuts[3], i;
	uint32_t seed = 2166136261u;
	int rc;

	if (size > 2 * HTTP_HEAD_MAX)
		size = 2 * HTTP_HEAD_MAX;
	for (i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;

	rc = http_parse_request(buf, size, &r);
	check_verdict(rc, size);
	if (rc < 0)
		check(r.why != NULL);
	if (rc > 0) {
		check(r.why == NULL);
		check(r.version == 10 || r.version == 11);
		check(r.fields.n <= HTTP_FIELDS_MAX);
		check(r.method != HTTP_M_CONNECT);
		check(r.target.len > 0);
		check_slice(r.method_name, buf, rc);
		check_slice(r.target, buf, rc);
		check_slice(r.host, buf, rc);
		check_slice(r.cookie, buf, rc);
		check_slice(r.content_type, buf, rc);
		check_slice(r.ws_key, buf, rc);
		for (i = 0; i < r.fields.n; i++) {
			check(r.fields.f[i].name.len > 0);
			check_slice(r.fields.f[i].name, buf, rc);
			check_slice(r.fields.f[i].value, buf, rc);
		}
		check(r.version == 10 || r.host.len > 0);
		check(r.body != HTTP_BODY_CLOSE);
		check(r.body != HTTP_BODY_LENGTH || r.content_length > 0);
		check(r.body != HTTP_BODY_CHUNKED || (r.content_length == 0 && r.version == 11));
		check(!r.upgrade_websocket || (r.method == HTTP_M_GET && r.ws_key.len > 0));
		check((r.ncookies == 0) == (r.cookie.p == NULL));
		if (r.body == HTTP_BODY_CHUNKED)
			check_chunked(buf + rc, size - (size_t)rc, seed);

		/* Rebased onto a copy: byte for byte what parsing the copy gives. */
		memcpy(copy, buf, (size_t)rc);
		check(http_parse_request(copy, (size_t)rc, &r2) == rc);
		http_req_rebase(&r, buf, copy);
		check(memcmp(&r, &r2, sizeof(r)) == 0);
	}

	/* A verdict never changes as bytes are appended. */
	cuts[0] = size / 2;
	cuts[1] = size > 0 ? size - 1 : 0;
	cuts[2] = size > 0 ? seed % size : 0;
	for (i = 0; i < 3; i++) {
		int rc2 = http_parse_request(buf, cuts[i], &r2);

		check_verdict(rc2, cuts[i]);
		if (rc > 0 && (size_t)rc <= cuts[i])
			check(rc2 == rc);
		else
			check(rc2 == HTTP_AGAIN || rc2 == rc);
	}
	return 0;
}
