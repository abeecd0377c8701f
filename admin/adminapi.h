/*
 * adminapi.h -- the admin API under /api/v1/ on the operator endpoint.
 *
 *   GET    /api/v1/backends               every VM                  200
 *   GET    /api/v1/backends/NAME          one VM                    200, 404
 *   PUT    /api/v1/backends/NAME          create or update          201, 200
 *          {"address": "10.0.0.9", "weight": 1, "max_sessions": 0}
 *   DELETE /api/v1/backends/NAME          drain, then forget        202
 *   POST   /api/v1/backends/NAME/drain    operator state drain      200
 *   POST   /api/v1/backends/NAME/ready    operator state ready      200
 *   POST   /api/v1/backends/NAME/maint    operator state maint      200
 *   POST   /api/v1/upgrade                start a binary upgrade    202, 409
 *          (daemon/upgrade.h; 409 when one runs or it cannot start)
 *
 * GET and HEAD need no token. Every other call needs
 * "Authorization: Bearer TOKEN" matching admin.token_file: 401 without it,
 * 403 when wrong, 403 for every mutating call when no token_file is set.
 * A wrong token counts against the client's address (signin.h, with the
 * sign-in form's): past SI_FAILS_MAX a minute, 429 with Retry-After for
 * every mutating call from there, the right token included.
 * Bodies are JSON (Content-Type application/json, else 415; at most
 * JSON_BODY_MAX bytes, else 413); replies are JSON, errors as
 * {"error": "message"} with 400, 401, 403, 404, 405, 409, 413, 415, 429
 * or 500.
 *
 * NAME must pass pg_name_valid() (lib/text.h: 1 to 63 of A-Z a-z 0-9 _ - .,
 * not starting with - or .), else 400 "... is not a valid VM name".
 *
 * PUT: address is required to create a VM and must be a numeric IPv4 or
 * IPv6 address; weight 1..1000 and max_sessions 0..100000. A member left out
 * keeps its current value on an update and takes its default on a create
 * (weight 1, max_sessions 0). Any other member is refused, by name.
 *
 * Membership and operator states change only through the pool module
 * (mbr_upsert, mbr_remove, mbr_set_admin with a->px->mbr); a VM is written
 * by vmjson.h's serializer (VMJ_API), as /status writes its own view.
 */
#ifndef POOLGATE_ADMINAPI_H
#define POOLGATE_ADMINAPI_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin/admin.h"
#include "backends/backend.h"

#define ADMINAPI_PREFIX     "/api/v1/"
#define ADMINAPI_TOKEN_MIN  16        /* bytes */
#define ADMINAPI_WEIGHT_MAX 1000
#define ADMINAPI_SESSIONS_MAX 100000

/*
 * Answer one request whose path (not decoded, without the query) starts
 * with ADMINAPI_PREFIX, for a (borrowed). Always sends a reply. Mutating
 * calls are logged at info with the peer address and the outcome.
 */
void adminapi_handle(struct adm_ctx *a, struct evhttp_request *req,
    const char *path);

/*
 * Read the admin token from the file at path into token_out (len bytes, so
 * at most len - 1 token bytes; NUL-terminated). One trailing "\n" (or
 * "\r\n") is dropped. The file must be a regular file not readable or
 * writable by others (S_IROTH, S_IWOTH); the token must be at least
 * ADMINAPI_TOKEN_MIN bytes of printable ASCII without spaces.
 * Returns 0, or -1 with token_out wiped and a message naming the file in
 * err. The bytes read are wiped before returning.
 */
int  adminapi_load_token(const char *path, char *token_out, size_t len,
    char *err, size_t errlen);

/*
 * Append backend b (borrowed) to out as the API's JSON object: name,
 * address, state, admin, agent_admin, source, removed, weight,
 * max_sessions, effective_weight_pct, effective_max_sessions, sessions,
 * load (sessions / weight, 3 decimals, null at weight 0), agent and health
 * per service {"up": bool, "last_error": "..."} (vmj_backend, VMJ_API).
 */
void adminapi_backend_json(struct evbuffer *out, const struct adm_ctx *a,
    const struct backend *b);

#endif
