/*
 * smtpwatch.h -- the structures every stage shares and the prototypes of
 * each file, grouped by file in reading order, in three parts:
 *
 *   shared     what both programs link: a log line travels parse.c
 *              (envelope) -> join.c (whole records) -> match.c (one
 *              event) -> feed.c (per source) -> count.c (attribution,
 *              store.c, incident.c -> alert.c); the rules (rules.c) and
 *              the configuration (conf.c), loaded once and never changed;
 *              the status reply's fields (wire.c)
 *   daemon     smtpwatchd's own: tail.c, control.c, notify.c
 *   CLI        smtpwatchctl's own: out.c, ctldb.c, ctlsock.c, status.c,
 *              metrics.c, scan.c
 */

#ifndef SMTPWATCH_H
#define SMTPWATCH_H

#include <sys/types.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define SW_VERSION		"0.1"
#define SW_VERSION_MAX		32	/* a version string, with its NUL */

/* Bytes of any value (NUL included) and their length; owned. */
struct sw_text {
	char		*p;
	size_t		 len;
};

/* Installed defaults; every one has a command-line override. */
#ifndef SW_SYSCONFDIR
#define SW_SYSCONFDIR		"/etc/smtpwatch"
#endif
#ifndef SW_DATADIR
#define SW_DATADIR		"/usr/share/smtpwatch"
#endif
#define SW_CONF_DEFAULT		SW_SYSCONFDIR "/smtpwatch.conf"
#define SW_RULES_SHIPPED	SW_DATADIR "/rules"
#define SW_RULES_LOCAL		SW_SYSCONFDIR "/rules.d"

/*
 * Bounds.  A physical line longer than SW_LINE_MAX bytes is cut there and
 * flagged; the rest of it is read and dropped.  A record joined from
 * continuation lines is bounded the same way.
 */
#define SW_LINE_MAX		65536
#define SW_HOSTS_MAX		256	/* host names of a fleet incident */
#define SW_FLEET_HOST		"*"	/* the host of a fleet incident */
#define SW_ACCOUNT_MAX		256	/* Postfix logs at most 100 */
#define SW_ADDR_MAX		64	/* IPv6 with zone, as text */
#define SW_NAME_MAX		256	/* a DNS name */
#define SW_REPLY_MAX		512
#define SW_MECH_MAX		32
#define SW_QUEUE_MAX		32
#define SW_TAG_MAX		64
#define SW_HELD_MAX		9	/* records join.c holds at most */
#define SW_MATCH_LIMIT		1000000	/* PCRE2 match limit per pattern */
#define SW_DEPTH_LIMIT		20000	/* PCRE2 depth limit per pattern */
#define SW_JIT_STACK		(1024 * 1024)	/* most the JIT's stack grows to */
#define SW_REPEAT_MAX		1000	/* times one rsyslog repeat line counts */
#define SW_REPEAT_CUT		800	/* bytes rsyslog keeps of its message */

enum sw_kind {
	SW_EV_FAILURE,		/* credentials rejected */
	SW_EV_SUCCESS,		/* AUTH accepted, or mail sent via relay */
	SW_EV_AFFECTED,		/* consequence of a failure already counted */
	SW_EV_ATTRIBUTION,	/* a SASL back end names the account */
	SW_EV_TROUBLE,		/* AUTH failed, not for the credentials */
	SW_EV_NKINDS
};

enum sw_dir {
	SW_DIR_SERVER,		/* clients authenticating to us */
	SW_DIR_CLIENT,		/* us authenticating to a relay */
	SW_DIR_NDIRS
};

enum sw_mta {
	SW_MTA_UNKNOWN,
	SW_MTA_POSTFIX,
	SW_MTA_EXIM,
	SW_MTA_DOVECOT,
	SW_MTA_SASLAUTHD,
	SW_MTA_NMTAS
};

/* parse.c: the syslog envelope of one physical line. */
enum sw_format {
	SW_FMT_NONE,		/* no envelope: a continuation or garbage */
	SW_FMT_CLASSIC,		/* Nov 28 04:08:29 host tag[pid]: msg */
	SW_FMT_RFC3339,		/* 2026-11-28T04:08:29.1+00:00 host tag: */
	SW_FMT_EXIM		/* 2026-11-28 04:08:29 [pid] msg (mainlog) */
};

struct sw_line {
	enum sw_format	 fmt;
	time_t		 when;		/* UTC; 0 when the line has none */
	const char	*host;		/* borrowed from the line */
	size_t		 hostlen;
	const char	*tag;		/* program: postfix/smtpd, exim4 ... */
	size_t		 taglen;
	pid_t		 pid;		/* 0 when not logged */
	enum sw_mta	 mta;		/* from the tag or the format */
	const char	*msg;		/* the message after the envelope */
	size_t		 msglen;
	int		 part, parts;	/* Exim syslog [1\2] prefix, else 0 */
	int		 baddate;	/* the stamp names no real day (Feb 29
					   of 2027): when is the line before's */
	unsigned int	 repeat;	/* rsyslog's "message repeated N times:
					   [ MSG]": N, msg is MSG; else 0 */
	int		 repcapped;	/* N was above SW_REPEAT_MAX: cut */
	int		 repcut;	/* MSG may have been cut by rsyslog */
};

/*
 * Year inference for classic stamps (parse.c): keeps the newest line
 * read.  A log is read forward in time, and no line is placed after
 * the month following the reference.
 */
struct sw_clock {
	int		 year;		/* year of the newest classic stamp */
	int		 month;		/* 0-11 of it, -1 before the first */
	time_t		 newest;	/* its time */
	time_t		 last;		/* the last valid stamp, any kind */
	time_t		 ref;		/* the reference; 0: the wall clock */
	long long	 minute;	/* local stamp to the minute ... */
	time_t		 base;		/* ... and its time: mktime is slow */
	char		 memo[16];	/* the last line's classic stamp, */
	size_t		 memolen;	/* for parse_stamp(); 0: none */
	time_t		 memowhen;	/* and its time */
};

/* join.c: a record is one log entry, continuation lines included. */
struct sw_record {
	struct sw_line	 env;		/* envelope of its first line */
	const char	*text;		/* the whole message, joined by ' ' */
	size_t		 len;
	unsigned long	 lineno;	/* first physical line, from 1 */
	uint64_t	 pos;		/* byte offset of that line (join_at) */
	unsigned int	 nlines;	/* physical lines joined */
	int		 cut;		/* a line was longer than SW_LINE_MAX */
	uint64_t	 miss;		/* rules known not to match: bit i for
					   extracts[i] (front_skip), or 0 */
};

struct sw_fix {
	int		 percent;	/* success (fix) or failure rate */
	char		*text;
};

/* Named groups a pattern may use; the matcher copies them to the event. */
enum sw_cap {
	SW_CAP_ADDR,
	SW_CAP_NAME,
	SW_CAP_ACCOUNT,
	SW_CAP_MECH,
	SW_CAP_REPLY,
	SW_CAP_RELAY,
	SW_CAP_QUEUE,
	SW_CAP_N
};

/*
 * rules.c: how a literal is looked for.  The rarest byte of it (by how
 * often bytes occur in mail logs) is found with memchr, and the literal
 * compared around it: the first byte of "authentication failed" occurs
 * a dozen times in a line, its 'f' once or twice.
 */
struct sw_literal {
	size_t		 len;
	size_t		 rare;		/* offset of the rarest byte */
};

