/* A test binding of ABI v2 (compiled by the test suite against our headers). */
#include <stdio.h>
#include <json-c/json.h>
#include <afb/afb-binding-v2.h>

static struct afb_event_x1 event;

static void ping(struct afb_req_x1 req)
{
	afb_req_x1_reply(req, json_object_new_string("pong2"), NULL, NULL);
}

static void hello(struct afb_req_x1 req)
{
	const char *name = afb_req_x1_value(req, "name");
	char buf[64];
	snprintf(buf, sizeof buf, "hello %s", name ? name : "nobody");
	afb_req_x1_reply(req, json_object_new_string(buf), NULL, NULL);
}

static void subscribe(struct afb_req_x1 req)
{
	req.itf->legacy_subscribe_event_x1(req.closure, event);
	afb_req_x1_reply(req, NULL, NULL, NULL);
}

static void push(struct afb_req_x1 req)
{
	event.itf->push(event.closure, json_object_get(req.itf->json(req.closure)));
	afb_req_x1_reply(req, NULL, NULL, NULL);
}

static void callsync(struct afb_req_x1 req)
{
	struct json_object *res = NULL;
	int ok = afbBindingV2data.service.itf->call_sync(afbBindingV2data.service.closure, "hello2", "hello",
			json_tokener_parse("{\"name\":\"svc\"}"), &res);
	afb_req_x1_reply(req, res, ok ? NULL : "failed", NULL);
}

/* the uploaded file "file": {"value": its name, "path": where it is stored, "content": its text} */
static void upload(struct afb_req_x1 req)
{
	struct afb_arg a = req.itf->get(req.closure, "file");
	struct json_object *r = json_object_new_object();
	char buf[256] = "";
	if (a.path) {
		FILE *f = fopen(a.path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			buf[n] = 0;
			fclose(f);
		}
	}
	json_object_object_add(r, "value", a.value ? json_object_new_string(a.value) : NULL);
	json_object_object_add(r, "path", a.path ? json_object_new_string(a.path) : NULL);
	json_object_object_add(r, "content", json_object_new_string(buf));
	afb_req_x1_reply(req, r, NULL, NULL);
}

static void loa(struct afb_req_x1 req)
{
	afb_req_x1_reply(req, NULL, NULL, NULL);
}

static const struct afb_verb_v2 verbs[] = {
	{ .verb = "ping", .callback = ping },
	{ .verb = "hello", .callback = hello },
	{ .verb = "subscribe", .callback = subscribe },
	{ .verb = "push", .callback = push },
	{ .verb = "callsync", .callback = callsync },
	{ .verb = "loa1", .callback = loa, .session = AFB_SESSION_LOA_1 },
	{ .verb = "upload", .callback = upload },
	{ .verb = NULL }
};

static int init(void)
{
	event = afbBindingV2data.daemon.itf->event_make(afbBindingV2data.daemon.closure, "ev");
	return event.closure ? 0 : -1;
}

const struct afb_binding_v2 afbBindingV2 = {
	.api = "hello2",
	.info = "test binding of ABI v2",
	.verbs = verbs,
	.init = init,
};
