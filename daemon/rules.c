/*
 * rules.c -- load the rules: [extract ID] entries that turn a message into
 * an event, [diagnosis ID] entries that say why it failed and what to do,
 * and [piece NAME] entries, named pattern pieces that a later pattern
 * writes as %{NAME}.  Files come from ordered directories; a later file of
 * the same name replaces an earlier one (and the set remembers it, to be
 * said at load), and all are read in name order.  Any error is reported
 * as file:line and rejects the whole set, so a running daemon keeps the
 * rules it has.  Once loaded, a rule set never changes.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpwatch.h"

int	 rules_nojit;		/* set by the benchmark: interpreter only */

/* One "key = value" of the entry being read. */
struct kv {
	char		*key;
	char		*val;
	unsigned int	 line;
};

/* The entry being read: its header and its keys. */
struct entry {
	int		 type;		/* 'e' extract, 'd' diagnosis, 'p' piece,
					   0 none, 'x' skipped */
	char		*id;
	unsigned int	 line;
	struct kv	*kv;
	size_t		 nkv;
};

/* A [piece NAME]: its text, already expanded. */
struct piece {
	char		*name;
	char		*text;
	const char	*file;
	unsigned int	 line;
};

struct loader {
	struct sw_rules	*rs;
	const char	*file;		/* owned by rs->files */
	int		 errors;
	struct piece	*pieces;	/* defined so far, in load order */
	size_t		 npieces;
};

#define PIECE_NAME_MAX	64
#define PATTERN_MAX	65536		/* bytes, after expansion */

static const char *const cap_names[SW_CAP_N] = {
	"addr", "name", "account", "mech", "reply", "relay", "queue"
};

static void	lerr(struct loader *, unsigned int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
lerr(struct loader *ld, unsigned int line, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s:%u: %s", ld->file, line, msg);
	ld->errors++;
}

const char *
cap_name(enum sw_cap c)
{
	return c < SW_CAP_N ? cap_names[c] : "?";
}

const char *
kind_name(enum sw_kind k)
{
	static const char *const names[SW_EV_NKINDS] = {
		"failure", "success", "affected", "attribution", "trouble"
	};

	return k < SW_EV_NKINDS ? names[k] : "?";
}

const char *
dir_name(enum sw_dir d)
{
	return d == SW_DIR_SERVER ? "server" : "client";
}

/* Looks word up in names[0..n); returns its index or -1. */
static int
word_index(const char *word, const char *const *names, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(word, names[i]) == 0)
			return i;
	return -1;
}

static int
parse_kind(const char *s)
{
	static const char *const n[] = {
		"failure", "success", "affected", "attribution", "trouble"
	};

	return word_index(s, n, SW_EV_NKINDS);
}

static int
parse_dir(const char *s)
{
	static const char *const n[] = { "server", "client" };

	return word_index(s, n, SW_DIR_NDIRS);
}

static int
parse_mtaname(const char *s)
{
	static const char *const n[] = {
		"unknown", "postfix", "exim", "dovecot", "saslauthd"
	};
	int	 i = word_index(s, n, SW_MTA_NMTAS);

	return i <= 0 ? -1 : i;
}

/* The piece called name (n bytes), or NULL. */
static const struct piece *
piece_find(const struct loader *ld, const char *name, size_t n)
{
	size_t	 i;

	for (i = 0; i < ld->npieces; i++)
		if (strlen(ld->pieces[i].name) == n &&
		    memcmp(ld->pieces[i].name, name, n) == 0)
			return &ld->pieces[i];
	return NULL;
}

/* Length of the piece name at s, up to its "}"; 0 when not one. */
static size_t
piece_ref(const char *s)
{
	size_t	 n;

	for (n = 0; isalnum((unsigned char)s[n]) || s[n] == '_'; n++)
		if (n == PIECE_NAME_MAX)
			return 0;
	return n > 0 && s[n] == '}' ? n : 0;
}

