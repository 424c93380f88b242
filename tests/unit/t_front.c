/*
 * t_front.c -- front.c, which lines of a read buffer the matcher reads
 * and which rules it may pass over in them: a line takes every literal
 * found whose last byte it holds, whether they come in order or not;
 * lines that touch stay apart; front_skip() passes over a line without a
 * hit and, for a line read, sets *miss to the rules none of whose
 * literals it holds (an ignore rule, with no literal, is never among
 * them); only the literals that hold no other are compiled, each
 * reporting the rules of those that hold it; then a real Vectorscan
 * pass over a buffer.  Without Vectorscan
 * every line is read and nothing is passed over.
 */

#include "../../daemon/front.c"

#include "check.h"

#ifdef SW_VECTORSCAN

/*
 * Literals found out of order, two at one offset, then sorted: each
 * line [0, 10), [10, 20), [20, 30), [30, 40) takes those whose last
 * byte it holds, and lines that touch stay apart.
 */
static void
t_found(void)
{
	struct sw_front	 fe;
	uint64_t	 miss;

	memset(&fe, 0, sizeof(fe));
	fe.lo = 0;
	fe.hi = 40;
	fe.rules = 31;
	front_add_found(&fe, 12, 1);
	front_add_found(&fe, 12, 4);		/* the same offset: merged */
	front_add_found(&fe, 20, 2);		/* the next line's first byte */
	front_add_found(&fe, 9, 8);		/* before the last: the
						   first line's last byte */
	front_add_found(&fe, 29, 16);
	CHECK_INT(fe.n, 4);
	CHECK(fe.unsorted);
	front_sort(&fe);
	CHECK(!fe.unsorted);
	CHECK_INT(front_skip(&fe, 0, 10, &miss), 0);
	CHECK_INT(miss, 31 & ~8);
	CHECK_INT(front_skip(&fe, 0, 10, &miss), 0);	/* asked again */
	CHECK_INT(miss, 31 & ~8);
	CHECK_INT(front_skip(&fe, 10, 20, &miss), 0);
	CHECK_INT(miss, 31 & ~5);
	CHECK_INT(front_skip(&fe, 20, 30, &miss), 0);
	CHECK_INT(miss, 31 & ~18);
	CHECK_INT(front_skip(&fe, 30, 40, &miss), 1);
	CHECK_INT(miss, 31);
	CHECK_INT(front_skip(&fe, 35, 45, &miss), 0);	/* past the chunk */
	CHECK_INT(miss, 0);
	free(fe.v);
}

/*
 * Rules alpha (0), an ignore rule (1) and gamma (2) over four lines;
 * alpha twice in the third line, once before gamma and once after.
 */
static void
t_scan(void)
{
	static char		*alpha[] = { "alp", "alpha" };
	static char		*gamma[] = { "gamma" };
	static const char	 buf[] = "x alpha y\nno hit here\n"
				    "alpha, gamma and alpha\nz gamma\npartial alp";
	struct sw_extract	 x[3];
	struct sw_rules		 rs;
	struct sw_front		*fe;
	uint64_t		 miss, off = 1000, a, b;
	const char		*p = buf, *nl;
	static const int	 skip[] = { 0, 1, 0, 0 };
	static const uint64_t	 want[] = { 4, 5, 0, 1 };
	int			 i;

	memset(x, 0, sizeof(x));
	memset(&rs, 0, sizeof(rs));
	x[0].id = "alpha";
	x[0].literals = alpha;
	x[0].nliterals = 2;
	x[1].id = "ignored";
	x[1].ignore = 1;
	x[2].id = "gamma";
	x[2].literals = gamma;
	x[2].nliterals = 1;
	rs.extracts = x;
	rs.nextracts = 3;
	rs.front = frontdb_new();
	if (!CHECK((fe = front_new(&rs)) != NULL))
		goto out;
	CHECK_INT(rs.front->rules, 5);
	front_chunk(fe, buf, sizeof(buf) - 1, off);
	for (i = 0; i < 4; i++) {
		nl = strchr(p, '\n');
		a = off + (uint64_t)(p - buf);
		b = off + (uint64_t)(nl - buf) + 1;
		CHECK_INT(front_skip(fe, a, b, &miss), skip[i]);
		CHECK_INT(miss, want[i]);
		p = nl + 1;
	}
	a = off + (uint64_t)(p - buf);		/* the last line, not whole */
	CHECK_INT(front_skip(fe, a, a + 20, &miss), 0);
	CHECK_INT(miss, 0);
	front_free(fe);
out:
	frontdb_free(rs.front);
}

/*
 * Literals that hold another go, their rules reported by the shortest
 * they hold; one equal to an earlier one goes too.
 */
static void
t_collapse(void)
{
	const char	*lit[] = { "uthenticat", "authentication failed:",
			    "authentication failed", "SASL",
			    "(SASL authentication failed;", "uthenticat",
			    "gamma", "message repeated " };
	size_t		 len[8], i, n;
	uint64_t	 bit[] = { 0, 1, 2, 0, 4, 8, 16, 0 };

	for (i = 0; i < 8; i++)
		len[i] = strlen(lit[i]);
	n = front_collapse(lit, len, bit, 8);
	if (!CHECK_INT(n, 4))
		return;
	CHECK_STR(lit[0], "uthenticat");
	CHECK_INT(bit[0], 1 | 2 | 8);
	CHECK_STR(lit[1], "SASL");
	CHECK_INT(bit[1], 4);	/* the shortest it holds */
	CHECK_STR(lit[2], "gamma");
	CHECK_INT(bit[2], 16);
	CHECK_STR(lit[3], "message repeated ");
	CHECK_INT(len[3], 17);
	CHECK_INT(bit[3], 0);
}

int
main(void)
{
	t_found();
	t_collapse();
	t_scan();
	return check_done();
}

#else

int
main(void)
{
	struct sw_rules	 rs;
	uint64_t	 miss = 1;

	memset(&rs, 0, sizeof(rs));
	CHECK(front_new(&rs) == NULL);
	CHECK_INT(front_skip(NULL, 0, 10, &miss), 0);
	CHECK_INT(miss, 0);
	return check_done();
}

#endif
