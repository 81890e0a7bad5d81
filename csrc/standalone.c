/*
 * standalone.c: the standalone challenge responders.  One responder owns
 * its listening socket(s), a pthread running a poll() loop, and a token
 * set shared with Lua under a mutex.  The thread never calls Lua and never
 * touches Lua memory: everything it reads was copied into malloc'd memory.
 * It touches no filesystem either.
 *
 * http-01 (RFC 8555 §8.3): GET/HEAD /.well-known/acme-challenge/<token>
 * answers 200 text/plain with the key authorization when <token> is set,
 * 404 otherwise; other methods 405.  Every response ends the connection
 * ("Connection: close").  Hardening (TESTPLAN F1-F3): the request head is
 * capped at 8 KiB (431), bytes that are not HTTP get 400 at once, each
 * connection has a deadline counted from accept (slowloris), the number
 * of connections is capped (the oldest is dropped for a new one), and the
 * request target must be exactly the challenge path: no query, no
 * percent-encoding, no dot segments, no absolute form.
 *
 * tls-alpn-01 (RFC 8737): a TLS 1.2/1.3 server (OpenSSL, non-blocking, in
 * the same loop).  The ClientHello callback looks at the raw extensions:
 * without ALPN "acme-tls/1" the handshake fails with no_application_protocol,
 * and an SNI name that is missing or not set fails with unrecognized_name,
 * so the challenge certificate is never sent to anything else.  Otherwise
 * that name's certificate and key are put on the connection, acme-tls/1 is
 * selected, and once the handshake completes the connection is closed (no
 * application data).  Same deadline and connection cap as http-01.
 *
 * The loop serves listeners of any kind: a listener and each connection
 * carry a kind, and conn_event() dispatches on it.
 *
 * Addresses: "" (the default) is "::" with IPV6_V6ONLY off, one socket for
 * IPv6 and IPv4 (as ::ffff:a.b.c.d), or 0.0.0.0 on a host without IPv6; an
 * explicit address is that address only.  A bind failure names both.
 *
 * Built with -DCERTBOT_FUZZ (`make fuzz`), the end of this file has entry
 * points for the libFuzzer targets in spec/fuzz/: the HTTP request head
 * parser, the ALPN and server_name bodies the ClientHello callback parses
 * by hand, and whole ClientHellos through the responder's SSL_CTX.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core.h"

#define RESPONDER_MT "certbot.standalone"

enum {
	HEAD_MAX = 8192,        /* request line + headers, terminator included */
	HEADERS_MAX = 100,      /* header lines per request */
	METHOD_MAX = 32,
	TOKEN_MAX = 256,
	KEYAUTH_MAX = 4096,
	OUT_MAX = KEYAUTH_MAX + 512,
	DRAIN_MAX = 65536,      /* bytes discarded after the response */
	DRAIN_MS = 1000,        /* time allowed for the peer to close after it */
	LISTEN_PAUSE_MS = 100,  /* after EMFILE and friends */
	LISTENERS_MAX = 2,
	CONNS_LIMIT = 65536,
	SNI_MAX = 253,          /* a DNS name in text form */
};

#define ACME_TLS_1 "acme-tls/1"

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

enum sa_kind { SA_HTTP01, SA_TLSALPN01 };

/* http-01: C_READ -> C_WRITE -> C_DRAIN;
 * tls-alpn-01: C_HANDSHAKE -> C_SHUTDOWN -> C_DRAIN. */
enum conn_state { C_READ, C_WRITE, C_DRAIN, C_HANDSHAKE, C_SHUTDOWN };

enum http_method { M_NONE, M_GET, M_HEAD, M_OTHER };

struct sa_token {
	char *token;
	char *keyauth;
	size_t kalen;
};

/* a tls-alpn-01 name: its challenge certificate and key */
struct sa_cert {
	char *name;
	X509 *x509;
	EVP_PKEY *pkey;
};

struct sa_listener {
	int fd;
	enum sa_kind kind;
};

struct sa_conn {
	int fd;
	enum sa_kind kind;
	enum conn_state state;
	int64_t deadline;       /* monotonic ms: closed when reached */
	/* http-01 request parsing, incremental over in[0..inlen) */
	size_t inlen, scan, line_start;
	int got_line;           /* request line seen */
	int method_done;        /* the space after the method seen */
	int nheaders, nhost;
	enum http_method method;
	int minor;              /* HTTP/1.<minor> */
	char token[TOKEN_MAX + 1];
	int token_ok;           /* target is the challenge path with a well-formed token */
	size_t drained;
	size_t outlen, outoff;
	SSL *ssl;               /* tls-alpn-01 */
	short want;             /* tls-alpn-01: POLLIN or POLLOUT */
	char in[HEAD_MAX];
	char out[OUT_MAX];
};

struct sa_stats {
	long connections, served, requests, timeouts, evicted;
};

/* Shared between Lua (main thread) and the responder thread.  Fields under
 * "lock" are touched by both; the rest by one side at a time (the thread
 * owns conns and pfds while it runs; Lua owns everything before start and
 * after join). */
struct sa_server {
	pthread_t thread;
	enum sa_kind kind;
	SSL_CTX *ctx;           /* tls-alpn-01 */
	int running;            /* thread started and not yet joined (Lua side) */
	atomic_int stopping;
	int evfd;               /* eventfd that wakes the loop */
	struct sa_listener lst[LISTENERS_MAX];
	int nlst;
	int64_t timeout_ms;
	int max_conns;
	struct sa_conn **conns; /* [max_conns], dense, oldest first */
	int nconns;
	struct pollfd *pfds;    /* [1 + LISTENERS_MAX + max_conns] */
	char addr[INET6_ADDRSTRLEN + 8];
	int port;

	pthread_mutex_t lock;
	struct sa_token *tokens;
	size_t ntokens, captokens;
	struct sa_cert *certs;
	size_t ncerts, capcerts;
	struct sa_stats stats;
};

typedef struct {
	struct sa_server *s;
} sa_ud;

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int valid_token(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > TOKEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return 0;
	}
	return 1;
}

/* RFC 9110 tchar */
static int is_tchar(unsigned char ch)
{
	if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static void stat_add(struct sa_server *s, long *field, long d)
{
	pthread_mutex_lock(&s->lock);
	*field += d;
	pthread_mutex_unlock(&s->lock);
}

/* ---- tokens (caller holds s->lock) ---- */

static struct sa_token *token_find(struct sa_server *s, const char *t)
{
	size_t i;

	for (i = 0; i < s->ntokens; i++)
		if (strcmp(s->tokens[i].token, t) == 0)
			return &s->tokens[i];
	return NULL;
}

static void tokens_free(struct sa_token *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].token);
		free(v[i].keyauth);
	}
	free(v);
}

/* ---- tls-alpn-01 names (caller holds s->lock) ---- */

