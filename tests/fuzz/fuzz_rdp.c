/*
 * fuzz_rdp.c -- an RDP client's Connection Request (http/rdp.c), fed as
 * poolgate reads it: in two parts, and the RDP check's reading of a
 * Connection Confirm (backends/check_rdp.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/check.h"
#include "http/rdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rdp_cr c;
	const char *why;
	int r, whole;

	if (size > RDP_CR_MAX)
		size = RDP_CR_MAX;
	whole = rdp_parse_cr(data, size, &c);
	if (whole == RDP_BAD && c.why == NULL)
		abort();
	if (whole == RDP_OK && (c.len > size || c.len < RDP_CR_MIN ||
	    strlen(c.user) > HU_NAME_MAX))
		abort();
	if (whole == RDP_AGAIN && (c.need <= size || c.need > RDP_CR_MAX))
		abort();
	/* A prefix never decides otherwise than the whole would. */
	for (size_t n = 0; n < size; n += 1 + n / 4) {
		r = rdp_parse_cr(data, n, &c);
		if (r == RDP_OK && whole != RDP_OK)
			abort();
		if (r == RDP_BAD && whole != RDP_BAD)
			abort();
	}
	r = chk_rdp_confirm(data, size, &why);
	if (r < -1 || r > 1 || (r == -1 && why == NULL))
		abort();
	return 0;
}
