/*
 * afb-binding-v4.h: binding ABI version 4 (interface 4r1, revisions 1 to
 * 9). A binding exports `afbBindingV4` and/or `afbBindingV4entry`, and the
 * weak variables `afbBindingV4root`, `afbBindingV4r1_itfptr` (set by the
 * binder) and `afbBindingV4_itf_revision` (read by the binder).
 *
 * The function table only grows at its end: each revision appends members.
 * A binding is compiled for one revision (AFB_BINDING_X4R1_ITF_REVISION),
 * sees the members of that revision only, and declares it in
 * `afbBindingV4_itf_revision`; a binder refuses a revision it does not
 * implement. Choosing the revision:
 *   - not defined, or defined as 0: the current revision (7);
 *   - above the full revision (9): the full revision;
 *   - else the value given (the lower, the more binders load the binding).
 */
#pragma once

#include <time.h>
#include "afb-common.h"

/* Every revision these headers know. */
#define AFB_BINDING_X4R1_ITF_FULL_REVISION 9
/* The revision of a binding that does not choose one. */
#define AFB_BINDING_X4R1_ITF_CURRENT_REVISION 7

#if !defined(AFB_BINDING_X4R1_ITF_REVISION)
#define AFB_BINDING_X4R1_ITF_REVISION AFB_BINDING_X4R1_ITF_CURRENT_REVISION
#elif AFB_BINDING_X4R1_ITF_REVISION == 0
#undef AFB_BINDING_X4R1_ITF_REVISION
#define AFB_BINDING_X4R1_ITF_REVISION AFB_BINDING_X4R1_ITF_CURRENT_REVISION
#elif AFB_BINDING_X4R1_ITF_REVISION > AFB_BINDING_X4R1_ITF_FULL_REVISION
#undef AFB_BINDING_X4R1_ITF_REVISION
#define AFB_BINDING_X4R1_ITF_REVISION AFB_BINDING_X4R1_ITF_FULL_REVISION
#endif

typedef struct afb_api_x4 *afb_api_t;
typedef struct afb_req_x4 *afb_req_t;
typedef struct afb_event_x4 *afb_event_t;
typedef struct afb_data_x4 *afb_data_t;
typedef struct afb_type_x4 *afb_type_t;
typedef struct afb_evfd_x4 *afb_evfd_t;
typedef struct afb_timer_x4 *afb_timer_t;

/* Why the main control callback is called. */
typedef enum afb_ctlid {
	afb_ctlid_Root_Entry = 0,
	afb_ctlid_Pre_Init = 1,
	afb_ctlid_Init = 2,
	afb_ctlid_Class_Ready = 3,
	afb_ctlid_Orphan_Event = 4,
	afb_ctlid_Exiting = 5
} afb_ctlid_t;

union afb_ctlarg {
	struct { const char *path; const char *uid; struct json_object *config; } root_entry;
	struct { const char *path; const char *uid; struct json_object *config; } pre_init;
	struct { const char *name; } orphan_event;
	struct { int code; } exiting;
};
typedef const union afb_ctlarg *afb_ctlarg_t;

typedef int (*afb_api_callback_t)(afb_api_t api, afb_ctlid_t ctlid, afb_ctlarg_t ctlarg, void *userdata);
typedef void (*afb_req_callback_t)(afb_req_t req, unsigned nparams, afb_data_t const params[]);
typedef void (*afb_call_callback_t)(void *closure, int status, unsigned nreplies, afb_data_t const replies[],
		afb_api_t api);
typedef void (*afb_subcall_callback_t)(void *closure, int status, unsigned nreplies, afb_data_t const replies[],
		afb_req_t req);
typedef void (*afb_check_callback_t)(void *closure, int status, afb_req_t req);
typedef void (*afb_event_handler_t)(void *closure, const char *event_name, unsigned nparams,
		afb_data_t const params[], afb_api_t api);
typedef int (*afb_type_converter_t)(void *closure, afb_data_t from, afb_type_t type, afb_data_t *to);
typedef int (*afb_type_updater_t)(void *closure, afb_data_t from, afb_type_t type, afb_data_t to);
typedef void (*afb_evfd_handler_t)(afb_evfd_t efd, int fd, uint32_t revents, void *closure);
typedef void (*afb_timer_handler_t)(afb_timer_t timer, void *closure, unsigned decount);