static struct sa_cert *cert_find(struct sa_server *s, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < s->ncerts; i++)
		if (strlen(s->certs[i].name) == n && strncasecmp(s->certs[i].name, name, n) == 0)
			return &s->certs[i];
	return NULL;
}

static void cert_clear(struct sa_cert *c)
{
	free(c->name);
	X509_free(c->x509);
	EVP_PKEY_free(c->pkey);
	c->name = NULL;
	c->x509 = NULL;
	c->pkey = NULL;
}

static void certs_free(struct sa_cert *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cert_clear(&v[i]);
	free(v);
}

/* A name as it may appear in SNI: LDH labels, dots, '_' (no IP literals
 * are sent as SNI: for an IP identifier RFC 8738 §6 has the validator send
 * the reverse-mapping name, "1.0.0.127.in-addr.arpa", which is LDH). */
static int valid_sni(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > SNI_MAX || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return 0;
		if (ch == '.' && p[i + 1] == '.')
			return 0;
	}
	return 1;
}

/* ---- tls-alpn-01 handshake callbacks (responder thread) ---- */

/* Does the ALPN extension body [p, p+n) offer acme-tls/1?  The body is a
 * ProtocolNameList: uint16 length, then uint8-length-prefixed names. */
static int alpn_offers_acme(const unsigned char *p, size_t n)
{
	size_t len, i;

	if (n < 2)
		return 0;
	len = ((size_t)p[0] << 8) | p[1];
	if (len != n - 2 || len == 0)
		return 0;
	for (i = 2; i < n;) {
		size_t l = p[i++];
		if (l == 0 || l > n - i)
			return 0;
		if (l == sizeof ACME_TLS_1 - 1 && memcmp(p + i, ACME_TLS_1, l) == 0)
			return 1;
		i += l;
	}
	return 0;
}

/* One trailing dot is dropped from a received SNI name before it is looked
 * up: RFC 6066 wants none, but RFC 8738's own example of the reverse name
 * for an IP identifier ends in "ip6.arpa." and a validator may send it as
 * written.  Go's TLS client (Pebble, Boulder) strips it itself. */
static size_t sni_trim(const unsigned char *host, size_t hlen)
{
	return (hlen > 1 && host[hlen - 1] == '.') ? hlen - 1 : hlen;
}

/* The host_name in a server_name extension body (RFC 6066 §3), or NULL. */
static const unsigned char *sni_host(const unsigned char *p, size_t n, size_t *hlen)
{
	size_t len, i;

	if (n < 2)
		return NULL;
	len = ((size_t)p[0] << 8) | p[1];
	if (len != n - 2)
		return NULL;
	for (i = 2; i + 3 <= n;) {
		unsigned type = p[i];
		size_t l = ((size_t)p[i + 1] << 8) | p[i + 2];
		i += 3;
		if (l > n - i)
			return NULL;
		if (type == 0) {
			*hlen = l;
			return p + i;
		}
		i += l;
	}
	return NULL;
}

