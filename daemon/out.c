/*
 * out.c -- how smtpwatchctl prints what it read: aligned tables of text,
 * numbers and times ("3 min ago"), database columns as JSON (numbers,
 * null, strings; an account's bytes beside it as NAME_hex), spans of
 * time, and the headings of a report.  ctldb.c (the listings and scan's
 * report) and status.c (status and metrics) print through it, so the
 * same count looks the same wherever it is shown.  Text a client or a
 * relay typed is escaped with str_vis() in tables, with fput_json() in
 * JSON.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <sqlite3.h>

#include "smtpwatch.h"

#define DAY	86400

/* "3 min" for a span of seconds: one unit, rounded down. */
void
out_span(char *buf, size_t size, long long d)
{
	if (d < 0)
		d = 0;
	if (d >= DAY)
		snprintf(buf, size, "%lld d", d / DAY);
	else if (d >= 3600)
		snprintf(buf, size, "%lld h", d / 3600);
	else if (d >= 60)
		snprintf(buf, size, "%lld min", d / 60);
	else
		snprintf(buf, size, "%lld s", d);
}

/* "3 min ago" for t before now; "in 3 min" for t after it. */
void
out_ago(char *buf, size_t size, time_t t, time_t now)
{
	long long	 d = (long long)now - (long long)t;
	char		 s[32];

	out_span(s, sizeof(s), d < 0 ? -d : d);
	snprintf(buf, size, d < 0 ? "in %s" : "%s ago", s);
}

/* "1 failure", "2 failures": n and the word that goes with it. */
const char *
out_count(char *buf, size_t size, long long n, const char *one,
    const char *many)
{
	snprintf(buf, size, "%lld %s", n, n == 1 ? one : many);
	return buf;
}

/* "2026-11-28T04:35:04Z"; "" for no time. */
void
out_utc(char *buf, size_t size, time_t t)
{
	struct tm	 tm;

	if (size > 0)
		buf[0] = '\0';
	if (t != 0 && gmtime_r(&t, &tm) != NULL)
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* 1 when fp is a terminal that may show bold (no $NO_COLOR). */
int
out_bold(FILE *fp)
{
	return isatty(fileno(fp)) && getenv("NO_COLOR") == NULL;
}

/* A heading of a report, after a blank line; bold on a terminal. */
void
out_heading(FILE *fp, const char *s)
{
	int	 b = out_bold(fp);

	fprintf(fp, "\n%s%s%s\n", b ? "\033[1m" : "", s, b ? "\033[0m" : "");
}

/* Column i escaped with str_vis(), allocated; NULL when it is NULL. */
char *
out_vis_column(sqlite3_stmt *st, int i)
{
	const char	*p;
	size_t		 n;
	char		*s;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	p = sqlite3_column_blob(st, i);
	n = (size_t)sqlite3_column_bytes(st, i);
	s = xmalloc(n * 4 + 1);
	str_vis(s, n * 4 + 1, p != NULL ? p : "", n);
	return s;
}

/* Column i as JSON: integers as numbers, text with fput_json(). */
void
out_json_column(FILE *fp, sqlite3_stmt *st, int i)
{
	const char	*p;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		fputs("null", fp);
		break;
	case SQLITE_INTEGER:
		fprintf(fp, "%lld", (long long)sqlite3_column_int64(st, i));
		break;
	case SQLITE_FLOAT:
		fprintf(fp, "%.17g", sqlite3_column_double(st, i));
		break;
	default:
		p = sqlite3_column_blob(st, i);
		fput_json(fp, p != NULL ? p : "",
		    (size_t)sqlite3_column_bytes(st, i));
		break;
	}
}

