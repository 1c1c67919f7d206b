/*
 * The auth sample as a C binding, for any ABI version (sample.h): the
 * verbs and session requirements of the Rust sample (samples/auth). The
 * binder renews the token of `connect`/`refresh` (S_RENEW) and puts it in
 * the reply envelope; C has no way to read it, so the response carries
 * the LOA only.
 */
#include <stdatomic.h>

#include "sample.h"

static void a_ping(sreq_t req);
static void a_connect(sreq_t req);
static void a_refresh(sreq_t req);
static void a_check(sreq_t req);
static void a_logout(sreq_t req);

#define SAMPLE_VERBS(V) \
	V("ping", a_ping, S_NONE, "counts the calls") \
	V("connect", a_connect, S_LOA(0) | S_RENEW, "logs in: LOA 1 and a new token") \
	V("refresh", a_refresh, S_LOA(1) | S_RENEW, "renews the token (LOA 1)") \
	V("check", a_check, S_LOA(1), "tells whether logged in (LOA 1)") \
	V("logout", a_logout, S_LOA(1) | S_CLOSE, "logs out: LOA back to 0")

#include "sample-entry.h"

static atomic_ullong pings;

static int sample_init(void) { return 0; }

static void a_ping(sreq_t req)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "count", json_object_new_int64((int64_t)atomic_fetch_add(&pings, 1) + 1));
	s_reply(req, o, NULL, NULL);
}

static struct json_object *loa(int n)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "LOA", json_object_new_int(n));
	return o;
}

static void a_connect(sreq_t req)
{
	if (s_set_loa(req, 1) < 0) {
		s_reply(req, NULL, "failed", "cannot set the LOA");
		return;
	}
	s_reply(req, loa(1), NULL, NULL);
}

static void a_refresh(sreq_t req)
{
	s_reply(req, loa(1), NULL, NULL);
}

static void a_check(sreq_t req)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "isvalid", json_object_new_boolean(1));
	s_reply(req, o, NULL, NULL);
}

static void a_logout(sreq_t req)
{
	s_reply(req, NULL, NULL, "logged out");
}