static int tls_client_hello(SSL *ssl, int *al, void *arg)
{
	struct sa_server *s = arg;
	const unsigned char *ext, *host;
	size_t elen, hlen = 0;
	struct sa_cert *c;
	X509 *x = NULL;
	EVP_PKEY *pk = NULL;
	int ok;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
				       &ext, &elen) || !alpn_offers_acme(ext, elen)) {
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &elen) ||
	    (host = sni_host(ext, elen, &hlen)) == NULL ||
	    !valid_sni((const char *)host, hlen = sni_trim(host, hlen))) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	pthread_mutex_lock(&s->lock);
	c = cert_find(s, (const char *)host, hlen);
	if (c != NULL && X509_up_ref(c->x509) && EVP_PKEY_up_ref(c->pkey)) {
		x = c->x509;
		pk = c->pkey;
	}
	pthread_mutex_unlock(&s->lock);
	if (x == NULL) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	ok = SSL_use_certificate(ssl, x) == 1 && SSL_use_PrivateKey(ssl, pk) == 1;
	X509_free(x);
	EVP_PKEY_free(pk);
	if (!ok) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			   const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char want[] = "\x0a" ACME_TLS_1;
	unsigned char *sel = NULL;
	unsigned char sellen = 0;

	if (SSL_select_next_proto(&sel, &sellen, want, sizeof want - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	*outlen = sellen;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- connections ---- */

static void conn_close(struct sa_server *s, int i)
{
	struct sa_conn *c = s->conns[i];

	SSL_free(c->ssl);
	close(c->fd);
	free(c);
	s->conns[i] = NULL;
	stat_add(s, &s->stats.connections, -1);
}

static void conns_compact(struct sa_server *s)
{
	int i, j = 0;

	for (i = 0; i < s->nconns; i++)
		if (s->conns[i] != NULL)
			s->conns[j++] = s->conns[i];
	s->nconns = j;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/* Put a complete response in c->out; the connection moves to C_WRITE. */
static void http_respond(struct sa_server *s, struct sa_conn *c, int status)
{
	const char *reason = status_text(status);
	int head_only = c->method == M_HEAD;
	char body[64];
	const char *b = body;
	size_t blen;
	struct sa_token *t = NULL;
	int n;

	pthread_mutex_lock(&s->lock);
	if (status == 200) {
		t = token_find(s, c->token);
		if (t == NULL) {
			status = 404;
			reason = status_text(status);
		}
	}
	if (t != NULL) {
		b = t->keyauth;
		blen = t->kalen;
	} else {
		n = snprintf(body, sizeof body, "%d %s\n", status, reason);
		blen = n > 0 ? (size_t)n : 0;
	}
	n = snprintf(c->out, sizeof c->out,
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Connection: close\r\n"
		     "\r\n",
		     status, reason, blen,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	c->outlen = n > 0 ? (size_t)n : 0;
	/* blen <= KEYAUTH_MAX and the head is short: this always fits. */
	if (!head_only && c->outlen + blen <= sizeof c->out) {
		memcpy(c->out + c->outlen, b, blen);
		c->outlen += blen;
	}
	s->stats.requests++;
	if (status == 200)
		s->stats.served++;
	pthread_mutex_unlock(&s->lock);
	c->outoff = 0;
	c->state = C_WRITE;
}

/* The request line, [p, p+n) without its line ending.
 * Returns 0 when acceptable, else the status to answer. */
static int http_request_line(struct sa_conn *c, const char *p, size_t n)
{
	const char *sp1 = memchr(p, ' ', n), *sp2, *tgt, *ver;
	size_t mlen, tlen, vlen, i;

	if (sp1 == NULL)
		return 400;
	mlen = (size_t)(sp1 - p);
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (sp2 == NULL)
		return 400;
	tgt = sp1 + 1;
	tlen = (size_t)(sp2 - tgt);
	ver = sp2 + 1;
	vlen = n - (size_t)(ver - p);
	if (mlen == 0 || mlen > METHOD_MAX || tlen == 0)
		return 400;
	for (i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)p[i]))
			return 400;
	for (i = 0; i < tlen; i++)
		if ((unsigned char)tgt[i] <= 0x20 || (unsigned char)tgt[i] >= 0x7f)
			return 400;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT */
	if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return 400;
	if (ver[5] != '1')
		return 505;
	c->minor = ver[7] - '0';

	if (mlen == 3 && memcmp(p, "GET", 3) == 0)
		c->method = M_GET;
	else if (mlen == 4 && memcmp(p, "HEAD", 4) == 0)
		c->method = M_HEAD;
	else
		c->method = M_OTHER;

	/* Only the origin-form challenge path itself: whatever else a client
	 * sends (query, %-escapes, "..", "//", absolute form) is not a token. */
	if (tlen > sizeof CHALLENGE_PREFIX - 1 &&
	    memcmp(tgt, CHALLENGE_PREFIX, sizeof CHALLENGE_PREFIX - 1) == 0) {
		const char *tok = tgt + sizeof CHALLENGE_PREFIX - 1;
		size_t toklen = tlen - (sizeof CHALLENGE_PREFIX - 1);
		if (valid_token(tok, toklen)) {
			memcpy(c->token, tok, toklen);
			c->token[toklen] = '\0';
			c->token_ok = 1;
		}
	}
	return 0;
}

/* One header line (not empty).  Returns 0 or the status to answer. */
static int http_header_line(struct sa_conn *c, const char *p, size_t n)
{
	size_t i;

	if (++c->nheaders > HEADERS_MAX)
		return 431;
	/* field-name ":" ...; a line starting with whitespace is obs-fold,
	 * and whitespace before the colon is forbidden (RFC 9112 §5). */
	for (i = 0; i < n && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == n || p[i] != ':')
		return 400;
	if (i == 4 && strncasecmp(p, "host", 4) == 0)
		c->nhost++;
	return 0;
}

/* Scan what arrived since the last call.  Returns 0 to wait for more,
 * -1 when the head is complete and acceptable (route it), or a status. */
static int http_scan(struct sa_conn *c)
{
	size_t i;
	int st;

	for (i = c->scan; i < c->inlen; i++) {
		unsigned char ch = (unsigned char)c->in[i];
		const char *line;
		size_t n;

		if (ch == '\n') {
			line = c->in + c->line_start;
			n = i - c->line_start;
			if (n > 0 && line[n - 1] == '\r')
				n--;
			if (memchr(line, '\r', n) != NULL)
				return 400; /* bare CR */
			c->line_start = i + 1;
			if (!c->got_line) {
				/* RFC 9112 §2.2: ignore empty lines before the request line */
				if (n == 0) {
					if (i >= 8)
						return 400;
					continue;
				}
				if ((st = http_request_line(c, line, n)) != 0)
					return st;
				c->got_line = 1;
			} else if (n == 0) {
				c->scan = i + 1;
				if (c->nhost > 1 || (c->minor >= 1 && c->nhost == 0))
					return 400; /* RFC 9112 §3.2 */
				return -1;
			} else if ((st = http_header_line(c, line, n)) != 0) {
				return st;
			}
			continue;
		}
		/* Controls other than HTAB and CR are never part of a request
		 * head; neither is anything but a token char before the method's
		 * space.  Binary or TLS bytes fail here at once. */
		if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f)
			return 400;
		if (!c->got_line && !c->method_done) {
			if (ch == ' ')
				c->method_done = 1;
			else if (ch != '\r' && (!is_tchar(ch) || i - c->line_start >= METHOD_MAX))
				return 400;
		}
	}
	c->scan = i;
	return 0;
}

static int drain(struct sa_conn *c)
{
	char buf[4096];
	ssize_t r;

	for (;;) {
		r = recv(c->fd, buf, sizeof buf, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return 1;
		c->drained += (size_t)r;
		if (c->drained > DRAIN_MAX)
			return 1;
	}
}

static void conn_send(struct sa_server *s, struct sa_conn *c, int64_t now)
{
	while (c->outoff < c->outlen) {
		ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			c->state = C_DRAIN;
			c->deadline = now; /* close now */
			return;
		}
		c->outoff += (size_t)w;
	}
	/* All sent: half-close, then let the peer read it and close first, so
	 * unread input does not turn our close into a reset that eats the
	 * response. */
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
	c->drained = 0;
	if (c->deadline > now + DRAIN_MS)
		c->deadline = now + DRAIN_MS;
}

/* Bytes were appended to c->in.  Returns 0 to read more, else the status
 * to answer (200 only for GET/HEAD of a well-formed token path; whether
 * that token is set is http_respond's business).  The fuzz target
 * (spec/fuzz/fuzz_http_request.c) drives exactly this. */
static int http_received(struct sa_conn *c)
{
	int st = http_scan(c);

	if (st == 0 && c->inlen < sizeof c->in)
		return 0;
	if (st == -1)
		return c->method == M_OTHER ? 405 : c->token_ok ? 200 : 404;
	c->method = M_NONE; /* a head error always has a body */
	return st == 0 ? 431 : st;
}

/* Returns 1 when the connection is finished and must be closed. */
static int http_event(struct sa_server *s, struct sa_conn *c, short revents, int64_t now)
{
	ssize_t r;
	int st;

	if (c->state == C_READ) {
		for (;;) {
			/* http_received() answers before c->in is full */
			r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				return 1;
			}
			if (r == 0)
				return 1; /* the peer gave up before a whole request */
			c->inlen += (size_t)r;
			if ((st = http_received(c)) != 0) {
				http_respond(s, c, st);
				break;
			}
		}
	}
	if (c->state == C_WRITE) {
		conn_send(s, c, now);
		return c->deadline <= now;
	}
	if (c->state == C_DRAIN && (revents & (POLLIN | POLLHUP | POLLERR)))
		return drain(c);
	return 0;
}

/* Done with the TLS layer: half-close and wait a moment for the peer to
 * read what we sent (the last flight or an alert) and close first. */
static void tls_finish(struct sa_conn *c, int64_t now)
{
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
	c->drained = 0;
	if (c->deadline > now + DRAIN_MS)
		c->deadline = now + DRAIN_MS;
}

/* Returns 0 when the TLS operation must wait (c->want set), 1 when it
 * failed for good. */
static int tls_wait(struct sa_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->want = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want = POLLOUT;
		return 0;
	default:
		return 1;
	}
}