/* Bytes as a JSON string of lower-case hex; null for NULL. */
void
out_json_hex(FILE *fp, const void *p, size_t n)
{
	const unsigned char	*b = p;
	size_t			 i;

	if (p == NULL) {
		fputs("null", fp);
		return;
	}
	fputc('"', fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%02x", b[i]);
	fputc('"', fp);
}

/* Column i's bytes as out_json_hex() writes them. */
void
out_json_hex_column(FILE *fp, sqlite3_stmt *st, int i)
{
	const void	*p = sqlite3_column_blob(st, i);

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		out_json_hex(fp, NULL, 0);
	else
		out_json_hex(fp, p != NULL ? p : "",
		    (size_t)sqlite3_column_bytes(st, i));
}

/*
 * 1 for a column that holds text someone else typed (a client, a relay,
 * a log): NAME_hex, its exact bytes, follows it.
 */
static int
out_hexed(const char *name)
{
	static const char *const names[] = { "account", "last_account",
	    "subject", "relay", "last_reply", "reply", "name", "path" };
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * The current row's columns as "key":value pairs, in column order,
 * without the braces; columns named from '_' are helpers, left out.
 * Text someone else typed (out_hexed()) may hold any bytes: NAME_hex,
 * its bytes in hex, follows it.
 */
void
out_json_fields(FILE *fp, sqlite3_stmt *st)
{
	const char	*name;
	int		 i, n = sqlite3_column_count(st), first = 1;

	for (i = 0; i < n; i++) {
		name = sqlite3_column_name(st, i);
		if (name[0] == '_')
			continue;
		if (!first)
			fputc(',', fp);
		first = 0;
		fprintf(fp, "\"%s\":", name);
		out_json_column(fp, st, i);
		if (out_hexed(name)) {
			fprintf(fp, ",\"%s_hex\":", name);
			out_json_hex_column(fp, st, i);
		}
	}
}

/* A table of the columns cols[0 .. n), the header row first. */
void
out_table_init(struct out_table *t, const struct out_col *cols, size_t n)
{
	size_t	 i;

	memset(t, 0, sizeof(*t));
	t->cols = cols;
	t->ncols = n;
	for (i = 0; i < n; i++)
		out_table_add(t, xstrdup(cols[i].head));
}

/*
 * Appends the next cell, which the table then owns.  The array doubles:
 * grown a cell at a time, scan's report of a million random accounts
 * copied it over and over.
 */
void
out_table_add(struct out_table *t, char *s)
{
	if (t->ncells == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->cells = xreallocarray(t->cells, t->cap, sizeof(char *));
	}
	t->cells[t->ncells++] = s;
}

/* Appends a number, or "-". */
void
out_table_num(struct out_table *t, int isnull, long long v)
{
	char	 buf[32];

	if (isnull)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), "%lld", v);
	out_table_add(t, xstrdup(buf));
}

/*
 * A row from the current row of st, column by column as the table's
 * columns name them (each must exist, looked up at st's first row): NULL
 * and empty text are "-".
 */
void
out_table_row(struct out_table *t, sqlite3_stmt *st, time_t now)
{
	char	 buf[64], *s;
	size_t	 i;
	int	 c;

	if (t->colst != st) {
		t->colidx = xreallocarray(t->colidx, t->ncols, sizeof(int));
		for (i = 0; i < t->ncols; i++)
			t->colidx[i] = out_column(st, t->cols[i].name);
		t->colst = st;
	}
	for (i = 0; i < t->ncols; i++) {
		c = t->colidx[i];
		if (sqlite3_column_type(st, c) == SQLITE_NULL) {
			out_table_add(t, xstrdup("-"));
			continue;
		}
		switch (t->cols[i].kind) {
		case OUT_NUM:
			out_table_num(t, 0, sqlite3_column_int64(st, c));
			break;
		case OUT_AGO:
			out_ago(buf, sizeof(buf),
			    (time_t)sqlite3_column_int64(st, c), now);
			out_table_add(t, xstrdup(buf));
			break;
		case OUT_TEXT:
		default:
			s = out_vis_column(st, c);
			if (*s == '\0') {
				free(s);
				s = xstrdup("-");
			}
			out_table_add(t, s);
			break;
		}
	}
}

