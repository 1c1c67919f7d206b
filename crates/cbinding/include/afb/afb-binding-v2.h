/*
 * afb-binding-v2.h: binding ABI version 2. A binding exports
 * `afbBindingV2` and the variable `afbBindingV2data` that the binder fills.
 */
#pragma once

#include "afb-x2.h"

struct afb_verb_v2 {
	const char *verb;
	void (*callback)(struct afb_req_x1 req);
	const struct afb_auth *auth;
	const char *info;
	uint32_t session;
};

struct afb_binding_v2 {
	const char *api;
	const char *specification;
	const char *info;
	const struct afb_verb_v2 *verbs;
	int (*preinit)(void);
	int (*init)(void);
	void (*onevent)(const char *event, struct json_object *object);
	unsigned noconcurrency: 1;
};

struct afb_binding_data_v2 {
	int verbosity;
	struct afb_daemon_x1 daemon;
	struct afb_service_x1 service;
};

struct afb_binding_data_v2 afbBindingV2data __attribute__((weak));

static inline void afb_req_x1_reply(struct afb_req_x1 r, struct json_object *o, const char *e, const char *i)
{ r.itf->reply(r.closure, o, e, i); }
static inline const char *afb_req_x1_value(struct afb_req_x1 r, const char *n) { return r.itf->get(r.closure, n).value; }
