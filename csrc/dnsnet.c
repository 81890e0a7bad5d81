/*
 * dnsnet.c: DNS messages on the wire.  A socket object that sends one DNS
 * message and receives answers, over UDP (one datagram each) or TCP (each
 * message behind a two-byte length, RFC 1035 §4.2.2), to a numeric IPv4
 * or IPv6 address.  No DNS policy lives here: Lua builds and parses the
 * messages, checks IDs (a stray UDP datagram is simply received and
 * dropped by Lua), decides about TCP and UDP fallback and retries.
 *
 *   local s, err = core.dnsnet.open("tcp", "127.0.0.1", 53, { timeout = 10,
 *                                   max_size = 65535 })
 *   s:send(msg[, timeout]) -> true | nil, err, code
 *   s:recv([timeout])      -> msg  | nil, err, code
 *   s:close()
 *
 * code is "timeout", "refused", "closed", "toobig", "interrupted" or
 * "error".  A descriptor is non-blocking and close-on-exec; every wait is
 * bounded by a deadline on the monotonic clock; a wait interrupted by a
 * signal returns "interrupted" at once, so the executable's signal handling
 * (main.c) reaches Lua without waiting for the timeout.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define DNSNET_MT "certbot.dnsnet"
#define DNS_MAX 65535             /* the TCP length prefix allows no more */
#define DEFAULT_TIMEOUT 10.0      /* seconds, when Lua gives none */
#define MAX_TIMEOUT 3600.0

typedef struct dns_sock {
	int fd;
	int tcp;
	int broken;       /* a TCP stream out of step: no further use */
	size_t max_size;  /* largest answer accepted */
	double timeout;   /* default per call, seconds */
	char peer[72];    /* "127.0.0.1:53/udp", "[::1]:53/tcp" */
	unsigned char buf[DNS_MAX + 2];
} dns_sock;

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* nil, "dns <peer>: <what>", code */
static int sock_fail(lua_State *L, dns_sock *s, const char *code, const char *fmt, ...)
	CB_PRINTF(4, 5);
static int sock_fail(lua_State *L, dns_sock *s, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lua_pushnil(L);
	lua_pushfstring(L, "dns %s: %s", s->peer, msg);
	lua_pushstring(L, code);
	return 3;
}

static const char *errno_code(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return "refused";
	case ECONNRESET:
	case EPIPE:
		return "closed";
	case EINTR:
		return "interrupted";
	case ETIMEDOUT:
		return "timeout";
	default:
		return "error";
	}
}

static int errno_fail(lua_State *L, dns_sock *s, const char *op, int e)
{
	return sock_fail(L, s, errno_code(e), "%s: %s", op, strerror(e));
}

/* Wait until fd is ready for events or the deadline passes: 1 ready, 0
 * timed out, -1 with errno (EINTR included). */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p;
		double left = deadline - now_mono();
		int r;

		if (left <= 0)
			return 0;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, left > 2e6 ? 2000000000 : (int)(left * 1000.0) + 1);
		if (r != 0)
			return r > 0 ? 1 : -1;
	}
}

static dns_sock *check_sock(lua_State *L, int idx)
{
	dns_sock *s = luaL_checkudata(L, idx, DNSNET_MT);

	if (s->fd < 0)
		luaL_argerror(L, idx, "the DNS socket is closed");
	return s;
}

static double check_timeout(lua_State *L, int idx, double def)
{
	double t;

	if (lua_isnoneornil(L, idx))
		return def;
	t = (double)luaL_checknumber(L, idx);
	luaL_argcheck(L, t > 0 && t <= MAX_TIMEOUT, idx, "timeout must be in (0, 3600] seconds");
	return t;
}

