/*
 * check_ssh.c -- judging an SSH server's identification line (RFC 4253 4.2).
 */
#include <string.h>

#include "backends/check.h"

int
chk_ssh_banner(const char *buf, size_t len, const char **why)
{
	size_t start = 0;

	*why = NULL;
	while (start < len) {
		const char *nl = memchr(buf + start, '\n', len - start);
		size_t linelen;

		if (nl == NULL)
			break;
		linelen = (size_t)(nl - (buf + start));
		if (linelen >= 4 && memcmp(buf + start, "SSH-", 4) == 0) {
			if ((linelen >= 8 && memcmp(buf + start, "SSH-2.0-", 8) == 0) ||
			    (linelen >= 9 && memcmp(buf + start, "SSH-1.99-", 9) == 0))
				return 1;
			*why = "unsupported SSH protocol version";
			return -1;
		}
		start += linelen + 1;
	}
	/* An incomplete line that already cannot become "SSH-" can still be
	 * a pre-banner line; only the size limit ends the wait. */
	if (len >= CHK_SSH_BANNER_MAX) {
		*why = "no SSH identification line";
		return -1;
	}
	return 0;
}