/* Appends n bytes of s to *out (length *len, capacity *cap). */
static void
pieces_put(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*out = xreallocarray(*out, *cap, 1);
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

/*
 * Expands the %{NAME} references of pat with the pieces defined so far.
 * Each piece goes in as the group (?-x:TEXT): an atom, which a quantifier
 * after the reference repeats whole, and which keeps its blanks in a
 * pattern written with (?x).  A backslash keeps the character after it
 * as it is, so \%{ stays literal.  Returns a new string, or NULL after
 * reporting an unknown or malformed reference or a result longer than
 * PATTERN_MAX.
 */
static char *
pieces_expand(struct loader *ld, unsigned int line, const char *key,
    const char *pat)
{
	const struct piece	*pc;
	char			*out = NULL;
	size_t			 len = 0, cap = 0, n, add;
	const char		*p;

	pieces_put(&out, &len, &cap, "", 0);
	for (p = pat; *p != '\0'; p += n) {
		pc = NULL;
		if (p[0] == '\\' && p[1] != '\0')
			n = 2;
		else if (p[0] != '%' || p[1] != '{')
			n = 1;
		else if ((n = piece_ref(p + 2)) == 0) {
			lerr(ld, line, "%s: \"%%{\" must start a piece "
			    "reference %%{NAME} (write \\%%{ for the text)",
			    key);
			goto bad;
		} else if ((pc = piece_find(ld, p + 2, n)) == NULL) {
			lerr(ld, line, "%s: unknown piece %%{%.*s} (a piece "
			    "must be defined before it is used)", key,
			    (int)n, p + 2);
			goto bad;
		}
		add = pc == NULL ? n : strlen(pc->text) + 6;
		if (len + add >= PATTERN_MAX) {
			lerr(ld, line, "%s: longer than %d bytes once its "
			    "pieces are expanded", key, PATTERN_MAX);
			goto bad;
		}
		if (pc == NULL) {
			pieces_put(&out, &len, &cap, p, n);
			continue;
		}
		pieces_put(&out, &len, &cap, "(?-x:", 5);
		pieces_put(&out, &len, &cap, pc->text, strlen(pc->text));
		pieces_put(&out, &len, &cap, ")", 1);
		n += 3;
	}
	return out;
bad:
	free(out);
	return NULL;
}

/*
 * Compiles pat, whose pieces are expanded; on error reports it at line
 * (with the text near the error when pieces made it differ from what the
 * file says) and returns NULL.  *expanded, when not NULL, takes the
 * expanded text.
 */
static pcre2_code *
rules_compile(struct loader *ld, unsigned int line, const char *key,
    const char *pat, uint32_t opts, char **expanded)
{
	pcre2_code	*re;
	char		*x;
	int		 err;
	PCRE2_SIZE	 off;
	PCRE2_UCHAR	 msg[256];

	if ((x = pieces_expand(ld, line, key, pat)) == NULL)
		return NULL;
	re = pcre2_compile((PCRE2_SPTR)x, PCRE2_ZERO_TERMINATED, opts,
	    &err, &off, NULL);
	if (re == NULL) {
		pcre2_get_error_message(err, msg, sizeof(msg));
		if (strcmp(x, pat) == 0)
			lerr(ld, line, "%s: %s at offset %zu", key,
			    (char *)msg, (size_t)off);
		else
			lerr(ld, line, "%s: %s at offset %zu of the expanded "
			    "pattern, near \"%.40s\"", key, (char *)msg,
			    (size_t)off, x + (off > 20 ? off - 20 : 0));
		free(x);
		return NULL;
	}
	if (!rules_nojit && pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0)
		ld->rs->jit = 1;	/* else the interpreter, silently */
	if (expanded != NULL)
		*expanded = x;
	else
		free(x);
	return re;
}

/* "95% text" into fix; returns 0 or -1. */
static int
parse_fix(const char *s, struct sw_fix *fix)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (end == s || errno != 0 || n < 0 || n > 100 || *end != '%')
		return -1;
	for (end++; *end == ' ' || *end == '\t'; end++)
		continue;
	if (*end == '\0')
		return -1;
	fix->percent = (int)n;
	fix->text = xstrdup(end);
	return 0;
}

/* Finds the id among all entries loaded so far. */
static int
rules_idtaken(struct loader *ld, const char *id, unsigned int line)
{
	const struct sw_rules	*rs = ld->rs;
	size_t			 i;

	for (i = 0; i < rs->nextracts; i++)
		if (strcmp(rs->extracts[i].id, id) == 0) {
			lerr(ld, line, "duplicate id \"%s\" (first at %s:%u)",
			    id, rs->extracts[i].file, rs->extracts[i].line);
			return 1;
		}
	for (i = 0; i < rs->ndiagnoses; i++)
		if (strcmp(rs->diagnoses[i].id, id) == 0) {
			lerr(ld, line, "duplicate id \"%s\" (first at %s:%u)",
			    id, rs->diagnoses[i].file, rs->diagnoses[i].line);
			return 1;
		}
	return 0;
}

/* A single-valued key given twice is an error. */
static int
set_once(struct loader *ld, const struct kv *kv, char **dst)
{
	if (*dst != NULL) {
		lerr(ld, kv->line, "\"%s\" given twice", kv->key);
		return -1;
	}
	*dst = xstrdup(kv->val);
	return 0;
}

/* Splits a blank-separated list into a vector. */
static void
split_words(const char *s, char ***v, size_t *n)
{
	const char	*p = s, *w;
	char		*word;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (w = p; *p != '\0' && *p != ' ' && *p != '\t'; p++)
			continue;
		word = xstrndup(w, (size_t)(p - w));
		strv_push(v, n, word);
		free(word);
	}
}

/* Looks up the numbers of the named groups the matcher copies. */
static void
extract_groups(struct sw_extract *x)
{
	int	 i, n;

	for (i = 0; i < SW_CAP_N; i++) {
		n = pcre2_substring_number_from_name(x->re,
		    (PCRE2_SPTR)cap_names[i]);
		x->cap[i] = n > 0 ? n : 0;
	}
}

/*
 * Printable bytes from the most to the least frequent in mail logs (a
 * generated Postfix log and the real lines of REAL-SHAPES.md); a byte
 * not listed is rarer than all of them.
 */
static const char byte_order[] =
    " e01ot.2sm:npia58xr4l3cd6=7f9][v/u-NhgS,AyEwCkbqT<>D@()LFB_zHOjPRMGXK"
    "UQI;WVZJY\\`?+*#'";

static size_t
byte_rank(unsigned char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(byte_order, c)) == NULL)
		return sizeof(byte_order);
	return (size_t)(p - byte_order);
}

