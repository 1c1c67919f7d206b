/*
 * afb-common.h: definitions shared by every binding ABI version, as the
 * Rust binder (afb-cbinding) implements them. Written for this project
 * from the ABI's facts (names, types, layouts); see docs/bindings.md.
 */
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

struct json_object;

/* Syslog levels used by every logging function. */
#define AFB_SYSLOG_LEVEL_ERROR   3
#define AFB_SYSLOG_LEVEL_WARNING 4
#define AFB_SYSLOG_LEVEL_NOTICE  5
#define AFB_SYSLOG_LEVEL_INFO    6
#define AFB_SYSLOG_LEVEL_DEBUG   7
#define AFB_SYSLOG_MASK_WANT(mask, level) ((mask) & (1 << (level)))

/* Status codes (negative: errors). */
#define AFB_ERRNO_INTERNAL_ERROR     -1
#define AFB_ERRNO_OUT_OF_MEMORY      -2
#define AFB_ERRNO_UNKNOWN_API        -3
#define AFB_ERRNO_UNKNOWN_VERB       -4
#define AFB_ERRNO_NOT_AVAILABLE      -5
#define AFB_ERRNO_UNAUTHORIZED       -6
#define AFB_ERRNO_INVALID_TOKEN      -7
#define AFB_ERRNO_FORBIDDEN          -8
#define AFB_ERRNO_INSUFFICIENT_SCOPE -9
#define AFB_ERRNO_BAD_API_STATE      -10
#define AFB_ERRNO_NO_REPLY           -11
#define AFB_ERRNO_INVALID_REQUEST    -12
#define AFB_ERRNO_NO_ITEM            -13
#define AFB_ERRNO_BAD_STATE          -14
#define AFB_ERRNO_DISCONNECTED       -15

/* Session requirements of verbs (v2, v3, v4): LOA in the two low bits. */
#define AFB_SESSION_NONE     0
#define AFB_SESSION_LOA_MASK 3
#define AFB_SESSION_LOA_1    1
#define AFB_SESSION_LOA_2    2
#define AFB_SESSION_LOA_3    3
#define AFB_SESSION_CHECK    4
#define AFB_SESSION_REFRESH  8
#define AFB_SESSION_CLOSE    16

/* Flags of subcalls (v3, v4). */
#define afb_req_subcall_catch_events 1
#define afb_req_subcall_pass_events  2
#define afb_req_subcall_on_behalf    4
#define afb_req_subcall_api_session  8

/* An authorisation rule tree. */
enum afb_auth_type {
	afb_auth_No = 0, afb_auth_Token, afb_auth_LOA, afb_auth_Permission,
	afb_auth_Or, afb_auth_And, afb_auth_Not, afb_auth_Yes
};

struct afb_auth {
	enum afb_auth_type type;
	union {
		const char *text;
		unsigned loa;
		const struct afb_auth *first;
	};
	const struct afb_auth *next;
};
