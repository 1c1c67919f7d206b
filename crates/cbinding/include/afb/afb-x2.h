/*
 * afb-x2.h: the request, event, daemon and service interfaces shared by
 * binding ABI versions 1, 2 and 3 (function tables in their ABI order).
 */
#pragma once

#include "afb-common.h"

struct afb_api_x3;
struct afb_req_x2;
struct afb_event_x2;
struct afb_req_x1;

/* An argument by name: its text value and the path of an uploaded file. */
struct afb_arg {
	const char *name;
	const char *value;
	const char *path;
};

struct afb_event_x2_itf {
	int (*broadcast)(struct afb_event_x2 *event, struct json_object *obj);
	int (*push)(struct afb_event_x2 *event, struct json_object *obj);
	void (*unref)(struct afb_event_x2 *event);
	const char *(*name)(struct afb_event_x2 *event);
	struct afb_event_x2 *(*addref)(struct afb_event_x2 *event);
};

struct afb_event_x2 { const struct afb_event_x2_itf *itf; };

/* v1/v2 handles, passed by value. */
struct afb_event_x1 { const struct afb_event_x2_itf *itf; struct afb_event_x2 *closure; };

struct afb_req_x2_itf;
struct afb_req_x1 { const struct afb_req_x2_itf *itf; struct afb_req_x2 *closure; };

struct afb_req_x2_itf {
	struct json_object *(*json)(struct afb_req_x2 *req);
	struct afb_arg (*get)(struct afb_req_x2 *req, const char *name);
	void (*legacy_success)(struct afb_req_x2 *req, struct json_object *obj, const char *info);
	void (*legacy_fail)(struct afb_req_x2 *req, const char *status, const char *info);
	void (*legacy_vsuccess)(struct afb_req_x2 *req, struct json_object *obj, const char *fmt, va_list args);
	void (*legacy_vfail)(struct afb_req_x2 *req, const char *status, const char *fmt, va_list args);
	void *(*legacy_context_get)(struct afb_req_x2 *req);
	void (*legacy_context_set)(struct afb_req_x2 *req, void *value, void (*free_value)(void*));
	struct afb_req_x2 *(*addref)(struct afb_req_x2 *req);
	void (*unref)(struct afb_req_x2 *req);
	void (*session_close)(struct afb_req_x2 *req);
	int (*session_set_LOA)(struct afb_req_x2 *req, unsigned level);
	int (*legacy_subscribe_event_x1)(struct afb_req_x2 *req, struct afb_event_x1 event);
	int (*legacy_unsubscribe_event_x1)(struct afb_req_x2 *req, struct afb_event_x1 event);
	void (*legacy_subcall)(struct afb_req_x2 *req, const char *api, const char *verb, struct json_object *args,
			void (*callback)(void *closure, int status, struct json_object *result), void *closure);
	int (*legacy_subcallsync)(struct afb_req_x2 *req, const char *api, const char *verb, struct json_object *args,
			struct json_object **result);
	void (*vverbose)(struct afb_req_x2 *req, int level, const char *file, int line, const char *func,
			const char *fmt, va_list args);
	void *(*legacy_store_req)(struct afb_req_x2 *req);
	void (*legacy_subcall_req)(struct afb_req_x2 *req, const char *api, const char *verb, struct json_object *args,
			void (*callback)(void *closure, int status, struct json_object *result, struct afb_req_x1 req),
			void *closure);
	int (*has_permission)(struct afb_req_x2 *req, const char *permission);
	char *(*get_application_id)(struct afb_req_x2 *req);
	void *(*context_make)(struct afb_req_x2 *req, int replace, void *(*create_value)(void *closure),
			void (*free_value)(void *value), void *closure);
	int (*subscribe_event_x2)(struct afb_req_x2 *req, struct afb_event_x2 *event);
	int (*unsubscribe_event_x2)(struct afb_req_x2 *req, struct afb_event_x2 *event);
	void (*legacy_subcall_request)(struct afb_req_x2 *req, const char *api, const char *verb,
			struct json_object *args,
			void (*callback)(void *closure, int status, struct json_object *result, struct afb_req_x2 *req),
			void *closure);
	int (*get_uid)(struct afb_req_x2 *req);
	void (*reply)(struct afb_req_x2 *req, struct json_object *obj, const char *error, const char *info);
	void (*vreply)(struct afb_req_x2 *req, struct json_object *obj, const char *error, const char *fmt,
			va_list args);
	struct json_object *(*get_client_info)(struct afb_req_x2 *req);
	void (*subcall)(struct afb_req_x2 *req, const char *api, const char *verb, struct json_object *args,
			int flags, void (*callback)(void *closure, struct json_object *object, const char *error,
			const char *info, struct afb_req_x2 *req), void *closure);
	int (*subcallsync)(struct afb_req_x2 *req, const char *api, const char *verb, struct json_object *args,
			int flags, struct json_object **object, char **error, char **info);
};

/* The public part of a request (v3; the closure of v1/v2 handles). */
struct afb_req_x2 {
	const struct afb_req_x2_itf *itf;
	struct afb_api_x3 *api;
	void *vcbdata;
	const char *called_api;
	const char *called_verb;
};

/* v1/v2: what the daemon offers, and calls in the API's name. */
struct afb_daemon_itf_x1 {
	int (*event_broadcast)(struct afb_api_x3 *closure, const char *name, struct json_object *object);
	void *(*get_event_loop)(struct afb_api_x3 *closure);
	void *(*get_user_bus)(struct afb_api_x3 *closure);
	void *(*get_system_bus)(struct afb_api_x3 *closure);
	void (*vverbose_v1)(struct afb_api_x3 *closure, int level, const char *file, int line, const char *fmt,
			va_list args);
	struct afb_event_x1 (*event_make)(struct afb_api_x3 *closure, const char *name);
	int (*rootdir_get_fd)(struct afb_api_x3 *closure);
	int (*rootdir_open_locale)(struct afb_api_x3 *closure, const char *filename, int flags, const char *locale);
	int (*queue_job)(struct afb_api_x3 *closure, void (*callback)(int signum, void *arg), void *argument,
			void *group, int timeout);
	void (*vverbose_v2)(struct afb_api_x3 *closure, int level, const char *file, int line, const char *func,
			const char *fmt, va_list args);
	struct afb_req_x1 (*unstore_req)(struct afb_api_x3 *closure, void *stored);
	int (*require_api)(struct afb_api_x3 *closure, const char *name, int initialized);
	int (*add_alias)(struct afb_api_x3 *closure, const char *name, const char *as_name);
	struct afb_api_x3 *(*new_api)(struct afb_api_x3 *closure, const char *api, const char *info,
			int noconcurrency, int (*preinit)(void *closure, struct afb_api_x3 *api), void *closure2);
};

struct afb_daemon_x1 { const struct afb_daemon_itf_x1 *itf; struct afb_api_x3 *closure; };

struct afb_service_itf_x1 {
	void (*call)(struct afb_api_x3 *closure, const char *api, const char *verb, struct json_object *args,
			void (*callback)(void *closure, int status, struct json_object *result), void *cbclosure);
	int (*call_sync)(struct afb_api_x3 *closure, const char *api, const char *verb, struct json_object *args,
			struct json_object **result);
};

struct afb_service_x1 { const struct afb_service_itf_x1 *itf; struct afb_api_x3 *closure; };
