/*
 * afb-binding-v1.h: binding ABI version 1 (the binding guide's). A binding
 * exports `afbBindingV1Register`, optionally `afbBindingV1ServiceInit` and
 * `afbBindingV1ServiceEvent`.
 */
#pragma once

#include "afb-x2.h"

/* Session flags of the guide. */
#define AFB_SESSION_CREATE_V1  1
#define AFB_SESSION_CLOSE_V1   2
#define AFB_SESSION_RENEW_V1   4
#define AFB_SESSION_CHECK_V1   8
#define AFB_SESSION_LOA_GE_V1  16
#define AFB_SESSION_LOA_LE_V1  32
#define AFB_SESSION_LOA_EQ_V1  48
#define AFB_SESSION_LOA_SHIFT_V1 6

struct afb_verb_desc_v1 {
	const char *name;
	int session;
	void (*callback)(struct afb_req_x1 req);
	const char *info;
};

struct afb_binding_desc_v1 {
	const char *info;
	const char *prefix;
	const struct afb_verb_desc_v1 *verbs;
};

#define AFB_BINDING_VERSION_1 123456789

struct afb_binding_v1 {
	int type;
	struct afb_binding_desc_v1 v1;
};

struct afb_binding_interface_v1 {
	struct afb_daemon_x1 daemon;
	int verbosity;
	int mode;
};

static inline void afb_req_x1_reply(struct afb_req_x1 r, struct json_object *o, const char *e, const char *i)
{ r.itf->reply(r.closure, o, e, i); }