/* How match.c looks for literal s: its length and rarest byte. */
void
rules_literal(const char *s, struct sw_literal *l)
{
	size_t	 j;

	l->len = strlen(s);
	l->rare = 0;
	for (j = 1; j < l->len; j++)
		if (byte_rank((unsigned char)s[j]) >
		    byte_rank((unsigned char)s[l->rare]))
			l->rare = j;
}

static void
extract_literals(struct sw_extract *x)
{
	size_t	 i;

	x->lits = xcalloc(x->nliterals + 1, sizeof(*x->lits));
	for (i = 0; i < x->nliterals; i++)
		rules_literal(x->literals[i], &x->lits[i]);
}

/* Applies one key of an extract entry. */
static int
extract_key(struct loader *ld, struct sw_extract *x, const struct kv *kv,
    int *have)
{
	int	 v;

	if (strcmp(kv->key, "program") == 0) {
		split_words(kv->val, &x->programs, &x->nprograms);
	} else if (strcmp(kv->key, "literal") == 0) {
		strv_push(&x->literals, &x->nliterals, kv->val);
	} else if (strcmp(kv->key, "pattern") == 0) {
		return set_once(ld, kv, &x->pattern);
	} else if (strcmp(kv->key, "direction") == 0) {
		if ((v = parse_dir(kv->val)) == -1) {
			lerr(ld, kv->line, "direction must be server or client");
			return -1;
		}
		x->dir = (enum sw_dir)v;
		have[0] = 1;
	} else if (strcmp(kv->key, "event") == 0 &&
	    strcmp(kv->val, "none") == 0) {
		x->ignore = 1;
		have[1] = 1;
	} else if (strcmp(kv->key, "event") == 0) {
		if ((v = parse_kind(kv->val)) == -1) {
			lerr(ld, kv->line, "event must be failure, success, "
			    "affected, attribution, trouble or none");
			return -1;
		}
		x->kind = (enum sw_kind)v;
		have[1] = 1;
	} else if (strcmp(kv->key, "mta") == 0) {
		if ((v = parse_mtaname(kv->val)) == -1) {
			lerr(ld, kv->line, "mta must be postfix, exim, dovecot "
			    "or saslauthd");
			return -1;
		}
		x->mta = (enum sw_mta)v;
		x->mta_set = 1;
	} else if (strcmp(kv->key, "twice") == 0) {
		if (strcmp(kv->val, "yes") != 0 && strcmp(kv->val, "no") != 0) {
			lerr(ld, kv->line, "twice must be yes or no");
			return -1;
		}
		x->twice = strcmp(kv->val, "yes") == 0;
	} else {
		lerr(ld, kv->line, "unknown key \"%s\" in extract entry",
		    kv->key);
		return -1;
	}
	return 0;
}

/* Builds an extract entry from its keys; reports what is missing. */
static void
entry_extract(struct loader *ld, struct entry *e)
{
	struct sw_extract	 x;
	char			*src = NULL;
	int			 have[2] = { 0, 0 }, bad = 0;
	size_t			 i;

	memset(&x, 0, sizeof(x));
	for (i = 0; i < e->nkv; i++)
		if (extract_key(ld, &x, &e->kv[i], have) == -1)
			bad = 1;
	if (!bad && x.nprograms == 0) {
		lerr(ld, e->line, "extract %s: missing \"program\"", e->id);
		bad = 1;
	}
	if (!bad && (!have[0] || !have[1] || x.pattern == NULL)) {
		lerr(ld, e->line, "extract %s: missing \"%s\"", e->id,
		    !have[0] ? "direction" : !have[1] ? "event" : "pattern");
		bad = 1;
	}
	if (!bad) {
		for (i = 0; i < e->nkv; i++)
			if (strcmp(e->kv[i].key, "pattern") == 0)
				break;
		x.re = rules_compile(ld, e->kv[i].line, "pattern", x.pattern,
		    0, &src);
		bad = x.re == NULL;
		free(x.pattern);
		x.pattern = src;	/* as PCRE2 sees it */
	}
	if (bad) {
		strv_free(x.programs, x.nprograms);
		strv_free(x.literals, x.nliterals);
		free(x.pattern);
		return;
	}
	extract_groups(&x);
	extract_literals(&x);
	x.id = xstrdup(e->id);
	x.file = ld->file;
	x.line = e->line;
	ld->rs->extracts = xreallocarray(ld->rs->extracts,
	    ld->rs->nextracts + 1, sizeof(x));
	ld->rs->extracts[ld->rs->nextracts++] = x;
}

/* Appends "NN% text" to a list of fixes or dead ends. */
static int
fix_push(struct loader *ld, const struct kv *kv, struct sw_fix **v,
    size_t *n)
{
	struct sw_fix	 f;

	if (parse_fix(kv->val, &f) == -1) {
		lerr(ld, kv->line, "%s must read \"NN%% text\"", kv->key);
		return -1;
	}
	*v = xreallocarray(*v, *n + 1, sizeof(f));
	(*v)[(*n)++] = f;
	return 0;
}

static int
diag_regex(struct loader *ld, const struct kv *kv, void **re, uint32_t opts)
{
	if (*re != NULL) {
		lerr(ld, kv->line, "\"%s\" given twice", kv->key);
		return -1;
	}
	*re = rules_compile(ld, kv->line, kv->key, kv->val, opts, NULL);
	return *re == NULL ? -1 : 0;
}