/* rules.c: one [extract ID] entry. */
struct sw_extract {
	char		*id;
	const char	*file;		/* owned by struct sw_rules */
	unsigned int	 line;
	char	       **programs;	/* fnmatch globs on the tag */
	size_t		 nprograms;
	enum sw_mta	 mta;
	enum sw_dir	 dir;
	enum sw_kind	 kind;
	char	       **literals;	/* all must occur: cheap prefilter */
	struct sw_literal *lits;	/* each literal's length, rare byte */
	size_t		 nliterals;
	char		*pattern;
	void		*re;		/* pcre2_code * */
	int		 twice;		/* Exim syslog writes it twice */
	int		 mta_set;	/* mta given: else from the tag */
	int		 ignore;	/* event = none: a known look-alike */
	int		 cap[SW_CAP_N];	/* group numbers, 0 = absent */
};

/* rules.c: one [diagnosis ID] entry. */
struct sw_diagnosis {
	char		*id;
	const char	*file;
	unsigned int	 line;
	int		 dir;		/* enum sw_dir, or -1 for any */
	int		 kind;		/* enum sw_kind, or -1 for any */
	int		 mta;		/* enum sw_mta, or -1 for any */
	char		*behaviour;	/* picked by name, not by line */
	char	       **rules;		/* extract ids the event must come */
	size_t		 nrules;	/* from, or none for any */
	size_t		*ruleidx;	/* their indices, set at the end */
	void		*relay_re;	/* pcre2_code *, optional */
	void		*reply_re;	/* pcre2_code *, optional */
	char		*summary;
	char		*cause;
	struct sw_fix	*fixes;		/* best first */
	size_t		 nfixes;
	struct sw_fix	*deadends;
	size_t		 ndeadends;
	char		*affects;	/* versions, free text */
	char		*see;		/* documentation, free text */
};

struct sw_rules {
	struct sw_extract	*extracts;
	size_t			 nextracts;
	struct sw_diagnosis	*diagnoses;
	size_t			 ndiagnoses;
	char		       **files;	/* the files loaded, in order */
	size_t			 nfiles;
	char		       **replaced;	/* files a later directory's */
	size_t			 nreplaced;	/* file of the same name */
	char		       **replacing;	/* replaced: replacing[i] */
	size_t			 nreplacing;	/* took replaced[i]'s place */
	int			 jit;	/* JIT compiled (where allowed) */
	void			*mc;	/* pcre2_match_context: the limits */
	void			*jitstack;	/* pcre2_jit_stack, with JIT */
	struct sw_frontdb	*front;	/* front.c's database, compiled at
					   the first front_new() */
};

/*
 * match.c: one event, fixed size so matching never allocates.  Strings are
 * NUL-terminated; account keeps its length since Exim's octal escapes can
 * decode to any byte.  Every string but addr is attacker-typed on the
 * server side: escape it wherever it is printed.  evq.c packs each field
 * by name: a new one goes there too.
 */
#define SW_EVF_CUT	0x01		/* a field or the line was cut */
#define SW_EVF_ACCOUNT	0x02		/* the account is known */
#define SW_EVF_DUP	0x04		/* collapsed into the event before */
#define SW_EVF_ATTRIB	0x08		/* account from a back end's line */
#define SW_EVF_HELD	0x10		/* a message held back at a relay,
					   new for it (count.c) */

struct sw_event {
	time_t				 when;
	enum sw_kind			 kind;
	enum sw_dir			 dir;
	enum sw_mta			 mta;
	unsigned int			 flags;
	unsigned int			 repeat;	/* the record stands for
					   this many events (rsyslog's repeats,
					   Exim's copies taken out): feed.c
					   hands the event on that many times */
	const struct sw_extract		*rule;
	const struct sw_diagnosis	*diag;	/* NULL when none applies */
	pid_t				 pid;
	char				 host[SW_NAME_MAX];
	char				 account[SW_ACCOUNT_MAX];
	size_t				 accountlen;
	char				 addr[SW_ADDR_MAX];	/* client or relay IP */
	char				 name[SW_NAME_MAX];	/* its DNS name */
	char				 relay[SW_NAME_MAX];	/* client side */
	char				 mech[SW_MECH_MAX];
	char				 reply[SW_REPLY_MAX];	/* reason or reply */
	char				 queue[SW_QUEUE_MAX];
};

/* Options the matcher takes from the configuration. */
struct sw_relayset;
struct sw_matchopt {
	int		 exim_syslog_dup;	/* collapse doubled lines */
	struct sw_relayset *relays;	/* deliveries count through these
					   only (relayset.c); NULL: all */
};

/* Where a source stands, as the store keeps it (see store.c). */
#define SW_FP_MAX	1024		/* bytes of a file fingerprinted */

struct sw_fileid {
	uint64_t	 dev, ino;
	uint32_t	 fplen;		/* min(size, SW_FP_MAX) when taken */
	uint64_t	 fphash;	/* FNV-1a 64 of those first bytes */
};

struct sw_checkpoint {
	char		*source;	/* the configured log path: the key */
	struct sw_fileid id;		/* the file being read */
	uint64_t	 offset;	/* resume reading here ... */
	uint64_t	 done;		/* ... records starting before this were
					   counted, except those in held[] */
	uint64_t	 held[SW_HELD_MAX];
	size_t		 nheld;
	unsigned char	*state;		/* feed.c: year inference + matcher */
	size_t		 statelen;
	char		*cursor;	/* the journal: last entry read, */
	uint64_t	 cursorseq;	/* ... and its number; NULL for a file */
	time_t		 updated;	/* wall clock of the commit */
};

/*
 * incident.c: an incident is an open run of trouble for one subject,
 * opened when its alert threshold is reached (a relay: at its first
 * refusal) and closed by a success, or by quiet time.  incident.c owns
 * them; store.c writes them with the batch (table incidents).
 */
enum sw_inc_kind {
	SW_INC_RELAY,		/* a relay refuses our credentials */
	SW_INC_ACCOUNT,		/* an account fails AUTH against us */
	SW_INC_ADDRESS,		/* one address fails on many accounts */
	SW_INC_BACKEND,		/* our SASL back end is failing */
	SW_INC_NKINDS
};

struct sw_incident {
	int64_t		 id;		/* > 0, assigned by incident.c */
	enum sw_inc_kind kind;
	char		 host[SW_NAME_MAX];
	char		 subject[SW_ACCOUNT_MAX];	/* account, address,
					   relay name; the host: backend */
	size_t		 subjectlen;
	time_t		 opened;	/* first failure counted in it */
	time_t		 last;		/* latest failure (or message) */
	time_t		 closed;	/* 0 while open */
	time_t		 since;		/* first failure not yet told in an
					   entry, 0: none (not stored) */
	char		 close_reason[16];	/* success, quiet, reset */
	uint64_t	 failures;	/* failures (trouble: backend) */
	uint64_t	 messages;	/* relay: messages held back */
	uint64_t	 reported;	/* failures told in entries so far */
	uint32_t	 alerts;	/* journal entries written */
	time_t		 last_alert;	/* log time of the latest entry */
	uint32_t	 addresses;	/* account: distinct addresses failing */
	uint32_t	 accounts;	/* address: distinct accounts */
	uint32_t	 logins;	/* account: logins from addresses not
					   failing it while open */
	time_t		 login_last;	/* ... the latest one, */
	char		 login_addr[SW_ADDR_MAX];	/* ... and its address */
	char		 diagnosis[SW_NAME_MAX];	/* rule id, or "" */
	char		 addr[SW_ADDR_MAX];	/* latest failing address */
	char		 reply[SW_REPLY_MAX];	/* latest reply or reason */
	char		 hosts[SW_HOSTS_MAX];	/* fleet: the hosts it was seen
					   on, blank-separated, "..." when
					   more did not fit; else "" */
};

/*
 * The numbers of struct sw_incident, one list for the copies between it
 * and the forms incident.c and store.c keep (their text allocated to its
 * length, or in a batch's arena), whose fields of the same names have
 * the same types: SW_INC_COPY(f) copies f from *from to *to.
 */
