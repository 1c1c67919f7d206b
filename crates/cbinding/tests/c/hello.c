/*
 * The hello sample as a C binding, for any ABI version (sample.h): the
 * verbs, argument shapes and replies of the Rust sample (samples/hello),
 * written for this project's tests. Left out: `info` (the client
 * description is the binder's) and `exit`.
 */
#include <pthread.h>
#include <stdio.h>
#include <ctype.h>
#include <stdatomic.h>

#include "sample.h"

static void h_ping(sreq_t req);
static void h_pingfail(sreq_t req);
static void h_pingnull(sreq_t req);
static void h_pingjson(sreq_t req);
static void h_pingevent(sreq_t req);
static void h_eventadd(sreq_t req);
static void h_eventdel(sreq_t req);
static void h_eventsub(sreq_t req);
static void h_eventunsub(sreq_t req);
static void h_eventpush(sreq_t req);
static void h_broadcast(sreq_t req);
static void h_subcall(sreq_t req);
static void h_call(sreq_t req);
static void h_verbose(sreq_t req);
static void h_setctx(sreq_t req);
static void h_getctx(sreq_t req);
static void h_setloa(sreq_t req);
static void h_ok(sreq_t req);
static void h_reftok(sreq_t req);

#define SAMPLE_VERBS(V) \
	V("ping", h_ping, S_NONE, "replies 'Some String' and counts the calls") \
	V("pingfail", h_pingfail, S_NONE, "always fails") \
	V("pingnull", h_pingnull, S_NONE, "succeeds without response") \
	V("pingJson", h_pingjson, S_NONE, "replies a nested JSON object") \
	V("pingevent", h_pingevent, S_NONE, "broadcasts event with the argument") \
	V("eventadd", h_eventadd, S_NONE, "creates event {name} under {tag}") \
	V("eventdel", h_eventdel, S_NONE, "deletes the event of {tag}") \
	V("eventsub", h_eventsub, S_NONE, "subscribes to the event of {tag}") \
	V("eventunsub", h_eventunsub, S_NONE, "unsubscribes from the event of {tag}") \
	V("eventpush", h_eventpush, S_NONE, "pushes {data} on the event of {tag}") \
	V("broadcast", h_broadcast, S_NONE, "broadcasts {data} on {tag} or {name}") \
	V("subcall", h_subcall, S_NONE, "calls {api}/{verb} with {args} in the caller's session") \
	V("subcallsync", h_subcall, S_NONE, "same as subcall, awaited") \
	V("call", h_call, S_NONE, "calls {api}/{verb} with {args} in the API's session") \
	V("callsync", h_call, S_NONE, "same as call, awaited") \
	V("verbose", h_verbose, S_NONE, "logs the argument at each level") \
	V("setctx", h_setctx, S_NONE, "stores the argument as the session's context") \
	V("getctx", h_getctx, S_NONE, "replies the session's context") \
	V("set-loa", h_setloa, S_NONE, "sets the session's LOA") \
	V("has-loa-1", h_ok, S_LOA(1), "requires LOA >= 1") \
	V("has-loa-2", h_ok, S_LOA(2), "requires LOA >= 2") \
	V("has-loa-3", h_ok, S_LOA(3), "requires LOA >= 3") \
	V("checktok", h_ok, S_CHECK, "requires a valid token") \
	V("reftok", h_reftok, S_CHECK | S_RENEW, "renews the token") \
	V("close", h_ok, S_CHECK | S_CLOSE, "closes the session's state")

#include "sample-entry.h"