struct afb_verb_v4;

struct afb_binding_x4r1_itf {
	/* data */
	int (*create_data_raw)(afb_data_t *data, afb_type_t type, const void *buffer, size_t size,
			void (*dispose)(void*), void *closure);
	int (*create_data_alloc)(afb_data_t *data, afb_type_t type, void **pointer, size_t size);
	int (*create_data_copy)(afb_data_t *data, afb_type_t type, const void *pointer, size_t size);
	afb_data_t (*data_addref)(afb_data_t data);
	void (*data_unref)(afb_data_t data);
	int (*data_get_mutable)(afb_data_t data, void **pointer, size_t *size);
	int (*data_get_constant)(afb_data_t data, void **pointer, size_t *size);
	int (*data_update)(afb_data_t data, afb_data_t value);
	int (*data_convert)(afb_data_t data, afb_type_t type, afb_data_t *result);
	afb_type_t (*data_type)(afb_data_t data);
	void (*data_notify_changed)(afb_data_t data);
	int (*data_is_volatile)(afb_data_t data);
	void (*data_set_volatile)(afb_data_t data);
	void (*data_set_not_volatile)(afb_data_t data);
	int (*data_is_constant)(afb_data_t data);
	void (*data_set_constant)(afb_data_t data);
	void (*data_set_not_constant)(afb_data_t data);
	void (*data_lock_read)(afb_data_t data);
	int (*data_try_lock_read)(afb_data_t data);
	void (*data_lock_write)(afb_data_t data);
	int (*data_try_lock_write)(afb_data_t data);
	void (*data_unlock)(afb_data_t data);
	/* requests */
	int (*req_logmask)(afb_req_t req);
	afb_req_t (*req_addref)(afb_req_t req);
	void (*req_unref)(afb_req_t req);
	afb_api_t (*req_api)(afb_req_t req);
	void *(*req_vcbdata)(afb_req_t req);
	const char *(*req_called_api)(afb_req_t req);
	const char *(*req_called_verb)(afb_req_t req);
	void (*req_vverbose)(afb_req_t req, int level, const char *file, int line, const char *func,
			const char *fmt, va_list args);
	void (*req_session_close)(afb_req_t req);
	int (*req_session_set_LOA)(afb_req_t req, unsigned level);
	void *(*LEGACY_req_cookie)(afb_req_t req, int replace, void *(*createcb)(void *closure),
			void (*freecb)(void *value), void *closure);
	int (*req_subscribe)(afb_req_t req, afb_event_t event);
	int (*req_unsubscribe)(afb_req_t req, afb_event_t event);
	struct json_object *(*req_get_client_info)(afb_req_t req);
	void (*req_check_permission)(afb_req_t req, const char *permission, afb_check_callback_t callback,
			void *closure);
	unsigned (*req_parameters)(afb_req_t req, afb_data_t const **params);
	void (*req_reply)(afb_req_t req, int status, unsigned nreplies, afb_data_t const *replies);
	void (*req_subcall)(afb_req_t req, const char *apiname, const char *verbname, unsigned nparams,
			afb_data_t const params[], int flags, afb_subcall_callback_t callback, void *closure);
	int (*req_subcall_sync)(afb_req_t req, const char *apiname, const char *verbname, unsigned nparams,
			afb_data_t const params[], int flags, int *status, unsigned *nreplies, afb_data_t replies[]);
	/* events */
	afb_event_t (*event_addref)(afb_event_t event);
	void (*event_unref)(afb_event_t event);
	const char *(*event_name)(afb_event_t event);
	int (*event_push)(afb_event_t event, unsigned nparams, afb_data_t const params[]);
	int (*event_broadcast)(afb_event_t event, unsigned nparams, afb_data_t const params[]);
	/* types */
	int (*type_lookup)(afb_type_t *type, const char *name);
	int (*type_register)(afb_type_t *type, const char *name, int flags);
	const char *(*type_name)(afb_type_t type);
	int (*type_set_family)(afb_type_t type, afb_type_t family);
	int (*type_add_converter)(afb_type_t fromtype, afb_type_t totype, afb_type_converter_t converter,
			void *closure);
	int (*type_add_updater)(afb_type_t fromtype, afb_type_t totype, afb_type_updater_t updater, void *closure);
	/* APIs */
	int (*api_logmask)(afb_api_t api);
	void (*api_vverbose)(afb_api_t api, int level, const char *file, int line, const char *func,
			const char *fmt, va_list args);
	const char *(*api_name)(afb_api_t api);
	void *(*api_get_userdata)(afb_api_t api);
	void *(*api_set_userdata)(afb_api_t api, void *userdata);
	struct json_object *(*api_settings)(afb_api_t api);
	int (*api_event_broadcast)(afb_api_t api, const char *name, unsigned nparams, afb_data_t const params[]);
	int (*api_new_event)(afb_api_t api, const char *name, afb_event_t *event);
	int (*api_event_handler_add)(afb_api_t api, const char *pattern, afb_event_handler_t callback,
			void *closure);
	int (*api_event_handler_del)(afb_api_t api, const char *pattern, void **closure);
	void (*api_call)(afb_api_t api, const char *apiname, const char *verbname, unsigned nparams,
			afb_data_t const params[], afb_call_callback_t callback, void *closure);
	int (*api_call_sync)(afb_api_t api, const char *apiname, const char *verbname, unsigned nparams,
			afb_data_t const params[], int *status, unsigned *nreplies, afb_data_t replies[]);
	int (*api_add_verb)(afb_api_t api, const char *verb, const char *info, afb_req_callback_t callback,
			void *vcbdata, const struct afb_auth *auth, uint32_t session, int glob);
	int (*api_del_verb)(afb_api_t api, const char *verb, void **vcbdata);
	void (*api_seal)(afb_api_t api);
	int (*api_set_verbs)(afb_api_t api, const struct afb_verb_v4 *verbs);
	int (*api_require_api)(afb_api_t api, const char *name, int initialized);
	int (*api_class_provide)(afb_api_t api, const char *name);
	int (*api_class_require)(afb_api_t api, const char *name);
	int (*api_delete)(afb_api_t api);
	/* miscellaneous */
	int (*create_api)(afb_api_t root, afb_api_t *newapi, const char *apiname, const char *info,
			int noconcurrency, afb_api_callback_t mainctl, void *userdata);
	int (*job_post)(afb_api_t root, long delayms, int timeout, void (*callback)(int signum, void *arg),
			void *argument, void *group);
	int (*alias_api)(afb_api_t root, const char *name, const char *as_name);
	int (*setup_shared_object)(afb_api_t root, void *handle);
	/* predefined types */
	afb_type_t type_opaque;
	afb_type_t type_stringz;
	afb_type_t type_json;
	afb_type_t type_json_c;
	afb_type_t type_bool;
	afb_type_t type_i32;
	afb_type_t type_u32;
	afb_type_t type_i64;
	afb_type_t type_u64;
	afb_type_t type_double;
	/* file events */
	int (*evfd_create)(afb_evfd_t *efd, int fd, uint32_t events, afb_evfd_handler_t handler, void *closure,
			int autounref, int autoclose);
	afb_evfd_t (*evfd_addref)(afb_evfd_t efd);
	void (*evfd_unref)(afb_evfd_t efd);
	int (*evfd_get_fd)(afb_evfd_t efd);
	uint32_t (*evfd_get_events)(afb_evfd_t efd);
	void (*evfd_set_events)(afb_evfd_t efd, uint32_t events);
	/* timers */
	int (*timer_create)(afb_timer_t *timer, int absolute, time_t start_sec, unsigned start_ms, unsigned count,
			unsigned period_ms, unsigned accuracy_ms, afb_timer_handler_t handler, void *closure,
			int autounref);
	afb_timer_t (*timer_addref)(afb_timer_t timer);
	void (*timer_unref)(afb_timer_t timer);
	/* later additions of revision 1 */
	unsigned (*req_session_get_LOA)(afb_req_t req);
	int (*data_dependency_add)(afb_data_t from_data, afb_data_t to_data);
	int (*data_dependency_sub)(afb_data_t from_data, afb_data_t to_data);
	void (*data_dependency_drop_all)(afb_data_t data);
	int (*req_cookie_set)(afb_req_t req, void *value, void (*freecb)(void*), void *freeclo);
	int (*req_cookie_get)(afb_req_t req, void **value);
	int (*req_cookie_getinit)(afb_req_t req, void **value,
			int (*initcb)(void *closure, void **value, void (**freecb)(void*), void **freeclo), void *closure);
	int (*req_cookie_drop)(afb_req_t req);
#if AFB_BINDING_X4R1_ITF_REVISION >= 2
	/* revision 2 */
	afb_type_t type_bytearray;
	int (*req_param_convert)(afb_req_t req, unsigned index, afb_type_t type, afb_data_t *result);
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 3
	/* revision 3 */
	int (*req_interface_by_id)(afb_req_t req, int id, void **result);
	int (*req_interface_by_name)(afb_req_t req, const char *name, void **result);
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 4
	/* revision 4 */
	void *(*req_get_userdata)(afb_req_t req);
	void (*req_set_userdata)(afb_req_t req, void *userdata, void (*freecb)(void*));
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 5
	/* revision 5 */
	int (*job_abort)(afb_api_t root, int jobid);
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 6
	/* revision 6 */
	int (*api_unshare_session)(afb_api_t api);
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 7
	/* revision 7: the next expirations of the timer use the new period */
	void (*timer_modify_period)(afb_timer_t timer, unsigned period_ms);
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 8
	/* revision 8: the 16 bytes of a UUID (family #bytearray; converts to and from #stringz) */
	afb_type_t type_UUID;
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 9
	/* revision 9: the text `info` answers; refused (negative) once the API is sealed */
	int (*api_set_specification)(afb_api_t api, const char *specification);
#endif
};

