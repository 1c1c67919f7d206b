/* A v4 test binding for typed data (compiled by the test suite against our headers).
 *
 * One canonical list of typed values: a #bytearray of the 256 byte values, #double values
 * that JSON renders badly or not at all (0.1+0.2, -0.0, subnormals, the largest double),
 * #i64/#u64 beyond 2^53, and a value of the named type "point" that this binding registers.
 *   check  : the parameters must be the list, bit-exact (else an error naming the first
 *            difference); replies them back as they are.
 *   gen    : replies the list.
 *   run    : {"api": NAME} calls NAME/check with the list and NAME/gen, and compares what
 *            comes back with the list, bit-exact; replies "ok" or the first difference.
 *   bcast  : broadcasts the list as event APINAME/tbc (api_event_broadcast).
 *   seen   : what the handler of the broadcasts "* /tbc" found in the last one: "ok", the
 *            first difference, or "none" when none came.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>
#include <afb/afb-binding-v4.h>

#ifndef APINAME
#define APINAME "typed"
#endif

#define NVALUES 10

static afb_type_t point_type;

static const unsigned char point_bytes[12] = { 1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0, 0, 0x80, 0x7f };

struct expect {
	const afb_type_t *type;
	unsigned char bytes[256];
	size_t size;
};

static void fill(struct expect e[NVALUES])
{
	double d[5];
	int64_t i = (INT64_C(1) << 53) + 1;
	uint64_t u = UINT64_MAX;
	int64_t ni = -((INT64_C(1) << 53) + 1);
	double sub_min, sub_max;
	uint64_t bits = 1;
	memcpy(&sub_min, &bits, 8);
	bits = UINT64_C(0x000fffffffffffff);
	memcpy(&sub_max, &bits, 8);
	d[0] = 0.1 + 0.2;
	d[1] = -0.0;
	d[2] = sub_min;
	d[3] = sub_max;
	d[4] = 1.7976931348623157e308;
	memset(e, 0, sizeof(struct expect) * NVALUES);
	e[0].type = &afbV4.type_bytearray;
	for (int k = 0; k < 256; k++)
		e[0].bytes[k] = (unsigned char)k;
	e[0].size = 256;
	for (int k = 0; k < 5; k++) {
		e[1 + k].type = &afbV4.type_double;
		memcpy(e[1 + k].bytes, &d[k], 8);
		e[1 + k].size = 8;
	}
	e[6].type = &afbV4.type_i64;
	memcpy(e[6].bytes, &i, 8);
	e[6].size = 8;
	e[7].type = &afbV4.type_u64;
	memcpy(e[7].bytes, &u, 8);
	e[7].size = 8;
	e[8].type = &afbV4.type_i64;
	memcpy(e[8].bytes, &ni, 8);
	e[8].size = 8;
	e[9].type = &point_type;
	memcpy(e[9].bytes, point_bytes, sizeof point_bytes);
	e[9].size = sizeof point_bytes;
}

static void make(afb_data_t out[NVALUES])
{
	struct expect e[NVALUES];
	fill(e);
	for (int k = 0; k < NVALUES; k++)
		afbV4.create_data_copy(&out[k], *e[k].type, e[k].bytes, e[k].size);
}

/* 0 when p is the list, else writes the first difference into err */
static int compare(unsigned n, afb_data_t const p[], char *err, size_t len)
{
	struct expect e[NVALUES];
	fill(e);
	if (n != NVALUES) {
		snprintf(err, len, "%u values instead of %d", n, NVALUES);
		return -1;
	}
	for (unsigned k = 0; k < n; k++) {
		void *ptr = NULL;
		size_t size = 0;
		afb_type_t t = afbV4.data_type(p[k]);
		if (t != *e[k].type) {
			snprintf(err, len, "value %u: type %s instead of %s", k, afbV4.type_name(t),
				 afbV4.type_name(*e[k].type));
			return -1;
		}
		afbV4.data_get_constant(p[k], &ptr, &size);
		if (size != e[k].size || (size && memcmp(ptr, e[k].bytes, size))) {
			snprintf(err, len, "value %u (%s): %zu bytes differ from the %zu expected", k,
				 afbV4.type_name(t), size, e[k].size);
			return -1;
		}
	}
	return 0;
}

static void reply_error(afb_req_t req, const char *text)
{
	afb_data_t d;
	afbV4.create_data_copy(&d, AFB_TYPE_STRINGZ, text, strlen(text) + 1);
	afb_req_reply(req, -1000, 1, &d);
}