#define SW_INC_NUMBERS(X)						\
	X(id) X(kind) X(subjectlen) X(opened) X(last) X(closed) X(since)	\
	X(failures) X(messages) X(reported) X(alerts) X(last_alert)	\
	X(addresses) X(accounts) X(logins) X(login_last)
#define SW_INC_COPY(f)	(to)->f = (from)->f;

/* Buckets older than this (by the newest log time) become hourly. */
#define SW_BUCKET_ROLLUP	(2 * 3600)

/* Store tuning, from the configuration. */
struct sw_storeopt {
	long		 retention;	/* seconds a quiet row is kept */
	long		 bucket_width;	/* seconds per windowed bucket */
	long		 bucket_retention;	/* seconds buckets are kept */
	long		 bucket_rollup;	/* seconds they stay bucket_width
					   wide, then hourly; 0: the default,
					   SW_BUCKET_ROLLUP */
	int		 share;		/* percent of the rows an expiry may
					   delete after a jump of the log's
					   time; 0 or 100: any */
	long long	 limit;		/* bytes the file is kept under; 0: none */
	int		 nobuckets;	/* no windowed buckets: scan's */
	int		 ckthread;	/* the WAL checkpointed in a thread
					   of its own (ckpt.c): the
					   daemon's */
};

/* A network to ignore: an address and a prefix length. */
struct sw_cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	unsigned int	 bits;
};

/* relay GLOB as NAME: the credential we use with that relay. */
struct sw_relayname {
	char		*glob;		/* fnmatch, case-insensitive */
	char		*name;
};

/*
 * The defaults of the alerting directives that bound an attack's cost:
 * client addresses grouped by network (prefix lengths), the client-side
 * incidents kept open, and their entries a minute of log time.
 */
#define SW_GROUP_IPV4		32
#define SW_GROUP_IPV6		64
#define SW_CLIENT_INCIDENTS	10000
#define SW_ALERTS_PER_MINUTE	60
#define SW_HOSTILE_PER_MINUTE	600	/* hostile-entries yes */

/* Alert thresholds and filters, from the configuration. */
struct sw_alertopt {
	long		 account_threshold;	/* failures ... */
	long		 account_window;	/* ... in seconds */
	long		 spray_threshold;	/* distinct accounts ... */
	long		 spray_window;
	long		 backend_threshold;	/* back-end trouble ... */
	long		 backend_window;
	long		 distributed;	/* addresses: a distributed attack */
	long		 realert;	/* seconds between entries */
	long		 quiet;		/* an incident quiet this long closes */
	long		 attribution;	/* seconds a back-end line pairs */
	long		 group_ipv4;	/* client networks: prefix lengths */
	long		 group_ipv6;
	long		 client_incidents;	/* account and address incidents
					   open at most, then folded */
	long		 alerts_per_minute;	/* their entries a minute */
	long		 hostile;	/* address-hostile entries a minute;
					   0: none */
	int		 fleet;		/* accounts, addresses across hosts */
	char	       **ignore_accounts;	/* fnmatch globs */
	size_t		 nignore_accounts;
	struct sw_cidr	*ignore_nets;
	size_t		 nignore_nets;
	struct sw_relayname *relays;
	size_t		 nrelays;
};

/* conf.c */
enum sw_startat {
	SW_START_END,			/* files never seen: from their end */
	SW_START_BEGINNING
};

enum sw_journal_mode {
	SW_JOURNAL_AUTO,		/* unset: while no log exists */
	SW_JOURNAL_YES,
	SW_JOURNAL_NO
};

/* conf_sources(): what the daemon reads. */
enum sw_srcmode {
	SW_SRC_FILES,			/* the logs only */
	SW_SRC_JOURNAL,			/* the journal only */
	SW_SRC_BOTH,			/* both; a line in both counts once */
	SW_SRC_SWITCH			/* the journal while no log exists */
};

struct sw_conf {
	char		*path;
	char	       **rules;		/* rules directories, in order */
	size_t		 nrules;
	char	       **logs;
	size_t		 nlogs;
	char		*database;
	char		*control;	/* control socket path */
	enum sw_journal_mode journal;
	char		*journal_dir;	/* NULL: the system journal */
	enum sw_startat	 startat;
	long		 batch_ms;	/* commit at least this often */
	size_t		 batch_events;	/* ... or after this many events */
	long		 poll_ms;	/* stat interval without inotify */
	int		 jit;		/* compile patterns with PCRE2's JIT */
	char	       **alert_exec;	/* program and arguments, or NULL */
	size_t		 nalert_exec;
	long		 alert_exec_ms;	/* its timeout */
	size_t		 alert_exec_max;	/* running at once */
	int		 relay_check;	/* local findings in relay alerts */
	struct sw_storeopt	 store;
	struct sw_matchopt	 match;
	struct sw_alertopt	 alert;
};

/* hook.c: the program run on each alert (alert-exec). */
struct sw_hook;
struct ev_loop;
struct sw_hook	*hook_new(struct ev_loop *, const struct sw_conf *);
void		 hook_configure(struct sw_hook *, const struct sw_conf *);
void		 hook_alert(struct sw_hook *, const struct iovec *, size_t);
void		 hook_free(struct sw_hook *);

/* spawn.c: one of the MTA's tools, run without a shell, with a deadline. */
int	 spawn_read(const char *const [], int, char **, size_t *);
void	 spawn_wipe(char *, size_t);

/*
 * relayconf.c: the relays (smarthosts) the MTA is configured to use, read
 * through its own tools, with the credential it would send to each.
 */
enum pf_param {
	PF_RELAYHOST, PF_SENDER_RELAY, PF_TRANSPORT, PF_SASL_ENABLE,
	PF_SASL_MAPS, PF_SASL_SECOPT, PF_SASL_TLS_SECOPT, PF_SASL_FILTER,
	PF_TLS_LEVEL, PF_SOFT_BOUNCE, PF_TLS_CAFILE, PF_TLS_CAPATH,
	PF_WRAPPER, PF_HELO, PF_NPARAMS
};

struct relay {
	char		*nexthop;	/* as configured: [smtp.gmail.com]:587 */
	char		*host;		/* smtp.gmail.com */
	char		 port[8];	/* 587 */
	const char	*from;		/* the setting that names it */
	char		*map;		/* where the credential was found */
	char		*key;		/* under this key; NULL: none found */
	char		*nearkey;	/* none found, but under this key the
					   nexthop written another way */
	char		*user;
	char		*password;	/* a secret: never printed */
	int		 tls;		/* enum relay_tls */
};

enum relay_tls {
	RELAY_TLS_NONE, RELAY_TLS_MAY, RELAY_TLS_ENCRYPT, RELAY_TLS_VERIFY
};

struct relayconf {
	enum sw_mta	 mta;
	const char	*postconf, *postmap, *exim;	/* the tools */
	const char	*confdir;	/* postconf -c, or Exim's /etc/exim4 */
	char		*param[PF_NPARAMS];	/* Postfix: postconf -x -h */
	char		*passwd_client;	/* Exim: the file's path */
	char		*cafile, *capath;	/* verify with these, or the
					   system's */
	int		 wrapper;	/* TLS from the first byte (465) */
	int		 secrets;	/* the credentials were looked up */
	struct relay	*relays;
	size_t		 nrelays;
};

int	 relayconf_load(const char *, int, struct relayconf **);
int	 relayconf_tool_ms(const struct relayconf *);
const char	*relayconf_param_name(enum pf_param);
void	 relayconf_free(struct relayconf *);
int	 relayconf_map_split(const char *, char ***, size_t *);
const char	*relayconf_map_file(const char *, const char **);
void	 relayconf_add(struct relayconf *, const char *, const char *);
int	 exim_load(struct relayconf *, const char *);

