/*
 * fuzz_http_response.c -- the response head parser and the chunked body
 * tracker (http/http.c).
 *
 * The first input byte chooses: bit 0 clear, the rest is a response (head
 * and body) to a request whose method is (byte >> 1) % 9; bit 0 set, the
 * rest is a bare chunked body. Chunked bodies are fed in one call, one byte
 * at a time and in pieces of pseudo-random sizes (seeded by the input), and
 * must give the same verdict and the same end every time.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
feed_pieces(const char *b, size_t len, uint32_t seed, size_t maxpiece, size_t *total)
{
	struct http_chunked c;
	size_t from = 0, used;
	int rc = HTTP_CHUNKED_MORE;

	http_chunked_init(&c);
	*total = 0;
	while (from < len && rc == HTTP_CHUNKED_MORE) {
		size_t n = 1;

		if (maxpiece > 1) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % maxpiece;
		}
		if (n > len - from)
			n = len - from;
		rc = http_chunked_feed(&c, b + from, n, &used);
		check(used <= n && (rc != HTTP_CHUNKED_MORE || used == n));
		if (rc == HTTP_CHUNKED_ERROR)
			check(c.why != NULL);
		*total += used;
		from += n;
	}
	if (rc != HTTP_CHUNKED_MORE) {
		/* DONE and ERROR stick and take no more bytes */
		check(http_chunked_feed(&c, "0\r\n\r\n", 5, &used) == rc && used == 0);
	}
	return rc;
}

static void
check_chunked(const char *b, size_t len, uint32_t seed)
{
	struct http_chunked c;
	size_t once, total;
	int want;

	http_chunked_init(&c);
	want = http_chunked_feed(&c, b, len, &once);
	check(once <= len && (want != HTTP_CHUNKED_MORE || once == len));
	check(feed_pieces(b, len, seed, 1, &total) == want && total == once);
	check(feed_pieces(b, len, seed, 13, &total) == want && total == once);
	check(feed_pieces(b, len, seed ^ 0x5a5a5a5au, 4096, &total) == want && total == once);
	/* the bytes before an error or the end are a valid incomplete body */
	if (want != HTTP_CHUNKED_MORE) {
		http_chunked_init(&c);
		check(http_chunked_feed(&c, b, once, &total) ==
		    (want == HTTP_CHUNKED_DONE ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_MORE));
	}
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1;
	enum http_method m;
	struct http_resp r, r2;
	uint32_t seed = 2166136261u;
	size_t len, i, cut;
	int rc, rc2;

	if (size < 1)
		return 0;
	len = size - 1;
	if (len > 4 * HTTP_HEAD_MAX)
		len = 4 * HTTP_HEAD_MAX;
	for (i = 0; i < size && i < 64; i++)
		seed = (seed ^ data[i]) * 16777619u;
	if (data[0] & 1) {
		check_chunked(buf, len, seed);
		return 0;
	}
	m = (enum http_method)((data[0] >> 1) % 9);
	rc = http_parse_response(buf, len, m, &r);
	if (rc == HTTP_AGAIN)
		check(len < HTTP_HEAD_MAX);
	else if (rc < 0)
		check(rc == -502 && r.why != NULL);
	else {
		check((size_t)rc <= len && rc <= HTTP_HEAD_MAX && r.why == NULL);
		check(r.status >= 100 && r.status <= 599);
		check(r.version == 10 || r.version == 11);
		check(r.fields.n <= HTTP_FIELDS_MAX);
		check_slice(r.reason, buf, rc);
		check_slice(r.content_type, buf, rc);
		for (i = 0; i < r.fields.n; i++) {
			check_slice(r.fields.f[i].name, buf, rc);
			check_slice(r.fields.f[i].value, buf, rc);
		}
		if (m == HTTP_M_HEAD || r.status < 200 || r.status == 204 || r.status == 304)
			check(r.body == HTTP_BODY_NONE);
		check(r.body != HTTP_BODY_CLOSE || !r.keep_alive);
		check(r.body != HTTP_BODY_LENGTH || r.content_length > 0);
		check(!r.upgrade_websocket || r.status == 101);
		if (r.body == HTTP_BODY_CHUNKED)
			check_chunked(buf + rc, len - (size_t)rc, seed);
	}
	cut = len > 0 ? seed % len : 0;
	rc2 = http_parse_response(buf, cut, m, &r2);
	if (rc > 0 && (size_t)rc <= cut)
		check(rc2 == rc);
	else
		check(rc2 == HTTP_AGAIN || rc2 == rc);
	return 0;
}
