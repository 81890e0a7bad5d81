/*
 * proc.c: core.proc, what parallel renewal needs from the system beyond
 * core.sys: processes that run beside us (spawn without waiting, with
 * pipes and chosen descriptors), waiting without blocking, signals,
 * polling several descriptors, and open-file-description (OFD) fcntl
 * locks, shared or exclusive, that a child can inherit.
 *
 *   proc.lock(path, "shared"|"exclusive") -> lock | nil, err, "busy"|errno
 *   proc.adopt_lock(fd, path)             -> lock | nil, err, "busy"|errno
 *   proc.pipe()                           -> rfd, wfd
 *   proc.adopt_fd(n)                      -> fd | nil, err
 *   proc.spawn(argv, env, opts)           -> pid | nil, err
 *   proc.wait(pid[, nohang])              -> "running" | "exited", code
 *                                            | "signaled", sig | nil, err
 *   proc.kill(pid, sig)                   -> true | nil, err
 *   proc.poll({fd, ...}, timeout)         -> {bool, ...} | nil, "interrupted"
 *   proc.signum(name)                     -> number | nil
 *
 * OFD locks (F_OFD_SETLK, Linux 3.15) belong to the open file description,
 * not to the process: a child that inherits the descriptor shares the lock,
 * which outlives the parent's copy, and closing some other descriptor of
 * the same file drops nothing (the trap of classic POSIX locks).  They
 * conflict with classic fcntl locks (Certbot's fcntl.lockf), so a Certbot
 * run and ours still exclude each other.
 *
 * Every descriptor made here is close-on-exec; a spawned child gets 0, 1,
 * 2 and exactly the descriptors the caller maps, nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

#define PLOCK_MT "certbot.proc.lock"
#define PFD_MT "certbot.proc.fd"

/* Attempts at a lock whose file another process removes and recreates
 * under us (Certbot deletes .certbot.lock when it lets go). */
#define LOCK_ATTEMPTS 10
/* Most descriptors a spawn may map (0..MAX_MAPPED-1). */
#define MAX_MAPPED 64

typedef struct plock {
	int fd;
	off_t size; /* the file's size when it was locked */
} plock;

typedef struct pfd {
	int fd;
} pfd;

static int fail_errno(lua_State *L, const char *what, int err)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", what, strerror(err));
	lua_pushinteger(L, err);
	return 3;
}

static int set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -1;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* ---- locks ---- */

static int ofd_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0; /* the whole file, as Certbot's lockf */
	fl.l_pid = 0; /* required for OFD locks */
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* Is fd still the file at path?  A lock taken on a file that was unlinked
 * (or replaced) between open and lock protects nothing. */
static int same_file(int fd, const char *path, off_t *size, int *err)
{
	struct stat a, b;

	if (fstat(fd, &a) != 0) {
		*err = errno;
		return -1;
	}
	*size = a.st_size;
	if (stat(path, &b) != 0) {
		if (errno == ENOENT)
			return 0;
		*err = errno;
		return -1;
	}
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int busy(lua_State *L, const char *path)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: held by another process", path);
	lua_pushliteral(L, "busy");
	return 3;
}

/* lock(path[, mode]) -> lock | nil, err, "busy"|errno.  Creates path
 * (0600) when needed; mode "shared" takes a read lock (others may share
 * it, no one may write-lock), "exclusive" (default) a write lock.  Never
 * waits. */
