/*
 * http.c: the ACME HTTP transport, a client object over one libcurl easy
 * handle.  The handle is reused across requests, so the TCP/TLS connection
 * is kept alive.  The client holds its own settings (CA file, verification,
 * timeouts, size caps) and a bounded pool of Replay-Nonce values; a library
 * user can hold two clients.  Policy (which CA bundle, which timeouts, what
 * a problem document means) comes from Lua; C sends bytes and parses the
 * few headers ACME needs (Replay-Nonce, Location, Link, Retry-After).
 *
 * Nothing that may raise a Lua error runs while curl is inside a transfer:
 * the callbacks only fill C buffers owned by the client userdata, so a
 * raise anywhere (argument checks, out of memory while pushing the
 * response) leaks nothing; __gc frees it all.
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

/* Plain function declarations, so the names below can be redirected. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#include "core.h"

#define HTTP_MT "certbot.http"

#define NONCE_POOL 16          /* nonces kept per client */
#define NONCE_MAX 256          /* longest nonce accepted into the pool */
#define RETRY_AFTER_MAX 315360000LL /* 10 years of seconds */
#define BAD_NONCE "urn:ietf:params:acme:error:badNonce"

/* ---- libcurl, loaded on first use ----
 *
 * libcurl is dlopen()ed when the first client is made, not linked: its ~30
 * dependencies (GnuTLS, Kerberos, LDAP, ...) cost about 6 ms of loading
 * and constructors at every start, and --help, --version or a renew with
 * nothing due never make a request.  The table of entry points is written
 * once under curl_once and only read afterwards.
 */
#define CURL_ENTRY_POINTS(X) \
	X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) \
	X(curl_easy_reset) X(curl_easy_setopt) X(curl_easy_getinfo) \
	X(curl_easy_strerror) X(curl_free) X(curl_multi_init) \
	X(curl_multi_cleanup) X(curl_multi_add_handle) \
	X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_poll) \
	X(curl_multi_info_read) X(curl_multi_strerror) X(curl_slist_append) \
	X(curl_slist_free_all) X(curl_url) X(curl_url_cleanup) X(curl_url_get) \
	X(curl_url_set)

static struct {
#define CURL_SLOT(name) __typeof__(&name) name;
	CURL_ENTRY_POINTS(CURL_SLOT)
#undef CURL_SLOT
} lib;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_load_error[256]; /* written once, under curl_once */