static int
diag_enum(struct loader *ld, const struct kv *kv, int *dst, int v,
    const char *what)
{
	if (v == -1) {
		lerr(ld, kv->line, "%s must be %s", kv->key, what);
		return -1;
	}
	*dst = v;
	return 0;
}

/* Applies one key of a diagnosis entry. */
static int
diag_key(struct loader *ld, struct sw_diagnosis *d, const struct kv *kv)
{
	const char	*k = kv->key;

	if (strcmp(k, "direction") == 0)
		return diag_enum(ld, kv, &d->dir, parse_dir(kv->val),
		    "server or client");
	if (strcmp(k, "event") == 0)
		return diag_enum(ld, kv, &d->kind, parse_kind(kv->val),
		    "failure, success, affected, attribution or trouble");
	if (strcmp(k, "mta") == 0)
		return diag_enum(ld, kv, &d->mta, parse_mtaname(kv->val),
		    "postfix, exim, dovecot or saslauthd");
	if (strcmp(k, "rule") == 0) {
		if (d->nrules > 0) {
			lerr(ld, kv->line, "\"rule\" given twice");
			return -1;
		}
		split_words(kv->val, &d->rules, &d->nrules);
		return 0;
	}
	if (strcmp(k, "relay") == 0)
		return diag_regex(ld, kv, &d->relay_re, PCRE2_CASELESS);
	if (strcmp(k, "reply") == 0)
		return diag_regex(ld, kv, &d->reply_re, 0);
	if (strcmp(k, "behaviour") == 0)
		return set_once(ld, kv, &d->behaviour);
	if (strcmp(k, "summary") == 0)
		return set_once(ld, kv, &d->summary);
	if (strcmp(k, "cause") == 0)
		return set_once(ld, kv, &d->cause);
	if (strcmp(k, "affects") == 0)
		return set_once(ld, kv, &d->affects);
	if (strcmp(k, "see") == 0)
		return set_once(ld, kv, &d->see);
	if (strcmp(k, "fix") == 0)
		return fix_push(ld, kv, &d->fixes, &d->nfixes);
	if (strcmp(k, "dead-end") == 0)
		return fix_push(ld, kv, &d->deadends, &d->ndeadends);
	lerr(ld, kv->line, "unknown key \"%s\" in diagnosis entry", k);
	return -1;
}

static void
diag_clear(struct sw_diagnosis *d)
{
	size_t	 i;

	free(d->id);
	free(d->behaviour);
	free(d->summary);
	free(d->cause);
	free(d->affects);
	free(d->see);
	strv_free(d->rules, d->nrules);
	free(d->ruleidx);
	pcre2_code_free(d->relay_re);
	pcre2_code_free(d->reply_re);
	for (i = 0; i < d->nfixes; i++)
		free(d->fixes[i].text);
	for (i = 0; i < d->ndeadends; i++)
		free(d->deadends[i].text);
	free(d->fixes);
	free(d->deadends);
}

/* Builds a diagnosis entry from its keys. */
static void
entry_diagnosis(struct loader *ld, struct entry *e)
{
	struct sw_diagnosis	 d;
	int			 bad = 0;
	size_t			 i;

	memset(&d, 0, sizeof(d));
	d.dir = d.kind = d.mta = -1;
	for (i = 0; i < e->nkv; i++)
		if (diag_key(ld, &d, &e->kv[i]) == -1)
			bad = 1;
	if (!bad && (d.summary == NULL || d.cause == NULL || d.nfixes == 0)) {
		lerr(ld, e->line, "diagnosis %s: missing \"%s\"", e->id,
		    d.summary == NULL ? "summary" : d.cause == NULL ? "cause" :
		    "fix");
		bad = 1;
	}
	if (!bad && d.behaviour == NULL && d.relay_re == NULL &&
	    d.reply_re == NULL && d.nrules == 0) {
		lerr(ld, e->line, "diagnosis %s: needs \"reply\", \"relay\", "
		    "\"rule\" or \"behaviour\"", e->id);
		bad = 1;
	}
	if (bad) {
		diag_clear(&d);
		return;
	}
	d.id = xstrdup(e->id);
	d.file = ld->file;
	d.line = e->line;
	ld->rs->diagnoses = xreallocarray(ld->rs->diagnoses,
	    ld->rs->ndiagnoses + 1, sizeof(d));
	ld->rs->diagnoses[ld->rs->ndiagnoses++] = d;
}

/*
 * Builds a piece from its one key, pattern, expanded with the pieces
 * before it and checked to compile on its own, so that an error is
 * reported where the piece is written rather than where it is used.
 */
