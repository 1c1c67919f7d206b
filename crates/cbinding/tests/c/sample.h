/*
 * sample.h: what the C samples (tictactoe.c, auth.c) need of a binding ABI,
 * for each of the four versions, so that one source gives a binding of
 * ABI v1, v2, v3 or v4 (-DSAMPLE_ABI=N) under the API name SAMPLE_API.
 * Written for this project's tests against our headers (include/afb/).
 *
 * A sample includes this file (handles and helpers: sreq_t, s_reply,
 * s_value, s_ctx_get, ...), then defines
 *   SAMPLE_VERBS(V): its verbs as V(name, callback, session, info) entries,
 *       callback: void cb(sreq_t req); session: S_NONE or an OR of S_CHECK,
 *       S_LOA(n) (LOA >= n), S_RENEW, S_CLOSE;
 *   static int sample_init(void): run when the binder starts the API;
 * and includes "sample-entry.h": the verb table and the entry points of the
 * chosen version.
 */
#pragma once

#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#ifndef SAMPLE_ABI
#error "define SAMPLE_ABI (1, 2, 3 or 4)"
#endif
#ifndef SAMPLE_API
#error "define SAMPLE_API (the API name)"
#endif

/* Portable session requirements. */
#define S_NONE   0u
#define S_LOA(n) ((unsigned)(n) & 3u)
#define S_CHECK  4u
#define S_RENEW  8u
#define S_CLOSE  16u

/* ---- the request, event and API handles of each version ---------------- */

#if SAMPLE_ABI == 4
#include <afb/afb-binding-v4.h>
typedef afb_req_t sreq_t;
typedef afb_event_t sevent_t;
#elif SAMPLE_ABI == 3
#include <afb/afb-binding-v3.h>
typedef afb_req_t sreq_t;
typedef afb_event_t sevent_t;
#elif SAMPLE_ABI == 2
#include <afb/afb-binding-v2.h>
typedef struct afb_req_x1 sreq_t;
typedef struct afb_event_x1 sevent_t;
#elif SAMPLE_ABI == 1
#include <afb/afb-binding-v1.h>
typedef struct afb_req_x1 sreq_t;
typedef struct afb_event_x1 sevent_t;
static const struct afb_binding_interface_v1 *s_itf1;
static struct afb_service_x1 s_service1;
#else
#error "SAMPLE_ABI must be 1, 2, 3 or 4"
#endif

/* The status code of an error name (v4 replies carry codes, not names). */
static inline int s_errcode(const char *error)
{
	static const struct { const char *name; int code; } table[] = {
		{ "internal-error", AFB_ERRNO_INTERNAL_ERROR },
		{ "out-of-memory", AFB_ERRNO_OUT_OF_MEMORY },
		{ "not-available", AFB_ERRNO_NOT_AVAILABLE },
		{ "unauthorized", AFB_ERRNO_UNAUTHORIZED },
		{ "invalid-token", AFB_ERRNO_INVALID_TOKEN },
		{ "forbidden", AFB_ERRNO_FORBIDDEN },
		{ "insufficient-scope", AFB_ERRNO_INSUFFICIENT_SCOPE },
		{ "bad-api-state", AFB_ERRNO_BAD_API_STATE },
		{ "invalid-request", AFB_ERRNO_INVALID_REQUEST },
		{ "bad-state", AFB_ERRNO_BAD_STATE },
		{ "disconnected", AFB_ERRNO_DISCONNECTED },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(table[i].name, error))
			return table[i].code;
	return -1000; /* not in the table: "failed" */
}

/* Releases a json-c object (a context value's destructor). */
static void s_json_put(void *obj) { json_object_put(obj); }

#if SAMPLE_ABI == 4
/* A json-c object as a v4 data (takes the reference). */

static inline afb_data_t s_data(struct json_object *obj)
{
	afb_data_t d = NULL;
	if (afbV4.create_data_raw(&d, AFB_TYPE_JSON_C, obj, 0, s_json_put, obj) < 0)
		return NULL;
	return d;
}
#endif

/*
 * The request handles of v1/v2 are structures and those of v3 pointers:
 * SITF gives a request's x2 function table, SX2 the x2 request itself.
 */
#if SAMPLE_ABI == 3
#define SITF(r) ((r)->itf)
#define SX2(r) (r)
#elif SAMPLE_ABI != 4
#define SITF(r) ((r).itf)
#define SX2(r) ((r).closure)
#endif