static int tls_event(struct sa_server *s, struct sa_conn *c, short revents, int64_t now)
{
	int r;

	if (c->state == C_HANDSHAKE) {
		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r == 1) {
			pthread_mutex_lock(&s->lock);
			s->stats.requests++;
			s->stats.served++;
			pthread_mutex_unlock(&s->lock);
			c->state = C_SHUTDOWN;
		} else if (tls_wait(c, r)) {
			/* Failed (the alert, if any, is already written). */
			ERR_clear_error();
			stat_add(s, &s->stats.requests, 1);
			tls_finish(c, now);
			return c->deadline <= now;
		} else {
			return 0;
		}
	}
	if (c->state == C_SHUTDOWN) {
		ERR_clear_error();
		r = SSL_shutdown(c->ssl); /* sends close_notify */
		if (r < 0 && !tls_wait(c, r) && c->want == POLLOUT)
			return 0;
		ERR_clear_error();
		tls_finish(c, now);
		return c->deadline <= now;
	}
	if (c->state == C_DRAIN && (revents & (POLLIN | POLLHUP | POLLERR)))
		return drain(c);
	return 0;
}

static int conn_event(struct sa_server *s, struct sa_conn *c, short revents, int64_t now)
{
	switch (c->kind) {
	case SA_HTTP01:
		return http_event(s, c, revents, now);
	case SA_TLSALPN01:
		return tls_event(s, c, revents, now);
	}
	return 1;
}

static short conn_events(const struct sa_conn *c)
{
	if (c->state == C_HANDSHAKE || c->state == C_SHUTDOWN)
		return c->want;
	return c->state == C_WRITE ? POLLOUT : POLLIN;
}

/* Accept what is pending on a listener.  Returns 0, or -1 when the process
 * is out of descriptors/memory (the caller pauses the listener). */
static int accept_all(struct sa_server *s, struct sa_listener *l, int64_t now)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sa_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c = malloc(sizeof *c);
		if (c == NULL) {
			close(fd);
			return -1;
		}
		memset(c, 0, offsetof(struct sa_conn, in));
		c->fd = fd;
		c->kind = l->kind;
		c->state = C_READ;
		c->deadline = now + s->timeout_ms;
		if (l->kind == SA_TLSALPN01) {
			c->state = C_HANDSHAKE;
			c->want = POLLIN;
			c->ssl = SSL_new(s->ctx);
			if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
				ERR_clear_error();
				SSL_free(c->ssl);
				free(c);
				close(fd);
				return -1;
			}
			SSL_set_accept_state(c->ssl);
		}
		if (s->nconns == s->max_conns) {
			/* Full: drop the oldest so a fresh validation still gets
			 * through a flood of idle connections. */
			conn_close(s, 0);
			memmove(s->conns, s->conns + 1, (size_t)(s->nconns - 1) * sizeof *s->conns);
			s->nconns--;
			stat_add(s, &s->stats.evicted, 1);
		}
		s->conns[s->nconns++] = c;
		stat_add(s, &s->stats.connections, 1);
	}
}

static void *serve(void *arg)
{
	struct sa_server *s = arg;
	int64_t listen_paused_until = 0;
	int i;

	while (!atomic_load(&s->stopping)) {
		int64_t now = now_ms(), next = -1;
		int nfds = 0, base, timeout, n;

		/* deadlines */
		for (i = 0; i < s->nconns; i++) {
			if (s->conns[i]->deadline <= now) {
				if (s->conns[i]->state == C_READ ||
				    s->conns[i]->state == C_HANDSHAKE)
					stat_add(s, &s->stats.timeouts, 1);
				conn_close(s, i);
			} else if (next < 0 || s->conns[i]->deadline < next) {
				next = s->conns[i]->deadline;
			}
		}
		conns_compact(s);

		s->pfds[nfds].fd = s->evfd;
		s->pfds[nfds++].events = POLLIN;
		for (i = 0; i < s->nlst; i++) {
			/* A negative fd is ignored by poll(): the paused listener. */
			s->pfds[nfds].fd = listen_paused_until > now ? -1 : s->lst[i].fd;
			s->pfds[nfds++].events = POLLIN;
		}
		if (listen_paused_until > now && (next < 0 || listen_paused_until < next))
			next = listen_paused_until;
		base = nfds;
		for (i = 0; i < s->nconns; i++) {
			s->pfds[nfds].fd = s->conns[i]->fd;
			s->pfds[nfds++].events = conn_events(s->conns[i]);
		}
		/* At most a second between looks at `stopping`: should the
		 * eventfd wake-up ever be lost, stop() still returns promptly. */
		if (next < 0 || next - now > 1000)
			timeout = 1000;
		else
			timeout = (int)(next - now);

		n = poll(s->pfds, (nfds_t)nfds, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* cannot happen with valid arguments */
		}
		if (s->pfds[0].revents & POLLIN) {
			uint64_t v;
			if (read(s->evfd, &v, sizeof v) < 0) {
				/* nothing pending: a spurious wake */
			}
		}
		if (atomic_load(&s->stopping))
			break;
		now = now_ms();
		for (i = 0; i < s->nconns; i++) {
			short re = s->pfds[base + i].revents;
			if (re == 0)
				continue;
			if (conn_event(s, s->conns[i], re, now))
				conn_close(s, i);
		}
		conns_compact(s);
		for (i = 0; i < s->nlst; i++)
			if ((s->pfds[1 + i].revents & POLLIN) &&
			    accept_all(s, &s->lst[i], now) < 0)
				listen_paused_until = now + LISTEN_PAUSE_MS;
	}
	for (i = 0; i < s->nconns; i++)
		conn_close(s, i);
	s->nconns = 0;
	return NULL;
}

/* ---- lifecycle (Lua side) ---- */

static void server_stop(struct sa_server *s)
{
	int i;

	if (s->running) {
		uint64_t one = 1;
		atomic_store(&s->stopping, 1);
		while (write(s->evfd, &one, sizeof one) < 0 && errno == EINTR)
			; /* else the loop's 1 s poll timeout sees `stopping` */
		pthread_join(s->thread, NULL);
		s->running = 0;
	}
	for (i = 0; i < s->nlst; i++)
		if (s->lst[i].fd >= 0)
			close(s->lst[i].fd);
	s->nlst = 0;
	if (s->evfd >= 0) {
		close(s->evfd);
		s->evfd = -1;
	}
	free(s->conns);
	s->conns = NULL;
	free(s->pfds);
	s->pfds = NULL;
	pthread_mutex_lock(&s->lock);
	tokens_free(s->tokens, s->ntokens);
	s->tokens = NULL;
	s->ntokens = s->captokens = 0;
	certs_free(s->certs, s->ncerts);
	s->certs = NULL;
	s->ncerts = s->capcerts = 0;
	s->stats.connections = 0;
	pthread_mutex_unlock(&s->lock);
	SSL_CTX_free(s->ctx);
	s->ctx = NULL;
}