/* relaycheck.c: the static checks, each finding with its fix. */
struct relayfind;
struct relayfind	*relaycheck_new(void);
void	 relaycheck_add(struct relayfind *, const char *, const char *,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
void	 relaycheck_conf(const struct relayconf *, struct relayfind *);
void	 relaycheck_relay(const struct relayconf *, const struct relay *,
	    struct relayfind *);
void	 relaycheck_offers(const struct relayconf *, const struct relay *,
	    struct relayfind *);
size_t	 relaycheck_count(const struct relayfind *);
void	 relaycheck_get(const struct relayfind *, size_t, const char **,
	    const char **, const char **);
void	 relaycheck_filter(const struct relayconf *, const char *,
	    const char *, struct relayfind *);
size_t	 relaycheck_print(const struct relayfind *, FILE *);
void	 relaycheck_describe(const struct relayconf *, const struct relay *,
	    FILE *);
void	 relaycheck_free(struct relayfind *);

/* relaynote.c: the local findings of a relay-rejected alert. */
struct sw_relaynote;
struct sw_relaynote	*relaynote_new(void);
void		 relaynote_free(struct sw_relaynote *);
const struct relayfind	*relaynote_find(struct sw_relaynote *, const char *,
		    const char *, size_t);

/* relaylive.c: --live, a login at the relay with the MTA's credential. */
int	 relaylive_login(const struct relayconf *, const struct relay *,
	    const struct sw_rules *, struct relayfind *);

/* log.c */
void	 log_init(const char *, int);
void	 log_capture(char *, size_t);
void	 log_mute(int);
void	 log_warn(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* util.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
void	 str_copy(char *, size_t, const char *);
void	 strv_push(char ***, size_t *, const char *);
void	 strv_free(char **, size_t);
size_t	 str_vis(char *, size_t, const char *, size_t);
void	 str_vis_ascii(int);
int	 str_vis_utf8(void);
size_t	 str_vis_len(const char *, size_t);
size_t	 utf8_cut(const char *, size_t, size_t);
size_t	 utf8_char(const char *, size_t, uint32_t *);
char	*str_unvis(const char *, size_t, size_t *);
void	 fput_vis(FILE *, const char *, size_t);
void	 fput_json(FILE *, const char *, size_t);
int	 duration_parse(const char *, long *);
int	 duration_parse_ms(const char *, long *);
int	 time_parse(const char *, time_t, time_t *);
void	 span_text(char *, size_t, long long);

/* parse.c */
void	 clock_init(struct sw_clock *, time_t);
void	 clock_resume(struct sw_clock *, int, int, time_t, time_t);
int	 parse_may_hold(const char *, size_t);
int	 parse_line(struct sw_clock *, const char *, size_t,
	    struct sw_line *);
time_t	 parse_stamp(struct sw_clock *, const char *, size_t, int *);
enum sw_mta	 parse_mta(const char *, size_t);
const char	*mta_name(enum sw_mta);

/* join.c */
struct sw_join;
typedef void	(*sw_record_cb)(void *, const struct sw_record *);
struct sw_join	*join_new(time_t, sw_record_cb, void *);
void		 join_free(struct sw_join *);
void		 join_line(struct sw_join *, const char *, size_t, int);
void		 join_flush(struct sw_join *);
void		 join_at(struct sw_join *, uint64_t);
void		 join_miss(struct sw_join *, uint64_t);
size_t		 join_held(const struct sw_join *, uint64_t *, size_t);
void		 join_flush_entry(struct sw_join *);
time_t		 join_stamp(struct sw_join *, const char *, size_t, int *);
void		 join_clock_get(const struct sw_join *, int *, int *, time_t *,
		    time_t *);
void		 join_clock_set(struct sw_join *, int, int, time_t, time_t);
void		 join_reference(struct sw_join *, time_t);

/* lines.c: split a byte stream into lines, bounded by SW_LINE_MAX. */
typedef void	(*sw_line_cb)(void *, const char *, size_t, int);
struct sw_lines {
	char		*buf;		/* a partial line across chunks */
	size_t		 len;
	int		 cut;		/* the line in buf was cut */
	uint64_t	 held;		/* bytes of that line seen, kept or not */
	uint64_t	 off;		/* stream offset of the next byte fed */
	uint64_t	 start;		/* during a callback: the line's offset */
	uint64_t	 next;		/* ... and the offset after its newline */
	sw_line_cb	 cb;
	void		*arg;
};
void	 lines_init(struct sw_lines *, sw_line_cb, void *);
void	 lines_feed(struct sw_lines *, const char *, size_t);
void	 lines_finish(struct sw_lines *);
void	 lines_reset(struct sw_lines *, uint64_t);
uint64_t	 lines_pending(const struct sw_lines *);
void	 lines_free(struct sw_lines *);

/* rules.c */
extern int	 rules_nojit;
int	 rules_load(char *const *, size_t, struct sw_rules **);
const char	*cap_name(enum sw_cap);
void	 rules_free(struct sw_rules *);
void	 rules_log_replaced(const struct sw_rules *);
void	 rules_literal(const char *, struct sw_literal *);
const struct sw_diagnosis	*rules_diagnose(const struct sw_rules *,
	    const struct sw_event *, void *);
struct sw_diagmemo;
struct sw_diagmemo	*diagmemo_new(void);
void	 diagmemo_free(struct sw_diagmemo *);
const struct sw_diagnosis	*rules_diagnose_memo(const struct sw_rules *,
	    const struct sw_event *, void *, struct sw_diagmemo *);
const struct sw_diagnosis	*rules_behaviour(const struct sw_rules *,
	    const char *);
const struct sw_diagnosis	*rules_find(const struct sw_rules *,
	    const char *);
const char	*kind_name(enum sw_kind);
const char	*dir_name(enum sw_dir);

/* corpus.c: an annotated corpus run against a rule set. */
struct corpus_totals {
	unsigned int	 passed, failed, todo;
};

int	 corpus_file(const struct sw_rules *, const struct sw_matchopt *,
	    time_t, const char *, FILE *, struct corpus_totals *);

/* match.c: what match_record() found. */
#define SW_MATCH_NONE		0	/* no rule matched */
#define SW_MATCH_EVENT		1	/* *ev is an event */
#define SW_MATCH_DUP		2	/* Exim's syslog copy of the last one */
#define SW_MATCH_IGNORED	3	/* a rule with event = none matched */
#define SW_MATCH_ELSEWHERE	4	/* a delivery, not through a relay
					   watched (relayset.c) */

struct sw_matcher;
typedef void	(*sw_capture_cb)(void *, const char *, const char *, size_t);
struct sw_matcher	*matcher_new(const struct sw_rules *,
			    const struct sw_matchopt *);
void	 matcher_free(struct sw_matcher *);
int	 match_record(struct sw_matcher *, const struct sw_record *,
	    struct sw_event *);
int	 match_captures(const struct sw_rules *, const struct sw_extract *,
	    const struct sw_record *, sw_capture_cb, void *);
int	 match_mentions_auth(const struct sw_record *);
void	 match_reply_clean(char *);
size_t	 match_state_save(const struct sw_matcher *, unsigned char **);
int	 match_state_load(struct sw_matcher *, const unsigned char *, size_t);

/* conf.c */
int	 conf_load(const char *, int, struct sw_conf **);
void	 conf_free(struct sw_conf *);
enum sw_srcmode	 conf_sources(const struct sw_conf *);

/* util.c: checkpoints */
void	 checkpoint_clear(struct sw_checkpoint *);
void	 checkpoint_copy(struct sw_checkpoint *, const struct sw_checkpoint *);
int	 addr_quad(const char *, unsigned char[4]);
uint64_t	 fnv64(uint64_t, const void *, size_t);
#define FNV64_INIT	0xcbf29ce484222325ULL
uint64_t	 hash_mem(uint64_t, const void *, size_t);
#define HASH_SEED	0x6a09e667f3bcc909ULL
size_t	 hash64_slot(const uint64_t *, size_t, uint64_t);
void	 hash64_move(uint64_t *, size_t, const uint64_t *, size_t);
const char	*sw_subject(const struct sw_event *, size_t *);

/* relayset.c: the relays watched, whose deliveries count */
struct sw_relayset	*relayset_new(void);
void	 relayset_free(struct sw_relayset *);
void	 relayset_clear(struct sw_relayset *);
void	 relayset_add(struct sw_relayset *, const char *, size_t,
	    const char *, size_t);
int	 relayset_has(const struct sw_relayset *, const char *, size_t,
	    const char *, size_t);
int	 relayset_maybe(struct sw_relayset *, const char *, size_t);
int	 relayset_event(struct sw_relayset *, const struct sw_event *);
size_t	 relayset_count(const struct sw_relayset *);

/*
 * How a source hands on its lines (tail.c and journal.c to feed.c, and
 * scan.c): with the byte offsets, or entry numbers, where each stands.
 */
struct sw_tail_cb {
	/* One whole line (no newline) at [start, next) of the current file. */
	void	(*line)(void *, const char *, size_t, int, uint64_t, uint64_t);
	/* A file begins at offset: on start, on resume, after rotation. */
	void	(*begin)(void *, const struct sw_fileid *, uint64_t);
	/* The same stream continues in another file (a copytruncate copy). */
	void	(*moved)(void *, const struct sw_fileid *);
	/* The current file is finished: its partial last line was handed on. */
	void	(*end)(void *);
	/* Everything written so far has been read (no partial line held). */
	void	(*drained)(void *);
	/* The bytes read at stream offset off, before their lines (or NULL). */
	void	(*chunk)(void *, const char *, size_t, uint64_t);
};

/*
 * front.c: which lines of a read buffer can match nothing (Vectorscan;
 * NULL and every line read when built without it).
 */
struct sw_front;
struct sw_frontdb;
struct sw_frontdb *frontdb_new(void);
void		 frontdb_free(struct sw_frontdb *);
struct sw_front	*front_new(const struct sw_rules *);
void		 front_free(struct sw_front *);
void		 front_chunk(struct sw_front *, const char *, size_t, uint64_t);
int		 front_skip(struct sw_front *, uint64_t, uint64_t,
		    uint64_t *);
void		 front_reset(struct sw_front *);

/*
 * store.c: the SQLite database.  Events are summed in memory per batch
 * and written, with each source's checkpoint, in one transaction.
 */
#define SW_STORE_MEMORY	":memory:"	/* store_open(): in memory */
struct sw_store;
struct sqlite3;
void	 store_setup(void);
int	 store_open(const char *, const struct sw_storeopt *,
	    struct sw_store **);
void	 store_close(struct sw_store *);
struct sqlite3	*store_db(struct sw_store *);
void	 store_event(struct sw_store *, const struct sw_event *);
void	 store_position(struct sw_store *, const struct sw_checkpoint *);
int	 store_write(struct sw_store *);
void	 store_tidy(struct sw_store *);
int	 store_commit(struct sw_store *);
size_t	 store_batched(const struct sw_store *);
unsigned long	 store_checkpoint_errors(struct sw_store *, int *);
int	 store_full(const struct sw_store *, size_t);
int	 store_load(struct sw_store *, const char *, struct sw_checkpoint *);
int	 store_expire(struct sw_store *, time_t);
void	 store_shrink(struct sw_store *);
int	 store_caught_up(struct sw_store *);
void	 store_incident(struct sw_store *, const struct sw_incident *);
int	 store_incidents_open(struct sw_store *,
	    void (*)(void *, const struct sw_incident *), void *);
int64_t	 store_incident_maxid(struct sw_store *);
int	 store_recent(struct sw_store *, long, void (*)(void *, const char *,
	    const char *, size_t, time_t, long), void *);
int	 store_addr_succeeded(struct sw_store *, const char *, const char *);
int	 store_relays(struct sw_store *, struct sw_relayset *);
int	 store_pair_succeeded(struct sw_store *, const char *, const char *,
	    size_t, const char *);
long long	 store_failures_since(struct sw_store *, time_t);
int	 store_pending(const struct sw_store *);
/* What a reset forgets, and what it found: rows of each kind. */
enum sw_reset_what {
	SW_RS_PAIRS, SW_RS_ACCOUNTS, SW_RS_ADDRS, SW_RS_RELAYS, SW_RS_BUCKETS,
	SW_RS_INCIDENTS, SW_RS_FOLDS, SW_RS_N
};
struct sw_reset {
	const char	*subject;	/* any bytes */
	size_t		 len;
	const char	*host;		/* NULL: every host */
	int		 dry_run;	/* count, change nothing */
	long long	 n[SW_RS_N];
};
int	 store_reset(struct sw_store *, struct sw_reset *);
void	 store_configure(struct sw_store *, const struct sw_storeopt *);

/* journal.c: the systemd journal as a source of mail log lines. */
struct sw_journal;
struct sw_journal_stat {
	const char		*source;	/* "journal" or "journal:DIR" */
	uint64_t		 seq;		/* entries numbered so far */
	unsigned long long	 entries;	/* of the mail programs */
	unsigned long long	 lines;		/* handed on */
	unsigned long long	 skipped;	/* envelope fields not plain */
	time_t			 last;		/* time of the last line */
};
int		 journal_open(const char *, struct sw_journal **);
char		*journal_source(const char *);
void		 journal_free(struct sw_journal *);
int		 journal_fd(struct sw_journal *);
void		 journal_process(struct sw_journal *);
void		 journal_start(struct sw_journal *, const struct sw_checkpoint *,
		    int, uint64_t, const struct sw_tail_cb *, void *);
int		 journal_run(struct sw_journal *, size_t);
int		 journal_wanted(const char *, size_t);
void		 journal_position(struct sw_journal *, struct sw_checkpoint *);
void		 journal_stat(const struct sw_journal *, struct sw_journal_stat *);

/*
 * recent.c: the events a source counted lately, by record identity, for
 * another source carrying the same lines (journal and syslog file).
 */
#define SW_RECENT_MAX	16384	/* events remembered at most ... */
#define SW_RECENT_HOLD	60	/* ... seconds before the newest record */
#define SW_RECENT_SLACK	10	/* seconds a copy's time may differ */
#define RECENT_COUNT	0	/* recent_handover(): not counted yet */
#define RECENT_SKIP	1	/* counted by the other source (or may be) */
#define RECENT_PAST	2	/* after all the other source read */

struct sw_recent;
struct sw_recent	*recent_new(void);
void		 recent_free(struct sw_recent *);
struct sw_recent	*recent_copy(const struct sw_recent *);
void		 recent_forget(struct sw_recent *, time_t);
uint64_t	 recent_id(const struct sw_record *);
void		 recent_read(struct sw_recent *, time_t);
void		 recent_add(struct sw_recent *, uint64_t, time_t);
int		 recent_take(struct sw_recent *, uint64_t, time_t);
int		 recent_handover(struct sw_recent *, uint64_t, time_t);
void		 recent_merge(struct sw_recent *, const struct sw_recent *);
time_t		 recent_newest(const struct sw_recent *);
size_t		 recent_count(const struct sw_recent *);
size_t		 recent_save(const struct sw_recent *, unsigned char **);
int		 recent_load(struct sw_recent *, const unsigned char *, size_t);

/* feed.c: one source's lines -> records -> events, and its checkpoint. */
struct sw_feed;
struct sw_feed_stat {
	unsigned long long	 lines, records, events, dups, cut;
	unsigned long long	 replayed;	/* records skipped on resume */
	unsigned long long	 handed;	/* skipped: counted before */
	unsigned long long	 twice;		/* dropped: a peer counted */
	unsigned long		 files;		/* files finished */
	time_t			 newest;	/* the latest record's time */
};
typedef void	(*sw_event_cb)(void *, const struct sw_event *);
typedef void	(*sw_note_cb)(void *, const struct sw_record *, int,
		    const struct sw_event *);
extern const struct sw_tail_cb	 feed_tail_cb;
struct sw_feed	*feed_new(const char *, const struct sw_rules *,
		    const struct sw_matchopt *, const struct sw_checkpoint *,
		    sw_event_cb, void *);
void		 feed_free(struct sw_feed *);
void		 feed_idle(struct sw_feed *, time_t);
int		 feed_checkpoint(struct sw_feed *, struct sw_checkpoint *);
int		 feed_changed(const struct sw_feed *);
const char	*feed_source(const struct sw_feed *);
void		 feed_stat(const struct sw_feed *, struct sw_feed_stat *);
void		 feed_notes(struct sw_feed *, sw_note_cb, void *);
void		 feed_reference(struct sw_feed *, time_t);
void		 feed_keep(struct sw_feed *);
const struct sw_recent	*feed_recent(const struct sw_feed *);
void		 feed_handover(struct sw_feed *, const struct sw_recent *,
		    const struct sw_feed *);
time_t		 feed_handover_time(const struct sw_feed *);
void		 feed_peers(struct sw_feed *, struct sw_feed *const *, size_t);
void		 feed_on_begin(struct sw_feed *,
		    void (*)(void *, struct sw_feed *), void *);
void		 feed_retire(struct sw_feed *);
int		 feed_retired(const struct sw_feed *);
int		 feed_cp_retired(const struct sw_checkpoint *);
void		 feed_flush(struct sw_feed *);

/* alert.c: one journal entry. */
enum sw_alert_kind {
	SW_AL_RELAY_REJECTED,
	SW_AL_RELAY_RECOVERED,
	SW_AL_ACCOUNT_FAILING,
	SW_AL_ADDRESS_SPRAYING,
	SW_AL_ACCOUNT_RECOVERED,
	SW_AL_BACKEND_DOWN,
	SW_AL_BACKEND_RECOVERED,
	SW_AL_ALERTS_FOLDED,	/* a minute's folded entries (sw_fold) */
	SW_AL_SUMMARISING,	/* client incidents folded for room */
	SW_AL_ADDRESS_HOSTILE,	/* an attacking address, for a firewall */
	SW_AL_NKINDS
};

#define SW_TRACK_ADDRS	8	/* distinct addresses told apart */
#define SW_FOLD_TOP	5	/* subjects a summary names */
#define SW_NET_MAX	(SW_ADDR_MAX + 4)	/* an address and "/128" */

/*
 * incident.c: what was folded into a summary in one minute of log time
 * (SW_AL_ALERTS_FOLDED): client-side entries past alerts-per-minute, and
 * client incidents closed to make room past client-incidents; with
 * SW_AL_SUMMARISING, the capacity and how many are open.
 */
struct sw_fold_top {
	int64_t		 id;		/* the incident */
	enum sw_inc_kind kind;
	uint64_t	 failures;	/* failures folded in the minute */
	char		 subject[SW_ACCOUNT_MAX];
	size_t		 subjectlen;
};

struct sw_fold {
	time_t		 minute;	/* its first second */
	unsigned long	 budget;	/* alerts-per-minute */
	unsigned long	 sent;		/* client-side entries written */
	unsigned long	 entries;	/* entries folded ... */
	unsigned long	 kinds[SW_AL_NKINDS];	/* ... by kind */
	unsigned long	 incidents;	/* incidents folded for room */
	uint64_t	 failures;	/* failures told in the summary */
	time_t		 first, last;	/* ... their log times */
	struct sw_fold_top top[SW_FOLD_TOP];	/* most failures first */
	size_t		 ntop;
	unsigned long	 capacity;	/* client-incidents */
	unsigned long	 open;		/* client incidents open */
};

struct sw_alert {
	enum sw_alert_kind		 kind;
	const struct sw_incident	*inc;
	const struct sw_diagnosis	*diag;	/* NULL: none */
	const char	*credential;	/* relay: its configured name */
	uint64_t	 count;		/* failures since the previous entry */
	long		 window;	/* seconds counted in, 0: none */
	long		 threshold;
	time_t		 when;		/* log time of the event */
	const char	*addr;		/* where the event came from */
	long		 period;	/* steady rhythm, seconds; 0: not */
	int		 compromise;	/* logged in from an attacking address */
	unsigned int	 repeat;	/* 0: the first entry, n: the nth repeat */
	int		 trouble;	/* relay: not the credentials (no mechs) */
	int		 closing;	/* closed by quiet time */
	char		 quiet_since[8];	/* ... HH:MM */
	time_t		 first, last;	/* log times of the failures told */
	int		 caught_up;	/* about lines older than the live
					   window: a backlog read late */
	uint32_t	 networks;	/* account: distinct client networks
					   failing it when fewer than its
					   addresses (grouped), else 0 */
	char		 network[SW_NET_MAX];	/* the one network of an
					   account or address incident */
	const struct sw_fold *fold;	/* summaries: what was folded */
	const struct relayfind *local;	/* relay: findings of this host's
					   MTA configuration (relaynote.c) */
};

/*
 * The entries decided and not yet written: kept in the database with
 * the batch that decided them (a checkpoint row of this name, its state
 * the entries), written once that batch is committed.
 */
#define SW_OUTBOX_SOURCE	"smtpwatchd:alerts"
struct sw_outbox;

const char	*alert_kind_name(enum sw_alert_kind);
const char	*alert_kind_id(enum sw_alert_kind);
void		 alert_duration(char *, size_t, long);
struct sw_outbox	*outbox_new(void);
void		 outbox_free(struct sw_outbox *);
void		 outbox_add(struct sw_outbox *, const struct sw_alert *);
/* Called for each entry written that this run decided, with its fields. */
typedef void	(*sw_outbox_cb)(void *, const struct iovec *, size_t);
size_t		 outbox_count(const struct sw_outbox *);
int		 outbox_position(const struct sw_outbox *,
		    struct sw_checkpoint *);
void		 outbox_committed(struct sw_outbox *);
size_t		 outbox_send(struct sw_outbox *, sw_outbox_cb, void *);
int		 outbox_load(struct sw_outbox *, const struct sw_checkpoint *);

/* attrib.c: names the account of a failure from a back end's line. */
struct sw_attrib;
struct sw_attrib	*attrib_new(void);
void		 attrib_free(struct sw_attrib *);
int		 attrib_event(struct sw_attrib *, long, struct sw_event *);

/* incident.c: the alert engine. */
struct sw_engine;
typedef void	(*sw_alert_cb)(void *, const struct sw_alert *);
struct sw_engine_stat {
	size_t		 open;		/* incidents open */
	size_t		 clients;	/* ... of them account, address */
	unsigned long	 alerts;	/* entries written */
	unsigned long	 folded_entries;	/* entries folded */
	unsigned long	 folded_incidents;	/* incidents folded */
	int		 summarising;	/* client-incidents are open */
	unsigned long	 opened[SW_INC_NKINDS];	/* opened here, not loaded */
};
struct sw_engine	*engine_new(const struct sw_rules *,
		    const struct sw_alertopt *, struct sw_store *,
		    sw_alert_cb, void *);
void		 engine_free(struct sw_engine *);
void		 engine_event(struct sw_engine *, const struct sw_event *);
int		 engine_tick(struct sw_engine *, time_t);
void		 engine_flush(struct sw_engine *);
void		 engine_save(struct sw_engine *);
size_t		 engine_open(const struct sw_engine *);
unsigned long	 engine_alerts(const struct sw_engine *);
void		 engine_stat(const struct sw_engine *, struct sw_engine_stat *);
int		 engine_reset(struct sw_engine *, const char *, size_t,
		    const char *);
int		 engine_group(const struct sw_alertopt *, const char *, char *,
		    size_t);

/*
 * ckpt.c: the daemon's WAL checkpointer, a thread with a connection of
 * its own.
 */
struct sw_ckpt;
struct sw_ckpt_stat {
	unsigned long	 runs, failed;	/* checkpoints run, of them failed */
	int		 failing;	/* the last one failed */
	char		 err[128];	/* why the last failed one did */
};
struct sw_ckpt	*ckpt_start(const char *, char *, size_t);
void		 ckpt_request(struct sw_ckpt *, long long);
void		 ckpt_wait(struct sw_ckpt *);
void		 ckpt_stat(struct sw_ckpt *, struct sw_ckpt_stat *);
void		 ckpt_stop(struct sw_ckpt *);

/*
 * valset.c: sets of distinct 64-bit values, which hold 32-bit ids of
 * them from a dictionary they share.  Zeroed structures are empty.
 */
struct sw_dict {
	uint64_t	*val;		/* by id (ids start at 1) */
	uint32_t	*refs;		/* by id: the sets holding it; a
					   free id: the next free one */
	uint32_t	*slot;		/* ids by their value's hash; 0 free */
	uint32_t	 nids, capids, freeid;
	size_t		 n, cap;	/* values held; slots */
};
struct sw_set {
	uint32_t	*v;		/* ids (0 free), or a bitmap of them */
	size_t		 n, cap;	/* ids held; slots, or bits */
	size_t		 max;		/* held at most; 0: 65536 */
	unsigned char	 zero;		/* holds the value 0 */
	unsigned char	 bits;		/* v is a bitmap */
};
uint32_t	 dict_find(const struct sw_dict *, uint64_t);
void		 dict_free(struct sw_dict *);
int		 set_has(const struct sw_dict *, const struct sw_set *,
		    uint64_t);
int		 set_add(struct sw_dict *, struct sw_set *, uint64_t);
void		 set_free(struct sw_dict *, struct sw_set *);
size_t		 set_count(const struct sw_set *);
uint32_t	 set_next(const struct sw_set *, size_t *);
void		 set_merge(struct sw_dict *, struct sw_set *,
		    const struct sw_set *);

/* held.c: which events are a message held back at a relay. */
struct sw_held;
struct sw_held	*held_new(void);
void		 held_free(struct sw_held *);
int		 held_is_new(struct sw_held *, const struct sw_event *);

/* count.c: the one way an event is counted (smtpwatchd and scan). */
struct sw_count;
struct sw_count	*count_new(const struct sw_rules *, const struct sw_alertopt *,
		    struct sw_store *, sw_alert_cb, void *);
void		 count_free(struct sw_count *);
void		 count_event(struct sw_count *, const struct sw_event *);
int		 count_commit(struct sw_count *);
struct sw_engine *count_engine(const struct sw_count *);
unsigned long long count_kind(const struct sw_count *, enum sw_kind);
unsigned long long count_held(const struct sw_count *);
struct sw_relayset *count_relays(const struct sw_count *);
void		 count_watch(struct sw_count *);

/*
 * wire.c: the control socket's status reply, one table of fields for
 * smtpwatchd, which writes it, and smtpwatchctl, which reads it.
 */
struct ctl_source {
	struct sw_text	 path;
	int		 open, polled;
	int		 standby;	/* read when the active one goes */
	unsigned long long	 offset, size, lag_bytes, lag_seconds;
	unsigned long long	 rotations, lines;
};

struct ctl_status {
	char		 version[SW_VERSION_MAX];
	long		 pid;
	time_t		 started, committed;	/* wall clock; 0: none */
	unsigned long long	 rules_files, rules_extracts, rules_diagnoses;
	struct sw_text	 database;
	unsigned long long	 batch, incidents;
	unsigned long long	 lines, events, batches, commit_errors, alerts;
	unsigned long long	 checkpoint_errors;	/* of the WAL */
	unsigned long long	 folded_entries, folded_incidents;
	int			 summarising;	/* client-incidents reached */
	int			 checkpoint_failing;	/* the last one failed */
	/* counted since the daemon started, for metrics.c's counters */
	unsigned long long	 failures[SW_DIR_NDIRS], successes[SW_DIR_NDIRS];
	unsigned long long	 opened[SW_INC_NKINDS];	/* incidents */
	struct ctl_source	*sources;
	size_t		 nsources;
};

void	 wire_status_write(FILE *, const struct ctl_status *);
int	 wire_status_read(char *const *, size_t, struct ctl_status *);
void	 wire_status_free(struct ctl_status *);

/* ====================================================================
 * The daemon's own: tail.c, control.c, notify.c (smtpwatchd.c wires them).
 * ==================================================================== */

/*
 * tail.c: follow log paths through rotation with inotify (or periodic
 * stat(2) where inotify is not available).  It knows nothing of mail:
 * it hands on lines with their byte offsets in the file being read
 * (struct sw_tail_cb above).
 */
struct sw_tails;
struct sw_tail;
struct sw_tail_stat {
	const char	*path;
	int		 open;		/* a file is open */
	uint64_t	 offset;	/* read so far in it */
	uint64_t	 size;		/* its size at the last look */
	unsigned long	 rotations;	/* rotations and truncations seen */
	unsigned long long	 bytes;	/* read since start */
	unsigned long long	 lines;
	int		 polled;	/* watched by stat(2), not inotify */
};

struct sw_tails	*tails_new(const struct sw_tail_cb *);
void		 tails_free(struct sw_tails *);
int		 tails_fd(const struct sw_tails *);
struct sw_tail	*tail_add(struct sw_tails *, const char *, void *,
		    const struct sw_checkpoint *, int);
void		 tails_inotify(struct sw_tails *);
void		 tails_poll(struct sw_tails *);
int		 tails_run(struct sw_tails *, size_t);
int		 tails_polled(const struct sw_tails *);
void		 tail_stat(const struct sw_tail *, struct sw_tail_stat *);
int		 tail_fileid(const struct sw_tail *, struct sw_fileid *);
void		*tail_alias(const struct sw_tail *);

/* control.c: the control socket; smtpwatchd.c runs the commands. */
struct ev_loop;
struct sw_control;
#define SW_CTL_ARGS	4	/* arguments of a request, at most */
struct sw_ctl_arg {
	const char	*p;		/* decoded, any bytes */
	size_t		 len;
};
struct sw_ctl_cmd {
	const char	*name;
	int		 change;	/* changes: root and our user only */
	int		 args;		/* takes at most this many */
	/* Writes the payload to the stream; 0, or -1 with the reason. */
	int		(*fn)(void *, const struct sw_ctl_arg *, size_t, FILE *,
			    char *, size_t);
};
const char	*control_parse(char *, size_t, const struct sw_ctl_cmd *,
		    size_t, const struct sw_ctl_cmd **, struct sw_ctl_arg *,
		    size_t *);
int		 control_open(const char *, struct ev_loop *,
		    const struct sw_ctl_cmd *, size_t, void *,
		    struct sw_control **);
const char	*control_path(const struct sw_control *);
void		 control_close(struct sw_control *);

/* notify.c */
void	 notify_ready(void);
void	 notify_reloading(void);
void	 notify_stopping(void);
void	 notify_watchdog(void);
void	 notify_status(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
double	 notify_watchdog_interval(void);

/* ====================================================================
 * smtpwatchctl's own: out.c, ctldb.c, ctlsock.c, status.c, metrics.c,
 * scan.c.
 * ==================================================================== */

/* out.c: how smtpwatchctl prints: tables, JSON of columns, times. */
struct sqlite3;
struct sqlite3_stmt;
enum out_kind {
	OUT_TEXT,		/* escaped; NULL or empty: "-" */
	OUT_NUM,		/* right-aligned */
	OUT_AGO			/* unix seconds: "3 min ago" */
};
struct out_col {
	const char	*head;
	const char	*name;		/* column of the query */
	enum out_kind	 kind;
};
struct out_table {			/* cells row by row, header first */
	const struct out_col *cols;
	size_t		 ncols;
	char		**cells;
	size_t		 ncells, cap;
	int		*colidx;	/* cols' result columns in ... */
	const void	*colst;		/* ... this statement's rows */
};
void	 out_span(char *, size_t, long long);
const char	*out_count(char *, size_t, long long, const char *,
		    const char *);
void	 out_ago(char *, size_t, time_t, time_t);
void	 out_utc(char *, size_t, time_t);
int	 out_bold(FILE *);
void	 out_heading(FILE *, const char *);
char	*out_vis_column(struct sqlite3_stmt *, int);
int	 out_column(struct sqlite3_stmt *, const char *);
void	 out_json_column(FILE *, struct sqlite3_stmt *, int);
void	 out_json_hex(FILE *, const void *, size_t);
void	 out_json_hex_column(FILE *, struct sqlite3_stmt *, int);
void	 out_json_fields(FILE *, struct sqlite3_stmt *);
void	 out_table_init(struct out_table *, const struct out_col *, size_t);
void	 out_table_add(struct out_table *, char *);
void	 out_table_num(struct out_table *, int, long long);
void	 out_table_row(struct out_table *, struct sqlite3_stmt *, time_t);
size_t	 out_table_rows(const struct out_table *);
void	 out_table_print(struct out_table *, FILE *, const char *,
	    const char *);
void	 out_table_free(struct out_table *);

/* ctldb.c: smtpwatchctl's read-only views of the database. */
struct ctldb_opt {
	struct sqlite3		*db;		/* open: scan's; NULL: open */
	FILE			*out;		/* NULL: stdout */
	const char		*indent;	/* of table lines; NULL: "" */
	const char		*empty;		/* a table without rows */
	const char		*database;
	const struct sw_rules	*rs;		/* show: diagnosis texts */
	time_t			 now;		/* ctldb_now() */
	time_t			 since, until;	/* a window; 0: open-ended */
	const char		*direction;	/* server, client; NULL: both */
	const char		*host;		/* NULL: every host */
	int			 open;		/* incidents: open ones only */
	int			 json;
	int			 failing;	/* addresses: none logged in */
	int			 format;	/* addresses: CTLDB_FMT_* */
};
#define CTLDB_FMT_TABLE	0	/* the table, or JSON */
#define CTLDB_FMT_PLAIN	1	/* one address or network a line */
#define CTLDB_FMT_NFT	2	/* nft -f input: add element ... */
time_t	 ctldb_now(void);
struct sqlite3	*ctldb_open(const char *);
struct sqlite3_stmt	*ctldb_prepare(struct sqlite3 *, const char *);
int	 ctldb_accounts(const struct ctldb_opt *);
int	 ctldb_addresses(const struct ctldb_opt *);
int	 ctldb_relays(const struct ctldb_opt *);
int	 ctldb_incidents(const struct ctldb_opt *);
int	 ctldb_diagnoses(const struct ctldb_opt *);
int	 ctldb_show(const struct ctldb_opt *, const char *);

/* ctlsock.c, status.c: smtpwatchctl's side of the control socket. */
#define CTLSOCK_TIMEOUT	30	/* seconds for a whole request and reply */
#define CTLSOCK_OK	0	/* the daemon answered ok */
#define CTLSOCK_ERROR	1	/* ... error: REASON */
#define CTLSOCK_DOWN	2	/* no daemon could be reached */
#define CTLSOCK_FAIL	3	/* connected, but no whole reply */

struct ctl_reply {
	char	       **lines;		/* the payload, without newlines */
	size_t		 nlines;
	char		 reason[256];	/* not ok: why, escaped */
};

struct status_opt {
	const char		*database;
	const char		*control;	/* the socket's path */
	const struct sw_rules	*rs;		/* diagnosis texts */
	time_t			 now;		/* ctldb_now() */
	int			 json;
	int			 verbose;	/* status: every fix, in full */
	const char		*output;	/* metrics: a file; NULL: stdout */
	long long		 limit;		/* database-limit, 0: none */
};
int	 ctlsock_request(const char *, const char *,
	    const struct sw_ctl_arg *, size_t, struct ctl_reply *);
void	 ctlsock_free(struct ctl_reply *);
int	 ctlsock_status(const struct ctl_reply *, struct ctl_status *);
int	 ctlsock_reload(const char *);
int	 ctlsock_reset(const char *, const char *, const char *, int);
/* The database's size, its folds and expiries (status.c, metrics.c). */
struct sw_storage {
	long long	 bytes;
	long long	 rows[3], members[3];	/* accounts, addresses,
						   account addresses */
	long long	 last_fold;		/* log time, 0: none */
	long long	 expire_wall, expire_log;	/* -1: none */
	long long	 refused_wall, refused_log, refused_rows, refused_total;
};
int	 status_store_read(struct sqlite3 *, struct sw_storage *);
int	 status_ask(const char *, struct ctl_status *, char *, size_t);
struct sqlite3_stmt	*status_relays(struct sqlite3 *);
int	 status_print(const struct status_opt *);

/* metrics.c: smtpwatchctl metrics, the Prometheus text format. */
int	 status_metrics(const struct status_opt *);

/* evq.c: events handed in order to a thread that counts them (scan). */
struct sw_evq;
typedef void	(*sw_evq_event_cb)(void *, const struct sw_event *);
typedef void	(*sw_evq_mark_cb)(void *);
struct sw_evq	*evq_new(sw_evq_event_cb, sw_evq_mark_cb, void *);
void		 evq_put(struct sw_evq *, const struct sw_event *);
void		 evq_mark(struct sw_evq *);
void		 evq_end(struct sw_evq *);

/* scan.c: offline analysis of existing logs (smtpwatchctl scan). */
#define SCAN_EVENTS	0x01		/* print every event */
#define SCAN_JSON	0x02		/* ... as JSON */
#define SCAN_MISSED	0x04		/* print lines about AUTH no rule took */
#define SCAN_PROGRESS	0x08		/* progress bar on stderr */

struct scan;
struct scan	*scan_new(const struct sw_rules *, const struct sw_conf *,
		    unsigned int, FILE *);
int		 scan_path(struct scan *, const char *);
int		 scan_journal(struct scan *, const char *, uint64_t);
void		 scan_window(struct scan *, time_t, time_t);
int		 scan_report(struct scan *);
int		 scan_report_json(struct scan *);
void		 scan_free(struct scan *);
void		 event_print_json(FILE *, const char *, unsigned long,
		    const struct sw_event *);
void		 scan_json_str(FILE *, const char *, const char *);
void		 diag_print(FILE *, const struct sw_diagnosis *, const char *,
		    int);

#endif /* SMTPWATCH_H */
