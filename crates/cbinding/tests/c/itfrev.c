/*
 * A test binding of ABI v4 reporting the interface revision it was
 * compiled for (`revision` verb), built with the revision macro given on
 * the command line (or none). It checks at compile time that the function
 * table it sees holds exactly the members of that revision: a binding of
 * revision 7 has no `type_UUID` nor `api_set_specification`.
 *
 * -DFORCE_REVISION=N declares revision N whatever the headers allow (a
 * binding built with newer headers than the binder's).
 */
#ifdef FORCE_REVISION
#define afbBindingV4_itf_revision itfrev_headers_revision
#endif
#include <stdio.h>
#include <afb/afb-binding-v4.h>
#ifdef FORCE_REVISION
#undef afbBindingV4_itf_revision
short afbBindingV4_itf_revision = FORCE_REVISION;
#endif

#ifndef APINAME
#define APINAME "itfrev"
#endif

/* members of the table: 103 in revision 1, then 2, 2, 2, 1, 1, 1, 1, 1 appended */
_Static_assert(sizeof(struct afb_binding_x4r1_itf) == 103 * sizeof(void *) + (AFB_BINDING_X4R1_ITF_REVISION >= 2) * 2 * sizeof(void *)
		+ (AFB_BINDING_X4R1_ITF_REVISION >= 3) * 2 * sizeof(void *) + (AFB_BINDING_X4R1_ITF_REVISION >= 4) * 2 * sizeof(void *)
		+ (AFB_BINDING_X4R1_ITF_REVISION >= 5) * sizeof(void *) + (AFB_BINDING_X4R1_ITF_REVISION >= 6) * sizeof(void *)
		+ (AFB_BINDING_X4R1_ITF_REVISION >= 7) * sizeof(void *) + (AFB_BINDING_X4R1_ITF_REVISION >= 8) * sizeof(void *)
		+ (AFB_BINDING_X4R1_ITF_REVISION >= 9) * sizeof(void *),
		"the table holds the members of its revision, no more");
#if AFB_BINDING_X4R1_ITF_REVISION < 8 && defined(AFB_TYPE_UUID)
#error "type_UUID offered below revision 8"
#endif

static void revision(afb_req_t req, unsigned n, afb_data_t const p[])
{
	char buf[96];
	snprintf(buf, sizeof buf, "{\"declared\":%d,\"compiled\":%d,\"members\":%u}", afbBindingV4_itf_revision,
		AFB_BINDING_X4R1_ITF_REVISION, (unsigned)(sizeof(struct afb_binding_x4r1_itf) / sizeof(void *)));
	afb_req_reply_json(req, 0, buf);
}

static const struct afb_verb_v4 verbs[] = {
	{ .verb = "revision", .callback = revision },
	{ .verb = NULL }
};

const struct afb_binding_v4 afbBindingV4 = {
	.api = APINAME,
	.info = "reports its interface revision",
#ifdef STATIC_SPEC
	.specification = STATIC_SPEC,
#endif
	.verbs = verbs,
};