static void server_free(struct sa_server *s)
{
	server_stop(s);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void format_hostport(char *out, size_t size, const char *addr, int port)
{
	if (strchr(addr, ':') != NULL)
		snprintf(out, size, "[%s]:%d", addr, port);
	else
		snprintf(out, size, "%s:%d", addr, port);
}

/* A non-blocking, close-on-exec socket bound to ss and listening, or -1
 * with *err set.  v6only: IPV6_V6ONLY for an AF_INET6 socket. */
static int bind_listen(const struct sockaddr_storage *ss, socklen_t sslen, int v6only, int *err)
{
	int fd, one = 1, rc;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0 && !v6only) {
		/* no dual-stack socket to be had: let the caller fall back */
		*err = EAFNOSUPPORT;
		close(fd);
		return -1;
	}
	rc = bind(fd, (const struct sockaddr *)ss, sslen);
	if (rc == 0)
		rc = listen(fd, SOMAXCONN);
	if (rc != 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/* Bind a listening socket.  addr is numeric, or "" for the wildcard: "::"
 * with IPV6_V6ONLY off, so one socket takes IPv4 (as ::ffff:a.b.c.d) and
 * IPv6, or "0.0.0.0" where the host has no IPv6.  On failure returns -1
 * with *err set (an errno value, or -1 for "not an IP address") and shown[]
 * holding the address as it should be named. */
static int listen_on(const char *addr, int port, char *shown, size_t shown_size, int *err)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(addr);

	memset(&ss, 0, sizeof ss);
	if (n == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons((uint16_t)port);
		snprintf(shown, shown_size, "::");
		fd = bind_listen(&ss, sizeof *s6, 0, err);
		if (fd >= 0 || (*err != EAFNOSUPPORT && *err != EPROTONOSUPPORT &&
				*err != EADDRNOTAVAIL))
			return fd;
		/* No IPv6 here (a kernel without it, or it switched off): the
		 * IPv4 wildcard. */
		memset(&ss, 0, sizeof ss);
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons((uint16_t)port);
		snprintf(shown, shown_size, "0.0.0.0");
		return bind_listen(&ss, sizeof *s4, 0, err);
	}
	/* "[::1]" is accepted as "::1" */
	if (addr[0] == '[' && addr[n - 1] == ']' && n - 2 < sizeof buf) {
		memcpy(buf, addr + 1, n - 2);
		buf[n - 2] = '\0';
		addr = buf;
	}
	snprintf(shown, shown_size, "%s", addr);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if (getaddrinfo(addr, NULL, &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof ss) {
		if (ai)
			freeaddrinfo(ai);
		*err = -1;
		return -1;
	}
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	/* A specific IPv6 address is itself only ("::" spelled out included:
	 * the user asked for IPv6). */
	return bind_listen(&ss, sslen, 1, err);
}

/* What the socket is actually bound to (port 0 becomes the real one). */
static void bound_name(int fd, char *addr, size_t size, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)size);
		*port = ntohs(s6->sin6_port);
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)size);
		*port = ntohs(s4->sin_port);
	}
}

/* A responder that failed to start: release its socket now, not at GC. */
static void discard(sa_ud *ud)
{
	server_free(ud->s);
	ud->s = NULL;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer dflt,
			   lua_Integer lo, lua_Integer hi)
{
	lua_Integer v;
	int isnum;

	lua_getfield(L, t, k);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return dflt;
	}
	v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || v < lo || v > hi)
		luaL_error(L, "standalone: %s must be an integer in [%d, %d]", k, (int)lo, (int)hi);
	lua_pop(L, 1);
	return v;
}

static int tls_ctx(struct sa_server *s)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return 0;
	s->ctx = ctx;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 0) != 1)
		return 0;
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_client_hello_cb(ctx, tls_client_hello, s);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, s);
	return 1;
}

/* A responder of the kind on opts (arg 1): see http01() / tlsalpn01(). */
static int start(lua_State *L, enum sa_kind kind, int default_port)
{
	sa_ud *ud;
	struct sa_server *s;
	const char *addr = "";
	char shown[INET6_ADDRSTRLEN + 8], where[INET6_ADDRSTRLEN + 48];
	lua_Number timeout = 30;
	lua_Integer port, max_conns;
	int fd, err = 0, rc;
	sigset_t all, old;

	if (lua_isnoneornil(L, 1)) {
		lua_settop(L, 0);
		lua_newtable(L);
	}
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	lua_getfield(L, 1, "address");
	if (!lua_isnil(L, -1)) {
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "standalone: address must be a string");
		addr = lua_tostring(L, -1); /* kept alive on the stack */
	}
	port = opt_int(L, 1, "port", default_port, 0, 65535);
	max_conns = opt_int(L, 1, "max_conns", 256, 1, CONNS_LIMIT);
	lua_getfield(L, 1, "timeout");
	if (!lua_isnil(L, -1)) {
		int isnum;
		timeout = lua_tonumberx(L, -1, &isnum);
		if (!isnum || !(timeout > 0 && timeout <= 86400))
			luaL_error(L, "standalone: timeout must be a number of seconds in (0, 86400]");
	}
	lua_pop(L, 1);

	ud = lua_newuserdatauv(L, sizeof *ud, 0);
	ud->s = NULL;
	luaL_setmetatable(L, RESPONDER_MT);

	s = calloc(1, sizeof *s);
	if (s == NULL)
		return cb_fail(L, "standalone: out of memory");
	s->evfd = -1;
	s->kind = kind;
	s->timeout_ms = (int64_t)(timeout * 1000);
	if (s->timeout_ms < 1)
		s->timeout_ms = 1;
	s->max_conns = (int)max_conns;
	atomic_init(&s->stopping, 0);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return cb_fail(L, "standalone: pthread_mutex_init failed");
	}
	ud->s = s; /* from here, __gc cleans up whatever exists */
	if (kind == SA_TLSALPN01 && !tls_ctx(s)) {
		discard(ud);
		return cb_ossl_fail(L, "standalone: SSL_CTX");
	}

	fd = listen_on(addr, (int)port, shown, sizeof shown, &err);
	if (fd < 0) {
		discard(ud);
		if (err == -1)
			return cb_fail(L, "could not bind to %s:%d: not an IP address", addr, (int)port);
		format_hostport(where, sizeof where, shown, (int)port);
		return cb_fail(L, "could not bind to %s: %s", where, strerror(err));
	}
	s->lst[0].fd = fd;
	s->lst[0].kind = kind;
	s->nlst = 1;
	s->port = (int)port;
	snprintf(s->addr, sizeof s->addr, "%s", shown);
	bound_name(fd, s->addr, sizeof s->addr, &s->port);

	s->conns = calloc((size_t)s->max_conns, sizeof *s->conns);
	s->pfds = calloc((size_t)s->max_conns + 1 + LISTENERS_MAX, sizeof *s->pfds);
	if (s->conns == NULL || s->pfds == NULL) {
		discard(ud);
		return cb_fail(L, "standalone: out of memory");
	}
	s->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->evfd < 0) {
		err = errno;
		discard(ud);
		return cb_fail(L, "standalone: eventfd: %s", strerror(err));
	}

	/* The thread takes no signals: they stay with the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&s->thread, NULL, serve, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		discard(ud);
		return cb_fail(L, "standalone: pthread_create: %s", strerror(rc));
	}
	s->running = 1;
	pthread_setname_np(s->thread, kind == SA_TLSALPN01 ? "cb-tlsalpn01" : "cb-http01");
	return 1;
}

/* standalone.http01{ address=, port=80, timeout=30, max_conns=256 } -> responder | nil, err */
static int l_http01(lua_State *L)
{
	return start(L, SA_HTTP01, 80);
}

