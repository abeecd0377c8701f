/*
 * sched.c -- see sched.h.
 */
#include <stdio.h>
#include <string.h>

#include "agent/sched.h"
#include "agent/util.h"
#include "lib/json.h"

static int
two(const char *s)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int
se_parse_time(const char *s, uint64_t *ms)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int d, y, h, mi, sec, m;

	/* "Mon, 19 Sep 2016 18:29:47 GMT": 29 bytes exactly. */
	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' ||
	    s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
	    strcmp(s + 25, " GMT") != 0)
		return -1;
	d = two(s + 5);
	for (m = 0; m < 12; m++)
		if (memcmp(s + 8, months + m * 3, 3) == 0)
			break;
	if (two(s + 12) < 0 || two(s + 14) < 0)
		return -1;
	y = two(s + 12) * 100 + two(s + 14);
	h = two(s + 17);
	mi = two(s + 20);
	sec = two(s + 23);
	if (d < 1 || d > 31 || m == 12 || y < 1970 || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	*ms = (uint64_t)(ag_days_from_civil(y, (unsigned)m + 1, (unsigned)d) *
	    86400 + h * 3600 + mi * 60 + sec) * 1000u;
	return 0;
}

/* Copy member key of obj when it is a string that fits; else leave "". */
static bool
get(const struct json_node *obj, const char *key, char *dst, size_t size)
{
	const char *s = json_get_str(obj, key);

	dst[0] = '\0';
	if (s == NULL || strlen(s) >= size)
		return false;
	ag_copy(dst, size, s);
	return true;
}

int
se_parse(const char *buf, size_t len, const char *vm_name, struct se_doc *out,
    char *err, size_t errlen)
{
	const struct json_node *root, *events, *e, *res, *r;
	struct json_doc *doc;
	struct se_event *ev;
	char when[64];
	int64_t v;

	memset(out, 0, sizeof(*out));
	out->incarnation = -1;
	if ((doc = json_parse(buf, len, err, errlen)) == NULL)
		return -1;
	root = json_root(doc);
	events = json_get(root, "Events");
	if (root->type != JSON_OBJECT || events == NULL ||
	    events->type != JSON_ARRAY) {
		ag_errf(err, errlen, "expected an object with an Events list");
		json_free(doc);
		return -1;
	}
	if (json_get_int(root, "DocumentIncarnation", &v))
		out->incarnation = v;
	for (e = events->child; e != NULL; e = e->next) {
		if (e->type != JSON_OBJECT)
			continue;
		if (out->n == SE_EVENTS_MAX) {
			out->truncated = true;
			break;
		}
		ev = &out->ev[out->n];
		memset(ev, 0, sizeof(*ev));
		if (!get(e, "EventId", ev->id, sizeof(ev->id)) || ev->id[0] == '\0' ||
		    !get(e, "EventType", ev->type, sizeof(ev->type)) ||
		    ev->type[0] == '\0')
			continue;
		get(e, "EventStatus", ev->status, sizeof(ev->status));
		get(e, "ResourceType", ev->resource_type, sizeof(ev->resource_type));
		get(e, "EventSource", ev->source, sizeof(ev->source));
		/* A long description is cut (json_write_str mends a cut UTF-8). */
		if (json_get_str(e, "Description") != NULL)
			ag_copy(ev->description, sizeof(ev->description),
			    json_get_str(e, "Description"));
		if (get(e, "NotBefore", when, sizeof(when)) &&
		    se_parse_time(when, &ev->not_before_ms) == -1)
			ev->not_before_ms = 0;
		ev->duration_s = json_get_int(e, "DurationInSeconds", &v) ? v : -1;
		res = json_get(e, "Resources");
		if (res != NULL && res->type == JSON_ARRAY)
			for (r = res->child; r != NULL; r = r->next) {
				if (r->type != JSON_STRING)
					continue;
				if (vm_name != NULL && vm_name[0] != '\0' &&
				    strcmp(r->str, vm_name) == 0)
					ev->this_vm = true;
				if (ev->nresources < SE_RESOURCES_MAX &&
				    r->len <= SE_VMNAME_MAX)
					ag_copy(ev->resources[ev->nresources++],
					    SE_VMNAME_MAX + 1, r->str);
			}
		out->n++;
	}
	json_free(doc);
	return 0;
}

bool
se_pending(const struct se_event *e)
{
	return e->this_vm && (strcmp(e->type, "Preempt") == 0 ||
	    strcmp(e->type, "Terminate") == 0 || strcmp(e->type, "Reboot") == 0 ||
	    strcmp(e->type, "Redeploy") == 0);
}

size_t
se_approval_body(const char *event_id, char *buf, size_t size)
{
	struct json_fbuf fb = { .buf = buf, .cap = size };
	static const char open[] = "{\"StartRequests\":[{\"EventId\":";
	static const char close[] = "}]}";

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (json_fbuf_put(&fb, open, sizeof(open) - 1) != 0 ||
	    json_write_str(json_fbuf_put, &fb, event_id) != 0 ||
	    json_fbuf_put(&fb, close, sizeof(close) - 1) != 0 || fb.cut)
		return 0;
	return fb.len;
}