static void curl_load(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	CURLcode rc;

	if (h == NULL) {
		snprintf(curl_load_error, sizeof curl_load_error, "cannot load libcurl: %s", dlerror());
		return;
	}
#define CURL_SYM(name) \
	if ((*(void **)&lib.name = dlsym(h, #name)) == NULL) { \
		snprintf(curl_load_error, sizeof curl_load_error, "libcurl lacks %s", #name); \
		return; \
	}
	CURL_ENTRY_POINTS(CURL_SYM)
#undef CURL_SYM
	rc = lib.curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		snprintf(curl_load_error, sizeof curl_load_error, "curl_global_init: %s",
			 lib.curl_easy_strerror(rc));
}

/* From here on every curl_* call goes through the table (curl.h defines
 * argument-count checking macros for two of them: replaced too). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init lib.curl_easy_init
#define curl_easy_cleanup lib.curl_easy_cleanup
#define curl_easy_reset lib.curl_easy_reset
#define curl_easy_setopt lib.curl_easy_setopt
#define curl_easy_getinfo lib.curl_easy_getinfo
#define curl_easy_strerror lib.curl_easy_strerror
#define curl_free lib.curl_free
#define curl_multi_init lib.curl_multi_init
#define curl_multi_cleanup lib.curl_multi_cleanup
#define curl_multi_add_handle lib.curl_multi_add_handle
#define curl_multi_remove_handle lib.curl_multi_remove_handle
#define curl_multi_perform lib.curl_multi_perform
#define curl_multi_poll lib.curl_multi_poll
#define curl_multi_info_read lib.curl_multi_info_read
#define curl_multi_strerror lib.curl_multi_strerror
#define curl_slist_append lib.curl_slist_append
#define curl_slist_free_all lib.curl_slist_free_all
#define curl_url lib.curl_url
#define curl_url_cleanup lib.curl_url_cleanup
#define curl_url_get lib.curl_url_get
#define curl_url_set lib.curl_url_set

/* ---- the client ---- */

typedef struct buf {
	char *p;
	size_t len, cap;
} buf;

typedef struct http_client {
	CURLM *multi;   /* owns the connection cache */
	CURL *curl;     /* the one easy handle, reused */
	struct curl_slist *req_headers; /* the current request's headers */
	char *ca_file;
	char *user_agent;
	char *proxy;
	int verify;
	int https_only;
	long connect_timeout_ms, timeout_ms, low_speed_s;
	size_t max_body, max_header;
	/* response being received */
	buf body, hdr;
	int cap_hit;   /* 1: body over max_body, 2: headers over max_header */
	char errbuf[CURL_ERROR_SIZE];
	/* nonce pool: a ring; pop takes the newest, a full pool drops the oldest */
	char *nonces[NONCE_POOL];
	int nonce_first, nonce_count;
} http_client;

static void buf_free(buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Append n bytes; 0 on success, -1 when limit would be passed or on ENOMEM. */
static int buf_add(buf *b, const char *s, size_t n, size_t limit)
{
	if (n > limit || b->len > limit - n)
		return -1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		if (cap > limit)
			cap = limit;
		if ((p = realloc(b->p, cap)) == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

static void nonce_clear(http_client *c)
{
	int i;

	for (i = 0; i < NONCE_POOL; i++) {
		free(c->nonces[i]);
		c->nonces[i] = NULL;
	}
	c->nonce_first = c->nonce_count = 0;
}

/* A nonce is base64url (RFC 8555 §6.5.1); anything else stays out of the pool. */
static int nonce_valid(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > NONCE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (!(ch >= 'A' && ch <= 'Z') && !(ch >= 'a' && ch <= 'z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-' && ch != '_')
			return 0;
	}
	return 1;
}

static void nonce_push(http_client *c, const char *s, size_t n)
{
	char *copy;
	int slot;

	if (!nonce_valid(s, n) || (copy = strndup(s, n)) == NULL)
		return;
	if (c->nonce_count == NONCE_POOL) {
		/* full: forget the oldest */
		free(c->nonces[c->nonce_first]);
		c->nonces[c->nonce_first] = NULL;
		c->nonce_first = (c->nonce_first + 1) % NONCE_POOL;
		c->nonce_count--;
	}
	slot = (c->nonce_first + c->nonce_count) % NONCE_POOL;
	c->nonces[slot] = copy;
	c->nonce_count++;
}

/* Push the newest nonce as a Lua string and drop it from the pool; 0 if
 * the pool is empty.  The newest is the likeliest to be still valid, and
 * after a badNonce error it is the one that error response carried. */
static int nonce_pop(lua_State *L, http_client *c)
{
	int slot;

	if (c->nonce_count == 0)
		return 0;
	slot = (c->nonce_first + c->nonce_count - 1) % NONCE_POOL;
	/* push first: if that raises, the nonce is still the pool's to free */
	lua_pushstring(L, c->nonces[slot]);
	free(c->nonces[slot]);
	c->nonces[slot] = NULL;
	c->nonce_count--;
	return 1;
}

static void client_free(http_client *c)
{
	if (c->curl) {
		curl_easy_cleanup(c->curl);
		c->curl = NULL;
	}
	if (c->multi) {
		curl_multi_cleanup(c->multi);
		c->multi = NULL;
	}
	curl_slist_free_all(c->req_headers);
	c->req_headers = NULL;
	free(c->ca_file);
	c->ca_file = NULL;
	free(c->user_agent);
	c->user_agent = NULL;
	free(c->proxy);
	c->proxy = NULL;
	buf_free(&c->body);
	buf_free(&c->hdr);
	nonce_clear(c);
}

static http_client *check_client(lua_State *L, int idx)
{
	http_client *c = luaL_checkudata(L, idx, HTTP_MT);

	if (c->curl == NULL)
		luaL_argerror(L, idx, "http client is closed");
	return c;
}

/* ---- options ---- */

static long opt_ms(lua_State *L, int t, const char *name, double def)
{
	double v;
	int isnum;

	lua_getfield(L, t, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return (long)(def * 1000);
	}
	v = lua_tonumberx(L, -1, &isnum);
	if (!isnum || !(v > 0) || v > 86400.0 * 365)
		luaL_error(L, "http.new: %s must be a positive number of seconds", name);
	lua_pop(L, 1);
	return v * 1000 < 1 ? 1 : (long)(v * 1000);
}

static size_t opt_size(lua_State *L, int t, const char *name, size_t def)
{
	lua_Integer v;
	int isnum;

	lua_getfield(L, t, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return def;
	}
	v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || v <= 0 || (lua_Unsigned)v > (lua_Unsigned)(SIZE_MAX / 4))
		luaL_error(L, "http.new: %s must be a positive integer", name);
	lua_pop(L, 1);
	return (size_t)v;
}

static int opt_bool(lua_State *L, int t, const char *name, int def)
{
	int v;

	lua_getfield(L, t, name);
	if (lua_isnil(L, -1))
		v = def;
	else if (lua_isboolean(L, -1))
		v = lua_toboolean(L, -1);
	else
		return luaL_error(L, "http.new: %s must be a boolean", name);
	lua_pop(L, 1);
	return v;
}

/* strdup of an optional string option into *out (NULL when absent). */
static void opt_str(lua_State *L, int t, const char *name, char **out)
{
	size_t n;
	const char *s;

	lua_getfield(L, t, name);
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "http.new: %s must be a string", name);
		s = lua_tolstring(L, -1, &n);
		if (strlen(s) != n)
			luaL_error(L, "http.new: %s contains a NUL byte", name);
		if ((*out = strdup(s)) == NULL)
			luaL_error(L, "http.new: out of memory");
	}
	lua_pop(L, 1);
}

/* The descriptors open now, from /proc/self/fd (sorted); -1 if unknown. */
static int list_fds(int **out, size_t *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int *v = NULL, self;
	size_t len = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (d == NULL)
		return -1;
	self = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		char *endp;
		long fd = strtol(e->d_name, &endp, 10);
		if (*endp != '\0' || endp == e->d_name || fd == self || fd < 0)
			continue;
		if (len == cap) {
			int *nv = realloc(v, (cap = cap ? cap * 2 : 64) * sizeof *v);
			if (nv == NULL) {
				free(v);
				closedir(d);
				return -1;
			}
			v = nv;
		}
		v[len++] = (int)fd;
	}
	closedir(d);
	*out = v;
	*n = len;
	return 0;
}

/* curl_multi_init, with the socketpair it makes for itself (libcurl
 * before 8.x opens it without SOCK_CLOEXEC) marked close-on-exec: the
 * sockets that appeared during the call are that pair.  Our TCP sockets
 * get SOCK_CLOEXEC from on_open_socket. */
static CURLM *multi_init_cloexec(void)
{
	int *before, *after;
	size_t nb, na, i, j;
	int have = list_fds(&before, &nb) == 0;
	CURLM *m = curl_multi_init();

	if (m && have && list_fds(&after, &na) == 0) {
		for (i = 0; i < na; i++) {
			struct stat st;
			int fl;

			for (j = 0; j < nb && before[j] != after[i]; j++)
				;
			if (j < nb)
				continue; /* was open before */
			if (fstat(after[i], &st) == 0 && S_ISSOCK(st.st_mode) &&
			    (fl = fcntl(after[i], F_GETFD)) >= 0 && !(fl & FD_CLOEXEC))
				fcntl(after[i], F_SETFD, fl | FD_CLOEXEC);
		}
		free(after);
	}
	free(before);
	return m;
}

/* http.new([opts]) -> client */
static int l_new(lua_State *L)
{
	http_client *c;
	lua_Integer low;

	if (!lua_isnoneornil(L, 1))
		luaL_checktype(L, 1, LUA_TTABLE);
	pthread_once(&curl_once, curl_load);
	if (curl_load_error[0])
		return cb_fail(L, "http: %s", curl_load_error);

	c = lua_newuserdatauv(L, sizeof *c, 0);
	memset(c, 0, sizeof *c);
	luaL_setmetatable(L, HTTP_MT);
	c->verify = 1;
	c->https_only = 1;
	c->connect_timeout_ms = 30000;
	c->timeout_ms = 60000;
	c->max_body = 1024 * 1024;
	c->max_header = 64 * 1024;
	if (lua_istable(L, 1)) {
		opt_str(L, 1, "ca_file", &c->ca_file);
		opt_str(L, 1, "user_agent", &c->user_agent);
		opt_str(L, 1, "proxy", &c->proxy);
		c->verify = opt_bool(L, 1, "verify", 1);
		c->https_only = opt_bool(L, 1, "https_only", 1);
		c->connect_timeout_ms = opt_ms(L, 1, "connect_timeout", 30);
		c->timeout_ms = opt_ms(L, 1, "timeout", 60);
		c->max_body = opt_size(L, 1, "max_body", c->max_body);
		c->max_header = opt_size(L, 1, "max_header", c->max_header);
	}
	low = (c->timeout_ms + 999) / 1000;
	if (lua_istable(L, 1)) {
		lua_getfield(L, 1, "low_speed");
		if (!lua_isnil(L, -1)) {
			int isnum;
			low = lua_tointegerx(L, -1, &isnum);
			if (!isnum || low <= 0 || low > 86400 * 365)
				return luaL_error(L, "http.new: low_speed must be a positive integer");
		}
		lua_pop(L, 1);
	}
	c->low_speed_s = (long)low;
	if ((c->multi = multi_init_cloexec()) == NULL || (c->curl = curl_easy_init()) == NULL)
		return cb_fail(L, "http: cannot create a curl handle");
	return 1;
}

/* ---- curl callbacks: C only, never Lua ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	http_client *c = ud;
	size_t len = size * n;

	if (buf_add(&c->body, p, len, c->max_body) != 0) {
		c->cap_hit = c->body.len + len > c->max_body ? 1 : 3;
		return 0; /* abort the transfer */
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	http_client *c = ud;
	size_t len = size * n, trimmed = len;

	if (len > c->max_header) {
		c->cap_hit = 2;
		return 0;
	}
	while (trimmed > 0 && (p[trimmed - 1] == '\n' || p[trimmed - 1] == '\r'))
		trimmed--;
	/* A status line starts a new response (an interim 1xx, or the final
	 * one): forget the headers before it. */
	if (trimmed >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		c->hdr.len = 0;
		return len;
	}
	if (trimmed == 0)
		return len; /* the blank line ending a header block */
	if ((p[0] == ' ' || p[0] == '\t') && c->hdr.len > 0) {
		/* obsolete line folding: continue the previous value */
		size_t i = 0;
		while (i < trimmed && (p[i] == ' ' || p[i] == '\t'))
			i++;
		c->hdr.len--; /* drop the previous '\n' */
		if (buf_add(&c->hdr, " ", 1, c->max_header) != 0 ||
		    buf_add(&c->hdr, p + i, trimmed - i, c->max_header) != 0 ||
		    buf_add(&c->hdr, "\n", 1, c->max_header) != 0) {
			c->cap_hit = 2;
			return 0;
		}
		return len;
	}
	if (buf_add(&c->hdr, p, trimmed, c->max_header) != 0 ||
	    buf_add(&c->hdr, "\n", 1, c->max_header) != 0) {
		c->cap_hit = 2;
		return 0;
	}
	return len;
}

/* Sockets close-on-exec: a hook must not inherit our connections. */
static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)ud;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* ---- header parsing ---- */