/* dnsnet.open(proto, address, port[, opts]) -> socket | nil, err, code */
static int l_open(lua_State *L)
{
	static const char *const protos[] = { "udp", "tcp", NULL };
	int tcp = luaL_checkoption(L, 1, NULL, protos);
	const char *addr = luaL_checkstring(L, 2);
	lua_Integer port = luaL_checkinteger(L, 3);
	struct addrinfo hints, *ai = NULL;
	char portstr[8];
	dns_sock *s;
	double deadline;
	int rc;

	luaL_argcheck(L, port >= 1 && port <= 65535, 3, "port must be in 1..65535");
	if (!lua_isnoneornil(L, 4))
		luaL_checktype(L, 4, LUA_TTABLE);
	lua_settop(L, 4);
	s = lua_newuserdatauv(L, sizeof *s, 0);
	s->fd = -1;
	s->tcp = tcp;
	s->broken = 0;
	s->max_size = DNS_MAX;
	s->timeout = DEFAULT_TIMEOUT;
	luaL_setmetatable(L, DNSNET_MT);
	if (lua_istable(L, 4)) {
		lua_getfield(L, 4, "timeout");
		if (!lua_isnil(L, -1)) {
			int isnum;
			double t = (double)lua_tonumberx(L, -1, &isnum);
			luaL_argcheck(L, isnum && t > 0 && t <= MAX_TIMEOUT, 4,
				      "timeout must be in (0, 3600] seconds");
			s->timeout = t;
		}
		lua_pop(L, 1);
		lua_getfield(L, 4, "max_size");
		if (!lua_isnil(L, -1)) {
			int isint;
			lua_Integer m = lua_tointegerx(L, -1, &isint);
			luaL_argcheck(L, isint && m >= 12 && m <= DNS_MAX, 4,
				      "max_size must be an integer in 12..65535");
			s->max_size = (size_t)m;
		}
		lua_pop(L, 1);
	}

	snprintf(portstr, sizeof portstr, "%d", (int)port);
	if (strchr(addr, ':'))
		snprintf(s->peer, sizeof s->peer, "[%.45s]:%s/%s", addr, portstr, protos[tcp]);
	else
		snprintf(s->peer, sizeof s->peer, "%.45s:%s/%s", addr, portstr, protos[tcp]);

	/* Numeric addresses only: resolving a name would need DNS itself. */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(addr, portstr, &hints, &ai);
	if (rc != 0 || ai == NULL) {
		if (ai)
			freeaddrinfo(ai);
		return sock_fail(L, s, "error", "not an IPv4 or IPv6 address");
	}
	s->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		int e = errno;
		freeaddrinfo(ai);
		return errno_fail(L, s, "socket", e);
	}
	/* A connected UDP socket: the kernel drops datagrams from any other
	 * address and reports ICMP port-unreachable as ECONNREFUSED. */
	rc = connect(s->fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc != 0 && errno != EINPROGRESS) {
		int e = errno;
		close(s->fd);
		s->fd = -1;
		return errno_fail(L, s, "connect", e);
	}
	if (rc != 0) {
		int err = 0, w;
		socklen_t len = sizeof err;

		deadline = now_mono() + s->timeout;
		w = wait_fd(s->fd, POLLOUT, deadline);
		if (w <= 0) {
			int e = w < 0 ? errno : 0;
			close(s->fd);
			s->fd = -1;
			if (w == 0)
				return sock_fail(L, s, "timeout", "connect: timed out");
			return errno_fail(L, s, "connect", e);
		}
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			close(s->fd);
			s->fd = -1;
			return errno_fail(L, s, "connect", err);
		}
	}
	return 1;
}

/* socket:send(msg[, timeout]) -> true | nil, err, code */
static int l_send(lua_State *L)
{
	dns_sock *s = check_sock(L, 1);
	size_t n, off = 0, total;
	const char *msg = luaL_checklstring(L, 2, &n);
	double deadline = now_mono() + check_timeout(L, 3, s->timeout);
	const unsigned char *p;

	luaL_argcheck(L, n >= 12 && n <= DNS_MAX, 2, "a DNS message is 12 to 65535 bytes");
	if (s->broken)
		return sock_fail(L, s, "closed", "the connection is out of step");
	if (s->tcp) {
		s->buf[0] = (unsigned char)(n >> 8);
		s->buf[1] = (unsigned char)(n & 0xff);
		memcpy(s->buf + 2, msg, n);
		p = s->buf;
		total = n + 2;
	} else {
		p = (const unsigned char *)msg;
		total = n;
	}
	while (off < total) {
		ssize_t w = send(s->fd, p + off, total - off, MSG_NOSIGNAL);
		if (w >= 0) {
			if (!s->tcp && (size_t)w != total)
				return sock_fail(L, s, "error", "send: short datagram");
			off += (size_t)w;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_fd(s->fd, POLLOUT, deadline);
			if (r == 0) {
				if (off > 0)
					s->broken = 1;
				return sock_fail(L, s, "timeout", "send: timed out");
			}
			if (r < 0) {
				if (off > 0)
					s->broken = 1;
				return errno_fail(L, s, "send", errno);
			}
			continue;
		}
		if (off > 0)
			s->broken = 1;
		return errno_fail(L, s, "send", errno);
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* Read exactly n bytes of the TCP stream into out: 0 done, else pushes
 * the failure and returns its count. */
static int read_exact(lua_State *L, dns_sock *s, unsigned char *out, size_t n,
                      double deadline, int started)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(s->fd, out + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			started = 1;
			continue;
		}
		if (r == 0) {
			s->broken = 1;
			return sock_fail(L, s, "closed", started ? "connection closed in the middle of an answer"
				: "connection closed without an answer");
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(s->fd, POLLIN, deadline);
			if (w == 0) {
				if (started)
					s->broken = 1;
				return sock_fail(L, s, "timeout", "recv: timed out");
			}
			if (w < 0) {
				if (started)
					s->broken = 1;
				return errno_fail(L, s, "recv", errno);
			}
			continue;
		}
		s->broken = 1;
		return errno_fail(L, s, "recv", errno);
	}
	return 0;
}

