/* A test binding of ABI v1 (compiled by the test suite against our headers). */
#include <stdio.h>
#include <json-c/json.h>
#include <afb/afb-binding-v1.h>

#ifndef PREFIX
#define PREFIX "hello1"
#endif

static const struct afb_binding_interface_v1 *itf;
static struct afb_event_x1 event;
static int inited;

static void ping(struct afb_req_x1 req)
{
	afb_req_x1_reply(req, json_object_new_string("pong1"), NULL, inited ? "inited" : "not inited");
}

static void hello(struct afb_req_x1 req)
{
	const char *name = req.itf->get(req.closure, "name").value;
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

static void setloa(struct afb_req_x1 req)
{
	req.itf->session_set_LOA(req.closure, 1);
	afb_req_x1_reply(req, NULL, NULL, NULL);
}

static const struct afb_verb_desc_v1 verbs[] = {
	{ .name = "ping", .callback = ping },
	{ .name = "hello", .callback = hello },
	{ .name = "subscribe", .callback = subscribe },
	{ .name = "push", .callback = push },
	{ .name = "setloa", .callback = setloa },
	{ .name = "loaeq1", .callback = ping, .session = AFB_SESSION_LOA_EQ_V1 | (1 << AFB_SESSION_LOA_SHIFT_V1) },
	{ .name = NULL }
};

static const struct afb_binding_v1 binding = {
	.type = AFB_BINDING_VERSION_1,
	.v1 = { .info = "test binding of ABI v1", .prefix = PREFIX, .verbs = verbs }
};

const struct afb_binding_v1 *afbBindingV1Register(const struct afb_binding_interface_v1 *interface)
{
	itf = interface;
	return &binding;
}

int afbBindingV1ServiceInit(struct afb_service_x1 service)
{
	event = itf->daemon.itf->event_make(itf->daemon.closure, "ev");
	inited = 1;
	return event.closure ? 0 : -1;
}
