/*
 * sched.h -- Azure Scheduled Events (pure parsers).
 *
 * The agent polls GET <url>/metadata/scheduledevents?api-version=2020-07-01
 * with "Metadata: true" (url is http://169.254.169.254 on Azure; tests point
 * it elsewhere) and learns this VM's name once from
 * GET <url>/metadata/instance/compute/name?api-version=2021-02-01&format=text
 * unless azure.vm_name is set. An answer looks like
 *
 *   {"DocumentIncarnation": 3, "Events": [{"EventId": "602d9444-...",
 *     "EventType": "Terminate", "ResourceType": "VirtualMachine",
 *     "Resources": ["vmss_3"], "EventStatus": "Scheduled",
 *     "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT", "Description": "...",
 *     "EventSource": "User", "DurationInSeconds": -1}]}
 *
 * Approving an event is POST of {"StartRequests": [{"EventId": "..."}]} to
 * the same URL.
 */
#ifndef POOLGATE_AGENT_SCHED_H
#define POOLGATE_AGENT_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SE_EVENTS_MAX    16
#define SE_RESOURCES_MAX 8
#define SE_ID_MAX        64
#define SE_WORD_MAX      32
#define SE_TEXT_MAX      256
#define SE_VMNAME_MAX    80

struct se_event {
	char     id[SE_ID_MAX + 1];
	char     type[SE_WORD_MAX];      /* Freeze Reboot Redeploy Preempt Terminate */
	char     status[SE_WORD_MAX];    /* Scheduled Started */
	char     resource_type[SE_WORD_MAX];
	char     source[SE_WORD_MAX];    /* Platform User */
	char     description[SE_TEXT_MAX];
	char     resources[SE_RESOURCES_MAX][SE_VMNAME_MAX + 1];
	size_t   nresources;
	uint64_t not_before_ms;          /* wall ms; 0 when "" (started) */
	int64_t  duration_s;             /* -1 unknown */
	bool     this_vm;                /* Resources names this VM */
};

struct se_doc {
	int64_t         incarnation;
	struct se_event ev[SE_EVENTS_MAX];
	size_t          n;
	bool            truncated;       /* more events than SE_EVENTS_MAX */
};

/*
 * Pure. Parse an RFC 1123 date as IMDS writes NotBefore
 * ("Mon, 19 Sep 2016 18:29:47 GMT"; the weekday is not checked). Returns 0
 * and wall ms in *ms, or -1.
 */
int  se_parse_time(const char *s, uint64_t *ms);

/*
 * Pure. Parse a scheduledevents answer into *out. vm_name (NULL or "" when
 * unknown) sets each event's this_vm. An event without an EventId or
 * EventType, or with one over its cap, is skipped; an unreadable NotBefore
 * is 0. Returns 0, or -1 with a message in err.
 */
int  se_parse(const char *buf, size_t len, const char *vm_name,
    struct se_doc *out, char *err, size_t errlen);

/*
 * True when e is one the agent acts on: for this VM, of type Preempt,
 * Terminate, Reboot or Redeploy.
 */
bool se_pending(const struct se_event *e);

/*
 * The approval body for event_id into buf (written with json_write_str).
 * Returns its length, or 0 when it does not fit.
 */
size_t se_approval_body(const char *event_id, char *buf, size_t size);

#endif