/* socket:recv([timeout]) -> msg | nil, err, code */
static int l_recv(lua_State *L)
{
	dns_sock *s = check_sock(L, 1);
	double deadline = now_mono() + check_timeout(L, 2, s->timeout);

	if (s->broken)
		return sock_fail(L, s, "closed", "the connection is out of step");
	if (s->tcp) {
		size_t len;
		int rc;

		if ((rc = read_exact(L, s, s->buf, 2, deadline, 0)) != 0)
			return rc;
		len = (size_t)s->buf[0] << 8 | s->buf[1];
		if (len < 12) {
			s->broken = 1;
			return sock_fail(L, s, "error", "answer of %zu bytes is too short for DNS", len);
		}
		if (len > s->max_size) {
			s->broken = 1;
			return sock_fail(L, s, "toobig", "answer of %zu bytes is larger than %zu bytes",
					 len, s->max_size);
		}
		if ((rc = read_exact(L, s, s->buf, len, deadline, 1)) != 0)
			return rc;
		lua_pushlstring(L, (const char *)s->buf, len);
		return 1;
	}
	for (;;) {
		/* MSG_TRUNC: the datagram's real length, even when larger. */
		ssize_t r = recv(s->fd, s->buf, sizeof s->buf, MSG_TRUNC);
		if (r >= 0) {
			if ((size_t)r > s->max_size)
				return sock_fail(L, s, "toobig", "answer of %zu bytes is larger than %zu bytes",
						 (size_t)r, s->max_size);
			if (r < 12)
				return sock_fail(L, s, "error", "datagram of %zd bytes is too short for DNS", r);
			lua_pushlstring(L, (const char *)s->buf, (size_t)r);
			return 1;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(s->fd, POLLIN, deadline);
			if (w == 0)
				return sock_fail(L, s, "timeout", "no answer (timed out)");
			if (w < 0)
				return errno_fail(L, s, "recv", errno);
			continue;
		}
		return errno_fail(L, s, "recv", errno);
	}
}

static int l_close(lua_State *L)
{
	dns_sock *s = luaL_checkudata(L, 1, DNSNET_MT);

	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	return 0;
}

static int l_tostring(lua_State *L)
{
	dns_sock *s = luaL_checkudata(L, 1, DNSNET_MT);

	lua_pushfstring(L, "dnsnet %s%s", s->peer, s->fd < 0 ? " (closed)" : "");
	return 1;
}

static const luaL_Reg dnsnet_funcs[] = {
	{ "open", l_open },
	{ NULL, NULL }
};

static const luaL_Reg dnsnet_methods[] = {
	{ "send", l_send },
	{ "recv", l_recv },
	{ "close", l_close },
	{ NULL, NULL }
};

static const luaL_Reg dnsnet_meta[] = {
	{ "__gc", l_close },
	{ "__close", l_close },
	{ "__tostring", l_tostring },
	{ NULL, NULL }
};

int cb_open_dnsnet(lua_State *L)
{
	if (luaL_newmetatable(L, DNSNET_MT)) {
		luaL_setfuncs(L, dnsnet_meta, 0);
		luaL_newlib(L, dnsnet_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, dnsnet_funcs);
	lua_pushinteger(L, DNS_MAX);
	lua_setfield(L, -2, "MAX_SIZE");
	return 1;
}