/* The events made by `eventadd`, by tag. */
struct tagged {
	struct tagged *next;
	char *tag;
	char *name;
	sevent_t event;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tagged *events;
static atomic_ullong pings;

static int sample_init(void) { return 0; }

/* Lock held. */
static struct tagged *find(const char *tag)
{
	struct tagged *t;
	for (t = events; t && strcmp(t->tag, tag); t = t->next);
	return t;
}

/* A value read "JSON-ish": text holding JSON is parsed, else kept as a string. */
static struct json_object *jsonish(const char *text)
{
	if (!text)
		return NULL;
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	int ok = json_tokener_get_error(tok) == json_tokener_success && tok->char_offset == (int)strlen(text);
	json_tokener_free(tok);
	if (ok)
		return o;
	json_object_put(o);
	return json_object_new_string(text);
}

static void h_ping(sreq_t req)
{
	char info[512];
	struct json_object *args = s_args(req);
	snprintf(info, sizeof info, "Ping Binder Daemon tag=pingSample count=%llu query=%s",
			(unsigned long long)atomic_fetch_add(&pings, 1) + 1, json_object_to_json_string(args));
	s_reply(req, json_object_new_string("Some String"), NULL, info);
}

static void h_pingfail(sreq_t req)
{
	s_reply(req, NULL, "failed", "Ping Binder Daemon fails");
}

static void h_pingnull(sreq_t req)
{
	s_reply(req, NULL, NULL, "Ping Binder Daemon - NO response");
}

static void h_pingjson(sreq_t req)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	json_object_object_add(o, "myString", json_object_new_string("Some String"));
	json_object_object_add(o, "myInt", json_object_new_int(1234));
	json_object_object_add(e, "subObjString", json_object_new_string("Some String"));
	json_object_object_add(e, "subObjInt", json_object_new_int(5678));
	json_object_object_add(o, "eobj", e);
	s_reply(req, o, NULL, NULL);
}

static void h_pingevent(sreq_t req)
{
	struct json_object *args = s_args(req);
	s_broadcast(req, "event", json_object_get(args));
	s_reply(req, json_object_get(args), NULL, NULL);
}

static void h_eventadd(sreq_t req)
{
	char info[256];
	const char *tag = s_value(req, "tag"), *name = s_value(req, "name");
	if (!tag || !name) {
		s_reply(req, NULL, "invalid-request", "expected {\"tag\":T,\"name\":N}");
		return;
	}
	pthread_mutex_lock(&lock);
	if (find(tag)) {
		pthread_mutex_unlock(&lock);
		snprintf(info, sizeof info, "tag \"%s\" already used", tag);
		s_reply(req, NULL, "failed", info);
		return;
	}
	struct tagged *t = calloc(1, sizeof *t);
	if (!t || s_event_make(req, name, &t->event) != 0) {
		pthread_mutex_unlock(&lock);
		free(t);
		s_reply(req, NULL, "failed", "cannot make the event");
		return;
	}
	t->tag = strdup(tag);
	t->name = strdup(name);
	t->next = events;
	events = t;
	pthread_mutex_unlock(&lock);
	s_reply(req, NULL, NULL, NULL);
}

/* The event of the request's tag (a reference taken by the caller: lock held). */
static struct tagged *tagged_of(sreq_t req, const char **tag)
{
	*tag = s_value(req, "tag");
	return *tag ? find(*tag) : NULL;
}

static void no_tag(sreq_t req, const char *tag)
{
	char info[256];
	if (!tag) {
		s_reply(req, NULL, "invalid-request", "expected {\"tag\":T}");
		return;
	}
	snprintf(info, sizeof info, "no event with tag \"%s\"", tag);
	s_reply(req, NULL, "failed", info);
}

static void h_eventdel(sreq_t req)
{
	const char *tag;
	struct tagged **p, *t;
	pthread_mutex_lock(&lock);
	t = tagged_of(req, &tag);
	if (!t) {
		pthread_mutex_unlock(&lock);
		no_tag(req, tag);
		return;
	}
	for (p = &events; *p != t; p = &(*p)->next);
	*p = t->next;
	pthread_mutex_unlock(&lock);
	s_event_unref(t->event);
	free(t->tag);
	free(t->name);
	free(t);
	s_reply(req, NULL, NULL, NULL);
}

static void subscription(sreq_t req, int subscribe)
{
	const char *tag;
	pthread_mutex_lock(&lock);
	struct tagged *t = tagged_of(req, &tag);
	int rc = t ? (subscribe ? s_subscribe(req, t->event) : s_unsubscribe(req, t->event)) : 0;
	pthread_mutex_unlock(&lock);
	if (!t)
		no_tag(req, tag);
	else
		s_reply(req, NULL, rc < 0 ? "failed" : NULL, rc < 0 ? "subscription refused" : NULL);
}

static void h_eventsub(sreq_t req) { subscription(req, 1); }