static void
entry_piece(struct loader *ld, struct entry *e)
{
	struct piece	 pc;
	pcre2_code	*re;
	char		*wrapped;
	size_t		 i;

	if (e->nkv != 1 || strcmp(e->kv[0].key, "pattern") != 0) {
		i = e->nkv == 0 ? 0 : strcmp(e->kv[0].key, "pattern") == 0;
		lerr(ld, i < e->nkv ? e->kv[i].line : e->line, "piece %s: "
		    "takes exactly one key, pattern", e->id);
		return;
	}
	memset(&pc, 0, sizeof(pc));
	if ((pc.text = pieces_expand(ld, e->kv[0].line, "pattern",
	    e->kv[0].val)) == NULL)
		return;
	i = strlen(pc.text) + 8;
	wrapped = xmalloc(i);
	snprintf(wrapped, i, "(?:%s)", pc.text);
	re = rules_compile(ld, e->kv[0].line, "pattern", wrapped, 0, NULL);
	free(wrapped);
	if (re == NULL) {
		free(pc.text);
		return;
	}
	pcre2_code_free(re);
	pc.name = xstrdup(e->id);
	pc.file = ld->file;
	pc.line = e->line;
	ld->pieces = xreallocarray(ld->pieces, ld->npieces + 1, sizeof(pc));
	ld->pieces[ld->npieces++] = pc;
}

/* Ends the entry being read: builds it, then forgets its keys. */
static void
entry_end(struct loader *ld, struct entry *e)
{
	size_t	 i;

	if (e->type == 'e')
		entry_extract(ld, e);
	else if (e->type == 'd')
		entry_diagnosis(ld, e);
	else if (e->type == 'p')
		entry_piece(ld, e);
	for (i = 0; i < e->nkv; i++) {
		free(e->kv[i].key);
		free(e->kv[i].val);
	}
	free(e->kv);
	free(e->id);
	memset(e, 0, sizeof(*e));
}

static int
id_valid(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("-_./", *s) == NULL)
			return 0;
	return 1;
}

/* "[piece NAME]": a name of letters, digits and _, defined once. */
static void
piece_begin(struct loader *ld, struct entry *e, const char *name,
    unsigned int line)
{
	const struct piece	*pc;
	size_t			 n = strlen(name);

	e->type = 'x';
	if (n == 0 || n > PIECE_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_") != n) {
		lerr(ld, line, "bad piece name \"%s\" (letters, digits, _; "
		    "at most %d)", name, PIECE_NAME_MAX);
		return;
	}
	if ((pc = piece_find(ld, name, n)) != NULL) {
		lerr(ld, line, "duplicate piece \"%s\" (first at %s:%u)",
		    name, pc->file, pc->line);
		return;
	}
	e->type = 'p';
	e->id = xstrdup(name);
	e->line = line;
}

/* "[extract ID]", "[diagnosis ID]" or "[piece NAME]". */
static void
entry_begin(struct loader *ld, struct entry *e, char *s, unsigned int line)
{
	char	*end, *id;
	size_t	 n;

	entry_end(ld, e);
	if ((end = strchr(s, ']')) == NULL || end[1] != '\0') {
		lerr(ld, line, "entry header must read [extract ID], "
		    "[diagnosis ID] or [piece NAME]");
		e->type = 'x';		/* skip its keys quietly */
		return;
	}
	*end = '\0';
	s++;
	n = strcspn(s, " \t");
	for (id = s + n; *id == ' ' || *id == '\t'; id++)
		continue;
	if (n == 7 && memcmp(s, "extract", 7) == 0)
		e->type = 'e';
	else if (n == 9 && memcmp(s, "diagnosis", 9) == 0)
		e->type = 'd';
	else if (n == 5 && memcmp(s, "piece", 5) == 0) {
		piece_begin(ld, e, id, line);
		return;
	} else {
		lerr(ld, line, "unknown entry type \"%.*s\"", (int)n, s);
		e->type = 'x';
		return;
	}
	if (!id_valid(id)) {
		lerr(ld, line, "bad id \"%s\" (letters, digits, - _ . /)", id);
		e->type = 'x';
		return;
	}
	if (rules_idtaken(ld, id, line))
		e->type = 'x';
	e->id = xstrdup(id);
	e->line = line;
}

/* "key = value" into the entry. */
static void
entry_kv(struct loader *ld, struct entry *e, char *s, unsigned int line)
{
	char	*k = s, *v;
	size_t	 n;

	n = strspn(s, "abcdefghijklmnopqrstuvwxyz-");
	for (v = s + n; *v == ' ' || *v == '\t'; v++)
		continue;
	if (n == 0 || *v != '=') {
		lerr(ld, line, "expected \"key = value\"");
		return;
	}
	for (v++; *v == ' ' || *v == '\t'; v++)
		continue;
	if (*v == '\0') {
		lerr(ld, line, "%.*s: empty value", (int)n, k);
		return;
	}
	if (e->type == 0) {
		lerr(ld, line, "\"%.*s\" outside of an entry", (int)n, k);
		return;
	}
	e->kv = xreallocarray(e->kv, e->nkv + 1, sizeof(*e->kv));
	e->kv[e->nkv].key = xstrndup(k, n);
	e->kv[e->nkv].val = xstrdup(v);
	e->kv[e->nkv].line = line;
	e->nkv++;
}

/* A continuation line: appended to the last value with one blank. */
static void
entry_more(struct loader *ld, struct entry *e, const char *s,
    unsigned int line)
{
	struct kv	*kv;
	size_t		 a, b;

	if (e->nkv == 0) {
		if (e->type != 'x')
			lerr(ld, line, "continuation line without a key");
		return;
	}
	kv = &e->kv[e->nkv - 1];
	a = strlen(kv->val);
	b = strlen(s);
	kv->val = xreallocarray(kv->val, a + b + 2, 1);
	kv->val[a] = ' ';
	memcpy(kv->val + a + 1, s, b + 1);
}

