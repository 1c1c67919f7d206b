/* A test binding of ABI v4 (compiled by the test suite against our headers). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <afb/afb-binding-v4.h>

#ifndef APINAME
#define APINAME "hello4"
#endif

static afb_event_t event;
static int count;

static const char *param_text(unsigned n, afb_data_t const p[], afb_data_t *keep)
{
	*keep = NULL;
	return n ? afb_data_json(p[0], keep) : "null";
}

static void echo(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.data_addref(p[0]);
	afb_req_reply(req, 0, 1, p);
}

static void ping(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char buf[64];
	snprintf(buf, sizeof buf, "{\"pong\":%d}", ++count);
	afb_req_reply_json(req, 0, buf);
}

/* reads {"name":...} through a json-c conversion of the parameter */
static void hello(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t jc;
	struct json_object *o, *name;
	char buf[128];
	if (afbV4.req_param_convert(req, 0, AFB_TYPE_JSON_C, &jc) < 0) {
		afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
		return;
	}
	afbV4.data_get_constant(jc, (void**)&o, NULL);
	if (!json_object_object_get_ex(o, "name", &name)) {
		afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
		return;
	}
	snprintf(buf, sizeof buf, "hello %s", json_object_get_string(name));
	struct json_object *r = json_object_new_string(buf);
	afb_data_t d;
	afbV4.create_data_raw(&d, AFB_TYPE_JSON_C, r, 0, (void(*)(void*))json_object_put, r);
	afb_req_reply(req, 0, 1, &d);
}

static void fail(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
}

static void later(int signum, void *arg)
{
	afb_req_t req = arg;
	afb_req_reply_json(req, 0, "\"late\"");
	afbV4.req_unref(req);
}

static void async(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.job_post(afbBindingV4root, 50, 0, later, afbV4.req_addref(req), NULL);
}

static void setctx(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t keep;
	const char *t = param_text(n, p, &keep);
	afbV4.req_cookie_set(req, strdup(t ? t : "null"), free, NULL);
	if (keep)
		afbV4.data_unref(keep);
	afb_req_reply(req, 0, 0, NULL);
}

static void getctx(afb_req_t req, unsigned n, afb_data_t const p[])
{
	void *v = NULL;
	if (afbV4.req_cookie_get(req, &v) < 0 || !v)
		afb_req_reply(req, AFB_ERRNO_NO_ITEM, 0, NULL);
	else
		afb_req_reply_json(req, 0, v);
}

static void setloa(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_data_t i;
	int *v;
	if (afbV4.data_convert(p[0], AFB_TYPE_I32, &i) < 0) {
		afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
		return;
	}
	afbV4.data_get_constant(i, (void**)&v, NULL);
	int rc = afbV4.req_session_set_LOA(req, (unsigned)*v);
	afbV4.data_unref(i);
	char buf[32];
	snprintf(buf, sizeof buf, "%u", afbV4.req_session_get_LOA(req));
	afb_req_reply_json(req, rc, buf);
}

static void subscribe(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply(req, afbV4.req_subscribe(req, event), 0, NULL);
}

static void push(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.data_addref(p[0]);
	int rc = afbV4.event_push(event, 1, p);
	char buf[16];
	snprintf(buf, sizeof buf, "%d", rc);
	afb_req_reply_json(req, 0, buf);
}

static void bcast(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afbV4.data_addref(p[0]);
	afb_req_reply(req, afbV4.api_event_broadcast(afbV4.req_api(req), "bc", 1, p), 0, NULL);
}

static void after_subcall(void *closure, int status, unsigned n, afb_data_t const r[], afb_req_t req)
{
	if (n)
		afbV4.data_addref(r[0]);
	afb_req_reply(req, status, n, r);
}

/* {"api":A,"verb":V,"args":X} */
static int target(afb_req_t req, afb_data_t const p[], char **api, char **verb, afb_data_t *args)
{
	afb_data_t jc;
	struct json_object *o, *a, *v, *x;
	if (afbV4.data_convert(p[0], AFB_TYPE_JSON_C, &jc) < 0)
		return -1;
	afbV4.data_get_constant(jc, (void**)&o, NULL);
	if (!json_object_object_get_ex(o, "api", &a) || !json_object_object_get_ex(o, "verb", &v)) {
		afbV4.data_unref(jc);
		return -1;
	}
	*api = strdup(json_object_get_string(a));
	*verb = strdup(json_object_get_string(v));
	const char *t = json_object_object_get_ex(o, "args", &x) ? json_object_to_json_string(x) : "null";
	afbV4.create_data_copy(args, AFB_TYPE_JSON, t, strlen(t) + 1);
	afbV4.data_unref(jc);
	return 0;
}