static void h_eventunsub(sreq_t req) { subscription(req, 0); }

static void h_eventpush(sreq_t req)
{
	const char *tag;
	struct json_object *data = jsonish(s_value(req, "data"));
	pthread_mutex_lock(&lock);
	struct tagged *t = tagged_of(req, &tag);
	if (!t) {
		pthread_mutex_unlock(&lock);
		json_object_put(data);
		no_tag(req, tag);
		return;
	}
	/* The C ABIs tell whether somebody received it (1) or not (0). */
	int n = s_push(t->event, data);
	pthread_mutex_unlock(&lock);
	s_reply(req, json_object_new_int(n > 0 ? n : 0), NULL, NULL);
}

static void h_broadcast(sreq_t req)
{
	const char *tag = s_value(req, "tag"), *name = s_value(req, "name");
	char local[256];
	if (tag) {
		pthread_mutex_lock(&lock);
		struct tagged *t = find(tag);
		if (t)
			snprintf(local, sizeof local, "%s", t->name);
		pthread_mutex_unlock(&lock);
		if (!t) {
			no_tag(req, tag);
			return;
		}
		name = local;
	}
	if (!name) {
		s_reply(req, NULL, "invalid-request", "expected {\"tag\":T} or {\"name\":N}");
		return;
	}
	s_broadcast(req, name, jsonish(s_value(req, "data")));
	s_reply(req, NULL, NULL, NULL);
}

/* Reads {api, verb, args}, then calls in the caller's session or the API's. */
static void forward(sreq_t req, int in_api_session)
{
	const char *api = s_value(req, "api"), *verb = s_value(req, "verb");
	if (!api) {
		s_reply(req, NULL, "invalid-request", "missing api");
		return;
	}
	if (!verb) {
		s_reply(req, NULL, "invalid-request", "missing verb");
		return;
	}
	char *a = strdup(api), *v = strdup(verb);
	struct json_object *args = jsonish(s_value(req, "args"));
	if (in_api_session)
		s_call_and_reply(req, a, v, args);
	else
		s_subcall_and_reply(req, a, v, args);
	free(a);
	free(v);
}

static void h_subcall(sreq_t req) { forward(req, 0); }

static void h_call(sreq_t req) { forward(req, 1); }

static void h_verbose(sreq_t req)
{
	const char *text = json_object_to_json_string(s_args(req));
	for (int level = AFB_SYSLOG_LEVEL_ERROR; level <= AFB_SYSLOG_LEVEL_DEBUG; level++)
		s_log(req, level, "verbose %d: %s", level, text);
	s_reply(req, NULL, NULL, NULL);
}

static void h_setctx(sreq_t req)
{
	struct json_object *args = s_args(req);
	s_ctx_set(req, json_object_get(args), s_json_put);
	s_reply(req, json_object_get(args), NULL, NULL);
}

static void h_getctx(sreq_t req)
{
	struct json_object *ctx = s_ctx_get(req);
	s_reply(req, ctx ? json_object_get(ctx) : NULL, NULL, NULL);
}

static void h_setloa(sreq_t req)
{
	char info[64], *end;
	struct json_object *args = s_args(req);
	const char *text = json_object_is_type(args, json_type_string) ? json_object_get_string(args)
			: json_object_is_type(args, json_type_int) ? json_object_to_json_string(args) : NULL;
	while (text && isspace((unsigned char)*text))
		text++;
	if (!text || !isdigit((unsigned char)*text)) {
		s_reply(req, NULL, "invalid-request", "expected an integer LOA");
		return;
	}
	unsigned long n = strtoul(text, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (*end) {
		s_reply(req, NULL, "invalid-request", "expected an integer LOA");
		return;
	}
	if (s_set_loa(req, (unsigned)n) < 0) {
		s_reply(req, NULL, "invalid-request", "LOA out of range");
		return;
	}
	snprintf(info, sizeof info, "LOA set to %lu", n);
	s_reply(req, NULL, NULL, info);
}

static void h_ok(sreq_t req)
{
	s_reply(req, NULL, NULL, NULL);
}

static void h_reftok(sreq_t req)
{
	/* The binder renewed the token before the verb (S_RENEW). */
	s_reply(req, NULL, NULL, "token refreshed");
}
