/*
 * wsecho.c -- the benchmark's websocket echo server (runs inside a pool VM).
 *
 *   wsecho -p PORT [-b ADDR]
 *
 * One thread per connection, blocking sockets. A request with
 * "Upgrade: websocket" gets "101 Switching Protocols" (RFC 6455) and then
 * every text or binary message is sent back as it came; ping gets pong,
 * close gets close. Any other request (a health check) gets "200 ok" and
 * the connection is closed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR)
			continue;
		else
			return -1;
	}
	return 0;
}

static int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR)
			continue;
		else
			return -1;
	}
	return 0;
}

/* The value of header `name` in head, copied to out; 0 when found. */
static int
header(const char *head, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = strstr(head, "\r\n");

	while (p != NULL && p[2] != '\r' && p[2] != '\0') {
		const char *line = p + 2, *end = strstr(line, "\r\n");
		size_t len;

		if (end == NULL)
			break;
		if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':') {
			line += nl + 1;
			while (*line == ' ' || *line == '\t')
				line++;
			len = (size_t)(end - line);
			while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
				len--;
			if (len >= outlen)
				len = outlen - 1;
			memcpy(out, line, len);
			out[len] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}

static void *
serve(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1;
	char head[8192], key[256], upg[64], acc[64], resp[512], cat[320];
	unsigned char md[EVP_MAX_MD_SIZE], *payload = NULL;
	unsigned int mdlen = 0;
	size_t hl = 0, cap = 0;
	char *end = NULL;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (end == NULL) {
		ssize_t n;

		if (hl + 1 >= sizeof(head))
			goto out;
		n = read(fd, head + hl, sizeof(head) - 1 - hl);
		if (n <= 0)
			goto out;
		hl += (size_t)n;
		head[hl] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (header(head, "Upgrade", upg, sizeof(upg)) != 0 ||
	    strcasecmp(upg, "websocket") != 0 ||
	    header(head, "Sec-WebSocket-Key", key, sizeof(key)) != 0) {
		static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "Content-Length: 3\r\nConnection: close\r\n\r\nok\n";
		write_full(fd, ok, sizeof(ok) - 1);
		goto out;
	}
	snprintf(cat, sizeof(cat), "%s%s", key, GUID);
	EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)acc, md, (int)mdlen);
	snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", acc);
	if (write_full(fd, resp, strlen(resp)) < 0)
		goto out;
	/* Bytes after the head would be the first frame: not expected. */
	for (;;) {
		unsigned char h[14], mask[4];
		uint64_t len;
		size_t hlen = 2, i;
		int op;

		if (read_full(fd, h, 2) < 0)
			break;
		op = h[0] & 0x0f;
		len = h[1] & 0x7f;
		if (len == 126) {
			if (read_full(fd, h + 2, 2) < 0)
				break;
			len = ((uint64_t)h[2] << 8) | h[3];
		} else if (len == 127) {
			if (read_full(fd, h + 2, 8) < 0)
				break;
			len = 0;
			for (i = 0; i < 8; i++)
				len = (len << 8) | h[2 + i];
		}
		if (len > (16u << 20))
			break;
		if ((h[1] & 0x80) && read_full(fd, mask, 4) < 0)
			break;
		if (len > cap) {
			free(payload);
			cap = (size_t)len;
			if ((payload = malloc(cap)) == NULL)
				break;
		}
		if (len > 0 && read_full(fd, payload, (size_t)len) < 0)
			break;
		if (h[1] & 0x80)
			for (i = 0; i < len; i++)
				payload[i] ^= mask[i & 3];
		if (op == 0x9)
			op = 0xA;            /* ping -> pong */
		else if (op == 0xA)
			continue;
		/* Reply: same opcode, unmasked. */
		h[0] = (unsigned char)(0x80 | op);
		if (len < 126) {
			h[1] = (unsigned char)len;
			hlen = 2;
		} else if (len < 65536) {
			h[1] = 126;
			h[2] = (unsigned char)(len >> 8);
			h[3] = (unsigned char)len;
			hlen = 4;
		} else {
			h[1] = 127;
			for (i = 0; i < 8; i++)
				h[2 + i] = (unsigned char)(len >> (56 - 8 * i));
			hlen = 10;
		}
		if (len < 4096) {
			unsigned char out[4096 + 14];

			memcpy(out, h, hlen);
			memcpy(out + hlen, payload, (size_t)len);
			if (write_full(fd, out, hlen + (size_t)len) < 0)
				break;
		} else if (write_full(fd, h, hlen) < 0 ||
		    write_full(fd, payload, (size_t)len) < 0)
			break;
		if (op == 0x8)
			break;
	}
out:
	free(payload);
	close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *addr = "0.0.0.0";
	int port = 0, ch, lfd, one = 1;
	struct sockaddr_in sin;
	pthread_attr_t at;

	while ((ch = getopt(argc, argv, "p:b:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'b': addr = optarg; break;
		default:
			fprintf(stderr, "usage: wsecho -p PORT [-b ADDR]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "wsecho: -p PORT is required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 1024) < 0) {
		perror("wsecho: bind/listen");
		return 1;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	for (;;) {
		pthread_t t;
		int c = accept(lfd, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				usleep(10000);
				continue;
			}
			perror("accept");
			return 1;
		}
		if (pthread_create(&t, &at, serve, (void *)(intptr_t)c) != 0)
			close(c);
	}
}
