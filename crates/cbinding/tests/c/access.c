/*
 * A test binding of ABI v4 declaring every kind of `struct afb_auth` node
 * and combination on its verbs (API `access`), checking permissions with
 * afb_req_check_permission and returning afb_req_get_client_info; and an
 * API `perm` whose verb `check` answers permission questions (the `api:`
 * permission backend): granted when the permission starts with
 * "urn:test:granted", the last question kept for `perm/last`.
 */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <afb/afb-binding-v4.h>

static const struct afb_auth a_no = { .type = afb_auth_No };
static const struct afb_auth a_yes = { .type = afb_auth_Yes };
static const struct afb_auth a_tok = { .type = afb_auth_Token };
static const struct afb_auth a_loa1 = { .type = afb_auth_LOA, .loa = 1 };
static const struct afb_auth a_loa2 = { .type = afb_auth_LOA, .loa = 2 };
static const struct afb_auth a_granted = { .type = afb_auth_Permission, .text = "urn:test:granted" };
static const struct afb_auth a_denied = { .type = afb_auth_Permission, .text = "urn:test:denied" };
static const struct afb_auth a_tokvalid = { .type = afb_auth_Permission, .text = "urn:redpesk:token:valid" };
static const struct afb_auth a_denied_or_loa1 = { .type = afb_auth_Or, .first = &a_denied, .next = &a_loa1 };
static const struct afb_auth a_tok_and_granted = { .type = afb_auth_And, .first = &a_tok, .next = &a_granted };
static const struct afb_auth a_granted_and_denied = { .type = afb_auth_And, .first = &a_granted, .next = &a_denied };
static const struct afb_auth a_not_loa1 = { .type = afb_auth_Not, .first = &a_loa1 };
static const struct afb_auth a_not_denied = { .type = afb_auth_Not, .first = &a_denied };

static void ok(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply_json(req, 0, "\"ran\"");
}

static void login(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.req_session_set_LOA(req, 1);
	afb_req_reply_json(req, 0, "\"LOA 1\"");
}

static void logout(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.req_session_set_LOA(req, 0);
	afb_req_reply_json(req, 0, "\"LOA 0\"");
}

static void whoami(afb_req_t req, unsigned n, afb_data_t const p[])
{
	struct json_object *o = afbV4.req_get_client_info(req);
	afb_req_reply_json(req, 0, json_object_to_json_string(o));
	json_object_put(o);
}

/* the first parameter as a json-c object (NULL when absent) */
static struct json_object *arg(afb_req_t req, unsigned n)
{
	afb_data_t d;
	void *o;
	if (n < 1 || afbV4.req_param_convert(req, 0, AFB_TYPE_JSON_C, &d) < 0)
		return NULL;
	if (afbV4.data_get_constant(d, &o, NULL) < 0)
		return NULL;
	return o;
}

static void checked(void *closure, int status, afb_req_t req)
{
	char buf[64];
	snprintf(buf, sizeof buf, "{\"status\":%d}", status);
	afb_req_reply_json(req, 0, buf);
}

/* {"permission": TEXT}: replies {"status": what afb_req_check_permission gave} */
static void check(afb_req_t req, unsigned n, afb_data_t const p[])
{
	struct json_object *o = arg(req, n), *perm;
	if (!o || !json_object_object_get_ex(o, "permission", &perm)) {
		afb_req_reply_json(req, -1, "\"no permission\"");
		return;
	}
	afbV4.req_check_permission(req, json_object_get_string(perm), checked, NULL);
}

static char last[1024] = "null";

/* the permission backend: granted when the permission starts with urn:test:granted */
static void perm_check(afb_req_t req, unsigned n, afb_data_t const p[])
{
	struct json_object *o = arg(req, n), *perm;
	snprintf(last, sizeof last, "%s", o ? json_object_to_json_string(o) : "null");
	if (o && json_object_object_get_ex(o, "permission", &perm)
	    && strncmp(json_object_get_string(perm), "urn:test:granted", 16) == 0)
		afb_req_reply_json(req, 0, "true");
	else
		afb_req_reply_json(req, -1, "\"refused\"");
}

static void perm_last(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply_json(req, 0, last);
}

static const struct afb_verb_v4 verbs[] = {
	{ .verb = "no", .callback = ok, .auth = &a_no },
	{ .verb = "yes", .callback = ok, .auth = &a_yes },
	{ .verb = "token", .callback = ok, .auth = &a_tok },
	{ .verb = "loa1", .callback = ok, .auth = &a_loa1 },
	{ .verb = "loa2", .callback = ok, .auth = &a_loa2 },
	{ .verb = "granted", .callback = ok, .auth = &a_granted },
	{ .verb = "denied", .callback = ok, .auth = &a_denied },
	{ .verb = "tokvalid", .callback = ok, .auth = &a_tokvalid },
	{ .verb = "denied-or-loa1", .callback = ok, .auth = &a_denied_or_loa1 },
	{ .verb = "token-and-granted", .callback = ok, .auth = &a_tok_and_granted },
	{ .verb = "granted-and-denied", .callback = ok, .auth = &a_granted_and_denied },
	{ .verb = "not-loa1", .callback = ok, .auth = &a_not_loa1 },
	{ .verb = "not-denied", .callback = ok, .auth = &a_not_denied },
	{ .verb = "session-loa1", .callback = ok, .session = AFB_SESSION_LOA_1 },
	{ .verb = "session-check", .callback = ok, .session = AFB_SESSION_CHECK },
	{ .verb = "login", .callback = login },
	{ .verb = "logout", .callback = logout },
	{ .verb = "whoami", .callback = whoami },
	{ .verb = "check", .callback = check },
	{ .verb = NULL }
};

static const struct afb_verb_v4 perm_verbs[] = {
	{ .verb = "check", .callback = perm_check },
	{ .verb = "last", .callback = perm_last },
	{ .verb = NULL }
};

static int mainctl(afb_api_t api, afb_ctlid_t id, afb_ctlarg_t arg, void *userdata)
{
	if (id == afb_ctlid_Pre_Init) {
		afb_api_t perm;
		if (afbV4.create_api(api, &perm, "perm", "test permission service", 0, NULL, NULL) < 0)
			return -1;
		return afbV4.api_set_verbs(perm, perm_verbs);
	}
	return 0;
}

const struct afb_binding_v4 afbBindingV4 = {
	.api = "access",
	.info = "every access rule",
	.verbs = verbs,
	.mainctl = mainctl,
};