/* standalone.tlsalpn01{ address=, port=443, timeout=30, max_conns=256 } -> responder | nil, err */
static int l_tlsalpn01(lua_State *L)
{
	return start(L, SA_TLSALPN01, 443);
}

static struct sa_server *check_server(lua_State *L)
{
	sa_ud *ud = luaL_checkudata(L, 1, RESPONDER_MT);

	if (ud->s == NULL)
		luaL_error(L, "standalone: responder has been freed");
	return ud->s;
}

/* tls-alpn-01 responder:set(name, cert_der, key) -> true | nil, err
 * name: the SNI host name (case-insensitive); cert_der: the challenge
 * certificate (DER); key: its private key (a key userdata). */
static int tls_set(lua_State *L, struct sa_server *s)
{
	size_t nlen, dlen;
	const char *name = luaL_checklstring(L, 2, &nlen);
	const unsigned char *der = (const unsigned char *)luaL_checklstring(L, 3, &dlen);
	const unsigned char *p = der;
	cb_key *k = cb_checkkey(L, 4, 1);
	struct sa_cert nc = { NULL, NULL, NULL }, *c;
	size_t i;

	if (!valid_sni(name, nlen))
		return cb_fail(L, "invalid name for tls-alpn-01: '%s'", name);
	if (!s->running)
		return cb_fail(L, "standalone: responder is stopped");
	/* No Lua call can raise from here until nc is stored or freed. */
	nc.x509 = d2i_X509(NULL, &p, (long)dlen);
	if (nc.x509 == NULL || p != der + dlen) {
		cert_clear(&nc);
		return cb_ossl_fail(L, "invalid challenge certificate");
	}
	if (X509_check_private_key(nc.x509, k->pkey) != 1) {
		cert_clear(&nc);
		return cb_ossl_fail(L, "challenge certificate does not match the key");
	}
	nc.name = malloc(nlen + 1);
	if (nc.name == NULL || !EVP_PKEY_up_ref(k->pkey)) {
		cert_clear(&nc);
		return cb_fail(L, "standalone: out of memory");
	}
	nc.pkey = k->pkey;
	for (i = 0; i < nlen; i++)
		nc.name[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	nc.name[nlen] = '\0';

	pthread_mutex_lock(&s->lock);
	c = cert_find(s, nc.name, nlen);
	if (c == NULL) {
		if (s->ncerts == s->capcerts) {
			size_t cap = s->capcerts ? s->capcerts * 2 : 8;
			struct sa_cert *v = realloc(s->certs, cap * sizeof *v);
			if (v == NULL) {
				pthread_mutex_unlock(&s->lock);
				cert_clear(&nc);
				return cb_fail(L, "standalone: out of memory");
			}
			s->certs = v;
			s->capcerts = cap;
		}
		c = &s->certs[s->ncerts++];
		*c = nc;
		nc.name = NULL;
		nc.x509 = NULL;
		nc.pkey = NULL;
	} else {
		struct sa_cert old = *c;
		*c = nc;
		nc = old;
	}
	pthread_mutex_unlock(&s->lock);
	cert_clear(&nc);
	lua_pushboolean(L, 1);
	return 1;
}

/* responder:set(token, key_authorization) -> true | nil, err  (http-01)
 * responder:set(name, cert_der, key) -> true | nil, err      (tls-alpn-01) */
static int l_set(lua_State *L)
{
	struct sa_server *s = check_server(L);
	size_t tlen, klen;
	const char *tok = luaL_checklstring(L, 2, &tlen);
	const char *ka = luaL_checklstring(L, 3, &klen);
	struct sa_token *t;
	char *tcopy, *kcopy, *old = NULL;

	if (s->kind == SA_TLSALPN01)
		return tls_set(L, s);
	if (!valid_token(tok, tlen))
		return cb_fail(L, "invalid token");
	if (klen > KEYAUTH_MAX)
		return cb_fail(L, "invalid key authorization: longer than %d bytes", KEYAUTH_MAX);
	if (!s->running)
		return cb_fail(L, "standalone: responder is stopped");
	tcopy = malloc(tlen + 1);
	kcopy = malloc(klen + 1);
	if (tcopy == NULL || kcopy == NULL) {
		free(tcopy);
		free(kcopy);
		return cb_fail(L, "standalone: out of memory");
	}
	memcpy(tcopy, tok, tlen + 1);
	memcpy(kcopy, ka, klen);
	kcopy[klen] = '\0';

	pthread_mutex_lock(&s->lock);
	t = token_find(s, tcopy);
	if (t != NULL) {
		old = t->keyauth;
		t->keyauth = kcopy;
		t->kalen = klen;
		free(tcopy);
		tcopy = NULL;
	} else {
		if (s->ntokens == s->captokens) {
			size_t cap = s->captokens ? s->captokens * 2 : 8;
			struct sa_token *v = realloc(s->tokens, cap * sizeof *v);
			if (v == NULL) {
				pthread_mutex_unlock(&s->lock);
				free(tcopy);
				free(kcopy);
				return cb_fail(L, "standalone: out of memory");
			}
			s->tokens = v;
			s->captokens = cap;
		}
		t = &s->tokens[s->ntokens++];
		t->token = tcopy;
		t->keyauth = kcopy;
		t->kalen = klen;
	}
	pthread_mutex_unlock(&s->lock);
	free(old);
	lua_pushboolean(L, 1);
	return 1;
}

/* responder:remove(token | name) -> true if it was set, false otherwise */
static int l_remove(lua_State *L)
{
	struct sa_server *s = check_server(L);
	size_t tlen;
	const char *tok = luaL_checklstring(L, 2, &tlen);
	struct sa_token *t, gone = { NULL, NULL, 0 };

	if (s->kind == SA_TLSALPN01) {
		struct sa_cert *c, cgone = { NULL, NULL, NULL };
		pthread_mutex_lock(&s->lock);
		c = cert_find(s, tok, tlen);
		if (c != NULL) {
			cgone = *c;
			*c = s->certs[--s->ncerts];
		}
		pthread_mutex_unlock(&s->lock);
		cert_clear(&cgone);
		lua_pushboolean(L, c != NULL);
		return 1;
	}

	pthread_mutex_lock(&s->lock);
	t = token_find(s, tok);
	if (t != NULL) {
		gone = *t;
		*t = s->tokens[--s->ntokens];
	}
	pthread_mutex_unlock(&s->lock);
	free(gone.token);
	free(gone.keyauth);
	lua_pushboolean(L, t != NULL);
	return 1;
}

/* responder:clear() -> true */
static int l_clear(lua_State *L)
{
	struct sa_server *s = check_server(L);
	struct sa_token *v;
	struct sa_cert *cv;
	size_t n, cn;

	pthread_mutex_lock(&s->lock);
	v = s->tokens;
	n = s->ntokens;
	s->tokens = NULL;
	s->ntokens = s->captokens = 0;
	cv = s->certs;
	cn = s->ncerts;
	s->certs = NULL;
	s->ncerts = s->capcerts = 0;
	pthread_mutex_unlock(&s->lock);
	tokens_free(v, n);
	certs_free(cv, cn);
	lua_pushboolean(L, 1);
	return 1;
}

/* responder:stop() -> true; idempotent */
static int l_stop(lua_State *L)
{
	struct sa_server *s = check_server(L);

	server_stop(s);
	lua_pushboolean(L, 1);
	return 1;
}

/* responder:stats() -> { connections, served, requests, timeouts, evicted } */
static int l_stats(lua_State *L)
{
	struct sa_server *s = check_server(L);
	struct sa_stats st;

	pthread_mutex_lock(&s->lock);
	st = s->stats;
	pthread_mutex_unlock(&s->lock);
	lua_createtable(L, 0, 5);
	lua_pushinteger(L, st.connections);
	lua_setfield(L, -2, "connections");
	lua_pushinteger(L, st.served);
	lua_setfield(L, -2, "served");
	lua_pushinteger(L, st.requests);
	lua_setfield(L, -2, "requests");
	lua_pushinteger(L, st.timeouts);
	lua_setfield(L, -2, "timeouts");
	lua_pushinteger(L, st.evicted);
	lua_setfield(L, -2, "evicted");
	lua_pushboolean(L, s->running);
	lua_setfield(L, -2, "running");
	return 1;
}

/* responder:address() -> address, port | nil, err */
static int l_address(lua_State *L)
{
	struct sa_server *s = check_server(L);

	if (!s->running)
		return cb_fail(L, "standalone: responder is stopped");
	lua_pushstring(L, s->addr);
	lua_pushinteger(L, s->port);
	return 2;
}

static int l_gc(lua_State *L)
{
	sa_ud *ud = luaL_checkudata(L, 1, RESPONDER_MT);

	if (ud->s != NULL) {
		server_free(ud->s);
		ud->s = NULL;
	}
	return 0;
}

static int l_close(lua_State *L)
{
	sa_ud *ud = luaL_checkudata(L, 1, RESPONDER_MT);

	if (ud->s != NULL)
		server_stop(ud->s);
	return 0;
}

static int l_tostring(lua_State *L)
{
	sa_ud *ud = luaL_checkudata(L, 1, RESPONDER_MT);
	char where[INET6_ADDRSTRLEN + 48];

	if (ud->s == NULL || !ud->s->running) {
		lua_pushliteral(L, "certbot.standalone (stopped)");
	} else {
		format_hostport(where, sizeof where, ud->s->addr, ud->s->port);
		lua_pushfstring(L, "certbot.standalone %s (%s)",
				ud->s->kind == SA_TLSALPN01 ? "tls-alpn-01" : "http-01", where);
	}
	return 1;
}

static const luaL_Reg standalone_funcs[] = {
	{ "http01", l_http01 },
	{ "tlsalpn01", l_tlsalpn01 },
	{ NULL, NULL }
};

static const luaL_Reg standalone_methods[] = {
	{ "set", l_set },
	{ "remove", l_remove },
	{ "clear", l_clear },
	{ "stop", l_stop },
	{ "stats", l_stats },
	{ "address", l_address },
	{ NULL, NULL }
};

static const luaL_Reg standalone_meta[] = {
	{ "__gc", l_gc },
	{ "__close", l_close },
	{ "__tostring", l_tostring },
	{ NULL, NULL }
};

int cb_open_standalone(lua_State *L)
{
	if (luaL_newmetatable(L, RESPONDER_MT)) {
		luaL_setfuncs(L, standalone_meta, 0);
		luaL_newlib(L, standalone_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, standalone_funcs);
	return 1;
}

#ifdef CERTBOT_FUZZ
/* ---- entry points for the libFuzzer targets in spec/fuzz/ ----
 * Compiled only with -DCERTBOT_FUZZ (`make fuzz`); prototypes in
 * spec/fuzz/fuzz.h.  Each runs the responder's own code on the input and
 * abort()s when something that must hold for every input does not. */

#define FUZZ_TOKEN "tok_EN-123abc"
#define FUZZ_KEYAUTH FUZZ_TOKEN ".thumbprint_Xyz-0"

/* Feed p[0..n) to a fresh connection the way the loop does (recv() into
 * c->in, then http_received()), in chunks whose sizes come from seed (0:
 * as much as fits at once).  Returns the status, or 0 for "wants more". */
static int fuzz_http_feed(struct sa_conn *c, const uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed;
	size_t off = 0;

	memset(c, 0, offsetof(struct sa_conn, in));
	c->fd = -1;
	while (off < n) {
		size_t k = sizeof c->in - c->inlen;
		int st;

		if (seed != 0) {
			x = x * 1103515245u + 12345u;
			if (k > 1 + (x >> 16) % seed)
				k = 1 + (x >> 16) % seed;
		}
		if (k > n - off)
			k = n - off;
		memcpy(c->in + c->inlen, p + off, k);
		c->inlen += k;
		off += k;
		if ((st = http_received(c)) != 0)
			return st;
	}
	return 0;
}

/* The http-01 request head parser.  Input: one byte choosing how the bytes
 * are split into reads, then the bytes a client sends.  Must hold: the
 * outcome does not depend on the split; a status is one the responder
 * knows; 200 only for GET/HEAD of the exact challenge path of a set token,
 * with the key authorization as the whole body (none for HEAD); the
 * response fits its buffer and is a well-formed HTTP/1.1 head. */
int cb_fuzz_http_request(const uint8_t *data, size_t size);
int cb_fuzz_http_request(const uint8_t *data, size_t size)
{
	static const char want_line[] = " " CHALLENGE_PREFIX FUZZ_TOKEN " HTTP/1.";
	struct sa_server s;
	struct sa_token tok = { (char *)FUZZ_TOKEN, (char *)FUZZ_KEYAUTH, sizeof FUZZ_KEYAUTH - 1 };
	struct sa_conn *c1, *c2;
	unsigned seed;
	int st1, st2, served;
	const char *head_end;
	size_t body;

	if (size == 0)
		return 0;
	seed = 1u + data[0];
	data++;
	size--;
	c1 = malloc(sizeof *c1);
	c2 = malloc(sizeof *c2);
	if (c1 == NULL || c2 == NULL)
		abort();
	st1 = fuzz_http_feed(c1, data, size, 0);
	st2 = fuzz_http_feed(c2, data, size, seed);
	if (st1 != st2)
		abort();
	if (st1 == 200 && (c1->method != c2->method || strcmp(c1->token, c2->token) != 0))
		abort();
	if (st1 != 0 && st1 != 200 && st1 != 400 && st1 != 404 && st1 != 405 &&
	    st1 != 431 && st1 != 505)
		abort();
	if (st1 == 200 && !(c1->token_ok && (c1->method == M_GET || c1->method == M_HEAD)))
		abort();
	if (c1->token_ok && !valid_token(c1->token, strlen(c1->token)))
		abort();
	/* 431: too many header lines, or a head that fills all HEAD_MAX bytes */
	if (st1 == 431 && c1->nheaders <= HEADERS_MAX && c1->inlen != HEAD_MAX)
		abort();
	if (st1 != 0) {
		memset(&s, 0, sizeof s);
		if (pthread_mutex_init(&s.lock, NULL) != 0)
			abort();
		s.tokens = &tok;
		s.ntokens = s.captokens = 1;
		http_respond(&s, c1, st1);
		pthread_mutex_destroy(&s.lock);
		if (c1->state != C_WRITE || c1->outlen < 17 || c1->outlen > sizeof c1->out ||
		    memcmp(c1->out, "HTTP/1.1 ", 9) != 0 || s.stats.requests != 1)
			abort();
		head_end = memmem(c1->out, c1->outlen, "\r\n\r\n", 4);
		if (head_end == NULL)
			abort();
		served = memcmp(c1->out, "HTTP/1.1 200 ", 13) == 0;
		if (served != (st1 == 200 && strcmp(c1->token, FUZZ_TOKEN) == 0) ||
		    s.stats.served != served)
			abort();
		body = (size_t)(c1->out + c1->outlen - (head_end + 4));
		/* served: the request line really named that path */
		if (served && memmem(data, size, want_line, sizeof want_line - 1) == NULL)
			abort();
		if (served && c1->method == M_GET &&
		    (body != sizeof FUZZ_KEYAUTH - 1 ||
		     memcmp(head_end + 4, FUZZ_KEYAUTH, body) != 0))
			abort();
		if (c1->method == M_HEAD && body != 0)
			abort();
	}
	free(c1);
	free(c2);
	return 0;
}

/* The ClientHello callback's own parsing: an ALPN ProtocolNameList and a
 * server_name list, as OpenSSL hands over the raw extension bodies, and
 * the SNI check.  Input: two bytes giving where to cut, then the two
 * bodies; each is copied to a buffer of exactly its size so that any read
 * past its end is an ASan report. */
int cb_fuzz_tls_extensions(const uint8_t *data, size_t size);
int cb_fuzz_tls_extensions(const uint8_t *data, size_t size)
{
	unsigned char *alpn, *sni;
	const unsigned char *host;
	size_t cut, slen, hlen = 0, i;

	if (size < 2)
		return 0;
	cut = ((size_t)data[0] << 8) | data[1];
	data += 2;
	size -= 2;
	if (cut > size)
		cut = size;
	slen = size - cut;
	alpn = malloc(cut ? cut : 1);
	sni = malloc(slen ? slen : 1);
	if (alpn == NULL || sni == NULL)
		abort();
	memcpy(alpn, data, cut);
	memcpy(sni, data + cut, slen);

	/* acme-tls/1 is reported only when it is there, length-prefixed */
	if (alpn_offers_acme(alpn, cut) &&
	    memmem(alpn, cut, "\x0a" ACME_TLS_1, sizeof ACME_TLS_1) == NULL)
		abort();
	host = sni_host(sni, slen, &hlen);
	if (host != NULL) {
		if (host < sni + 5 || hlen > slen || host + hlen > sni + slen || host[-3] != 0)
			abort();
		hlen = sni_trim(host, hlen);	/* as the ClientHello callback does */
		if (valid_sni((const char *)host, hlen)) {
			if (hlen == 0 || hlen > SNI_MAX || host[0] == '.' || host[hlen - 1] == '.')
				abort();
			for (i = 0; i < hlen; i++)
				if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789-._", host[i]) == NULL || host[i] == '\0')
					abort();
		}
	}
	free(alpn);
	free(sni);
	return 0;
}

/* A tls-alpn-01 responder state (no socket, no thread) holding a
 * challenge certificate for name, for cb_fuzz_client_hello.  NULL if
 * OpenSSL fails. */
struct sa_server *cb_fuzz_tls_server(const char *name);
struct sa_server *cb_fuzz_tls_server(const char *name)
{
	struct sa_server *s = calloc(1, sizeof *s);
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *subj;

	if (s == NULL || pk == NULL || x == NULL || pthread_mutex_init(&s->lock, NULL) != 0)
		abort();
	s->evfd = -1;
	subj = X509_get_subject_name(x);
	if (!tls_ctx(s) || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400) || !X509_set_pubkey(x, pk) ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name,
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, subj) || !X509_sign(x, pk, EVP_sha256()))
		abort();
	s->certs = calloc(1, sizeof *s->certs);
	if (s->certs == NULL || (s->certs[0].name = strdup(name)) == NULL)
		abort();
	s->certs[0].x509 = x;
	s->certs[0].pkey = pk;
	s->ncerts = s->capcerts = 1;
	return s;
}