static void subcall(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char *api, *verb;
	afb_data_t args;
	if (target(req, p, &api, &verb, &args) < 0) {
		afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
		return;
	}
	afbV4.req_subcall(req, api, verb, 1, &args, 0, after_subcall, NULL);
	free(api);
	free(verb);
}

static void subcallsync(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char *api, *verb;
	afb_data_t args, replies[2];
	unsigned nr = 2;
	int status;
	if (target(req, p, &api, &verb, &args) < 0) {
		afb_req_reply(req, AFB_ERRNO_INVALID_REQUEST, 0, NULL);
		return;
	}
	afbV4.req_subcall_sync(req, api, verb, 1, &args, 0, &status, &nr, replies);
	free(api);
	free(verb);
	afb_req_reply(req, status, nr, replies);
}

static void dyn(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply_json(req, 0, afbV4.req_vcbdata(req));
}

static void addverb(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply(req, afbV4.api_add_verb(afbV4.req_api(req), "dyn", "dynamic verb", dyn, "\"dynamic\"", NULL, 0, 0), 0, NULL);
}

static void delverb(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply(req, afbV4.api_del_verb(afbV4.req_api(req), "dyn", NULL), 0, NULL);
}

static void twice(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply_json(req, 0, "1");
	afb_req_reply_json(req, 0, "2");
}

static void never(afb_req_t req, unsigned n, afb_data_t const p[])
{
}

/* a binding bug: crashes the process that runs it */
static void crash(afb_req_t req, unsigned n, afb_data_t const p[])
{
	*(volatile int *)(intptr_t)n = 0;
	afb_req_reply(req, 0, 0, NULL);
}

static void info(afb_req_t req, unsigned n, afb_data_t const p[])
{
	struct json_object *o = afbV4.req_get_client_info(req);
	afb_data_t d;
	afbV4.create_data_raw(&d, AFB_TYPE_JSON_C, o, 0, (void(*)(void*))json_object_put, o);
	afb_req_reply(req, 0, 1, &d);
}

static void settings(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_req_reply_json(req, 0, json_object_to_json_string(afbV4.api_settings(afbV4.req_api(req))));
}

static void logs(afb_req_t req, unsigned n, afb_data_t const p[])
{
	afb_api_log(afbV4.req_api(req), AFB_SYSLOG_LEVEL_ERROR, "formatted %d %s", 42, "log line");
	afb_req_reply(req, 0, 0, NULL);
}

static void types(afb_req_t req, unsigned n, afb_data_t const p[])
{
	int32_t v = -7;
	afb_data_t i, j;
	afbV4.create_data_copy(&i, AFB_TYPE_I32, &v, sizeof v);
	int rc = afbV4.data_convert(i, AFB_TYPE_JSON, &j);
	afbV4.data_unref(i);
	if (rc < 0)
		afb_req_reply(req, rc, 0, NULL);
	else
		afb_req_reply(req, 0, 1, &j);
}

static const struct afb_auth loa2 = { .type = afb_auth_LOA, .loa = 2 };

static const struct afb_verb_v4 verbs[] = {
	{ .verb = "echo", .callback = echo, .info = "replies its parameter" },
	{ .verb = "ping", .callback = ping },
	{ .verb = "hello", .callback = hello },
	{ .verb = "fail", .callback = fail },
	{ .verb = "async", .callback = async },
	{ .verb = "setctx", .callback = setctx },
	{ .verb = "getctx", .callback = getctx },
	{ .verb = "setloa", .callback = setloa },
	{ .verb = "loa2", .callback = echo, .session = AFB_SESSION_LOA_2 },
	{ .verb = "auth2", .callback = echo, .auth = &loa2 },
	{ .verb = "subscribe", .callback = subscribe },
	{ .verb = "push", .callback = push },
	{ .verb = "bcast", .callback = bcast },
	{ .verb = "subcall", .callback = subcall },
	{ .verb = "subcallsync", .callback = subcallsync },
	{ .verb = "addverb", .callback = addverb },
	{ .verb = "delverb", .callback = delverb },
	{ .verb = "twice", .callback = twice },
	{ .verb = "never", .callback = never },
	{ .verb = "info", .callback = info },
	{ .verb = "crash", .callback = crash },
	{ .verb = "settings", .callback = settings },
	{ .verb = "log", .callback = logs },
	{ .verb = "types", .callback = types },
	{ .verb = NULL }
};

static int mainctl(afb_api_t api, afb_ctlid_t id, afb_ctlarg_t arg, void *userdata)
{
	if (id == afb_ctlid_Init) {
#ifdef FAIL_INIT
		return -1;
#endif
		return afbV4.api_new_event(api, "ev", &event);
	}
	return 0;
}

const struct afb_binding_v4 afbBindingV4 = {
	.api = APINAME,
	.info = "test binding of ABI v4",
	.verbs = verbs,
	.mainctl = mainctl,
};
