/*
 * test_standalone.c: the responders under concurrency (run under ASan/UBSan
 * by `make asan`): Lua changing the token set while clients fetch, start/
 * stop cycles with clients in flight, more connections than max_conns; the
 * tls-alpn-01 responder with Lua changing its names while TLS clients
 * handshake, and start/stop cycles with handshakes in flight; the IPv4
 * wildcard when the host has no IPv6 (socket() and bind() interposed);
 * descriptors back to their baseline after each.
 */
#include <dirent.h>
#include <errno.h>
#include <strings.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core.h"
#include "tap.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Run a chunk; returns its first result as an integer (or -1). */
static long run(lua_State *L, const char *code)
{
	long v = -1;

	if (luaL_dostring(L, code) != LUA_OK) {
		printf("# lua error: %s\n", lua_tostring(L, -1));
		lua_settop(L, 0);
		return -1;
	}
	if (lua_gettop(L) > 0 && lua_isinteger(L, 1))
		v = (long)lua_tointeger(L, 1);
	lua_settop(L, 0);
	return v;
}

static int connect_to(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One GET; the whole response into buf.  Returns its length or -1. */
static ssize_t get(int port, const char *path, char *buf, size_t size)
{
	char req[512];
	int fd = connect_to(port), n;
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	while (len < size - 1 && (r = recv(fd, buf + len, size - 1 - len, 0)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

static atomic_int fetchers_left;

/* busy() -> true while fetch threads are still running */
static int l_busy(lua_State *L)
{
	lua_pushboolean(L, atomic_load(&fetchers_left) > 0);
	return 1;
}

static const char OK200[] =
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n"
	"Connection: close\r\n\r\nrace.ka";

struct fetcher {
	int port, rounds;
	int ok, notfound, bad;
};

static void *fetch_loop(void *arg)
{
	struct fetcher *f = arg;
	char buf[1024];
	int i;

	for (i = 0; i < f->rounds; i++) {
		ssize_t n = get(f->port, "/.well-known/acme-challenge/race", buf, sizeof buf);
		if (n > 0 && strcmp(buf, OK200) == 0)
			f->ok++;
		else if (n > 0 && strncmp(buf, "HTTP/1.1 404 Not Found\r\n", 24) == 0)
			f->notfound++;
		else
			f->bad++;
	}
	atomic_fetch_sub(&fetchers_left, 1);
	return NULL;
}

struct pest {
	int port;
	atomic_int stop;
	int made;
};

/* Connect, send some or all of a request, maybe read: until told to stop.
 * Failures are expected (the responder comes and goes). */
static void *pest_loop(void *arg)
{
	struct pest *p = arg;
	static const char req[] = "GET /.well-known/acme-challenge/race HTTP/1.1\r\nHost: x\r\n\r\n";
	char buf[256];

	while (!atomic_load(&p->stop)) {
		int fd = connect_to(p->port);
		if (fd < 0) {
			usleep(1000);
			continue;
		}
		p->made++;
		send(fd, req, (size_t)(p->made % 2 ? sizeof req - 1 : 10), MSG_NOSIGNAL);
		if (p->made % 3 == 0) {
			struct timeval tv = { 0, 50000 };
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			(void)!recv(fd, buf, sizeof buf, 0);
		}
		close(fd);
	}
	return NULL;
}


/* ---- no IPv6 here: socket() and bind() as a host without it has them ----
 * The responders' calls resolve to these (the test links the core's
 * objects); no_ipv6 = 1: socket(AF_INET6) fails with EAFNOSUPPORT (a kernel
 * without IPv6); 2: bind() of an AF_INET6 socket fails with EADDRNOTAVAIL
 * (IPv6 switched off). */
static atomic_int no_ipv6;

int socket(int domain, int type, int protocol)
{
	if (domain == AF_INET6 && atomic_load(&no_ipv6) == 1) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET6 && atomic_load(&no_ipv6) == 2) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	return (int)syscall(SYS_bind, fd, sa, len);
}

/* ---- tls-alpn-01 clients ---- */

/* Lua that makes the challenge certificate for NAME as RFC 8737 has it
 * (what plugins/standalone.lua makes) and keeps it in CERT_DER, KEY. */
#define TLS_NAME "race.example.org"
static const char MAKE_CERT[] =
	"KEY = assert(core.crypto.generate_key('ec', 'P-256'))\n"
	"CERT_DER = assert(core.crypto.self_signed_cert(KEY, { { type = 'dns', value = '"
	TLS_NAME "' } }, { days = 1, extensions = { { oid = '1.3.6.1.5.5.7.1.31', "
	"critical = true, der = '\\4\\32' .. core.crypto.sha256('race.ka') } } }))\n";

/* The certificate (DER) Lua made, for comparing with what was served. */
static unsigned char *cert_der;
static size_t cert_der_len;

enum hs_result { HS_CERT, HS_ALERT, HS_BAD };

/* One handshake with SNI TLS_NAME and ALPN acme-tls/1. */
static enum hs_result handshake(SSL_CTX *ctx, int port)
{
	static const unsigned char alpn[] = "\x0a" "acme-tls/1";
	int fd = connect_to(port);
	SSL *ssl;
	enum hs_result res = HS_BAD;

	if (fd < 0)
		return HS_BAD;
	ssl = SSL_new(ctx);
	if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 &&
	    SSL_set_tlsext_host_name(ssl, TLS_NAME) == 1 &&
	    SSL_set_alpn_protos(ssl, alpn, sizeof alpn - 1) == 0) {
		if (SSL_connect(ssl) == 1) {
			const unsigned char *sel = NULL;
			unsigned int sellen = 0;
			X509 *peer = SSL_get1_peer_certificate(ssl);
			unsigned char *der = NULL;
			int n = peer ? i2d_X509(peer, &der) : -1;

			SSL_get0_alpn_selected(ssl, &sel, &sellen);
			if (n > 0 && (size_t)n == cert_der_len && memcmp(der, cert_der, (size_t)n) == 0 &&
			    sellen == 10 && memcmp(sel, "acme-tls/1", 10) == 0)
				res = HS_CERT;
			OPENSSL_free(der);
			X509_free(peer);
		} else {
			/* refused: the server sent unrecognized_name */
			unsigned long e = ERR_peek_last_error();
			const char *why = ERR_reason_error_string(e);
			if (why != NULL && strstr(why, "unrecognized name") != NULL)
				res = HS_ALERT;
		}
	}
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return res;
}

struct tls_client {
	SSL_CTX *ctx;
	int port, rounds;
	int cert, alert, bad;
};

static void *tls_loop(void *arg)
{
	struct tls_client *t = arg;
	int i;

	for (i = 0; i < t->rounds; i++) {
		switch (handshake(t->ctx, t->port)) {
		case HS_CERT: t->cert++; break;
		case HS_ALERT: t->alert++; break;
		default: t->bad++; break;
		}
	}
	atomic_fetch_sub(&fetchers_left, 1);
	return NULL;
}

/* Handshakes until told to stop; failures are expected (the responder
 * comes and goes). */
static void *tls_pest_loop(void *arg)
{
	struct pest *p = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	while (!atomic_load(&p->stop)) {
		p->made++;
		if (handshake(ctx, p->port) == HS_BAD)
			usleep(1000);
	}
	SSL_CTX_free(ctx);
	return NULL;
}

/* Port of the responder in global R, started by code. */
static int start_r(lua_State *L, const char *code)
{
	return (int)run(L, code);
}

int main(void)
{
	lua_State *L = luaL_newstate();
	pthread_t th[4];
	struct fetcher f[4];
	struct pest pests[2];
	int base, port, i, cycle, ok_total = 0, nf_total = 0, bad_total = 0, fds_ok;
	char code[512];

	/* OpenSSL writes to sockets the responder may have closed */
	signal(SIGPIPE, SIG_IGN);
	luaL_openlibs(L);
	luaopen_certbot_core(L);
	lua_setglobal(L, "core");
	lua_register(L, "busy", l_busy);
	base = count_fds();

	ok(run(L, "return type(core.standalone.http01) == 'function' and 1 or 0") == 1,
	   "core.standalone.http01 is a function");

	/* 1. Lua sets and removes the token while four clients fetch it:
	 * every answer is a whole 200 with the right body, or a 404. */
	port = (int)run(L, "R = assert(core.standalone.http01{ address = '127.0.0.1', port = 0 })\n"
			   "return select(2, R:address())");
	ok(port > 0, "responder on 127.0.0.1:%d", port);
	atomic_init(&fetchers_left, 4);
	for (i = 0; i < 4; i++) {
		f[i] = (struct fetcher){ port, 150, 0, 0, 0 };
		pthread_create(&th[i], NULL, fetch_loop, &f[i]);
	}
	run(L, "local i = 0\n"
	       "while busy() do\n"
	       "  i = i + 1\n"
	       "  assert(R:set('race', 'race.ka'))\n"
	       "  assert(R:set('other' .. i % 10, 'x'))\n"
	       "  if i % 3 == 0 then R:clear() elseif i % 2 == 0 then R:remove('race') end\n"
	       "end\n"
	       "assert(R:set('race', 'race.ka'))");
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok_total += f[i].ok;
		nf_total += f[i].notfound;
		bad_total += f[i].bad;
	}
	ok(bad_total == 0 && ok_total + nf_total == 600,
	   "600 fetches during set/remove: %d x 200, %d x 404, %d broken", ok_total, nf_total, bad_total);
	ok(run(L, "local s = R:stats() return s.requests") == 600, "stats.requests counts them");
	ok(run(L, "local s = R:stats() return s.served") == ok_total, "stats.served = %d", ok_total);
	run(L, "R:stop() R = nil collectgarbage()");
	ok(count_fds() == base, "descriptors back to %d after stop", base);

	/* 2. Start/stop cycles with clients connecting all the while. */
	fds_ok = 1;
	for (cycle = 0; cycle < 25; cycle++) {
		snprintf(code, sizeof code,
			 "R = assert(core.standalone.http01{ address = '127.0.0.1', port = 0, "
			 "timeout = 0.05, max_conns = %d })\n"
			 "assert(R:set('race', 'race.ka'))\n"
			 "return select(2, R:address())", 2 + cycle % 5);
		port = (int)run(L, code);
		if (port <= 0)
			break;
		for (i = 0; i < 2; i++) {
			pests[i].port = port;
			pests[i].made = 0;
			atomic_init(&pests[i].stop, 0);
			pthread_create(&th[i], NULL, pest_loop, &pests[i]);
		}
		usleep(20000 + 3000 * (useconds_t)cycle);
		run(L, "R:stop()");
		for (i = 0; i < 2; i++) {
			atomic_store(&pests[i].stop, 1);
			pthread_join(th[i], NULL);
		}
		run(L, cycle % 2 ? "R:stop() R = nil collectgarbage()" : "R = nil collectgarbage()");
		if (count_fds() != base)
			fds_ok = 0;
	}
	ok(cycle == 25, "25 start/stop cycles with clients in flight");
	ok(fds_ok, "descriptors back to baseline after every cycle");

	/* 3. More connections than max_conns: the oldest make room. */
	port = (int)run(L, "R = assert(core.standalone.http01{ address = '127.0.0.1', port = 0, "
			   "max_conns = 8 })\n"
			   "assert(R:set('race', 'race.ka'))\n"
			   "return select(2, R:address())");
	{
		int fds[20], n = 0;
		char buf[1024];
		ssize_t len;

		for (i = 0; i < 20; i++)
			if ((fds[n] = connect_to(port)) >= 0)
				n++;
		usleep(200000);
		ok(run(L, "return R:stats().connections") <= 8, "at most max_conns connections held");
		len = get(port, "/.well-known/acme-challenge/race", buf, sizeof buf);
		ok(len > 0 && strcmp(buf, OK200) == 0, "a fetch still succeeds beside %d idle connections", n);
		ok(run(L, "return R:stats().evicted") >= 12, "at least 12 evicted");
		for (i = 0; i < n; i++)
			close(fds[i]);
	}
	run(L, "R:stop() R = nil collectgarbage()");
	ok(count_fds() == base, "descriptors back to %d", base);


	/* 4. tls-alpn-01: Lua sets, removes and clears the name while four
	 * clients handshake: each gets exactly the challenge certificate with
	 * acme-tls/1 selected, or an unrecognized_name alert. */
	{
		struct tls_client tc[4];
		SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
		int cert_total = 0, alert_total = 0;

		run(L, MAKE_CERT);
		lua_getglobal(L, "CERT_DER");
		{
			size_t n = 0;
			const char *d = lua_tolstring(L, -1, &n);
			cert_der = malloc(n ? n : 1);
			if (cert_der != NULL && d != NULL) {
				memcpy(cert_der, d, n);
				cert_der_len = n;
			}
		}
		lua_settop(L, 0);
		ok(cert_der_len > 0 && cctx != NULL, "challenge certificate made (%zu bytes)", cert_der_len);
		port = start_r(L, "R = assert(core.standalone.tlsalpn01{ address = '127.0.0.1', port = 0 })\n"
				  "assert(R:set('" TLS_NAME "', CERT_DER, KEY))\n"
				  "return select(2, R:address())");
		ok(port > 0, "tls-alpn-01 responder on 127.0.0.1:%d", port);
		ok(handshake(cctx, port) == HS_CERT, "a handshake gets the challenge certificate");
		atomic_init(&fetchers_left, 4);
		for (i = 0; i < 4; i++) {
			tc[i] = (struct tls_client){ cctx, port, 40, 0, 0, 0 };
			pthread_create(&th[i], NULL, tls_loop, &tc[i]);
		}
		run(L, "local i = 0\n"
		       "while busy() do\n"
		       "  i = i + 1\n"
		       "  assert(R:set('" TLS_NAME "', CERT_DER, KEY))\n"
		       "  assert(R:set('other' .. i % 10 .. '.example', CERT_DER, KEY))\n"
		       "  if i % 3 == 0 then R:clear() elseif i % 2 == 0 then R:remove('" TLS_NAME "') end\n"
		       "end");
		for (i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			cert_total += tc[i].cert;
			alert_total += tc[i].alert;
			bad_total += tc[i].bad;
		}
		ok(bad_total == 0 && cert_total + alert_total == 160 && cert_total > 0,
		   "160 handshakes during set/remove: %d certificates, %d alerts, %d other",
		   cert_total, alert_total, bad_total);
		run(L, "R:stop() R = nil collectgarbage()");
		ok(count_fds() == base, "descriptors back to %d after stop", base);

		/* 5. start/stop cycles with handshakes and junk in flight */
		fds_ok = 1;
		for (cycle = 0; cycle < 15; cycle++) {
			snprintf(code, sizeof code,
				 "R = assert(core.standalone.tlsalpn01{ address = '127.0.0.1', port = 0, "
				 "timeout = 0.05, max_conns = %d })\n"
				 "assert(R:set('" TLS_NAME "', CERT_DER, KEY))\n"
				 "return select(2, R:address())", 2 + cycle % 5);
			port = start_r(L, code);
			if (port <= 0)
				break;
			for (i = 0; i < 2; i++) {
				pests[i].port = port;
				pests[i].made = 0;
				atomic_init(&pests[i].stop, 0);
				pthread_create(&th[i], NULL, i == 0 ? tls_pest_loop : pest_loop, &pests[i]);
			}
			usleep(30000 + 3000 * (useconds_t)cycle);
			run(L, "R:stop()");
			for (i = 0; i < 2; i++) {
				atomic_store(&pests[i].stop, 1);
				pthread_join(th[i], NULL);
			}
			run(L, cycle % 2 ? "R:stop() R = nil collectgarbage()" : "R = nil collectgarbage()");
			if (count_fds() != base)
				fds_ok = 0;
		}
		ok(cycle == 15, "15 tls-alpn-01 start/stop cycles with handshakes in flight");
		ok(fds_ok, "descriptors back to baseline after every cycle");
		SSL_CTX_free(cctx);
	}

	/* 6. No IPv6 on the host: the default address falls back to 0.0.0.0,
	 * for a kernel without it (socket fails) and with it switched off
	 * (bind fails); an explicit IPv6 address fails, naming it. */
	for (i = 1; i <= 2; i++) {
		char buf[1024];
		ssize_t len;

		atomic_store(&no_ipv6, i);
		port = start_r(L, "R = assert(core.standalone.http01{ port = 0 })\n"
				  "assert(R:set('race', 'race.ka'))\n"
				  "local a, p = R:address()\n"
				  "assert(a == '0.0.0.0', a)\n"
				  "assert(tostring(R):find('(0.0.0.0:' .. p .. ')', 1, true))\n"
				  "return p");
		ok(port > 0, "no IPv6 (%s): default address is 0.0.0.0", i == 1 ? "socket" : "bind");
		len = get(port, "/.well-known/acme-challenge/race", buf, sizeof buf);
		ok(len > 0 && strcmp(buf, OK200) == 0, "and it answers on 127.0.0.1:%d", port);
		ok(run(L, "local r, err = core.standalone.http01{ address = '::1', port = 0 }\n"
			  "return (r == nil and err:find('could not bind to [::1]:0', 1, true)) and 1 or 0") == 1,
		   "an explicit ::1 fails, naming the address");
		run(L, "R:stop() R = nil collectgarbage()");
	}
	atomic_store(&no_ipv6, 0);
	ok(count_fds() == base, "descriptors back to %d", base);
	free(cert_der);
	lua_close(L);
	return done_testing();
}