/* Reads one rules file into ld->rs. */
static void
rules_file(struct loader *ld, FILE *fp)
{
	struct entry	 e;
	char		*buf = NULL, *s;
	size_t		 cap = 0, n;
	ssize_t		 len;
	unsigned int	 line = 0;

	memset(&e, 0, sizeof(e));
	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		n = (size_t)len;
		while (n > 0 && isspace((unsigned char)buf[n - 1]))
			buf[--n] = '\0';
		if (memchr(buf, '\0', n) != NULL) {
			lerr(ld, line, "NUL byte in rules file");
			continue;
		}
		for (s = buf; *s == ' ' || *s == '\t'; s++)
			continue;
		if (*s == '\0' || *s == '#')
			continue;
		if (s != buf)
			entry_more(ld, &e, s, line);
		else if (*s == '[')
			entry_begin(ld, &e, s, line);
		else
			entry_kv(ld, &e, s, line);
	}
	entry_end(ld, &e);
	free(buf);
}

static int
path_cmp(const void *a, const void *b)
{
	const char	*x = *(char *const *)a, *y = *(char *const *)b;
	const char	*bx = strrchr(x, '/'), *by = strrchr(y, '/');

	return strcmp(bx != NULL ? bx + 1 : x, by != NULL ? by + 1 : y);
}

/*
 * Adds dir/name to the set's files, replacing a file of the same name
 * from an earlier directory; the replaced path is kept, to be said.
 */
static void
files_add(struct sw_rules *rs, const char *dir, const char *name)
{
	char	 path[4096];
	size_t	 i;
	char	*b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < rs->nfiles; i++) {
		b = strrchr(rs->files[i], '/');
		if (strcmp(rs->files[i], path) == 0)
			return;		/* the same directory twice */
		if (strcmp(b + 1, name) == 0) {
			strv_push(&rs->replaced, &rs->nreplaced, rs->files[i]);
			strv_push(&rs->replacing, &rs->nreplacing, path);
			free(rs->files[i]);
			rs->files[i] = xstrdup(path);
			return;
		}
	}
	strv_push(&rs->files, &rs->nfiles, path);
}

/*
 * Says which files replaced a file of the same name from an earlier
 * directory (a drop-in in rules.d replacing a shipped file): a local
 * copy made years ago keeps the shipped changes away, and the operator
 * should know it at every load.
 */
void
rules_log_replaced(const struct sw_rules *rs)
{
	const char	*slash;
	size_t		 i;

	for (i = 0; i < rs->nreplaced; i++) {
		slash = strrchr(rs->replaced[i], '/');
		log_info("rules: %s replaces the file of that name in %.*s",
		    rs->replacing[i], (int)(slash - rs->replaced[i]),
		    rs->replaced[i]);
	}
}

/* Lists the *.rules of the directories, drop-in style, in name order. */
static int
rules_list(char *const *dirs, size_t ndirs, struct sw_rules *rs)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 i, len;

	for (i = 0; i < ndirs; i++) {
		if ((d = opendir(dirs[i])) == NULL) {
			if (errno == ENOENT)
				continue;	/* e.g. no local rules.d */
			log_warn("rules: %s", dirs[i]);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (len > 6 && de->d_name[0] != '.' &&
			    strcmp(de->d_name + len - 6, ".rules") == 0)
				files_add(rs, dirs[i], de->d_name);
		}
		closedir(d);
	}
	if (rs->nfiles == 0) {
		log_warnx("rules: no *.rules files in %s%s", dirs[0],
		    ndirs > 1 ? " or the other rules directories" : "");
		return -1;
	}
	qsort(rs->files, rs->nfiles, sizeof(*rs->files), path_cmp);
	return 0;
}

/*
 * The extract ids a diagnosis names with "rule", as indices into the
 * finished set; an id no extract entry has is an error, reported at the
 * diagnosis.  Returns the number of errors.
 */
static int
rules_resolve(struct sw_rules *rs)
{
	struct sw_diagnosis	*d;
	size_t			 i, j, k;
	int			 errors = 0;

	for (i = 0; i < rs->ndiagnoses; i++) {
		d = &rs->diagnoses[i];
		if (d->nrules == 0)
			continue;
		d->ruleidx = xcalloc(d->nrules, sizeof(*d->ruleidx));
		for (j = 0; j < d->nrules; j++) {
			for (k = 0; k < rs->nextracts; k++)
				if (strcmp(rs->extracts[k].id, d->rules[j]) == 0)
					break;
			if (k == rs->nextracts) {
				log_warnx("%s:%u: diagnosis %s: no extract "
				    "entry \"%s\"", d->file, d->line, d->id,
				    d->rules[j]);
				errors++;
			}
			d->ruleidx[j] = k;
		}
	}
	return errors;
}

/* 1 when d names no rule, or the one ev comes from. */
static int
diag_rule(const struct sw_rules *rs, const struct sw_diagnosis *d,
    const struct sw_event *ev)
{
	size_t	 j;

	if (d->nrules == 0)
		return 1;
	for (j = 0; j < d->nrules; j++)
		if (ev->rule == &rs->extracts[d->ruleidx[j]])
			return 1;
	return 0;
}

