/*
 * The tic-tac-toe sample as a C binding, for any ABI version (sample.h):
 * the same verbs, arguments, replies and events as the Rust sample
 * (samples/tictactoe), written for this project's tests.
 *
 * Each session's context is a reference to the board it plays on; `join`
 * makes a session share another's board. Every change pushes the board's
 * description plus "change" on the board's event, and answers the pending
 * `wait` requests. The server plays with a depth-limited negamax search
 * whose depth is the level.
 */
#include <pthread.h>
#include <stdio.h>
#include <errno.h>
#include <ctype.h>

#include "sample.h"

static void t_new(sreq_t req);
static void t_play(sreq_t req);
static void t_move(sreq_t req);
static void t_board(sreq_t req);
static void t_level(sreq_t req);
static void t_join(sreq_t req);
static void t_undo(sreq_t req);
static void t_wait(sreq_t req);

#define SAMPLE_VERBS(V) \
	V("new", t_new, S_NONE, "Starts a new game") \
	V("play", t_play, S_NONE, "Asks the server to play") \
	V("move", t_move, S_NONE, "Tells the client move") \
	V("board", t_board, S_NONE, "Get the current board") \
	V("level", t_level, S_NONE, "Set the server level") \
	V("join", t_join, S_CHECK, "Join a board") \
	V("undo", t_undo, S_NONE, "Undo the last move") \
	V("wait", t_wait, S_NONE, "Wait for a change")

#include "sample-entry.h"

#define EMPTY ' '

static const int lines[8][3] = {
	{ 0, 1, 2 }, { 3, 4, 5 }, { 6, 7, 8 }, { 0, 3, 6 },
	{ 1, 4, 7 }, { 2, 5, 8 }, { 0, 4, 8 }, { 2, 4, 6 },
};

struct waiter {
	struct waiter *next;
	sreq_t req;
};

struct board {
	struct board *next; /* all boards */
	unsigned id;
	unsigned refs; /* sessions playing on it */
	char cells[9];
	int history[9];
	int moves;
	unsigned level;
	sevent_t event;
	struct waiter *waiters;
};

/* Verbs run on several threads: one lock for every board. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct board *boards;
static unsigned last_id;

static int sample_init(void) { return 0; }

static char winner_of(const char *c)
{
	for (int i = 0; i < 8; i++) {
		const int *l = lines[i];
		if (c[l[0]] != EMPTY && c[l[0]] == c[l[1]] && c[l[1]] == c[l[2]])
			return c[l[0]];
	}
	return 0;
}

static int full(const char *c)
{
	for (int i = 0; i < 9; i++)
		if (c[i] == EMPTY)
			return 0;
	return 1;
}

/* X, O, '-' for a draw, 0 while playing. */
static char winner(const struct board *b)
{
	char w = winner_of(b->cells);
	return w ? w : full(b->cells) ? '-' : 0;
}

static char other(char p) { return p == 'X' ? 'O' : 'X'; }

static char next_player(const struct board *b) { return b->moves % 2 == 0 ? 'X' : 'O'; }

/* Score of the position for `player` to move, searching `depth` plies. */
static int negamax(char *c, char player, unsigned depth)
{
	if (winner_of(c))
		return -(10 + (int)depth);
	if (depth == 0 || full(c))
		return 0;
	int best = -1000000;
	for (int i = 0; i < 9; i++) {
		if (c[i] == EMPTY) {
			c[i] = player;
			int s = -negamax(c, other(player), depth - 1);
			c[i] = EMPTY;
			if (s > best)
				best = s;
		}
	}
	return best;
}

static int best_move(const struct board *b)
{
	if (winner(b))
		return -1;
	char me = next_player(b), c[9];
	unsigned depth = b->level < 1 ? 1 : b->level > 10 ? 10 : b->level;
	int best = -1, best_score = 0;
	memcpy(c, b->cells, 9);
	for (int i = 0; i < 9; i++) {
		if (c[i] == EMPTY) {
			c[i] = me;
			int s = -negamax(c, other(me), depth - 1);
			c[i] = EMPTY;
			if (best < 0 || s > best_score) {
				best = i;
				best_score = s;
			}
		}
	}
	return best;
}

