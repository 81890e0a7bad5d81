/*
 * test_standalone.c: the http-01 responder under concurrency (run under
 * ASan/UBSan by `make asan`): Lua changing the token set while clients
 * fetch, start/stop cycles with clients in flight, more connections than
 * max_conns, and descriptors back to their baseline afterwards.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

int main(void)
{
	lua_State *L = luaL_newstate();
	pthread_t th[4];
	struct fetcher f[4];
	struct pest pests[2];
	int base, port, i, cycle, ok_total = 0, nf_total = 0, bad_total = 0, fds_ok;
	char code[512];

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

	lua_close(L);
	return done_testing();
}