/* The index of the result column name; it must exist. */
int
out_column(sqlite3_stmt *st, const char *name)
{
	int	 i, n = sqlite3_column_count(st);

	for (i = 0; i < n; i++)
		if (strcmp(sqlite3_column_name(st, i), name) == 0)
			return i;
	fatalx("out: no column %s", name);
}

/* Rows of the table, without the header. */
size_t
out_table_rows(const struct out_table *t)
{
	return t->ncols == 0 ? 0 : t->ncells / t->ncols - 1;
}

/*
 * The columns s takes on a terminal: str_vis() text, so printable ASCII
 * and well-formed UTF-8, a wide character (CJK) two columns, a
 * combining one none.
 */
static size_t
out_width(const char *s)
{
	size_t		 n = 0, k, len = strlen(s);
	uint32_t	 cp;
	int		 w;

	while (len > 0) {
		if ((unsigned char)*s < 0x80) {	/* wcwidth: 1, or -1 as 1 */
			n++;
			s++;
			len--;
			continue;
		}
		if ((k = utf8_char(s, len, &cp)) == 0) {
			k = 1;
			w = 1;
		} else if ((w = wcwidth((wchar_t)cp)) < 0)
			w = 1;
		n += (size_t)w;
		s += k;
		len -= k;
	}
	return n;
}

/* n blanks, written a run at a time (a column of long names is wide). */
static void
out_blanks(FILE *fp, size_t n)
{
	static const char	 blanks[] = "                                ";
	size_t			 k;

	for (; n > 0; n -= k) {
		k = n < sizeof(blanks) - 1 ? n : sizeof(blanks) - 1;
		fwrite(blanks, 1, k, fp);
	}
}

/* s, then blanks up to width w (or before it, right). */
static void
out_pad(FILE *fp, const char *s, size_t w, int right)
{
	size_t	 n = out_width(s);

	if (right && n < w)
		out_blanks(fp, w - n);
	fputs(s, fp);
	if (!right && n < w)
		out_blanks(fp, w - n);
}

/*
 * Prints the table aligned, each line led by indent, two blanks between
 * columns, numbers and their headings on the right, the header in bold on a terminal; a
 * table without rows is indent and empty instead, when empty is not
 * NULL.  Frees the cells.
 */
void
out_table_print(struct out_table *t, FILE *fp, const char *indent,
    const char *empty)
{
	size_t		*w, i, j, n, nrows = t->ncols ? t->ncells / t->ncols : 0;
	const char	*s;
	int		 bold = out_bold(fp);

	if (nrows <= 1 && empty != NULL)
		fprintf(fp, "%s%s\n", indent, empty);
	w = xcalloc(t->ncols + 1, sizeof(*w));
	for (i = 0; i < t->ncells; i++)
		if ((n = out_width(t->cells[i])) > w[i % t->ncols])
			w[i % t->ncols] = n;
	for (i = 0; i < nrows && !(nrows <= 1 && empty != NULL); i++) {
		fputs(indent, fp);
		if (i == 0 && bold)
			fputs("\033[1m", fp);
		for (j = 0; j < t->ncols; j++) {
			s = t->cells[i * t->ncols + j];
			if (j > 0)
				fputs("  ", fp);
			if (t->cols[j].kind == OUT_NUM)
				out_pad(fp, s, w[j], 1);
			else if (j + 1 == t->ncols)
				fputs(s, fp);
			else
				out_pad(fp, s, w[j], 0);
		}
		if (i == 0 && bold)
			fputs("\033[0m", fp);
		fputc('\n', fp);
	}
	free(w);
	out_table_free(t);
}

void
out_table_free(struct out_table *t)
{
	size_t	 i;

	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->ncells = t->cap = 0;
	free(t->colidx);
	t->colidx = NULL;
	t->colst = NULL;
}