static int ieq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b), i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_ows(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_ows((*s)[*n - 1]))
		(*n)--;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

typedef struct cursor {
	const char *p, *end;
} cursor;

static int cur_lit(cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return 0;
	c->p += n;
	return 1;
}

/* Exactly `digits` decimal digits (or 1..digits when `upto`). */
static int cur_num(cursor *c, int digits, int upto, int *out)
{
	int v = 0, i = 0;

	while (i < digits && c->p < c->end && isdigit((unsigned char)*c->p)) {
		v = v * 10 + (*c->p++ - '0');
		i++;
	}
	if (i == 0 || (!upto && i != digits))
		return 0;
	*out = v;
	return 1;
}

static const char *const wkdays[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const wkdays_long[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
};
static const char *const months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static int cur_name(cursor *c, const char *const *names, int count)
{
	int i;

	for (i = 0; i < count; i++)
		if (cur_lit(c, names[i]))
			return i;
	return -1;
}

static int cur_time(cursor *c, int *h, int *mi, int *s)
{
	return cur_num(c, 2, 0, h) && cur_lit(c, ":") && cur_num(c, 2, 0, mi) &&
	       cur_lit(c, ":") && cur_num(c, 2, 0, s);
}

/* RFC 9110 §5.6.7 HTTP-date: IMF-fixdate, or the obsolete RFC 850 and
 * asctime forms.  Seconds since the epoch into *out; 0 if not a date. */
static int parse_http_date(const char *s, size_t n, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	cursor c = { s, s + n };
	int day, mon, year, h, mi, sec;

	if (cur_name(&c, wkdays_long, 7) >= 0) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		if (!cur_lit(&c, ", ") || !cur_num(&c, 2, 0, &day) || !cur_lit(&c, "-") ||
		    (mon = cur_name(&c, months, 12)) < 0 || !cur_lit(&c, "-") ||
		    !cur_num(&c, 2, 0, &year) || !cur_lit(&c, " ") || !cur_time(&c, &h, &mi, &sec) ||
		    !cur_lit(&c, " GMT"))
			return 0;
		/* Two-digit years: RFC 9110 says take the one that is not more
		 * than 50 years in the future; 70..99 -> 19xx is close enough. */
		year += year < 70 ? 2000 : 1900;
	} else if (cur_name(&c, wkdays, 7) >= 0) {
		if (cur_lit(&c, ", ")) {
			/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
			if (!cur_num(&c, 2, 0, &day) || !cur_lit(&c, " ") ||
			    (mon = cur_name(&c, months, 12)) < 0 || !cur_lit(&c, " ") ||
			    !cur_num(&c, 4, 0, &year) || !cur_lit(&c, " ") ||
			    !cur_time(&c, &h, &mi, &sec) || !cur_lit(&c, " GMT"))
				return 0;
		} else {
			/* asctime: Sun Nov  6 08:49:37 1994 */
			if (!cur_lit(&c, " ") || (mon = cur_name(&c, months, 12)) < 0 ||
			    !cur_lit(&c, " "))
				return 0;
			if (c.p < c.end && *c.p == ' ')
				c.p++;
			if (!cur_num(&c, 2, 1, &day) || !cur_lit(&c, " ") ||
			    !cur_time(&c, &h, &mi, &sec) || !cur_lit(&c, " ") ||
			    !cur_num(&c, 4, 0, &year))
				return 0;
		}
	} else {
		return 0;
	}
	if (c.p != c.end)
		return 0;
	if (day < 1 || day > mdays[mon] || h > 23 || mi > 59 || sec > 60)
		return 0;
	if (mon == 1 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return 0;
	*out = days_from_civil(year, mon + 1, day) * 86400 + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec);
	return 1;
}

/* Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, as
 * seconds from now clamped to [0, 10 years]; 0 if neither. */
static int parse_retry_after(const char *s, size_t n, int64_t *out)
{
	size_t i;
	int64_t v = 0, t;

	trim(&s, &n);
	if (n == 0)
		return 0;
	for (i = 0; i < n && isdigit((unsigned char)s[i]); i++)
		if (v < RETRY_AFTER_MAX)
			v = v * 10 + (s[i] - '0');
	if (i == n) {
		*out = v > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : v;
		return 1;
	}
	if (!parse_http_date(s, n, &t))
		return 0;
	t -= (int64_t)time(NULL);
	*out = t < 0 ? 0 : t > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : t;
	return 1;
}

/* Resolve a possibly relative reference against base; pushes a string.
 * Raw when it cannot be resolved.  curl's strings are copied to the stack
 * and freed before anything is pushed, so a raise leaks nothing. */
static void push_resolved(lua_State *L, const char *base, const char *ref, size_t n)
{
	CURLU *u;
	char *out = NULL;
	char in[8192], res[8192];
	size_t rn = 0;

	if (base == NULL || n >= sizeof in) {
		lua_pushlstring(L, ref, n);
		return;
	}
	memcpy(in, ref, n);
	in[n] = '\0';
	if ((u = curl_url()) != NULL &&
	    curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, in, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK &&
	    (rn = strlen(out)) < sizeof res)
		memcpy(res, out, rn + 1);
	else
		rn = 0;
	curl_free(out);
	curl_url_cleanup(u);
	if (rn > 0)
		lua_pushlstring(L, res, rn);
	else
		lua_pushlstring(L, ref, n);
}

/* Append one entry per link-value and rel type of a Link header value
 * (RFC 8288) to the table at index `links`. */
static void parse_links(lua_State *L, int links, const char *base, const char *s, size_t n)
{
	const char *end = s + n, *p = s;

	while (p < end) {
		const char *url, *url_end;
		const char *rel = NULL;
		size_t rel_n = 0;
		char relbuf[256];

		while (p < end && (is_ows(*p) || *p == ','))
			p++;
		if (p >= end)
			break;
		if (*p != '<')
			goto skip;
		url = ++p;
		while (p < end && *p != '>')
			p++;
		if (p >= end)
			break;
		url_end = p++;
		/* parameters: ; name [= token | quoted-string] */
		for (;;) {
			const char *name, *name_end, *val = NULL;
			size_t val_n = 0;
			char qbuf[256];

			while (p < end && is_ows(*p))
				p++;
			if (p >= end || *p != ';')
				break;
			p++;
			while (p < end && is_ows(*p))
				p++;
			name = p;
			while (p < end && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
				p++;
			name_end = p;
			while (p < end && is_ows(*p))
				p++;
			if (p < end && *p == '=') {
				p++;
				while (p < end && is_ows(*p))
					p++;
				if (p < end && *p == '"') {
					/* quoted-string with backslash escapes, into qbuf */
					p++;
					while (p < end && *p != '"') {
						if (*p == '\\' && p + 1 < end)
							p++;
						if (val_n < sizeof qbuf)
							qbuf[val_n] = *p;
						val_n++;
						p++;
					}
					if (p < end)
						p++;
					val = qbuf;
					if (val_n > sizeof qbuf)
						val = NULL; /* absurdly long: ignore */
				} else {
					val = p;
					while (p < end && *p != ';' && *p != ',' && !is_ows(*p))
						p++;
					val_n = (size_t)(p - val);
				}
			}
			if (val && ieq(name, (size_t)(name_end - name), "rel") && rel == NULL &&
			    val_n < sizeof relbuf) {
				/* the first rel parameter counts (RFC 8288 §3.3) */
				memcpy(relbuf, val, val_n);
				rel = relbuf;
				rel_n = val_n;
			}
		}
		if (rel) {
			/* rel may list several types separated by spaces */
			const char *r = rel, *rend = rel + rel_n;
			while (r < rend) {
				const char *t;
				size_t i, tn;
				char lower[256];

				while (r < rend && is_ows(*r))
					r++;
				t = r;
				while (r < rend && !is_ows(*r))
					r++;
				tn = (size_t)(r - t);
				if (tn == 0)
					continue;
				for (i = 0; i < tn; i++)
					lower[i] = (char)tolower((unsigned char)t[i]);
				lua_createtable(L, 0, 2);
				push_resolved(L, base, url, (size_t)(url_end - url));
				lua_setfield(L, -2, "url");
				lua_pushlstring(L, lower, tn);
				lua_setfield(L, -2, "rel");
				lua_rawseti(L, links, (lua_Integer)lua_rawlen(L, links) + 1);
			}
		}
skip:
		/* to the next comma outside quotes and angle brackets */
		{
			int inq = 0;
			while (p < end && (inq || *p != ',')) {
				if (*p == '"')
					inq = !inq;
				else if (*p == '\\' && inq && p + 1 < end)
					p++;
				p++;
			}
		}
	}
}

/* ---- a tiny JSON scan: is this problem document's "type" badNonce? ---- */

typedef cursor jscan;

static void js_ws(jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A JSON string at s->p, decoded into out (up to cap bytes; *n gets the full
 * decoded length, and code points above U+007F decode as 0xFF, which no
 * ASCII name matches).  0 if malformed. */
static int js_string(jscan *s, char *out, size_t cap, size_t *n)
{
	size_t len = 0;

	if (s->p >= s->end || *s->p != '"')
		return 0;
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		unsigned char ch = (unsigned char)*s->p++;
		if (ch < 0x20)
			return 0;
		if (ch == '\\') {
			if (s->p >= s->end)
				return 0;
			ch = (unsigned char)*s->p++;
			switch (ch) {
			case '"': case '\\': case '/': break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u': {
				int i, v = 0;
				if (s->end - s->p < 4)
					return 0;
				for (i = 0; i < 4; i++) {
					int h = hexval(s->p[i]);
					if (h < 0)
						return 0;
					v = v * 16 + h;
				}
				s->p += 4;
				ch = v < 0x80 ? (unsigned char)v : 0xFF;
				break;
			}
			default:
				return 0;
			}
		} else if (ch >= 0x80) {
			ch = 0xFF;
		}
		if (len < cap)
			out[len] = (char)ch;
		len++;
	}
	if (s->p >= s->end)
		return 0;
	s->p++;
	*n = len;
	return 1;
}