/*
 * JIT code keeps its backtracking on a stack of its own, 32 KB unless
 * told otherwise; a line of 64 KB can need more (a lazy group over
 * thousands of fields), and running out is no match: an event lost.
 * The stack grows to SW_JIT_STACK, touched pages only; none is made
 * when no pattern was JIT-compiled (pcre-jit no, or no executable memory).
 */
static void
rules_jitstack(struct sw_rules *rs)
{
	if (!rs->jit)
		return;
	rs->jitstack = pcre2_jit_stack_create(32 * 1024, SW_JIT_STACK, NULL);
	if (rs->jitstack != NULL)
		pcre2_jit_stack_assign(rs->mc, NULL, rs->jitstack);
}

/*
 * Loads every rules file of the directories into a new rule set.
 * Returns 0 and sets *out, or -1 after reporting each error as
 * file:line; nothing is kept then.
 */
int
rules_load(char *const *dirs, size_t ndirs, struct sw_rules **out)
{
	struct loader	 ld;
	FILE		*fp;
	size_t		 i;

	memset(&ld, 0, sizeof(ld));
	ld.rs = xcalloc(1, sizeof(*ld.rs));
	if ((ld.rs->mc = pcre2_match_context_create(NULL)) == NULL)
		fatalx("pcre2: out of memory");
	pcre2_set_match_limit(ld.rs->mc, SW_MATCH_LIMIT);
	pcre2_set_depth_limit(ld.rs->mc, SW_DEPTH_LIMIT);
	if (rules_list(dirs, ndirs, ld.rs) == -1) {
		rules_free(ld.rs);
		return -1;
	}
	for (i = 0; i < ld.rs->nfiles; i++) {
		ld.file = ld.rs->files[i];
		if ((fp = fopen(ld.file, "r")) == NULL) {
			log_warn("rules: %s", ld.file);
			ld.errors++;
			continue;
		}
		rules_file(&ld, fp);
		fclose(fp);
	}
	for (i = 0; i < ld.npieces; i++) {
		free(ld.pieces[i].name);
		free(ld.pieces[i].text);
	}
	free(ld.pieces);
	if (ld.errors == 0)
		ld.errors += rules_resolve(ld.rs);
	if (ld.errors == 0 && ld.rs->nextracts == 0) {
		log_warnx("rules: no extract entries in %zu files",
		    ld.rs->nfiles);
		ld.errors++;
	}
	if (ld.errors > 0) {
		rules_free(ld.rs);
		return -1;
	}
	rules_jitstack(ld.rs);
	ld.rs->front = frontdb_new();
	*out = ld.rs;
	return 0;
}

void
rules_free(struct sw_rules *rs)
{
	struct sw_extract	*x;
	size_t			 i;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nextracts; i++) {
		x = &rs->extracts[i];
		free(x->id);
		strv_free(x->programs, x->nprograms);
		strv_free(x->literals, x->nliterals);
		free(x->lits);
		free(x->pattern);
		pcre2_code_free(x->re);
	}
	for (i = 0; i < rs->ndiagnoses; i++)
		diag_clear(&rs->diagnoses[i]);
	free(rs->extracts);
	free(rs->diagnoses);
	strv_free(rs->files, rs->nfiles);
	strv_free(rs->replaced, rs->nreplaced);
	strv_free(rs->replacing, rs->nreplacing);
	pcre2_match_context_free(rs->mc);
	pcre2_jit_stack_free(rs->jitstack);
	frontdb_free(rs->front);
	free(rs);
}

/* 1 when the regex (NULL = no condition) matches s. */
static int
diag_test(const struct sw_rules *rs, void *re, const char *s,
    pcre2_match_data *md)
{
	if (re == NULL)
		return 1;
	return pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md,
	    rs->mc) >= 0;
}

/* The relay a diagnosis's relay pattern is tested on. */
static const char *
diag_relay(const struct sw_event *ev)
{
	return ev->relay[0] != '\0' ? ev->relay : ev->addr;
}

/*
 * The first diagnosis whose conditions all hold for ev, in file and entry
 * order, or NULL.  Entries without reply, relay or rule are never chosen
 * here.  *byrelay is set when a relay pattern was tested: the answer
 * depends on the relay (or address), not only on the reply.
 */
static const struct sw_diagnosis *
diag_scan(const struct sw_rules *rs, const struct sw_event *ev,
    pcre2_match_data *md, int *byrelay)
{
	const struct sw_diagnosis	*d;
	size_t				 i;

	*byrelay = 0;
	for (i = 0; i < rs->ndiagnoses; i++) {
		d = &rs->diagnoses[i];
		if (d->reply_re == NULL && d->relay_re == NULL &&
		    d->nrules == 0)
			continue;
		if ((d->dir != -1 && d->dir != (int)ev->dir) ||
		    (d->kind != -1 && d->kind != (int)ev->kind) ||
		    (d->mta != -1 && d->mta != (int)ev->mta) ||
		    !diag_rule(rs, d, ev))
			continue;
		if (d->relay_re != NULL)
			*byrelay = 1;
		if (diag_test(rs, d->relay_re, diag_relay(ev), md) &&
		    diag_test(rs, d->reply_re, ev->reply, md))
			return d;
	}
	return NULL;
}