struct afb_verb_v4 {
	const char *verb;
	afb_req_callback_t callback;
	const struct afb_auth *auth;
	const char *info;
	void *vcbdata;
	uint16_t session;
	uint16_t glob: 1;
};

struct afb_binding_v4 {
	const char *api;
	const char *specification;
	const char *info;
	const struct afb_verb_v4 *verbs;
	afb_api_callback_t mainctl;
	void *userdata;
	const char *provide_class;
	const char *require_class;
	const char *require_api;
	unsigned noconcurrency: 1;
};

afb_api_t afbBindingV4root __attribute__((weak));
const struct afb_binding_x4r1_itf *afbBindingV4r1_itfptr __attribute__((weak));
short afbBindingV4_itf_revision __attribute__((weak)) = AFB_BINDING_X4R1_ITF_REVISION;

#define afbV4 (*afbBindingV4r1_itfptr)
#define AFB_TYPE_JSON   (afbV4.type_json)
#define AFB_TYPE_JSON_C (afbV4.type_json_c)
#define AFB_TYPE_STRINGZ (afbV4.type_stringz)
#define AFB_TYPE_I32    (afbV4.type_i32)
#if AFB_BINDING_X4R1_ITF_REVISION >= 2
#define AFB_TYPE_BYTEARRAY (afbV4.type_bytearray)
#endif
#if AFB_BINDING_X4R1_ITF_REVISION >= 8
#define AFB_TYPE_UUID   (afbV4.type_UUID)
#endif

/* A few helpers (the binder's functions are reached through afbV4). */
static inline void afb_req_reply(afb_req_t r, int st, unsigned n, afb_data_t const *d)
{ afbV4.req_reply(r, st, n, d); }

/* Replies JSON text (copied) with a status. */
static inline void afb_req_reply_json(afb_req_t r, int st, const char *json)
{
	afb_data_t d;
	size_t n = 0;
	while (json[n]) n++;
	afbV4.create_data_copy(&d, AFB_TYPE_JSON, json, n + 1);
	afbV4.req_reply(r, st, 1, &d);
}

/* The JSON text of a data (converted; *keep must be unref'ed after use). */
static inline const char *afb_data_json(afb_data_t d, afb_data_t *keep)
{
	void *p = NULL;
	if (afbV4.data_convert(d, AFB_TYPE_JSON, keep) < 0)
		return NULL;
	afbV4.data_get_constant(*keep, &p, NULL);
	return p;
}

__attribute__((format(printf, 3, 4)))
static inline void afb_api_log(afb_api_t api, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	afbV4.api_vverbose(api, level, __FILE__, __LINE__, __func__, fmt, ap);
	va_end(ap);
}