static int js_value(jscan *s, int depth);

static int js_container(jscan *s, int depth, char close, int object)
{
	char tmp[1];
	size_t n;

	s->p++;
	js_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 1;
	}
	for (;;) {
		js_ws(s);
		if (object) {
			if (!js_string(s, tmp, 0, &n))
				return 0;
			js_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return 0;
		}
		if (!js_value(s, depth + 1))
			return 0;
		js_ws(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p++ != close)
			return 0;
		return 1;
	}
}

static int js_value(jscan *s, int depth)
{
	char tmp[1];
	size_t n;

	if (depth > 64)
		return 0;
	js_ws(s);
	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '"':
		return js_string(s, tmp, 0, &n);
	case '{':
		return js_container(s, depth, '}', 1);
	case '[':
		return js_container(s, depth, ']', 0);
	case 't':
		return cur_lit(s, "true");
	case 'f':
		return cur_lit(s, "false");
	case 'n':
		return cur_lit(s, "null");
	default: {
		const char *start = s->p;
		while (s->p < s->end && (isdigit((unsigned char)*s->p) || *s->p == '-' ||
		                         *s->p == '+' || *s->p == '.' || *s->p == 'e' || *s->p == 'E'))
			s->p++;
		return s->p > start;
	}
	}
}

/* 1 if body is a well-formed JSON object whose (last) "type" member is the
 * string urn:ietf:params:acme:error:badNonce. */
static int is_bad_nonce(const char *body, size_t len)
{
	jscan s = { body, body + len };
	int match = 0;

	js_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return 0;
	s.p++;
	js_ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
		goto done;
	}
	for (;;) {
		char key[8], val[64];
		size_t kn, vn;

		js_ws(&s);
		if (!js_string(&s, key, sizeof key, &kn))
			return 0;
		js_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			return 0;
		js_ws(&s);
		if (kn == 4 && memcmp(key, "type", 4) == 0) {
			if (s.p < s.end && *s.p == '"') {
				if (!js_string(&s, val, sizeof val, &vn))
					return 0;
				match = vn == strlen(BAD_NONCE) && memcmp(val, BAD_NONCE, vn) == 0;
			} else {
				if (!js_value(&s, 1))
					return 0;
				match = 0;
			}
		} else if (!js_value(&s, 1)) {
			return 0;
		}
		js_ws(&s);
		if (s.p >= s.end)
			return 0;
		if (*s.p == ',') {
			s.p++;
			continue;
		}
		if (*s.p++ != '}')
			return 0;
		break;
	}
done:
	js_ws(&s);
	return s.p == s.end && match;
}

/* ---- requests ---- */

/* The URL's scheme is https (case-insensitive). */
static int is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

/* curl_easy_perform, on the client's own multi handle. */
static CURLcode perform(http_client *c)
{
	CURLMcode mc;
	CURLcode rc = CURLE_RECV_ERROR;
	CURLMsg *msg;
	int running = 1, left;

	if ((mc = curl_multi_add_handle(c->multi, c->curl)) != CURLM_OK) {
		snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
		return CURLE_FAILED_INIT;
	}
	while (running) {
		mc = curl_multi_perform(c->multi, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
		if (mc != CURLM_OK) {
			snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_multi_strerror(mc));
			curl_multi_remove_handle(c->multi, c->curl);
			return CURLE_RECV_ERROR;
		}
	}
	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->curl)
			rc = msg->data.result;
	curl_multi_remove_handle(c->multi, c->curl);
	return rc;
}

/* Perform one request.  On success pushes the response table and returns
 * 1; on an expected failure pushes nil, message and returns 2.  body may be
 * NULL (no body).  Headers from the Lua array at index hdr_idx (0: none). */
