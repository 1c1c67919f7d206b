/*
 * A test binding of ABI v3 declaring `struct afb_auth` trees and session
 * bits on its verbs (API `access3`), and asking afb_req_has_permission.
 */
#include <string.h>
#include <json-c/json.h>
#include <afb/afb-binding-v3.h>

static const struct afb_auth a_no = { .type = afb_auth_No };
static const struct afb_auth a_tok = { .type = afb_auth_Token };
static const struct afb_auth a_loa1 = { .type = afb_auth_LOA, .loa = 1 };
static const struct afb_auth a_granted = { .type = afb_auth_Permission, .text = "urn:test:granted" };
static const struct afb_auth a_denied = { .type = afb_auth_Permission, .text = "urn:test:denied" };
static const struct afb_auth a_denied_or_loa1 = { .type = afb_auth_Or, .first = &a_denied, .next = &a_loa1 };
static const struct afb_auth a_not_denied = { .type = afb_auth_Not, .first = &a_denied };

static void ok(afb_req_t req)
{
	afb_req_reply(req, json_object_new_string("ran"), NULL, NULL);
}

static void login(afb_req_t req)
{
	req->itf->session_set_LOA(req, 1);
	afb_req_reply(req, NULL, NULL, NULL);
}

/* ?permission=TEXT: replies afb_req_has_permission's answer */
static void has(afb_req_t req)
{
	const char *p = afb_req_value(req, "permission");
	afb_req_reply(req, json_object_new_int(p ? req->itf->has_permission(req, p) : -1), NULL, NULL);
}

static const struct afb_verb_v3 verbs[] = {
	{ .verb = "no", .callback = ok, .auth = &a_no },
	{ .verb = "token", .callback = ok, .auth = &a_tok },
	{ .verb = "loa1", .callback = ok, .auth = &a_loa1 },
	{ .verb = "granted", .callback = ok, .auth = &a_granted },
	{ .verb = "denied", .callback = ok, .auth = &a_denied },
	{ .verb = "denied-or-loa1", .callback = ok, .auth = &a_denied_or_loa1 },
	{ .verb = "not-denied", .callback = ok, .auth = &a_not_denied },
	{ .verb = "session-loa1", .callback = ok, .session = AFB_SESSION_LOA_1 },
	{ .verb = "login", .callback = login },
	{ .verb = "has", .callback = has },
	{ .verb = NULL }
};

const struct afb_binding_v3 afbBindingV3 = {
	.api = "access3",
	.info = "access rules of ABI v3",
	.verbs = verbs,
};
