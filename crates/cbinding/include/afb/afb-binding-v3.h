/*
 * afb-binding-v3.h: binding ABI version 3. A binding exports
 * `afbBindingV3` and/or `afbBindingV3entry`, and the weak variable
 * `afbBindingV3root` that the binder sets.
 */
#pragma once

#include "afb-x2.h"

struct afb_verb_v2;
struct afb_verb_v3;

struct afb_api_x3_itf {
	void (*vverbose)(struct afb_api_x3 *api, int level, const char *file, int line, const char *func,
			const char *fmt, va_list args);
	void *(*get_event_loop)(struct afb_api_x3 *api);
	void *(*get_user_bus)(struct afb_api_x3 *api);
	void *(*get_system_bus)(struct afb_api_x3 *api);
	int (*rootdir_get_fd)(struct afb_api_x3 *api);
	int (*rootdir_open_locale)(struct afb_api_x3 *api, const char *filename, int flags, const char *locale);
	int (*queue_job)(struct afb_api_x3 *api, void (*callback)(int signum, void *arg), void *argument,
			void *group, int timeout);
	int (*require_api)(struct afb_api_x3 *api, const char *name, int initialized);
	int (*add_alias)(struct afb_api_x3 *api, const char *name, const char *as_name);
	int (*event_broadcast)(struct afb_api_x3 *api, const char *name, struct json_object *object);
	struct afb_event_x2 *(*event_make)(struct afb_api_x3 *api, const char *name);
	void (*legacy_call)(struct afb_api_x3 *api, const char *apiname, const char *verb, struct json_object *args,
			void (*callback)(void *closure, int status, struct json_object *result, struct afb_api_x3 *api),
			void *closure);
	int (*legacy_call_sync)(struct afb_api_x3 *api, const char *apiname, const char *verb,
			struct json_object *args, struct json_object **result);
	struct afb_api_x3 *(*api_new_api)(struct afb_api_x3 *api, const char *apiname, const char *info,
			int noconcurrency, int (*preinit)(void *closure, struct afb_api_x3 *api), void *closure);
	int (*api_set_verbs_v2)(struct afb_api_x3 *api, const struct afb_verb_v2 *verbs);
	int (*api_add_verb)(struct afb_api_x3 *api, const char *verb, const char *info,
			void (*callback)(struct afb_req_x2 *req), void *vcbdata, const struct afb_auth *auth,
			uint32_t session, int glob);
	int (*api_del_verb)(struct afb_api_x3 *api, const char *verb, void **vcbdata);
	int (*api_set_on_event)(struct afb_api_x3 *api,
			void (*onevent)(struct afb_api_x3 *api, const char *event, struct json_object *object));
	int (*api_set_on_init)(struct afb_api_x3 *api, int (*oninit)(struct afb_api_x3 *api));
	void (*api_seal)(struct afb_api_x3 *api);
	int (*api_set_verbs_v3)(struct afb_api_x3 *api, const struct afb_verb_v3 *verbs);
	int (*event_handler_add)(struct afb_api_x3 *api, const char *pattern,
			void (*callback)(void *closure, const char *event, struct json_object *object,
			struct afb_api_x3 *api), void *closure);
	int (*event_handler_del)(struct afb_api_x3 *api, const char *pattern, void **closure);
	void (*call)(struct afb_api_x3 *api, const char *apiname, const char *verb, struct json_object *args,
			void (*callback)(void *closure, struct json_object *object, const char *error,
			const char *info, struct afb_api_x3 *api), void *closure);
	int (*call_sync)(struct afb_api_x3 *api, const char *apiname, const char *verb, struct json_object *args,
			struct json_object **object, char **error, char **info);
	int (*class_provide)(struct afb_api_x3 *api, const char *name);
	int (*class_require)(struct afb_api_x3 *api, const char *name);
	int (*delete_api)(struct afb_api_x3 *api);
	struct json_object *(*settings)(struct afb_api_x3 *api);
};

/* The public part of an API. */
struct afb_api_x3 {
	const struct afb_api_x3_itf *itf;
	const char *apiname;
	void *userdata;
	int logmask;
};

struct afb_verb_v3 {
	const char *verb;
	void (*callback)(struct afb_req_x2 *req);
	const struct afb_auth *auth;
	const char *info;
	void *vcbdata;
	uint16_t session;
	uint16_t glob: 1;
};

struct afb_binding_v3 {
	const char *api;
	const char *specification;
	const char *info;
	const struct afb_verb_v3 *verbs;
	int (*preinit)(struct afb_api_x3 *api);
	int (*init)(struct afb_api_x3 *api);
	void (*onevent)(struct afb_api_x3 *api, const char *event, struct json_object *object);
	void *userdata;
	const char *provide_class;
	const char *require_class;
	const char *require_api;
	unsigned noconcurrency: 1;
};

typedef struct afb_api_x3 *afb_api_t;
typedef struct afb_req_x2 *afb_req_t;
typedef struct afb_event_x2 *afb_event_t;

struct afb_api_x3 *afbBindingV3root __attribute__((weak));

/* A few helpers (the binder's functions are reached through the tables). */
static inline struct json_object *afb_req_json(afb_req_t r) { return r->itf->json(r); }
static inline const char *afb_req_value(afb_req_t r, const char *n) { return r->itf->get(r, n).value; }
static inline void afb_req_reply(afb_req_t r, struct json_object *o, const char *e, const char *i)
{ r->itf->reply(r, o, e, i); }
static inline afb_req_t afb_req_addref(afb_req_t r) { return r->itf->addref(r); }
static inline void afb_req_unref(afb_req_t r) { r->itf->unref(r); }

__attribute__((format(printf, 4, 5)))
static inline void afb_req_reply_f(afb_req_t r, struct json_object *o, const char *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->itf->vreply(r, o, e, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static inline void afb_api_log(afb_api_t api, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	api->itf->vverbose(api, level, __FILE__, __LINE__, __func__, fmt, ap);
	va_end(ap);
}