static int do_request(lua_State *L, http_client *c, const char *method, const char *url,
                      const char *body, size_t body_len, int hdr_idx, const char *ctype)
{
	CURL *h = c->curl;
	CURLcode rc;
	long status = 0;
	curl_off_t connects = 0;
	char *eff = NULL, *base;
	int is_head = strcmp(method, "HEAD") == 0;
	int is_post = strcmp(method, "POST") == 0;
	int tbl, hdrs, links;
	const char *p, *end;
	const char *nonce = NULL, *loc = NULL, *ra = NULL;
	size_t nonce_n = 0, loc_n = 0, ra_n = 0;

	if (c->https_only && !is_https(url))
		return cb_fail(L, "https required: %s", url);

	/* Request headers; the list belongs to the client, so a raise from
	 * the checks below leaves nothing behind. */
	curl_slist_free_all(c->req_headers);
	c->req_headers = NULL;
	if (hdr_idx) {
		lua_Integer i, nh = (lua_Integer)lua_rawlen(L, hdr_idx);
		for (i = 1; i <= nh; i++) {
			size_t hn;
			const char *hv;
			struct curl_slist *nl;

			lua_rawgeti(L, hdr_idx, i);
			hv = lua_tolstring(L, -1, &hn);
			if (hv == NULL || hn != strlen(hv) || strpbrk(hv, "\r\n") || !strchr(hv, ':'))
				return luaL_error(L, "http: header %d must be a \"Name: value\" line", (int)i);
			if ((nl = curl_slist_append(c->req_headers, hv)) == NULL)
				return luaL_error(L, "http: out of memory");
			c->req_headers = nl;
			lua_pop(L, 1);
		}
	}
	if (ctype) {
		struct curl_slist *nl;
		char line[256];

		if (strlen(ctype) > 200 || strpbrk(ctype, "\r\n"))
			return luaL_error(L, "http: bad content_type");
		snprintf(line, sizeof line, "Content-Type: %s", ctype);
		if ((nl = curl_slist_append(c->req_headers, line)) == NULL)
			return luaL_error(L, "http: out of memory");
		c->req_headers = nl;
	}
	{
		/* no "Expect: 100-continue" round trip */
		struct curl_slist *nl = curl_slist_append(c->req_headers, "Expect:");
		if (nl == NULL)
			return luaL_error(L, "http: out of memory");
		c->req_headers = nl;
	}

	/* Fresh options each time; curl_easy_reset keeps the live connections. */
	curl_easy_reset(h);
	c->body.len = 0;
	c->hdr.len = 0;
	c->cap_hit = 0;
	c->errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->https_only ? "https" : "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, c->proxy ? c->proxy : "");
	curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, c);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->low_speed_s);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->user_agent)
		curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->req_headers);
	if (is_head) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_body);
	}
	/* PUT, PATCH and DELETE (provider APIs) go as a POST or GET with the
	 * method replaced; a body is sent when one is given. */
	int custom = !is_post && !is_head && strcmp(method, "GET") != 0;

	if (custom)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (is_post || (custom && body != NULL)) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
	} else if (!is_head) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}

	rc = perform(c);
	curl_slist_free_all(c->req_headers);
	c->req_headers = NULL;
	if (rc != CURLE_OK) {
		char num[32];

		if (c->body.cap > 256 * 1024)
			buf_free(&c->body);

		if (c->cap_hit == 1 || rc == CURLE_FILESIZE_EXCEEDED) {
			snprintf(num, sizeof num, "%zu", c->max_body);
			return cb_fail(L, "%s: response body larger than max_body (%s bytes)", url, num);
		}
		if (c->cap_hit == 2) {
			snprintf(num, sizeof num, "%zu", c->max_header);
			return cb_fail(L, "%s: response headers larger than max_header (%s bytes)", url, num);
		}
		if (c->cap_hit == 3)
			return cb_fail(L, "%s: out of memory for the response body", url);
		/* libcurl refuses a header line over its own limit (100 KiB)
		 * before on_header sees it, with this code and no message */
		if (rc == CURLE_OUT_OF_MEMORY && !c->errbuf[0])
			return cb_fail(L, "%s: response too large to hold (a header line over "
			               "libcurl's limit, or out of memory)", url);
		if (c->errbuf[0])
			return cb_fail(L, "%s: %s: %s", url, curl_easy_strerror(rc), c->errbuf);
		return cb_fail(L, "%s: %s", url, curl_easy_strerror(rc));
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	base = eff ? eff : (char *)url;

	/* The response.  From here on only Lua pushes; the buffers stay with
	 * the client, so an out-of-memory raise leaks nothing. */
	lua_createtable(L, 0, 12);
	tbl = lua_gettop(L);
	lua_pushinteger(L, status);
	lua_setfield(L, tbl, "status");
	lua_pushstring(L, base);
	lua_setfield(L, tbl, "url");
	lua_pushlstring(L, c->body.p ? c->body.p : "", c->body.len);
	lua_setfield(L, tbl, "body");
	lua_pushinteger(L, (lua_Integer)connects);
	lua_setfield(L, tbl, "new_connections");
	lua_newtable(L);
	hdrs = lua_gettop(L);
	lua_newtable(L);
	links = lua_gettop(L);
	p = c->hdr.p;
	end = p ? p + c->hdr.len : p;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *colon, *name, *val;
		size_t name_n, val_n, i;
		char lname[128];

		if (eol == NULL)
			eol = end;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL)
			goto next;
		name = p;
		name_n = (size_t)(colon - p);
		trim(&name, &name_n);
		val = colon + 1;
		val_n = (size_t)(eol - val);
		trim(&val, &val_n);
		if (name_n == 0 || name_n >= sizeof lname)
			goto next;
		for (i = 0; i < name_n; i++)
			lname[i] = (char)tolower((unsigned char)name[i]);
		lua_pushlstring(L, lname, name_n);
		lua_pushlstring(L, val, val_n);
		lua_rawset(L, hdrs); /* the last one wins */
		if (ieq(name, name_n, "replay-nonce")) {
			nonce = val;
			nonce_n = val_n;
		} else if (ieq(name, name_n, "location")) {
			loc = val;
			loc_n = val_n;
		} else if (ieq(name, name_n, "retry-after")) {
			ra = val;
			ra_n = val_n;
		} else if (ieq(name, name_n, "link")) {
			parse_links(L, links, base, val, val_n);
		}
next:
		p = eol + 1;
	}
	lua_setfield(L, tbl, "links");
	lua_getfield(L, hdrs, "content-type");
	if (lua_isstring(L, -1)) {
		/* the media type alone, lowercased; the full value is in headers */
		size_t n, i;
		const char *ct = lua_tolstring(L, -1, &n);
		char mt[128];

		for (i = 0; i < n && i < sizeof mt && ct[i] != ';' && !is_ows(ct[i]); i++)
			mt[i] = (char)tolower((unsigned char)ct[i]);
		if (i < sizeof mt) {
			lua_pushlstring(L, mt, i);
			lua_setfield(L, tbl, "content_type");
		}
	}
	lua_pop(L, 1);
	lua_setfield(L, tbl, "headers");
	if (loc && loc_n > 0) {
		push_resolved(L, base, loc, loc_n);
		lua_setfield(L, tbl, "location");
	}
	if (nonce && nonce_valid(nonce, nonce_n)) {
		lua_pushlstring(L, nonce, nonce_n);
		lua_setfield(L, tbl, "nonce");
		nonce_push(c, nonce, nonce_n);
	}
	if (ra) {
		int64_t secs;
		if (parse_retry_after(ra, ra_n, &secs)) {
			lua_pushinteger(L, (lua_Integer)secs);
			lua_setfield(L, tbl, "retry_after");
		}
	}
	/* Do not keep a large body buffer between requests. */
	if (c->body.cap > 256 * 1024)
		buf_free(&c->body);
	return 1;
}

