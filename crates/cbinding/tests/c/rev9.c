/*
 * A test binding of ABI v4 compiled for interface revision 9: uses what
 * revisions 7 to 9 added (timer_modify_period, type_UUID,
 * api_set_specification) and replies as the redpesk tutorial binding does
 * (several data, a NULL #stringz, a negative status with data).
 * API `rev9` (with a declared specification) and `rev9gen` (created at
 * pre-init, without one: its `info` is generated).
 */
#define AFB_BINDING_X4R1_ITF_REVISION 9
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <afb/afb-binding-v4.h>

_Static_assert(AFB_BINDING_X4R1_ITF_REVISION == 9, "asked revision 9");

static const char spec[] = "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"rev9\",\"x-from\":\"api_set_specification\"}}";

static afb_data_t stringz(const char *s)
{
	afb_data_t d;
	if (s)
		afbV4.create_data_copy(&d, AFB_TYPE_STRINGZ, s, strlen(s) + 1);
	else
		afbV4.create_data_raw(&d, AFB_TYPE_STRINGZ, NULL, 0, NULL, NULL);
	return d;
}

static afb_data_t json_c(struct json_object *o)
{
	afb_data_t d;
	afbV4.create_data_raw(&d, AFB_TYPE_JSON_C, o, 0, (void (*)(void *))json_object_put, o);
	return d;
}

/* reply_oEi as the tutorial: [object, error text, info text] */
static void reply3(afb_req_t req, int status, struct json_object *o, const char *error, const char *info)
{
	afb_data_t d[3] = { json_c(o), stringz(error), stringz(info) };
	afb_req_reply(req, status, 3, d);
}

static int count;

/* as the tutorial's ping: status 0, data [null, NULL #stringz, "ping count=N"] */
static void ping(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char buf[64];
	snprintf(buf, sizeof buf, "ping count=%d", ++count);
	reply3(req, 0, NULL, NULL, buf);
}

/* as the tutorial's failing eventsub: status -1 with three data */
static void failsub(afb_req_t req, unsigned n, afb_data_t const p[])
{
	reply3(req, -1, NULL, "failed", "subscription error");
}

/* one NULL #stringz */
static void nullstr(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t d = stringz(NULL);
	afb_req_reply(req, 0, 1, &d);
}

static void settings(afb_req_t req, unsigned n, afb_data_t const p[])
{
	struct json_object *s = afbV4.api_settings(afbV4.req_api(req));
	afb_req_reply_json(req, 0, json_object_to_json_string(s));
}

/* ---- revision 7: timer_modify_period ---------------------------------- */

static afb_req_t timer_req;
static int ticks;

static void on_tick(afb_timer_t timer, void *closure, unsigned decount)
{
	if (++ticks == 1) {
		/* created with a period of a minute: later ticks come after 10 ms */
		afbV4.timer_modify_period(timer, 10);
		return;
	}
	if (ticks == 3) {
		char buf[32];
		snprintf(buf, sizeof buf, "{\"ticks\":%d}", ticks);
		afb_req_reply_json(timer_req, 0, buf);
		afbV4.req_unref(timer_req);
		afbV4.timer_unref(timer);
	}
}

static void timer(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_timer_t t;
	ticks = 0;
	timer_req = afbV4.req_addref(req);
	if (afbV4.timer_create(&t, 0, 0, 1, 0, 60000, 0, on_tick, NULL, 0) < 0) {
		afb_req_reply(req, AFB_ERRNO_INTERNAL_ERROR, 0, NULL);
		afbV4.req_unref(req);
	}
}

/* ---- revision 8: type_UUID ---------------------------------------------- */

static int convert(afb_data_t from, afb_type_t type, afb_data_t *to)
{
	*to = NULL;
	return afbV4.data_convert(from, type, to);
}