/* Plays at `index` for the next player; NULL or the error (status, info). */
static const char *play_at(struct board *b, unsigned long index, char *info, size_t len)
{
	if (index > 8) {
		snprintf(info, len, "index %lu out of 0..8", index);
		return "invalid-request";
	}
	if (winner(b)) {
		snprintf(info, len, "the game is over");
		return "failed";
	}
	if (b->cells[index] != EMPTY) {
		snprintf(info, len, "cell %lu is taken", index);
		return "failed";
	}
	b->cells[index] = next_player(b);
	b->history[b->moves++] = (int)index;
	return NULL;
}

static struct json_object *describe(const struct board *b)
{
	struct json_object *o = json_object_new_object(), *cells = json_object_new_array(),
			   *hist = json_object_new_array();
	char w = winner(b), s[2] = { 0, 0 };
	for (int i = 0; i < 9; i++) {
		s[0] = b->cells[i];
		json_object_array_add(cells, json_object_new_string(s));
	}
	for (int i = 0; i < b->moves; i++)
		json_object_array_add(hist, json_object_new_int(b->history[i]));
	json_object_object_add(o, "boardid", json_object_new_int64(b->id));
	json_object_object_add(o, "level", json_object_new_int64(b->level));
	json_object_object_add(o, "board", cells);
	json_object_object_add(o, "history", hist);
	if (w) {
		s[0] = w;
		json_object_object_add(o, "winner", json_object_new_string(s));
	}
	return o;
}

/* Tells the players (event) and the waiters (their reply); lock held. */
static struct json_object *changed(struct board *b, const char *change)
{
	struct json_object *pushed = describe(b);
	json_object_object_add(pushed, "change", json_object_new_string(change));
	s_push(b->event, pushed);
	while (b->waiters) {
		struct waiter *w = b->waiters;
		b->waiters = w->next;
		s_reply(w->req, describe(b), NULL, change);
		s_unref(w->req);
		free(w);
	}
	return describe(b);
}

/* A session's context is a pointer to its board; freeing it drops a reference. */
static void release(void *value)
{
	struct board *b = value, **p;
	pthread_mutex_lock(&lock);
	if (--b->refs == 0) {
		for (p = &boards; *p; p = &(*p)->next)
			if (*p == b) {
				*p = b->next;
				break;
			}
		while (b->waiters) {
			struct waiter *w = b->waiters;
			b->waiters = w->next;
			s_reply(w->req, NULL, "bad-state", "board deleted");
			s_unref(w->req);
			free(w);
		}
		s_event_unref(b->event);
		free(b);
	}
	pthread_mutex_unlock(&lock);
}

/* The caller's board, created (and subscribed to) on first use; lock held. */
static struct board *board_of(sreq_t req)
{
	struct board *b = s_ctx_get(req);
	if (b)
		return b;
	b = calloc(1, sizeof *b);
	if (!b || s_event_make(req, "board", &b->event) != 0) {
		free(b);
		return NULL;
	}
	memset(b->cells, EMPTY, 9);
	b->level = 1;
	b->id = ++last_id;
	b->refs = 1;
	b->next = boards;
	boards = b;
	s_ctx_set(req, b, release);
	s_subscribe(req, b->event);
	return b;
}