/* Read request opts at index idx: body, headers, content_type. */
static void request_opts(lua_State *L, int idx, const char **body, size_t *body_len,
                         int *hdr_idx, const char **ctype)
{
	*body = NULL;
	*body_len = 0;
	*hdr_idx = 0;
	*ctype = NULL;
	if (lua_isnoneornil(L, idx))
		return;
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_getfield(L, idx, "body");
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, idx, "body must be a string");
		*body = lua_tolstring(L, -1, body_len); /* kept alive on the stack */
	}
	lua_getfield(L, idx, "headers");
	if (!lua_isnil(L, -1)) {
		luaL_argcheck(L, lua_istable(L, -1), idx, "headers must be an array of strings");
		*hdr_idx = lua_gettop(L);
	}
	lua_getfield(L, idx, "content_type");
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, idx, "content_type must be a string");
		*ctype = lua_tostring(L, -1);
	}
}

static const char *check_url(lua_State *L, int idx)
{
	size_t n;
	const char *url = luaL_checklstring(L, idx, &n);

	if (strlen(url) != n)
		luaL_argerror(L, idx, "URL contains a NUL byte");
	return url;
}

/* client:request(method, url[, opts]) -> response | nil, err */
static int l_request(lua_State *L)
{
	http_client *c = check_client(L, 1);
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", NULL };
	int m = luaL_checkoption(L, 2, NULL, methods);
	const char *url = check_url(L, 3);
	const char *body, *ctype;
	size_t body_len;
	int hdr_idx;

	request_opts(L, 4, &body, &body_len, &hdr_idx, &ctype);
	return do_request(L, c, methods[m], url, body, body_len, hdr_idx, ctype);
}

/* Push a nonce: from the pool, else from HEAD new_nonce_url.  Returns 1,
 * or 2 with nil, err pushed. */
static int get_nonce(lua_State *L, http_client *c, const char *new_nonce)
{
	int r;

	if (nonce_pop(L, c))
		return 1;
	if (new_nonce == NULL)
		return cb_fail(L, "http: no nonce in the pool and no newNonce URL");
	r = do_request(L, c, "HEAD", new_nonce, NULL, 0, 0, NULL);
	if (r == 2)
		return 2;
	lua_pop(L, 1);
	if (nonce_pop(L, c))
		return 1;
	return cb_fail(L, "%s: no Replay-Nonce in the response", new_nonce);
}

/* client:nonce([new_nonce_url]) -> nonce | nil, err */
static int l_nonce(lua_State *L)
{
	http_client *c = check_client(L, 1);
	const char *url = lua_isnoneornil(L, 2) ? NULL : check_url(L, 2);

	return get_nonce(L, c, url);
}

/* client:post(url, build[, opts]) -> response (+ bad_nonce_retries) | nil, err
 * build(nonce) -> body string (or nil, err, returned as is).
 * opts: new_nonce (URL), max_bad_nonce (default 5), headers, content_type. */
static int l_post(lua_State *L)
{
	http_client *c = check_client(L, 1);
	const char *url = check_url(L, 2);
	const char *new_nonce = NULL, *ctype = "application/jose+json";
	lua_Integer max_bad = 5, retries = 0;
	int hdr_idx = 0, top;

	luaL_checktype(L, 3, LUA_TFUNCTION);
	if (c->https_only && !is_https(url))
		return cb_fail(L, "https required: %s", url); /* before build() */
	if (!lua_isnoneornil(L, 4)) {
		luaL_checktype(L, 4, LUA_TTABLE);
		lua_getfield(L, 4, "new_nonce");
		if (!lua_isnil(L, -1))
			new_nonce = check_url(L, -1);
		lua_getfield(L, 4, "max_bad_nonce");
		if (!lua_isnil(L, -1)) {
			int isnum;
			max_bad = lua_tointegerx(L, -1, &isnum);
			luaL_argcheck(L, isnum && max_bad >= 0 && max_bad <= 100, 4,
			              "max_bad_nonce must be an integer 0..100");
		}
		lua_getfield(L, 4, "headers");
		if (!lua_isnil(L, -1)) {
			luaL_argcheck(L, lua_istable(L, -1), 4, "headers must be an array of strings");
			hdr_idx = lua_gettop(L);
		}
		lua_getfield(L, 4, "content_type");
		if (!lua_isnil(L, -1)) {
			luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 4, "content_type must be a string");
			ctype = lua_tostring(L, -1);
		}
	}
	top = lua_gettop(L);
	for (;;) {
		size_t body_len;
		const char *body;
		int r;

		lua_settop(L, top);
		if (get_nonce(L, c, new_nonce) == 2)
			return 2;
		lua_pushvalue(L, 3);
		lua_insert(L, -2);
		lua_call(L, 1, 2); /* build(nonce) */
		if (lua_isnil(L, -2)) {
			/* nil, err from build, handed back as is */
			if (lua_isnil(L, -1)) {
				lua_pop(L, 1);
				lua_pushliteral(L, "http: post: build returned nil");
			}
			return 2;
		}
		if (lua_type(L, -2) != LUA_TSTRING)
			return luaL_error(L, "http: post: build must return a string");
		lua_pop(L, 1);
		body = lua_tolstring(L, -1, &body_len);
		if (c->curl == NULL)
			return luaL_error(L, "http: client closed during build");
		r = do_request(L, c, "POST", url, body, body_len, hdr_idx, ctype);
		if (r == 2)
			return 2;
		if (retries < max_bad) {
			long status = 0;
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
			if (status == 400 && is_bad_nonce(c->body.p ? c->body.p : "", c->body.len)) {
				/* do_request put the error response's nonce in the pool;
				 * get_nonce takes it (newest first) */
				retries++;
				continue;
			}
		}
		lua_pushinteger(L, retries);
		lua_setfield(L, -2, "bad_nonce_retries");
		return 1;
	}
}