/* The whole argument as json-c (borrowed from the request). */
static inline struct json_object *s_args(sreq_t r)
{
#if SAMPLE_ABI == 4
	afb_data_t d = NULL;
	void *p = NULL;
	if (afbV4.req_param_convert(r, 0, AFB_TYPE_JSON_C, &d) < 0 || afbV4.data_get_constant(d, &p, NULL) < 0)
		return NULL;
	return p;
#else
	return SITF(r)->json(SX2(r));
#endif
}

/* The argument `name` as text (strings as is, other values as JSON). */
static inline const char *s_value(sreq_t r, const char *name)
{
#if SAMPLE_ABI == 4
	struct json_object *o = s_args(r), *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, name, &v))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : json_object_to_json_string(v);
#else
	return SITF(r)->get(SX2(r), name).value;
#endif
}

/* Replies (takes `obj`); `error` NULL for success. v4 has no info text. */
static inline void s_reply(sreq_t r, struct json_object *obj, const char *error, const char *info)
{
#if SAMPLE_ABI == 4
	afb_data_t d = obj ? s_data(obj) : NULL;
	(void)info;
	afbV4.req_reply(r, error ? s_errcode(error) : 0, d ? 1 : 0, &d);
#else
	SITF(r)->reply(SX2(r), obj, error, info);
#endif
}

static inline sreq_t s_addref(sreq_t r)
{
#if SAMPLE_ABI == 4
	return afbV4.req_addref(r);
#else
	SITF(r)->addref(SX2(r));
	return r;
#endif
}

static inline void s_unref(sreq_t r)
{
#if SAMPLE_ABI == 4
	afbV4.req_unref(r);
#else
	SITF(r)->unref(SX2(r));
#endif
}

/* The session's context value for this API, or NULL. */
static inline void *s_ctx_get(sreq_t r)
{
#if SAMPLE_ABI == 4
	void *v = NULL;
	return afbV4.req_cookie_get(r, &v) < 0 ? NULL : v;
#else
	return SITF(r)->context_make(SX2(r), 0, NULL, NULL, NULL);
#endif
}

#if SAMPLE_ABI != 4
static void *s_ctx_identity(void *closure) { return closure; }
#endif

/* Replaces the context value (the previous one is freed by the binder). */
static inline void s_ctx_set(sreq_t r, void *value, void (*freecb)(void *))
{
#if SAMPLE_ABI == 4
	afbV4.req_cookie_set(r, value, freecb, value);
#else
	SITF(r)->context_make(SX2(r), 1, s_ctx_identity, freecb, value);
#endif
}

static inline int s_set_loa(sreq_t r, unsigned loa)
{
#if SAMPLE_ABI == 4
	return afbV4.req_session_set_LOA(r, loa);
#else
	return SITF(r)->session_set_LOA(SX2(r), loa);
#endif
}

/* Makes event SAMPLE_API/name; 0 on success. */
static inline int s_event_make(sreq_t r, const char *name, sevent_t *ev)
{
#if SAMPLE_ABI == 4
	return afbV4.api_new_event(afbV4.req_api(r), name, ev);
#elif SAMPLE_ABI == 3
	*ev = r->api->itf->event_make(r->api, name);
	return *ev ? 0 : -1;
#elif SAMPLE_ABI == 2
	(void)r;
	*ev = afbBindingV2data.daemon.itf->event_make(afbBindingV2data.daemon.closure, name);
	return ev->closure ? 0 : -1;
#else
	(void)r;
	*ev = s_itf1->daemon.itf->event_make(s_itf1->daemon.closure, name);
	return ev->closure ? 0 : -1;
#endif
}

static inline void s_event_unref(sevent_t ev)
{
#if SAMPLE_ABI == 4
	afbV4.event_unref(ev);
#elif SAMPLE_ABI == 3
	ev->itf->unref(ev);
#else
	ev.itf->unref(ev.closure);
#endif
}

/* Pushes `obj` (taken) to the event's subscribers; > 0 when somebody got it. */
static inline int s_push(sevent_t ev, struct json_object *obj)
{
#if SAMPLE_ABI == 4
	afb_data_t d = obj ? s_data(obj) : NULL;
	return afbV4.event_push(ev, d ? 1 : 0, &d);
#elif SAMPLE_ABI == 3
	return ev->itf->push(ev, obj);
#else
	return ev.itf->push(ev.closure, obj);
#endif
}

static inline int s_subscribe(sreq_t r, sevent_t ev)
{
#if SAMPLE_ABI == 4
	return afbV4.req_subscribe(r, ev);
#elif SAMPLE_ABI == 3
	return SITF(r)->subscribe_event_x2(SX2(r), ev);
#else
	return SITF(r)->legacy_subscribe_event_x1(SX2(r), ev);
#endif
}