static int l_lock(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	static const char *const modes[] = { "exclusive", "shared", NULL };
	int shared = luaL_checkoption(L, 2, "exclusive", modes) == 1;
	plock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
	int attempt;

	lk->fd = -1;
	lk->size = 0;
	luaL_setmetatable(L, PLOCK_MT);
	for (attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
		int err = 0, same;

		lk->fd = open(path, (shared ? O_RDONLY : O_RDWR) | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (lk->fd < 0)
			return fail_errno(L, path, errno);
		if (ofd_lock(lk->fd, shared ? F_RDLCK : F_WRLCK) != 0) {
			err = errno;
			close(lk->fd);
			lk->fd = -1;
			if (err == EACCES || err == EAGAIN)
				return busy(L, path);
			return fail_errno(L, path, err);
		}
		same = same_file(lk->fd, path, &lk->size, &err);
		if (same == 1)
			return 1;
		close(lk->fd);
		lk->fd = -1;
		if (same < 0)
			return fail_errno(L, path, err);
		/* removed or replaced meanwhile: lock the file now there */
	}
	lua_pushnil(L);
	lua_pushfstring(L, "%s: replaced %d times while being locked", path, LOCK_ATTEMPTS);
	lua_pushliteral(L, "busy");
	return 3;
}

/* adopt_lock(fd, path) -> lock | nil, err, "busy"|errno: take charge of an
 * inherited descriptor of path holding (or now taking) an exclusive OFD
 * lock.  Re-locking through the same open file description succeeds
 * whether the parent's lock is still there or not; another holder makes
 * it fail.  The descriptor becomes close-on-exec. */
static int l_adopt_lock(lua_State *L)
{
	int fd = (int)luaL_checkinteger(L, 1);
	const char *path = luaL_checkstring(L, 2);
	plock *lk;
	int err = 0, same;

	luaL_argcheck(L, fd > 2, 1, "not an inherited descriptor");
	lk = lua_newuserdatauv(L, sizeof *lk, 0);
	lk->fd = -1;
	lk->size = 0;
	luaL_setmetatable(L, PLOCK_MT);
	if (fcntl(fd, F_GETFD) < 0)
		return cb_fail(L, "descriptor %d: %s", fd, strerror(errno));
	same = same_file(fd, path, &lk->size, &err);
	if (same < 0)
		return fail_errno(L, path, err);
	if (same == 0)
		return cb_fail(L, "descriptor %d is not %s", fd, path);
	lk->fd = fd;
	set_cloexec(fd);
	if (ofd_lock(fd, F_WRLCK) != 0) {
		err = errno;
		close(fd);
		lk->fd = -1;
		if (err == EACCES || err == EAGAIN)
			return busy(L, path);
		return fail_errno(L, path, err);
	}
	return 1;
}

static int plock_release(lua_State *L)
{
	plock *lk = luaL_checkudata(L, 1, PLOCK_MT);

	if (lk->fd >= 0) {
		close(lk->fd); /* the lock goes with the last descriptor */
		lk->fd = -1;
	}
	return 0;
}

static int plock_fileno(lua_State *L)
{
	plock *lk = luaL_checkudata(L, 1, PLOCK_MT);

	if (lk->fd < 0)
		return 0;
	lua_pushinteger(L, lk->fd);
	return 1;
}

/* lk:size() -> the lock file's size when the lock was taken (a caller
 * may keep a flag in it: certbot.storage's dirty mark). */
static int plock_size(lua_State *L)
{
	plock *lk = luaL_checkudata(L, 1, PLOCK_MT);

	lua_pushinteger(L, (lua_Integer)lk->size);
	return 1;
}

static int plock_tostring(lua_State *L)
{
	plock *lk = luaL_checkudata(L, 1, PLOCK_MT);

	lua_pushfstring(L, "proc.lock (%s)", lk->fd >= 0 ? "held" : "released");
	return 1;
}

/* ---- descriptors ---- */

static pfd *new_pfd(lua_State *L)
{
	pfd *p = lua_newuserdatauv(L, sizeof *p, 0);

	p->fd = -1;
	luaL_setmetatable(L, PFD_MT);
	return p;
}

/* pipe() -> rfd, wfd, both close-on-exec. */
static int l_pipe(lua_State *L)
{
	pfd *r = new_pfd(L);
	pfd *w = new_pfd(L);
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return fail_errno(L, "pipe", errno);
	r->fd = fds[0];
	w->fd = fds[1];
	return 2;
}

/* adopt_fd(n) -> fd: an inherited descriptor, made close-on-exec. */
static int l_adopt_fd(lua_State *L)
{
	int n = (int)luaL_checkinteger(L, 1);
	pfd *p;

	luaL_argcheck(L, n > 2, 1, "not an inherited descriptor");
	p = new_pfd(L);
	if (fcntl(n, F_GETFD) < 0)
		return cb_fail(L, "descriptor %d: %s", n, strerror(errno));
	set_cloexec(n);
	p->fd = n;
	return 1;
}

static pfd *check_open(lua_State *L)
{
	pfd *p = luaL_checkudata(L, 1, PFD_MT);

	if (p->fd < 0)
		luaL_error(L, "descriptor is closed");
	return p;
}

/* fd:read([max]) -> bytes | "" at end of file | nil, err, "again"|"interrupted" */
static int pfd_read(lua_State *L)
{
	pfd *p = check_open(L);
	lua_Integer max = luaL_optinteger(L, 2, 65536);
	luaL_Buffer b;
	char *buf;
	ssize_t n;

	luaL_argcheck(L, max > 0 && max <= (1 << 24), 2, "out of range");
	buf = luaL_buffinitsize(L, &b, (size_t)max);
	n = read(p->fd, buf, (size_t)max);
	if (n < 0) {
		int err = errno;

		lua_pushnil(L);
		lua_pushfstring(L, "read: %s", strerror(err));
		if (err == EINTR)
			lua_pushliteral(L, "interrupted");
		else if (err == EAGAIN || err == EWOULDBLOCK)
			lua_pushliteral(L, "again");
		else
			lua_pushinteger(L, err);
		return 3;
	}
	luaL_pushresultsize(&b, (size_t)n);
	return 1;
}

/* fd:write(data) -> true | nil, err: all of it. */
static int pfd_write(lua_State *L)
{
	pfd *p = check_open(L);
	size_t len, off = 0;
	const char *data = luaL_checklstring(L, 2, &len);

	while (off < len) {
		ssize_t n = write(p->fd, data + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail_errno(L, "write", errno);
		}
		off += (size_t)n;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int pfd_close(lua_State *L)
{
	pfd *p = luaL_checkudata(L, 1, PFD_MT);

	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	return 0;
}

static int pfd_fileno(lua_State *L)
{
	pfd *p = luaL_checkudata(L, 1, PFD_MT);

	if (p->fd < 0)
		return 0;
	lua_pushinteger(L, p->fd);
	return 1;
}

static int pfd_tostring(lua_State *L)
{
	pfd *p = luaL_checkudata(L, 1, PFD_MT);

	if (p->fd < 0)
		lua_pushliteral(L, "proc.fd (closed)");
	else
		lua_pushfstring(L, "proc.fd (%d)", p->fd);
	return 1;
}

/* The descriptor behind a Lua value: a proc fd, a proc lock or an open io
 * file.  -1 with a message pushed on misuse. */
static int fd_of(lua_State *L, int idx)
{
	void *u;

	if ((u = luaL_testudata(L, idx, PFD_MT)) != NULL)
		return ((pfd *)u)->fd;
	if ((u = luaL_testudata(L, idx, PLOCK_MT)) != NULL)
		return ((plock *)u)->fd;
	if ((u = luaL_testudata(L, idx, LUA_FILEHANDLE)) != NULL) {
		luaL_Stream *s = u;

		if (s->closef == NULL || s->f == NULL)
			return -1;
		fflush(s->f);
		return fileno(s->f);
	}
	return -1;
}

/* ---- processes ---- */

static const struct {
	const char *name;
	int sig;
} signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
	{ "TERM", SIGTERM }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "CONT", SIGCONT },
	{ "STOP", SIGSTOP }, { "PIPE", SIGPIPE },
};

static int sig_arg(lua_State *L, int idx)
{
	size_t i;
	const char *name;

	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer n = luaL_checkinteger(L, idx);

		luaL_argcheck(L, n > 0 && n < 65, idx, "not a signal number");
		return (int)n;
	}
	name = luaL_checkstring(L, idx);
	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
		if (strcmp(signals[i].name, name) == 0)
			return signals[i].sig;
	return luaL_argerror(L, idx, "unknown signal name");
}