/* One server-side handshake fed the input as the client's bytes: the
 * ClientHello callback and the ALPN callback run on whatever OpenSSL
 * parsed.  Must hold: a certificate is on the connection only when the
 * hello asked for the challenge name with ALPN acme-tls/1, and the only
 * protocol ever selected is acme-tls/1. */
int cb_fuzz_client_hello(struct sa_server *s, const char *name, const uint8_t *data,
			 size_t size);
int cb_fuzz_client_hello(struct sa_server *s, const char *name, const uint8_t *data,
			 size_t size)
{
	SSL *ssl = SSL_new(s->ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	const unsigned char *sel = NULL;
	unsigned int sellen = 0;
	int i, r;

	if (ssl == NULL || in == NULL || out == NULL)
		abort();
	if (size > 65536)
		size = 65536;
	if (size > 0 && BIO_write(in, data, (int)size) != (int)size)
		abort();
	BIO_set_mem_eof_return(in, -1); /* "no more yet", as a non-blocking socket */
	SSL_set_bio(ssl, in, out);
	SSL_set_accept_state(ssl);
	/* a few rounds, as the loop would retry on readiness */
	for (i = 0; i < 4 && (r = SSL_do_handshake(ssl)) != 1; i++)
		if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
			break;
	SSL_get0_alpn_selected(ssl, &sel, &sellen);
	if (sellen != 0 && (sellen != sizeof ACME_TLS_1 - 1 ||
			    memcmp(sel, ACME_TLS_1, sellen) != 0))
		abort();
	if (SSL_get_certificate(ssl) != NULL) {
		const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		if (sn != NULL && strcasecmp(sn, name) != 0)
			abort();
	}
	SSL_free(ssl);
	ERR_clear_error();
	return 0;
}
#endif /* CERTBOT_FUZZ */
