/*
 * fuzz_upgmsg.c -- the binary upgrade's messages (daemon/upgmsg.c): any
 * bytes read as a message and as an address; what is accepted writes back
 * to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/upgmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t back[UPG_ADDR_LEN];
	struct sockaddr_storage ss;
	enum upg_type t;
	uint32_t v;

	if (upg_get(data, size, &t, &v) == 0) {
		upg_put(back, t, v);
		if (memcmp(back, data, UPG_MSG_LEN) != 0)
			abort();
	}
	if (size >= UPG_ADDR_LEN && upg_get_addr(data, &ss) == 0) {
		if (upg_put_addr(back, &ss) != 0 ||
		    memcmp(back, data, UPG_ADDR_LEN) != 0)
			abort();
	}
	return 0;
}