/* client:close(): frees the handle and the pool; idempotent. */
static int l_close(lua_State *L)
{
	http_client *c = luaL_checkudata(L, 1, HTTP_MT);

	client_free(c);
	return 0;
}

static int l_tostring(lua_State *L)
{
	http_client *c = luaL_checkudata(L, 1, HTTP_MT);

	lua_pushfstring(L, "certbot.http client (%s%s, %d nonces): %p",
	                c->curl ? "open" : "closed", c->https_only ? ", https only" : "",
	                c->nonce_count, (void *)c);
	return 1;
}

static const luaL_Reg http_funcs[] = {
	{ "new", l_new },
	{ NULL, NULL }
};

static const luaL_Reg http_methods[] = {
	{ "request", l_request },
	{ "nonce", l_nonce },
	{ "post", l_post },
	{ "close", l_close },
	{ NULL, NULL }
};

static const luaL_Reg http_meta[] = {
	{ "__gc", l_close },
	{ "__close", l_close },
	{ "__tostring", l_tostring },
	{ NULL, NULL }
};

int cb_open_http(lua_State *L)
{
	if (luaL_newmetatable(L, HTTP_MT)) {
		luaL_setfuncs(L, http_meta, 0);
		luaL_newlib(L, http_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, http_funcs);
	return 1;
}

#ifdef CERTBOT_FUZZ
/* ---- entry point for spec/fuzz/fuzz_http_headers.c ----
 * Compiled only with -DCERTBOT_FUZZ (`make fuzz`); prototype in
 * spec/fuzz/fuzz.h.  The input is a response's header block as curl hands
 * it over, one line per on_header() call; the header parsers then get the
 * values of the headers ACME reads.  abort()s when something that must
 * hold for every input does not:
 *  - the block kept stays within max_header (one cut at the cap is not
 *    parsed: the transfer ends there, as in do_request);
 *  - Retry-After is 0..RETRY_AFTER_MAX; an HTTP-date that parses
 *    re-parses to the same time from its IMF-fixdate form;
 *  - every Link entry has a URL string and a one-word lowercase rel;
 *    Location resolves to a string;
 *  - a nonce taken is base64url of at most NONCE_MAX bytes;
 *  - is_bad_nonce() of the input as a body implies the type is in it. */
int cb_fuzz_http_headers(const uint8_t *data, size_t size);
int cb_fuzz_http_headers(const uint8_t *data, size_t size)
{
	static const char base[] = "https://ca.test/acme/order/1";
	const char *s = (const char *)data, *end = s + size, *p;
	http_client c;
	lua_State *L;
	int links;

	if (pthread_once(&curl_once, curl_load) != 0 || curl_load_error[0])
		abort();
	memset(&c, 0, sizeof c);
	c.max_header = 4096;
	for (p = s; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);

		if (on_header((char *)p, 1, n, &c) != n)
			break;
		if (c.hdr.len > c.max_header)
			abort();
		p += n;
	}
	if (c.cap_hit != 0 && c.cap_hit != 2)
		abort();
	if (c.cap_hit) {
		/* the transfer stops there: do_request parses nothing */
		buf_free(&c.hdr);
		return 0;
	}
	if ((L = luaL_newstate()) == NULL)
		abort();
	lua_newtable(L);
	links = lua_gettop(L);
	for (p = c.hdr.p; p && p < c.hdr.p + c.hdr.len;) {
		const char *eol = memchr(p, '\n', (size_t)(c.hdr.p + c.hdr.len - p));
		const char *colon, *name, *val;
		size_t name_n, val_n;
		int64_t secs, t, t2;

		if (eol == NULL)
			abort(); /* on_header ends every line it keeps */
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL)
			goto next;
		name = p;
		name_n = (size_t)(colon - p);
		trim(&name, &name_n);
		val = colon + 1;
		val_n = (size_t)(eol - val);
		trim(&val, &val_n);
		if (ieq(name, name_n, "retry-after")) {
			if (parse_retry_after(val, val_n, &secs) && (secs < 0 || secs > RETRY_AFTER_MAX))
				abort();
			if (parse_http_date(val, val_n, &t)) {
				char again[64];
				struct tm tm;
				time_t tt = (time_t)t;

				if (gmtime_r(&tt, &tm) == NULL)
					abort();
				if (tm.tm_year + 1900 >= 1000 && tm.tm_year + 1900 <= 9999) {
					size_t an = strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &tm);
					if (an == 0 || !parse_http_date(again, an, &t2) || t2 != t)
						abort();
				}
			}
		} else if (ieq(name, name_n, "link")) {
			lua_Integer i, before = (lua_Integer)lua_rawlen(L, links);

			parse_links(L, links, base, val, val_n);
			for (i = before + 1; i <= (lua_Integer)lua_rawlen(L, links); i++) {
				size_t rn, k;
				const char *rel;

				lua_rawgeti(L, links, i);
				lua_getfield(L, -1, "url");
				lua_getfield(L, -2, "rel");
				rel = lua_tolstring(L, -1, &rn);
				if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING || rn == 0)
					abort();
				for (k = 0; k < rn; k++)
					if (is_ows(rel[k]) ||
					    tolower((unsigned char)rel[k]) != (unsigned char)rel[k])
						abort();
				lua_pop(L, 3);
			}
		} else if (ieq(name, name_n, "location") && val_n > 0) {
			push_resolved(L, base, val, val_n);
			if (lua_type(L, -1) != LUA_TSTRING)
				abort();
			lua_pop(L, 1);
		} else if (ieq(name, name_n, "replay-nonce") && nonce_valid(val, val_n)) {
			size_t k;

			if (val_n > NONCE_MAX)
				abort();
			for (k = 0; k < val_n; k++)
				if (!isalnum((unsigned char)val[k]) && val[k] != '-' && val[k] != '_')
					abort();
		}
next:
		p = eol + 1;
	}
	lua_close(L);
	buf_free(&c.hdr);
	if (is_bad_nonce(s, size) && memmem(s, size, "badNonce", 8) == NULL &&
	    memmem(s, size, "\\u", 2) == NULL)
		abort();
	return 0;
}
#endif /* CERTBOT_FUZZ */