static int l_signum(lua_State *L)
{
	size_t i;
	const char *name = luaL_checkstring(L, 1);

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		if (strcmp(signals[i].name, name) == 0) {
			lua_pushinteger(L, signals[i].sig);
			return 1;
		}
	}
	return 0;
}

/* Everything the child needs, made before fork: after it, the child calls
 * only async-signal-safe functions (the parent may have threads). */
struct spawn_plan {
	const char *path;
	const char **argv;
	const char **envp;
	int src[MAX_MAPPED]; /* -1: leave alone; -2: /dev/null */
	int top;             /* highest mapped target */
	int pgroup;
	int deathsig;
	pid_t parent;
	int errfd;
};

static void close_above(int low, int keep)
{
	/* close_range (Linux 5.9) first; a loop where it is missing */
	if (keep > low) {
		if (close_range((unsigned)low, (unsigned)keep - 1, 0) != 0) {
			int fd;

			for (fd = low; fd < keep; fd++)
				close(fd);
		}
		low = keep + 1;
	}
	if (close_range((unsigned)low, ~0U, 0) != 0) {
		long max = sysconf(_SC_OPEN_MAX);
		int fd;

		if (max < 0 || max > 65536)
			max = 65536;
		for (fd = low; fd < max; fd++)
			close(fd);
	}
}

