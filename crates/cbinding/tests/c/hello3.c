/* A test binding of ABI v3 (compiled by the test suite against our headers). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <afb/afb-binding-v3.h>

static afb_event_t event;
static int count;

static void ping(afb_req_t req)
{
	/* as the hello sample: same response and info text */
	afb_req_reply_f(req, json_object_new_string("Some String"), NULL,
			"Ping Binder Daemon tag=pingSample count=%d query=%s", ++count,
			json_object_to_json_string(afb_req_json(req)));
}

static void echo(afb_req_t req)
{
	afb_req_reply(req, json_object_get(afb_req_json(req)), NULL, NULL);
}

static void hello(afb_req_t req)
{
	const char *name = afb_req_value(req, "name");
	char buf[128];
	if (!name) {
		afb_req_reply(req, NULL, "invalid-request", "no name");
		return;
	}
	snprintf(buf, sizeof buf, "hello %s", name);
	afb_req_reply(req, json_object_new_string(buf), NULL, NULL);
}

static void fail(afb_req_t req)
{
	afb_req_reply(req, NULL, "failed", "it fails");
}

static void later(int signum, void *arg)
{
	afb_req_t req = arg;
	usleep(30000);
	afb_req_reply(req, json_object_new_string("late"), NULL, NULL);
	afb_req_unref(req);
}

static void async(afb_req_t req)
{
	req->api->itf->queue_job(req->api, later, afb_req_addref(req), NULL, 0);
}

static void *make_ctx(void *closure) { return strdup(closure); }

static void setctx(afb_req_t req)
{
	const char *t = json_object_to_json_string(afb_req_json(req));
	req->itf->context_make(req, 1, make_ctx, free, (void*)t);
	afb_req_reply(req, NULL, NULL, NULL);
}

static void getctx(afb_req_t req)
{
	char *v = req->itf->context_make(req, 0, NULL, NULL, NULL);
	afb_req_reply(req, v ? json_tokener_parse(v) : NULL, NULL, NULL);
}

static void setloa(afb_req_t req)
{
	int rc = req->itf->session_set_LOA(req, (unsigned)json_object_get_int(afb_req_json(req)));
	afb_req_reply(req, NULL, rc < 0 ? "failed" : NULL, NULL);
}

static void subscribe(afb_req_t req)
{
	int rc = req->itf->subscribe_event_x2(req, event);
	afb_req_reply(req, NULL, rc < 0 ? "failed" : NULL, NULL);
}

static void push(afb_req_t req)
{
	int rc = event->itf->push(event, json_object_get(afb_req_json(req)));
	afb_req_reply(req, json_object_new_int(rc), NULL, NULL);
}

static void bcast(afb_req_t req)
{
	int rc = req->api->itf->event_broadcast(req->api, "bc", json_object_get(afb_req_json(req)));
	afb_req_reply(req, NULL, rc < 0 ? "failed" : NULL, NULL);
}

static void after(void *closure, struct json_object *obj, const char *error, const char *info, afb_req_t req)
{
	afb_req_reply(req, json_object_get(obj), error, info);
}

static int target(afb_req_t req, const char **api, const char **verb, struct json_object **args)
{
	struct json_object *o = afb_req_json(req), *a, *v, *x;
	if (!json_object_object_get_ex(o, "api", &a) || !json_object_object_get_ex(o, "verb", &v))
		return -1;
	*api = json_object_get_string(a);
	*verb = json_object_get_string(v);
	*args = json_object_object_get_ex(o, "args", &x) ? json_object_get(x) : NULL;
	return 0;
}

static void subcall(afb_req_t req)
{
	const char *api, *verb;
	struct json_object *args;
	if (target(req, &api, &verb, &args) < 0)
		afb_req_reply(req, NULL, "invalid-request", NULL);
	else
		req->itf->subcall(req, api, verb, args, 0, after, NULL);
}

static void subcallsync(afb_req_t req)
{
	const char *api, *verb;
	struct json_object *args, *obj;
	char *error, *info;
	if (target(req, &api, &verb, &args) < 0) {
		afb_req_reply(req, NULL, "invalid-request", NULL);
		return;
	}
	req->itf->subcallsync(req, api, verb, args, 0, &obj, &error, &info);
	afb_req_reply(req, obj, error, info);
	free(error);
	free(info);
}

static void dyn(afb_req_t req)
{
	afb_req_reply(req, json_object_new_string(req->vcbdata), NULL, NULL);
}

static void addverb(afb_req_t req)
{
	int rc = req->api->itf->api_add_verb(req->api, "dyn", NULL, dyn, "dynamic", NULL, 0, 0);
	afb_req_reply(req, NULL, rc < 0 ? "failed" : NULL, NULL);
}

static void twice(afb_req_t req)
{
	afb_req_reply(req, json_object_new_int(1), NULL, NULL);
	afb_req_reply(req, json_object_new_int(2), NULL, NULL);
}

static void never(afb_req_t req) { }

static void info(afb_req_t req)
{
	afb_req_reply(req, req->itf->get_client_info(req), NULL, NULL);
}

static void settings(afb_req_t req)
{
	afb_req_reply(req, json_object_get(req->api->itf->settings(req->api)), NULL, NULL);
}

/* the uploaded file "file": {"value": its name, "path": where it is stored} */
static void upload(afb_req_t req)
{
	struct afb_arg a = req->itf->get(req, "file");
	struct json_object *r = json_object_new_object();
	json_object_object_add(r, "value", a.value ? json_object_new_string(a.value) : NULL);
	json_object_object_add(r, "path", a.path ? json_object_new_string(a.path) : NULL);
	afb_req_reply(req, r, NULL, NULL);
}

static const struct afb_verb_v3 verbs[] = {
	{ .verb = "ping", .callback = ping },
	{ .verb = "echo", .callback = echo },
	{ .verb = "hello", .callback = hello },
	{ .verb = "fail", .callback = fail },
	{ .verb = "async", .callback = async },
	{ .verb = "setctx", .callback = setctx },
	{ .verb = "getctx", .callback = getctx },
	{ .verb = "setloa", .callback = setloa },
	{ .verb = "loa1", .callback = echo, .session = AFB_SESSION_LOA_1 },
	{ .verb = "subscribe", .callback = subscribe },
	{ .verb = "push", .callback = push },
	{ .verb = "bcast", .callback = bcast },
	{ .verb = "subcall", .callback = subcall },
	{ .verb = "subcallsync", .callback = subcallsync },
	{ .verb = "addverb", .callback = addverb },
	{ .verb = "twice", .callback = twice },
	{ .verb = "never", .callback = never },
	{ .verb = "info", .callback = info },
	{ .verb = "settings", .callback = settings },
	{ .verb = "upload", .callback = upload },
	{ .verb = NULL }
};

static int init(afb_api_t api)
{
	event = api->itf->event_make(api, "ev");
	afb_api_log(api, AFB_SYSLOG_LEVEL_NOTICE, "init of %s", api->apiname);
	return event ? 0 : -1;
}

const struct afb_binding_v3 afbBindingV3 = {
	.api = "hello3",
	.info = "test binding of ABI v3",
	.verbs = verbs,
	.init = init,
};
