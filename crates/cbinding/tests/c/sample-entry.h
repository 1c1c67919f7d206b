/*
 * sample-entry.h: the verb table (from SAMPLE_VERBS) and the entry points
 * of a sample binding for ABI SAMPLE_ABI; see sample.h.
 */
#pragma once

static int sample_init(void);

/* The v2/v3/v4 session bits, and the v1 ones. */
#define S_TO_V2(s) ((s) & 31u)
#define S_TO_V1(s) ((((s) & S_CHECK) ? AFB_SESSION_CHECK_V1 : 0) | (((s) & S_RENEW) ? AFB_SESSION_RENEW_V1 : 0) \
		| (((s) & S_CLOSE) ? AFB_SESSION_CLOSE_V1 : 0) \
		| (((s) & 3u) ? (AFB_SESSION_LOA_GE_V1 | (((s) & 3u) << AFB_SESSION_LOA_SHIFT_V1)) : 0))

#if SAMPLE_ABI == 4
/* v4 verbs receive their parameters: the portable callback is the verb's vcbdata. */
static void s_trampoline(afb_req_t req, unsigned nparams, afb_data_t const params[])
{
	void (*cb)(sreq_t) = (void (*)(sreq_t))afbV4.req_vcbdata(req);
	(void)nparams;
	(void)params;
	cb(req);
}
#define S_VERB(n, cb, s, i) { .verb = n, .callback = s_trampoline, .vcbdata = (void *)cb, .info = i, .session = S_TO_V2(s) },
static const struct afb_verb_v4 s_verbs[] = { SAMPLE_VERBS(S_VERB) { .verb = NULL } };

static int s_mainctl(afb_api_t api, afb_ctlid_t ctlid, afb_ctlarg_t arg, void *userdata)
{
	(void)api;
	(void)arg;
	(void)userdata;
	return ctlid == afb_ctlid_Init ? sample_init() : 0;
}

const struct afb_binding_v4 afbBindingV4 = {
	.api = SAMPLE_API,
	.info = "sample " SAMPLE_API " (ABI v4)",
	.verbs = s_verbs,
	.mainctl = s_mainctl,
};

#elif SAMPLE_ABI == 3
#define S_VERB(n, cb, s, i) { .verb = n, .callback = cb, .info = i, .session = S_TO_V2(s) },
static const struct afb_verb_v3 s_verbs[] = { SAMPLE_VERBS(S_VERB) { .verb = NULL } };

static int s_init3(afb_api_t api)
{
	(void)api;
	return sample_init();
}

const struct afb_binding_v3 afbBindingV3 = {
	.api = SAMPLE_API,
	.info = "sample " SAMPLE_API " (ABI v3)",
	.verbs = s_verbs,
	.init = s_init3,
};

#elif SAMPLE_ABI == 2
#define S_VERB(n, cb, s, i) { .verb = n, .callback = cb, .info = i, .session = S_TO_V2(s) },
static const struct afb_verb_v2 s_verbs[] = { SAMPLE_VERBS(S_VERB) { .verb = NULL } };

const struct afb_binding_v2 afbBindingV2 = {
	.api = SAMPLE_API,
	.info = "sample " SAMPLE_API " (ABI v2)",
	.verbs = s_verbs,
	.init = sample_init,
};

#else
#define S_VERB(n, cb, s, i) { .name = n, .session = S_TO_V1(s), .callback = cb, .info = i },
static const struct afb_verb_desc_v1 s_verbs[] = { SAMPLE_VERBS(S_VERB) { .name = NULL } };

static const struct afb_binding_v1 s_binding1 = {
	.type = AFB_BINDING_VERSION_1,
	.v1 = { .info = "sample " SAMPLE_API " (ABI v1)", .prefix = SAMPLE_API, .verbs = s_verbs },
};

const struct afb_binding_v1 *afbBindingV1Register(const struct afb_binding_interface_v1 *itf)
{
	s_itf1 = itf;
	return &s_binding1;
}

int afbBindingV1ServiceInit(struct afb_service_x1 service)
{
	s_service1 = service;
	return sample_init();
}
#endif