static void check(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char err[200];
	if (compare(n, p, err, sizeof err) < 0) {
		reply_error(req, err);
		return;
	}
	for (unsigned k = 0; k < n; k++)
		afbV4.data_addref(p[k]);
	afb_req_reply(req, 0, n, p);
}

static void gen(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t out[NVALUES];
	make(out);
	afb_req_reply(req, 0, NVALUES, out);
}

static int call_and_compare(afb_req_t req, const char *api, const char *verb, unsigned nparams,
			    afb_data_t const params[], char *err, size_t len)
{
	int status = 0;
	unsigned nreplies = NVALUES + 2;
	afb_data_t replies[NVALUES + 2];
	int rc = afbV4.req_subcall_sync(req, api, verb, nparams, params, 0, &status, &nreplies, replies);
	if (rc < 0 || status < 0) {
		afb_data_t keep = NULL;
		const char *text = nreplies ? afb_data_json(replies[0], &keep) : NULL;
		snprintf(err, len, "%s/%s: status %d (%s)", api, verb, status, text ? text : "no data");
		if (keep)
			afbV4.data_unref(keep);
		for (unsigned k = 0; k < nreplies; k++)
			afbV4.data_unref(replies[k]);
		return -1;
	}
	char why[160];
	rc = compare(nreplies, replies, why, sizeof why);
	if (rc < 0)
		snprintf(err, len, "%s/%s replied: %s", api, verb, why);
	for (unsigned k = 0; k < nreplies; k++)
		afbV4.data_unref(replies[k]);
	return rc;
}

static char seen_text[300] = "none";

static void on_tbc(void *closure, const char *name, unsigned n, afb_data_t const p[], afb_api_t api)
{
	char err[200];
	if (compare(n, p, err, sizeof err) < 0)
		snprintf(seen_text, sizeof seen_text, "%s: %s", name, err);
	else
		snprintf(seen_text, sizeof seen_text, "ok");
}

static void bcast(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t out[NVALUES];
	make(out);
	int rc = afbV4.api_event_broadcast(afbV4.req_api(req), "tbc", NVALUES, out);
	afb_req_reply(req, rc < 0 ? rc : 0, 0, NULL);
}

static void seen(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t d;
	afbV4.create_data_copy(&d, AFB_TYPE_STRINGZ, seen_text, strlen(seen_text) + 1);
	afb_req_reply(req, 0, 1, &d);
}

static void run(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t jc;
	struct json_object *o, *api;
	char err[300];
	if (n < 1 || afbV4.req_param_convert(req, 0, AFB_TYPE_JSON_C, &jc) < 0) {
		reply_error(req, "no {\"api\":...} parameter");
		return;
	}
	afbV4.data_get_constant(jc, (void **)&o, NULL);
	if (!json_object_object_get_ex(o, "api", &api)) {
		reply_error(req, "no {\"api\":...} parameter");
		return;
	}
	const char *name = json_object_get_string(api);
	afb_data_t params[NVALUES];
	make(params);
	if (call_and_compare(req, name, "check", NVALUES, params, err, sizeof err) < 0
	    || call_and_compare(req, name, "gen", 0, NULL, err, sizeof err) < 0) {
		reply_error(req, err);
		return;
	}
	afb_req_reply_json(req, 0, "\"ok\"");
}

static const struct afb_verb_v4 verbs[] = {
	{ .verb = "check", .callback = check },
	{ .verb = "gen", .callback = gen },
	{ .verb = "run", .callback = run },
	{ .verb = "bcast", .callback = bcast },
	{ .verb = "seen", .callback = seen },
	{ .verb = NULL }
};

static int mainctl(afb_api_t api, afb_ctlid_t id, afb_ctlarg_t arg, void *userdata)
{
	if (id == afb_ctlid_Pre_Init) {
		if (afbV4.type_lookup(&point_type, "point") < 0
		    && afbV4.type_register(&point_type, "point", 0) < 0)
			return -1;
		return afbV4.api_event_handler_add(api, "*/tbc", on_tbc, NULL);
	}
	return 0;
}

const struct afb_binding_v4 afbBindingV4 = {
	.api = APINAME,
	.info = "typed data test binding of ABI v4",
	.verbs = verbs,
	.mainctl = mainctl,
};