static inline int s_unsubscribe(sreq_t r, sevent_t ev)
{
#if SAMPLE_ABI == 4
	return afbV4.req_unsubscribe(r, ev);
#elif SAMPLE_ABI == 3
	return SITF(r)->unsubscribe_event_x2(SX2(r), ev);
#else
	return SITF(r)->legacy_unsubscribe_event_x1(SX2(r), ev);
#endif
}

/* Ends the session's state for this API after the reply. */
static inline void s_session_close(sreq_t r)
{
#if SAMPLE_ABI == 4
	afbV4.req_session_close(r);
#else
	SITF(r)->session_close(SX2(r));
#endif
}

/* Broadcasts SAMPLE_API/name with `obj` (taken); 0 when sent. */
static inline int s_broadcast(sreq_t r, const char *name, struct json_object *obj)
{
#if SAMPLE_ABI == 4
	afb_data_t d = s_data(obj);
	return afbV4.api_event_broadcast(afbV4.req_api(r), name, d ? 1 : 0, &d);
#elif SAMPLE_ABI == 3
	return r->api->itf->event_broadcast(r->api, name, obj);
#elif SAMPLE_ABI == 2
	(void)r;
	return afbBindingV2data.daemon.itf->event_broadcast(afbBindingV2data.daemon.closure, name, obj);
#else
	(void)r;
	return s_itf1->daemon.itf->event_broadcast(s_itf1->daemon.closure, name, obj);
#endif
}

/*
 * Calls api/verb with `args` (taken) in the caller's session, waits, and
 * forwards the reply (response, status, info) as this request's reply.
 */
static inline void s_subcall_and_reply(sreq_t r, const char *api, const char *verb, struct json_object *args)
{
#if SAMPLE_ABI == 4
	afb_data_t param = s_data(args), replies[4];
	unsigned n = 4;
	int status = 0;
	if (afbV4.req_subcall_sync(r, api, verb, param ? 1 : 0, &param, 0, &status, &n, replies) < 0 && status >= 0)
		status = AFB_ERRNO_INTERNAL_ERROR;
	afbV4.req_reply(r, status, n, replies);
#else
	struct json_object *obj = NULL;
	char *error = NULL, *info = NULL;
	SITF(r)->subcallsync(SX2(r), api, verb, args, 0, &obj, &error, &info);
	s_reply(r, obj, error, info);
	free(error);
	free(info);
#endif
}

/*
 * Calls api/verb with `args` (taken) in the API's own session, waits, and
 * forwards the reply as this request's reply (v1/v2 get the legacy reply
 * envelope {"request":{"status","info"},"response"} and unpack it).
 */
static inline void s_call_and_reply(sreq_t r, const char *api, const char *verb, struct json_object *args)
{
#if SAMPLE_ABI == 4
	afb_data_t param = args ? s_data(args) : NULL, replies[4];
	unsigned n = 4;
	int status = 0;
	if (afbV4.api_call_sync(afbV4.req_api(r), api, verb, param ? 1 : 0, &param, &status, &n, replies) < 0
			&& status >= 0)
		status = AFB_ERRNO_INTERNAL_ERROR;
	afbV4.req_reply(r, status, n, replies);
#elif SAMPLE_ABI == 3
	struct json_object *obj = NULL;
	char *error = NULL, *info = NULL;
	r->api->itf->call_sync(r->api, api, verb, args, &obj, &error, &info);
	s_reply(r, obj, error, info);
	free(error);
	free(info);
#else
#if SAMPLE_ABI == 2
	const struct afb_service_x1 *svc = &afbBindingV2data.service;
#else
	const struct afb_service_x1 *svc = &s_service1;
#endif
	struct json_object *env = NULL, *req = NULL, *o = NULL, *resp = NULL;
	const char *status = NULL, *info = NULL;
	svc->itf->call_sync(svc->closure, api, verb, args, &env);
	if (json_object_object_get_ex(env, "request", &req)) {
		if (json_object_object_get_ex(req, "status", &o))
			status = json_object_get_string(o);
		if (json_object_object_get_ex(req, "info", &o))
			info = json_object_get_string(o);
	}
	json_object_object_get_ex(env, "response", &resp);
	s_reply(r, resp ? json_object_get(resp) : NULL, status && strcmp(status, "success") ? status : NULL, info);
	json_object_put(env);
#endif
}

/* Logs at `level` (syslog numbering) in the request's name. */
__attribute__((format(printf, 3, 4)))
static inline void s_log(sreq_t r, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
#if SAMPLE_ABI == 4
	afbV4.req_vverbose(r, level, __FILE__, __LINE__, __func__, fmt, ap);
#else
	SITF(r)->vverbose(SX2(r), level, __FILE__, __LINE__, __func__, fmt, ap);
#endif
	va_end(ap);
}