static void child_fail(int errfd, int err)
{
	ssize_t w = write(errfd, &err, sizeof err);

	(void)w;
	_exit(127);
}

static void child(const struct spawn_plan *p)
{
	static const int reset[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	int tmp[MAX_MAPPED];
	sigset_t none;
	size_t i;
	int t, base;

	for (i = 0; i < sizeof reset / sizeof reset[0]; i++) {
		struct sigaction old;

		/* caught -> default; ignored (nohup) stays ignored, as exec keeps it */
		if (sigaction(reset[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			signal(reset[i], SIG_DFL);
	}
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (p->pgroup && setpgid(0, 0) != 0)
		child_fail(p->errfd, errno);
	if (p->deathsig) {
		if (prctl(PR_SET_PDEATHSIG, p->deathsig) != 0)
			child_fail(p->errfd, errno);
		if (getppid() != p->parent)
			_exit(1); /* the parent is gone already */
	}
	/* Park every source above the targets, then move each into place
	 * (dup2 clears close-on-exec on the copy). */
	base = p->top + 1;
	if (p->errfd >= base)
		base = p->errfd + 1;
	for (t = 0; t <= p->top; t++) {
		tmp[t] = -1;
		if (p->src[t] == -2) {
			tmp[t] = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (tmp[t] < 0)
				child_fail(p->errfd, errno);
			if (tmp[t] < base) {
				int moved = fcntl(tmp[t], F_DUPFD_CLOEXEC, base);

				if (moved < 0)
					child_fail(p->errfd, errno);
				tmp[t] = moved;
			}
		} else if (p->src[t] >= 0) {
			tmp[t] = fcntl(p->src[t], F_DUPFD_CLOEXEC, base);
			if (tmp[t] < 0)
				child_fail(p->errfd, errno);
		}
	}
	for (t = 0; t <= p->top; t++) {
		if (tmp[t] >= 0 && dup2(tmp[t], t) < 0)
			child_fail(p->errfd, errno);
		if (tmp[t] < 0 && t > 2)
			close(t); /* a gap in the mapping stays closed */
	}
	close_above(p->top + 1, p->errfd);
	execvpe(p->path, (char *const *)p->argv, (char *const *)p->envp);
	child_fail(p->errfd, errno);
}

/* A stream option: nil/"inherit" (-1), "null" (-2) or a descriptor. */
static int stream_opt(lua_State *L, int opts, const char *name, int dflt)
{
	int fd;

	if (!lua_istable(L, opts))
		return dflt;
	lua_getfield(L, opts, name);
	if (lua_isnil(L, -1)) {
		fd = dflt;
	} else if (lua_type(L, -1) == LUA_TSTRING) {
		const char *s = lua_tostring(L, -1);

		if (strcmp(s, "null") == 0)
			fd = -2;
		else if (strcmp(s, "inherit") == 0)
			fd = -1;
		else
			return luaL_error(L, "spawn: opts.%s: \"null\", \"inherit\" or a descriptor", name);
	} else {
		fd = fd_of(L, -1);
		if (fd < 0)
			return luaL_error(L, "spawn: opts.%s: not an open descriptor", name);
	}
	lua_pop(L, 1);
	return fd;
}

/* spawn(argv, env[, opts]) -> pid | nil, err.  Starts argv (argv[1] looked
 * up on PATH when it has no slash) with env (an array of "K=V", the whole
 * environment) and returns at once.
 * opts.stdin ("null" by default), opts.stdout, opts.stderr ("inherit" by
 * default): "null", "inherit", or a proc fd / lock / io file.
 * opts.fds = { [3] = fd|lock|file, ... }: more descriptors for the child,
 * at those numbers; nothing else is open in it.
 * opts.pgroup: the child leads a new process group (a terminal's ^C
 * reaches the parent alone, which decides what to forward).
 * opts.parent_death = "TERM": the signal the child gets when we die.
 * opts.path: the program to execute, when it is not argv[1] (argv[1] is
 * then only the name the child sees as its argv[0]).
 * A program that cannot be started is reported here, not as exit 127. */
static int l_spawn(lua_State *L)
{
	struct spawn_plan p;
	int argc, envc, i, ep[2], err = 0;
	pid_t pid;
	ssize_t n;

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	memset(&p, 0, sizeof p);
	for (i = 0; i < MAX_MAPPED; i++)
		p.src[i] = -1;
	p.src[0] = stream_opt(L, 3, "stdin", -2);
	p.src[1] = stream_opt(L, 3, "stdout", -1);
	p.src[2] = stream_opt(L, 3, "stderr", -1);
	p.top = 2;
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "fds");
		if (lua_istable(L, -1)) {
			lua_pushnil(L);
			while (lua_next(L, -2) != 0) {
				int target, src;

				if (!lua_isinteger(L, -2))
					return luaL_error(L, "spawn: opts.fds: keys are descriptor numbers");
				target = (int)lua_tointeger(L, -2);
				if (target < 3 || target >= MAX_MAPPED)
					return luaL_error(L, "spawn: opts.fds: %d is not in 3..%d", target, MAX_MAPPED - 1);
				src = fd_of(L, -1);
				if (src < 0)
					return luaL_error(L, "spawn: opts.fds[%d]: not an open descriptor", target);
				p.src[target] = src;
				if (target > p.top)
					p.top = target;
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		lua_getfield(L, 3, "pgroup");
		p.pgroup = lua_toboolean(L, -1);
		lua_pop(L, 1);
		lua_getfield(L, 3, "parent_death");
		if (!lua_isnil(L, -1))
			p.deathsig = sig_arg(L, lua_gettop(L));
		lua_pop(L, 1);
		lua_getfield(L, 3, "path");
		if (!lua_isnil(L, -1))
			p.path = luaL_checkstring(L, -1);
		lua_pop(L, 1); /* opts keeps it alive */
	}
	argc = (int)luaL_len(L, 1);
	envc = (int)luaL_len(L, 2);
	luaL_argcheck(L, argc > 0, 1, "empty argv");
	p.argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
	p.envp = lua_newuserdatauv(L, sizeof(char *) * (size_t)(envc + 1), 0);
	for (i = 0; i < argc; i++) {
		lua_rawgeti(L, 1, i + 1);
		p.argv[i] = luaL_checkstring(L, -1);
		lua_pop(L, 1); /* the table keeps it alive */
	}
	p.argv[argc] = NULL;
	if (p.path == NULL)
		p.path = p.argv[0];
	for (i = 0; i < envc; i++) {
		lua_rawgeti(L, 2, i + 1);
		p.envp[i] = luaL_checkstring(L, -1);
		lua_pop(L, 1);
	}
	p.envp[envc] = NULL;
	p.parent = getpid();

	/* exec failures come back through this pipe; success closes it */
	if (pipe2(ep, O_CLOEXEC) != 0)
		return fail_errno(L, "spawn: pipe", errno);
	/* above every target, so the mapping cannot clobber it */
	p.errfd = fcntl(ep[1], F_DUPFD_CLOEXEC, MAX_MAPPED);
	close(ep[1]);
	if (p.errfd < 0) {
		err = errno;
		close(ep[0]);
		return fail_errno(L, "spawn: pipe", err);
	}
	ep[1] = p.errfd;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = errno;
		close(ep[0]);
		close(ep[1]);
		return fail_errno(L, p.path, err);
	}
	if (pid == 0)
		child(&p);
	close(ep[1]);
	do
		n = read(ep[0], &err, sizeof err);
	while (n < 0 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof err) {
		int status;

		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return fail_errno(L, p.path, err);
	}
	lua_pushinteger(L, pid);
	return 1;
}

/* wait(pid[, nohang]) -> "running" | "exited", code | "signaled", sig
 *                     | nil, err.  A blocking wait retries after a signal. */
static int l_wait(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int nohang = lua_toboolean(L, 2);
	int status;
	pid_t r;

	luaL_argcheck(L, pid > 0, 1, "not a process id");
	do
		r = waitpid(pid, &status, nohang ? WNOHANG : 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return fail_errno(L, "waitpid", errno);
	if (r == 0) {
		lua_pushliteral(L, "running");
		return 1;
	}
	if (WIFSIGNALED(status)) {
		lua_pushliteral(L, "signaled");
		lua_pushinteger(L, WTERMSIG(status));
		return 2;
	}
	lua_pushliteral(L, "exited");
	lua_pushinteger(L, WEXITSTATUS(status));
	return 2;
}

/* kill(pid, sig) -> true | nil, err.  sig: a number or "TERM", "SIGINT"... */
static int l_kill(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int sig = sig_arg(L, 2);

	luaL_argcheck(L, pid > 0, 1, "not a process id");
	if (kill(pid, sig) != 0)
		return fail_errno(L, "kill", errno);
	lua_pushboolean(L, 1);
	return 1;
}

/* poll(fds, timeout) -> ready | nil, "interrupted".  fds: an array of proc
 * fds (closed ones are skipped); timeout in seconds (nil or negative:
 * until one is ready).  ready[i] is true when fds[i] can be read without
 * blocking (data, end of file or an error). */
static int l_poll(lua_State *L)
{
	struct pollfd *pf;
	int n, i, rc, ms = -1;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = (int)luaL_len(L, 1);
	luaL_argcheck(L, n <= 4096, 1, "too many descriptors");
	if (!lua_isnoneornil(L, 2)) {
		lua_Number t = luaL_checknumber(L, 2);

		ms = t < 0 ? -1 : (t > 86400 ? 86400000 : (int)(t * 1000.0 + 0.5));
	}
	pf = lua_newuserdatauv(L, sizeof *pf * (size_t)(n > 0 ? n : 1), 0);
	for (i = 0; i < n; i++) {
		pfd *p;

		lua_rawgeti(L, 1, i + 1);
		p = luaL_checkudata(L, -1, PFD_MT);
		pf[i].fd = p->fd; /* negative: ignored by poll */
		pf[i].events = POLLIN;
		pf[i].revents = 0;
		lua_pop(L, 1);
	}
	rc = poll(pf, (nfds_t)n, ms);
	if (rc < 0) {
		int err = errno;

		lua_pushnil(L);
		if (err == EINTR) {
			lua_pushliteral(L, "interrupted");
			return 2;
		}
		lua_pushfstring(L, "poll: %s", strerror(err));
		return 2;
	}
	lua_createtable(L, n, 0);
	for (i = 0; i < n; i++) {
		lua_pushboolean(L, pf[i].fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

static const luaL_Reg proc_funcs[] = {
	{ "lock", l_lock },
	{ "adopt_lock", l_adopt_lock },
	{ "pipe", l_pipe },
	{ "adopt_fd", l_adopt_fd },
	{ "spawn", l_spawn },
	{ "wait", l_wait },
	{ "kill", l_kill },
	{ "poll", l_poll },
	{ "signum", l_signum },
	{ NULL, NULL }
};

static const luaL_Reg lock_methods[] = {
	{ "unlock", plock_release },
	{ "fileno", plock_fileno },
	{ "size", plock_size },
	{ NULL, NULL }
};

static const luaL_Reg lock_meta[] = {
	{ "__gc", plock_release },
	{ "__close", plock_release },
	{ "__tostring", plock_tostring },
	{ NULL, NULL }
};

static const luaL_Reg fd_methods[] = {
	{ "read", pfd_read },
	{ "write", pfd_write },
	{ "close", pfd_close },
	{ "fileno", pfd_fileno },
	{ NULL, NULL }
};

static const luaL_Reg fd_meta[] = {
	{ "__gc", pfd_close },
	{ "__close", pfd_close },
	{ "__tostring", pfd_tostring },
	{ NULL, NULL }
};

static void new_class(lua_State *L, const char *mt, const luaL_Reg *meta, const luaL_Reg *methods)
{
	if (luaL_newmetatable(L, mt)) {
		luaL_setfuncs(L, meta, 0);
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
}

int cb_open_proc(lua_State *L)
{
	new_class(L, PLOCK_MT, lock_meta, lock_methods);
	new_class(L, PFD_MT, fd_meta, fd_methods);
	luaL_newlib(L, proc_funcs);
	return 1;
}