/* diag_scan() with the caller's match data, or NULL for a temporary one. */
static const struct sw_diagnosis *
diag_find(const struct sw_rules *rs, const struct sw_event *ev, void *mdp,
    int *byrelay)
{
	const struct sw_diagnosis	*found;
	pcre2_match_data		*md = mdp;

	if (mdp == NULL && (md = pcre2_match_data_create(1, NULL)) == NULL)
		fatalx("pcre2_match_data_create");
	found = diag_scan(rs, ev, md, byrelay);
	if (mdp == NULL)
		pcre2_match_data_free(md);
	return found;
}

/*
 * The first diagnosis whose conditions all hold for ev (diag_scan).
 * md is the caller's pcre2_match_data, or NULL to use a temporary one.
 */
const struct sw_diagnosis *
rules_diagnose(const struct sw_rules *rs, const struct sw_event *ev,
    void *md)
{
	int	 byrelay;

	return diag_find(rs, ev, md, &byrelay);
}

/*
 * The answers for the last few kinds of event a matcher saw.  What
 * diag_scan() reads of an event is its direction, kind, mta, rule and
 * reply, and its relay only when a relay pattern was tested: events
 * alike in those get the same diagnosis, so in a storm (thousands of
 * failures with one reply) the patterns run once per reply, not once
 * per event.  The texts are compared whole, never by hash alone: a
 * reply is the remote side's to choose.  A storm's own replies and its
 * relays' were more than 8 slots held, the oldest given up in turn:
 * storm-1m's first 200k lines ran the patterns for 9352 events with 8,
 * for 18 with 32 (all instructions 2.16G -> 2.10G, 2.92G -> 2.71G
 * with PCRE2's interpreter, as the unit runs the daemon).  Each slot is
 * some 800 bytes, touched when used.
 */
#define DIAGMEMO_SLOTS	32

struct sw_diagmemo {
	struct diagmemo_slot {
		const struct sw_extract		*rule;
		const struct sw_diagnosis	*found;
		int				 dir, kind, mta, byrelay;
		size_t				 replylen, relaylen;
		char				 reply[SW_REPLY_MAX];
		char				 relay[SW_NAME_MAX];
	}		 slot[DIAGMEMO_SLOTS];
	size_t		 n, next;
};

struct sw_diagmemo *
diagmemo_new(void)
{
	return xcalloc(1, sizeof(struct sw_diagmemo));
}

void
diagmemo_free(struct sw_diagmemo *dm)
{
	free(dm);
}

/* 1 when the slot holds the answer for ev. */
static int
diagmemo_same(const struct diagmemo_slot *e, const struct sw_event *ev,
    size_t replylen, const char *relay, size_t relaylen)
{
	return e->rule == ev->rule && e->dir == (int)ev->dir &&
	    e->kind == (int)ev->kind && e->mta == (int)ev->mta &&
	    e->replylen == replylen &&
	    memcmp(e->reply, ev->reply, replylen) == 0 &&
	    (!e->byrelay || (e->relaylen == relaylen &&
	    memcmp(e->relay, relay, relaylen) == 0));
}

/* rules_diagnose(), answered from dm for an event like a recent one. */
const struct sw_diagnosis *
rules_diagnose_memo(const struct sw_rules *rs, const struct sw_event *ev,
    void *md, struct sw_diagmemo *dm)
{
	struct diagmemo_slot	*e;
	const char		*relay = diag_relay(ev);
	size_t			 i, replylen, relaylen;

	replylen = strnlen(ev->reply, sizeof(ev->reply));
	relaylen = strnlen(relay, SW_NAME_MAX);
	if (replylen == sizeof(ev->reply) || relaylen == SW_NAME_MAX)
		return rules_diagnose(rs, ev, md);	/* not a C string */
	for (i = 0; i < dm->n; i++)
		if (diagmemo_same(&dm->slot[i], ev, replylen, relay, relaylen))
			return dm->slot[i].found;
	e = &dm->slot[dm->next];
	dm->next = (dm->next + 1) % DIAGMEMO_SLOTS;
	if (dm->n < DIAGMEMO_SLOTS)
		dm->n++;
	e->found = diag_find(rs, ev, md, &e->byrelay);
	e->rule = ev->rule;
	e->dir = (int)ev->dir;
	e->kind = (int)ev->kind;
	e->mta = (int)ev->mta;
	e->replylen = replylen;
	memcpy(e->reply, ev->reply, replylen);
	e->relaylen = relaylen;
	memcpy(e->relay, relay, relaylen);
	return e->found;
}

/* The diagnosis for a behaviour name, e.g. "brute-force", or NULL. */
/* The diagnosis of that id, or NULL. */
const struct sw_diagnosis *
rules_find(const struct sw_rules *rs, const char *id)
{
	size_t	 i;

	for (i = 0; rs != NULL && id != NULL && i < rs->ndiagnoses; i++)
		if (strcmp(rs->diagnoses[i].id, id) == 0)
			return &rs->diagnoses[i];
	return NULL;
}

const struct sw_diagnosis *
rules_behaviour(const struct sw_rules *rs, const char *name)
{
	size_t	 i;

	for (i = 0; i < rs->ndiagnoses; i++)
		if (rs->diagnoses[i].behaviour != NULL &&
		    strcmp(rs->diagnoses[i].behaviour, name) == 0)
			return &rs->diagnoses[i];
	return NULL;
}
