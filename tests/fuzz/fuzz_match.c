/*
 * fuzz_match.c -- the matcher on the shipped rules: the input is a log
 * (any bytes, any lines), split by lines.c, joined by join.c and matched
 * by match.c as the daemon does.  Every event it yields has an address
 * that is one (inet_pton) or none, and bounded, terminated fields.  The
 * rules come from SW_FUZZ_RULES (default: rules/ of the tree).
 */

#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"

static struct sw_rules		*rules;
static struct sw_matcher	*matcher;	/* new for each input */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rules = fuzz_load_rules("fuzz_match");
	fuzz_quiet();
	return 0;
}

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void
check_event(const struct sw_event *ev)
{
	unsigned char	 a[16];

	FUZZ_CHECK(terminated(ev->addr, sizeof(ev->addr)));
	FUZZ_CHECK(ev->addr[0] == '\0' ||
	    inet_pton(AF_INET, ev->addr, a) == 1 ||
	    inet_pton(AF_INET6, ev->addr, a) == 1);
	FUZZ_CHECK(ev->accountlen <= sizeof(ev->account));
	FUZZ_CHECK(terminated(ev->host, sizeof(ev->host)));
	FUZZ_CHECK(terminated(ev->name, sizeof(ev->name)));
	FUZZ_CHECK(terminated(ev->relay, sizeof(ev->relay)));
	FUZZ_CHECK(terminated(ev->mech, sizeof(ev->mech)));
	FUZZ_CHECK(terminated(ev->reply, sizeof(ev->reply)));
	FUZZ_CHECK(terminated(ev->queue, sizeof(ev->queue)));
	FUZZ_CHECK(ev->rule != NULL);
	FUZZ_CHECK((unsigned int)ev->kind < SW_EV_NKINDS);
}

static void
on_record(void *arg, const struct sw_record *rec)
{
	struct sw_event	 ev;

	(void)arg;
	memset(&ev, 0, sizeof(ev));
	if (match_record(matcher, rec, &ev) == SW_MATCH_EVENT)
		check_event(&ev);
}

static void
on_line(void *arg, const char *p, size_t n, int cut)
{
	join_line(arg, p, n, cut);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sw_matchopt opt = { 1, NULL };
	struct sw_lines	 ls;
	struct sw_join	*j;

	matcher = matcher_new(rules, &opt);
	j = join_new(1795910400, on_record, NULL);
	lines_init(&ls, on_line, j);
	lines_feed(&ls, (const char *)data, size);
	lines_finish(&ls);
	join_flush(j);
	lines_free(&ls);
	join_free(j);
	matcher_free(matcher);
	return 0;
}