/* {"text":UUID-TEXT} -> the checks as a JSON object */
static void uuid(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t jc, s, u, back, ba, tmp;
	struct json_object *o, *t, *r = json_object_new_object();
	const char *text;
	void *ptr;
	size_t size;
	int rc;

	afbV4.req_param_convert(req, 0, AFB_TYPE_JSON_C, &jc);
	afbV4.data_get_constant(jc, (void **)&o, NULL);
	text = json_object_object_get_ex(o, "text", &t) ? json_object_get_string(t) : "";

	/* the type itself */
	afb_type_t found = NULL;
	afbV4.type_lookup(&found, "#UUID");
	json_object_object_add(r, "name", json_object_new_string(afbV4.type_name(AFB_TYPE_UUID)));
	json_object_object_add(r, "lookup", json_object_new_boolean(found == AFB_TYPE_UUID));

	/* #stringz -> #UUID -> #stringz */
	s = stringz(text);
	rc = convert(s, AFB_TYPE_UUID, &u);
	json_object_object_add(r, "from_text", json_object_new_int(rc));
	if (rc >= 0) {
		afbV4.data_get_constant(u, &ptr, &size);
		json_object_object_add(r, "size", json_object_new_int((int)size));
		json_object_object_add(r, "first_byte", json_object_new_int(((unsigned char *)ptr)[0]));
		rc = convert(u, AFB_TYPE_STRINGZ, &back);
		json_object_object_add(r, "to_text", json_object_new_int(rc));
		if (rc >= 0) {
			afbV4.data_get_constant(back, &ptr, &size);
			json_object_object_add(r, "text", json_object_new_string(ptr));
			json_object_object_add(r, "text_size", json_object_new_int((int)size));
			afbV4.data_unref(back);
		}
		/* #UUID -> #bytearray (its family) -> #UUID */
		rc = convert(u, AFB_TYPE_BYTEARRAY, &ba);
		json_object_object_add(r, "to_bytes", json_object_new_int(rc));
		if (rc >= 0) {
			afbV4.data_get_constant(ba, &ptr, &size);
			json_object_object_add(r, "bytes_size", json_object_new_int((int)size));
			rc = convert(ba, AFB_TYPE_UUID, &tmp);
			json_object_object_add(r, "from_bytes", json_object_new_int(rc));
			if (rc >= 0)
				afbV4.data_unref(tmp);
			afbV4.data_unref(ba);
		}
		/* no conversion to JSON */
		rc = convert(u, AFB_TYPE_JSON, &tmp);
		json_object_object_add(r, "to_json", json_object_new_int(rc));
		if (rc >= 0)
			afbV4.data_unref(tmp);
		afbV4.data_unref(u);
	}
	afbV4.data_unref(s);

	/* #bytearray of 15 bytes: refused */
	static const unsigned char fifteen[15];
	afbV4.create_data_copy(&ba, AFB_TYPE_BYTEARRAY, fifteen, sizeof fifteen);
	rc = convert(ba, AFB_TYPE_UUID, &tmp);
	json_object_object_add(r, "from_15_bytes", json_object_new_int(rc));
	if (rc >= 0)
		afbV4.data_unref(tmp);
	afbV4.data_unref(ba);

	/* #json of a valid text: no conversion either */
	char js[64];
	snprintf(js, sizeof js, "\"%s\"", text);
	afbV4.create_data_copy(&tmp, AFB_TYPE_JSON, js, strlen(js) + 1);
	rc = convert(tmp, AFB_TYPE_UUID, &u);
	json_object_object_add(r, "from_json", json_object_new_int(rc));
	if (rc >= 0)
		afbV4.data_unref(u);
	afbV4.data_unref(tmp);

	afb_data_t d = json_c(r);
	afb_req_reply(req, 0, 1, &d);
}

/* ---- revision 9: api_set_specification ----------------------------------- */

/* the API is sealed at init: the specification cannot change any more */
static void respec(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char buf[32];
	snprintf(buf, sizeof buf, "%d", afbV4.api_set_specification(afbV4.req_api(req), "{}"));
	afb_req_reply_json(req, 0, buf);
}

static const struct afb_verb_v4 verbs[] = {
	{ .verb = "ping", .callback = ping },
	{ .verb = "failsub", .callback = failsub },
	{ .verb = "nullstr", .callback = nullstr },
	{ .verb = "settings", .callback = settings },
	{ .verb = "timer", .callback = timer },
	{ .verb = "uuid", .callback = uuid },
	{ .verb = "respec", .callback = respec },
	{ .verb = NULL }
};

/* rev9gen: verbs with every kind of access rule, for the generated `info` */
static const struct afb_auth tok = { .type = afb_auth_Token };
static const struct afb_auth perm_a = { .type = afb_auth_Permission, .text = "urn:a" };
static const struct afb_auth perm_b = { .type = afb_auth_Permission, .text = "urn:b" };
static const struct afb_auth a_or_b = { .type = afb_auth_Or, .first = &perm_a, .next = &perm_b };
static const struct afb_auth loa1 = { .type = afb_auth_LOA, .loa = 1 };
static const struct afb_auth loa1_and_tok = { .type = afb_auth_And, .first = &loa1, .next = &tok };

static void nothing(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply(req, 0, 0, NULL);
}

static const struct afb_verb_v4 genverbs[] = {
	{ .verb = "plain", .callback = nothing, .info = "no rule" },
	{ .verb = "loa2", .callback = nothing, .session = AFB_SESSION_LOA_2 },
	{ .verb = "checked", .callback = nothing, .session = AFB_SESSION_CHECK | AFB_SESSION_LOA_1 },
	{ .verb = "closing", .callback = nothing, .session = AFB_SESSION_CLOSE },
	{ .verb = "either", .callback = nothing, .auth = &a_or_b },
	{ .verb = "both", .callback = nothing, .auth = &loa1_and_tok },
	{ .verb = "any*", .callback = nothing, .glob = 1 },
	{ .verb = NULL }
};

static int mainctl(afb_api_t api, afb_ctlid_t id, afb_ctlarg_t arg, void *userdata)
{
	if (id == afb_ctlid_Pre_Init) {
		afb_api_t gen;
		if (afbV4.api_set_specification(api, spec) < 0)
			return -1;
		if (afbV4.create_api(api, &gen, "rev9gen", "generated description", 0, NULL, NULL) < 0)
			return -1;
		return afbV4.api_set_verbs(gen, genverbs);
	}
	if (id == afb_ctlid_Init)
		afbV4.api_seal(api);
	return 0;
}

const struct afb_binding_v4 afbBindingV4 = {
	.api = "rev9",
	.info = "test binding of interface revision 9",
	.verbs = verbs,
	.mainctl = mainctl,
};