/* An integer given as a JSON number or as text; -1 when it is not one. */
static int parse_uint(const char *text, unsigned long long *out)
{
	char *end;
	if (!text)
		return -1;
	while (isspace((unsigned char)*text))
		text++;
	if (!isdigit((unsigned char)*text) && !(*text == '+' && isdigit((unsigned char)text[1])))
		return -1;
	errno = 0;
	*out = strtoull(text, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	return errno || *end ? -1 : 0;
}

/* Replies the board, or the error, and unlocks. */
static void finish(sreq_t req, struct json_object *obj, const char *error, const char *info)
{
	pthread_mutex_unlock(&lock);
	s_reply(req, obj, error, info);
}

static void no_board(sreq_t req)
{
	finish(req, NULL, "internal-error", "cannot create a board");
}

static void t_new(sreq_t req)
{
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	memset(b->cells, EMPTY, 9);
	b->moves = 0;
	finish(req, changed(b, "new"), NULL, NULL);
}

static void t_play(sreq_t req)
{
	char info[64];
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	int i = best_move(b);
	if (i < 0)
		{ finish(req, NULL, "failed", "the game is over"); return; }
	const char *err = play_at(b, (unsigned long)i, info, sizeof info);
	if (err)
		{ finish(req, NULL, err, info); return; }
	finish(req, changed(b, "play"), NULL, NULL);
}

static void t_move(sreq_t req)
{
	char info[64];
	unsigned long long index;
	if (parse_uint(s_value(req, "index"), &index) < 0)
		{ s_reply(req, NULL, "invalid-request", "index must be a non-negative integer"); return; }
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	const char *err = play_at(b, index > 8 ? 9ul : (unsigned long)index, info, sizeof info);
	if (err && index > 8)
		snprintf(info, sizeof info, "index %llu out of 0..8", index);
	if (err)
		{ finish(req, NULL, err, info); return; }
	finish(req, changed(b, "move"), NULL, NULL);
}

static void t_board(sreq_t req)
{
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	finish(req, describe(b), NULL, NULL);
}

static void t_level(sreq_t req)
{
	unsigned long long level;
	if (parse_uint(s_value(req, "level"), &level) < 0)
		{ s_reply(req, NULL, "invalid-request", "level must be a non-negative integer"); return; }
	if (level < 1 || level > 10)
		{ s_reply(req, NULL, "invalid-request", "level must be 1..10"); return; }
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	b->level = (unsigned)level;
	finish(req, changed(b, "level"), NULL, NULL);
}

static void t_join(sreq_t req)
{
	char info[64];
	unsigned long long id;
	struct board *target, *old;
	if (parse_uint(s_value(req, "boardid"), &id) < 0)
		{ s_reply(req, NULL, "invalid-request", "boardid must be a non-negative integer"); return; }
	if (id > 0xffffffffull)
		{ s_reply(req, NULL, "invalid-request", "boardid out of range"); return; }
	pthread_mutex_lock(&lock);
	for (target = boards; target && target->id != id; target = target->next);
	if (!target) {
		snprintf(info, sizeof info, "no board %llu", id);
		{ finish(req, NULL, "failed", info); return; }
	}
	old = s_ctx_get(req);
	if (old)
		s_unsubscribe(req, old->event);
	target->refs++;
	/* Replacing the context releases the old board (`release` locks). */
	pthread_mutex_unlock(&lock);
	s_ctx_set(req, target, release);
	pthread_mutex_lock(&lock);
	s_subscribe(req, target->event);
	finish(req, changed(target, "join"), NULL, NULL);
}

static void t_undo(sreq_t req)
{
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	if (b->moves == 0)
		{ finish(req, NULL, "failed", "nothing to undo"); return; }
	b->cells[b->history[--b->moves]] = EMPTY;
	finish(req, changed(b, "undo"), NULL, NULL);
}

static void t_wait(sreq_t req)
{
	pthread_mutex_lock(&lock);
	struct board *b = board_of(req);
	if (!b)
		{ no_board(req); return; }
	struct waiter *w = malloc(sizeof *w);
	if (!w)
		{ finish(req, NULL, "out-of-memory", NULL); return; }
	w->req = s_addref(req);
	w->next = b->waiters;
	b->waiters = w;
	pthread_mutex_unlock(&lock);
	/* Replied by `changed` (or `release`); the request is kept meanwhile. */
}
