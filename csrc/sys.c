/*
 * sys.c: the core's door to the operating system.  Atomic, durable writes;
 * relative symlink swaps; fcntl locks; directory listing; running a hook
 * with an environment; clocks.  Policy (paths, modes, what to run) comes
 * from Lua; failures come back as nil, "path: reason".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define LOCK_MT "certbot.lock"

static int fail_errno(lua_State *L, const char *what, int err)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", what, strerror(err));
	lua_pushinteger(L, err);
	return 3;
}

/* Directory part of path, into buf ("." when there is none). */
static const char *dir_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return ".";
	n = (size_t)(slash - path);
	if (n == 0)
		return "/";
	if (n >= size)
		return NULL;
	memcpy(buf, path, n);
	buf[n] = '\0';
	return buf;
}

static int fsync_dir_of(const char *path)
{
	char buf[PATH_MAX];
	const char *dir = dir_of(path, buf, sizeof buf);
	int fd, rc;

	if (dir == NULL)
		return ENAMETOOLONG;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	rc = fsync(fd) == 0 ? 0 : errno;
	close(fd);
	/* Some filesystems cannot fsync a directory; that is not our failure. */
	return rc == EINVAL ? 0 : rc;
}

/* A fresh name beside path: "<dir>/.<base>.<random>.tmp".  The 48 random
 * bits come from getrandom(2), not OpenSSL's RAND: its first use loads
 * openssl.cnf and the providers (~6 ms and 2 MiB in a run that writes
 * nothing else).  Should getrandom fail (a kernel before 3.17, or a seccomp
 * filter), the pid, the clock and the attempt number stand in; the caller
 * creates the file with O_EXCL and tries another name if it exists. */
static int temp_name(const char *path, char *out, size_t size, unsigned attempt)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	unsigned char rnd[6];
	uint64_t v = 0;
	int n;

	if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) == (ssize_t)sizeof rnd) {
		for (n = 0; n < 6; n++)
			v = v << 8 | rnd[n];
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec ^
		     (uint64_t)attempt << 40) & 0xffffffffffffu;
	}
	n = snprintf(out, size, "%.*s.%s.%012llx.tmp", (int)dirlen, path, base, (unsigned long long)v);
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* write_atomic(path, data, mode): temp file created with its final mode
 * (O_EXCL), write, fsync, rename over path, fsync the directory. */
static int l_write_atomic(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t n;
	const char *data = luaL_checklstring(L, 2, &n);
	mode_t mode = (mode_t)luaL_optinteger(L, 3, 0644) & 07777;
	char tmp[PATH_MAX];
	unsigned attempt;
	int fd, err;

	for (attempt = 0;; attempt++) {
		if ((err = temp_name(path, tmp, sizeof tmp, attempt)) != 0)
			return fail_errno(L, path, err);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0)
			break;
		if (errno != EEXIST || attempt == 99)
			return fail_errno(L, path, errno);
	}
	/* The umask may have narrowed the mode; set exactly what Lua asked
	 * for (only ever widening from the created mode, never a window). */
	if (fchmod(fd, mode) != 0 || (err = write_all(fd, data, n)) != 0 ||
	    fsync(fd) != 0) {
		err = err ? err : errno;
		close(fd);
		unlink(tmp);
		return fail_errno(L, path, err);
	}
	if (close(fd) != 0) {
		err = errno;
		unlink(tmp);
		return fail_errno(L, path, err);
	}
	if (rename(tmp, path) != 0) {
		err = errno;
		unlink(tmp);
		return fail_errno(L, path, err);
	}
	if ((err = fsync_dir_of(path)) != 0)
		return fail_errno(L, path, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* flag(path, on) -> true | nil, err, errno: a flag kept as the size of a
 * file that is written in place, never replaced, so its inode (and any
 * lock on it) stays.  on: the file (created 0600 when missing) holds
 * "1\n", durably (fsync, and the directory's when it was created) before
 * this returns, so nothing written after it can outlive it on disk.  off:
 * the file is emptied, not durably (a lost "off" costs only one needless
 * look); a missing file stays missing. */
static int l_flag(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int on = lua_toboolean(L, 2);
	int created = 0, err = 0, fd;

	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if (!on) {
			lua_pushboolean(L, 1);
			return 1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = 1;
	}
	if (fd < 0)
		return fail_errno(L, path, errno);
	if (ftruncate(fd, 0) != 0)
		err = errno;
	else if (on && ((err = write_all(fd, "1\n", 2)) != 0 || fsync(fd) != 0))
		err = err ? err : errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && created)
		err = fsync_dir_of(path);
	if (err != 0)
		return fail_errno(L, path, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* read_file(path[, max]) -> data | nil, err
 * A regular file smaller than the stack buffer (renewal confs, PEM files:
 * what a no-op renew reads, two per lineage) takes one read() of its size
 * plus one byte: a short read is the end of the file, and a full one means
 * the file grew, so the loop below reads on.  Anything else (bigger files,
 * pipes, /proc files that report size 0) reads until end of file. */
static int l_read_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer max = luaL_optinteger(L, 2, 64 << 20);
	luaL_Buffer b;
	char small[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return fail_errno(L, path, errno);
	if (fstat(fd, &st) != 0) {
		int err = errno;
		close(fd);
		return fail_errno(L, path, err);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return fail_errno(L, path, EISDIR);
	}
	if (S_ISREG(st.st_mode) && st.st_size >= 0 && st.st_size < (off_t)sizeof small) {
		size_t want = (size_t)st.st_size + 1;
		ssize_t r;

		do
			r = read(fd, small, want);
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			int err = errno;
			close(fd);
			return fail_errno(L, path, err);
		}
		if ((lua_Integer)r > max) {
			close(fd);
			return cb_fail(L, "%s: larger than %d bytes", path, (int)max);
		}
		if ((size_t)r < want) {
			close(fd);
			lua_pushlstring(L, small, (size_t)r);
			return 1;
		}
		luaL_buffinit(L, &b);
		luaL_addlstring(&b, small, (size_t)r);
	} else {
		luaL_buffinit(L, &b);
	}
	for (;;) {
		char *p = luaL_prepbuffer(&b);
		ssize_t r = read(fd, p, LUAL_BUFFERSIZE);
		if (r < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			close(fd);
			return fail_errno(L, path, err);
		}
		if (r == 0)
			break;
		luaL_addsize(&b, (size_t)r);
		if ((lua_Integer)luaL_bufflen(&b) > max) {
			close(fd);
			return cb_fail(L, "%s: larger than %d bytes", path, (int)max);
		}
	}
	close(fd);
	luaL_pushresult(&b);
	return 1;
}

static int mkdir_exact(const char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0)
		return errno;
	/* Exactly the mode asked for, whatever the umask. */
	return chmod(path, mode) == 0 ? 0 : errno;
}

/* mkdir(path, mode[, parents]) -> true | nil, err, errno.  An existing
 * directory is not an error (true, "exists"); its mode is left alone.
 * With parents, missing parents are made too, each with mode. */
static int l_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755) & 07777;
	int parents = lua_toboolean(L, 3);
	struct stat st;
	int err;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		lua_pushboolean(L, 1);
		lua_pushliteral(L, "exists");
		return 2;
	}
	err = mkdir_exact(path, mode);
	if (err == ENOENT && parents) {
		char buf[PATH_MAX];
		size_t i, n = strlen(path);

		if (n >= sizeof buf)
			return fail_errno(L, path, ENAMETOOLONG);
		memcpy(buf, path, n + 1);
		for (i = 1; i < n; i++) {
			if (buf[i] != '/')
				continue;
			buf[i] = '\0';
			if (stat(buf, &st) != 0) {
				err = mkdir_exact(buf, mode);
				if (err != 0 && err != EEXIST)
					return fail_errno(L, buf, err);
			} else if (!S_ISDIR(st.st_mode)) {
				return fail_errno(L, buf, ENOTDIR);
			}
			buf[i] = '/';
		}
		err = mkdir_exact(path, mode);
	}
	if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		lua_pushboolean(L, 1);
		lua_pushliteral(L, "exists");
		return 2;
	}
	if (err != 0)
		return fail_errno(L, path, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* symlink_swap(target, linkpath): a new symlink under a temp name, renamed
 * over linkpath, so linkpath always names a link (never missing). */
static int l_symlink_swap(lua_State *L)
{
	const char *target = luaL_checkstring(L, 1);
	const char *link = luaL_checkstring(L, 2);
	char tmp[PATH_MAX];
	unsigned attempt;
	int err;

	for (attempt = 0;; attempt++) {
		if ((err = temp_name(link, tmp, sizeof tmp, attempt)) != 0)
			return fail_errno(L, link, err);
		if (symlink(target, tmp) == 0)
			break;
		if (errno != EEXIST || attempt == 99)
			return fail_errno(L, link, errno);
	}
	if (rename(tmp, link) != 0) {
		err = errno;
		unlink(tmp);
		return fail_errno(L, link, err);
	}
	if ((err = fsync_dir_of(link)) != 0)
		return fail_errno(L, link, err);
	lua_pushboolean(L, 1);
	return 1;
}

/* symlinks_swap({ {target, link}, ... }) -> true | nil, err, errno: up to
 * 8 links in one directory replaced together.  Every new link is made
 * first (as a temp name), then they are renamed into place back to back
 * and the directory is synced once: the moment in which some links name
 * the old targets and some the new is a few renames long, not a few
 * fsyncs (a web server's config test reading the pair then sees the
 * pair).  A failure before the renames changes nothing. */
#define SWAP_MAX 8
static int l_symlinks_swap(lua_State *L)
{
	char tmp[SWAP_MAX][PATH_MAX];
	const char *link[SWAP_MAX], *target[SWAP_MAX];
	int n, i, made = 0, err = 0;

	luaL_checktype(L, 1, LUA_TTABLE);
	n = (int)luaL_len(L, 1);
	luaL_argcheck(L, n >= 1 && n <= SWAP_MAX, 1, "1 to 8 links");
	/* every argument checked before anything is made; the strings stay
	 * referenced by the argument table */
	for (i = 0; i < n; i++) {
		lua_geti(L, 1, i + 1);
		luaL_argcheck(L, lua_istable(L, -1), 1, "{ target, link } pairs");
		lua_geti(L, -1, 1);
		lua_geti(L, -2, 2);
		luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING, 1,
			      "{ target, link } pairs of strings");
		target[i] = lua_tostring(L, -2);
		link[i] = lua_tostring(L, -1);
		lua_pop(L, 3);
	}
	for (i = 0; i < n; i++) {
		unsigned attempt;

		for (attempt = 0;; attempt++) {
			if ((err = temp_name(link[i], tmp[i], sizeof tmp[i], attempt)) != 0)
				break;
			if (symlink(target[i], tmp[i]) == 0)
				break;
			if (errno != EEXIST || attempt == 99) {
				err = errno;
				break;
			}
		}
		if (err != 0) {
			/* nothing renamed yet: take back the temp links made */
			while (made > 0)
				unlink(tmp[--made]);
			return fail_errno(L, link[i], err);
		}
		made++;
	}
	for (i = 0; i < n; i++) {
		if (rename(tmp[i], link[i]) != 0) {
			int j;

			err = errno;
			for (j = i; j < n; j++)
				unlink(tmp[j]);
			return fail_errno(L, link[i], err);
		}
	}
	if ((err = fsync_dir_of(link[n - 1])) != 0)
		return fail_errno(L, link[n - 1], err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	if (n < 0)
		return fail_errno(L, path, errno);
	lua_pushlstring(L, buf, (size_t)n);
	return 1;
}

static const char *type_name(mode_t m)
{
	if (S_ISREG(m)) return "file";
	if (S_ISDIR(m)) return "directory";
	if (S_ISLNK(m)) return "link";
	if (S_ISSOCK(m)) return "socket";
	if (S_ISFIFO(m)) return "fifo";
	return "other";
}

static int push_stat(lua_State *L, const char *path, int follow)
{
	struct stat st;

	if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
		return fail_errno(L, path, errno);
	lua_createtable(L, 0, 7);
	lua_pushstring(L, type_name(st.st_mode));
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, st.st_mode & 07777);
	lua_setfield(L, -2, "mode");
	lua_pushinteger(L, st.st_uid);
	lua_setfield(L, -2, "uid");
	lua_pushinteger(L, st.st_gid);
	lua_setfield(L, -2, "gid");
	lua_pushinteger(L, st.st_size);
	lua_setfield(L, -2, "size");
	lua_pushinteger(L, st.st_mtime);
	lua_setfield(L, -2, "mtime");
	lua_pushinteger(L, (lua_Integer)st.st_ino);
	lua_setfield(L, -2, "ino");
	return 1;
}

static int l_stat(lua_State *L) { return push_stat(L, luaL_checkstring(L, 1), 1); }
static int l_lstat(lua_State *L) { return push_stat(L, luaL_checkstring(L, 1), 0); }

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* listdir(path) -> sorted array of names, without "." and "..". */
static int l_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0, i;

	if (d == NULL)
		return fail_errno(L, path, errno);
	lua_newtable(L);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	{
		/* Sort in C: byte order, stable across locales. */
		const char **names = lua_newuserdatauv(L, sizeof(char *) * (size_t)(n + 1), 0);
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, -2, i + 1);
			names[i] = lua_tostring(L, -1);
			lua_pop(L, 1); /* still referenced by the table */
		}
		qsort(names, (size_t)n, sizeof *names, cmp_str);
		lua_createtable(L, n, 0);
		for (i = 0; i < n; i++) {
			lua_pushstring(L, names[i]);
			lua_rawseti(L, -2, i + 1);
		}
	}
	return 1;
}

static int l_unlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (unlink(path) != 0)
		return fail_errno(L, path, errno);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_rmdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (rmdir(path) != 0)
		return fail_errno(L, path, errno);
	lua_pushboolean(L, 1);
	return 1;
}

/* rename(from, to): then fsync the destination's directory. */
static int l_rename(lua_State *L)
{
	const char *from = luaL_checkstring(L, 1);
	const char *to = luaL_checkstring(L, 2);
	int err;

	if (rename(from, to) != 0)
		return fail_errno(L, to, errno);
	if ((err = fsync_dir_of(to)) != 0)
		return fail_errno(L, to, err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_chmod(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (chmod(path, (mode_t)luaL_checkinteger(L, 2) & 07777) != 0)
		return fail_errno(L, path, errno);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_chown(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	uid_t uid = (uid_t)luaL_optinteger(L, 2, -1);
	gid_t gid = (gid_t)luaL_optinteger(L, 3, -1);

	if (lchown(path, uid, gid) != 0)
		return fail_errno(L, path, errno);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_realpath(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char buf[PATH_MAX];

	if (realpath(path, buf) == NULL)
		return fail_errno(L, path, errno);
	lua_pushstring(L, buf);
	return 1;
}

/* ---- locks: POSIX fcntl locks, as Certbot takes them ---- */

typedef struct cb_lock {
	int fd;
} cb_lock;

/* lock(path) -> lock | nil, err, "busy"|errno.  Creates path (0600) if
 * needed and takes a non-blocking exclusive fcntl lock on it. */
static int l_lock(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	cb_lock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
	struct flock fl;

	lk->fd = -1;
	luaL_setmetatable(L, LOCK_MT);
	lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lk->fd < 0)
		return fail_errno(L, path, errno);
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(lk->fd, F_SETLK, &fl) != 0) {
		int err = errno;
		close(lk->fd);
		lk->fd = -1;
		if (err == EACCES || err == EAGAIN) {
			lua_pushnil(L);
			lua_pushfstring(L, "%s: held by another process", path);
			lua_pushliteral(L, "busy");
			return 3;
		}
		return fail_errno(L, path, err);
	}
	return 1;
}

static int lock_release(lua_State *L)
{
	cb_lock *lk = luaL_checkudata(L, 1, LOCK_MT);

	if (lk->fd >= 0) {
		close(lk->fd); /* closing drops the fcntl lock */
		lk->fd = -1;
	}
	return 0;
}

static const luaL_Reg lock_methods[] = {
	{ "unlock", lock_release },
	{ NULL, NULL }
};

static const luaL_Reg lock_meta[] = {
	{ "__gc", lock_release },
	{ "__close", lock_release },
	{ NULL, NULL }
};

/* ---- running hooks ---- */

/* Close every descriptor above 2 in the child: a hook sees only 0, 1, 2. */
/* close_range (Linux 5.9) first: the loop made every hook pay one close()
 * per allowed descriptor (20,000 here); the loop where it is missing. */
static void close_from_3(void)
{
	long max;
	int fd;

	if (close_range(3, ~0U, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = 3; fd < max; fd++)
		close(fd);
}

/* What a hook printed, kept up to a cap (a chatty child cannot exhaust us). */
struct obuf {
	char *p;
	size_t n;
};

#define OBUF_CAP (1u << 20)

static void obuf_add(struct obuf *b, const char *data, size_t n)
{
	char *np;

	if (b->n >= OBUF_CAP)
		return;
	if (n > OBUF_CAP - b->n)
		n = OBUF_CAP - b->n;
	np = realloc(b->p, b->n + n);
	if (np == NULL)
		return;
	memcpy(np + b->n, data, n);
	b->p = np;
	b->n += n;
}

/* run(argv, env[, opts]) -> code, stdout, stderr
 *                          | nil, "killed by signal N", stdout, stderr
 *                          | nil, err (could not start).
 * argv: array of strings (argv[1] is the program, looked up on PATH when it
 * has no slash).  env: array of "K=V" strings, the whole environment.
 * opts.capture (default true): collect stdout and stderr, else inherit.
 * opts.stdin: a string fed to the child's standard input.
 * A program that cannot be executed exits 127 with the reason on stderr. */
static int l_run(lua_State *L)
{
	int argc, envc, i, capture, status;
	const char **argv, **envp;
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
	const char *input = NULL;
	size_t input_len = 0, input_off = 0;
	pid_t pid;
	struct obuf bo = { NULL, 0 }, be = { NULL, 0 };

	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, 2, LUA_TTABLE);
	capture = 1;
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "capture");
		if (!lua_isnil(L, -1))
			capture = lua_toboolean(L, -1);
		lua_pop(L, 1);
		lua_getfield(L, 3, "stdin");
		if (lua_isstring(L, -1))
			input = lua_tolstring(L, -1, &input_len);
		lua_pop(L, 1);
	}
	argc = (int)luaL_len(L, 1);
	envc = (int)luaL_len(L, 2);
	luaL_argcheck(L, argc > 0, 1, "empty argv");
	argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
	envp = lua_newuserdatauv(L, sizeof(char *) * (size_t)(envc + 1), 0);
	for (i = 0; i < argc; i++) {
		lua_rawgeti(L, 1, i + 1);
		argv[i] = luaL_checkstring(L, -1);
		lua_pop(L, 1); /* the table keeps it alive */
	}
	argv[argc] = NULL;
	for (i = 0; i < envc; i++) {
		lua_rawgeti(L, 2, i + 1);
		envp[i] = luaL_checkstring(L, -1);
		lua_pop(L, 1);
	}
	envp[envc] = NULL;

	if (capture && (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0))
		goto pipe_fail;
	if (input && pipe2(in, O_CLOEXEC) != 0)
		goto pipe_fail;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		goto pipe_fail;
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (capture) {
			dup2(out[1], 1);
			dup2(err[1], 2);
		}
		if (input)
			dup2(in[0], 0);
		close_from_3();
		execvpe(argv[0], (char *const *)argv, (char *const *)envp);
		dprintf(2, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (capture) {
		close(out[1]);
		close(err[1]);
		out[1] = err[1] = -1;
	}
	if (input) {
		close(in[0]);
		in[0] = -1;
		if (input_len == 0) {
			close(in[1]);
			in[1] = -1;
		}
	}
	while (out[0] >= 0 || err[0] >= 0 || in[1] >= 0) {
		struct pollfd p[3];
		int np = 0, k;
		if (out[0] >= 0) { p[np].fd = out[0]; p[np].events = POLLIN; np++; }
		if (err[0] >= 0) { p[np].fd = err[0]; p[np].events = POLLIN; np++; }
		if (in[1] >= 0) { p[np].fd = in[1]; p[np].events = POLLOUT; np++; }
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			if (p[k].fd == in[1]) {
				ssize_t w = write(in[1], input + input_off, input_len - input_off);
				if (w > 0)
					input_off += (size_t)w;
				if (w < 0 || input_off >= input_len) {
					close(in[1]);
					in[1] = -1;
				}
			} else {
				int is_out = p[k].fd == out[0];
				struct obuf *b = is_out ? &bo : &be;
				char buf[4096];
				ssize_t r = read(p[k].fd, buf, sizeof buf);
				if (r > 0) {
					obuf_add(b, buf, (size_t)r);
				} else if (r == 0 || errno != EINTR) {
					close(p[k].fd);
					if (is_out) out[0] = -1; else err[0] = -1;
				}
			}
		}
	}
	for (i = 0; i < 2; i++) {
		if (out[i] >= 0) close(out[i]);
		if (err[i] >= 0) close(err[i]);
		if (in[i] >= 0) close(in[i]);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		lua_pushnil(L);
		lua_pushfstring(L, "killed by signal %d", WTERMSIG(status));
	} else {
		lua_pushinteger(L, WEXITSTATUS(status));
		lua_pushnil(L);
	}
	lua_pushlstring(L, bo.p ? bo.p : "", bo.n);
	lua_pushlstring(L, be.p ? be.p : "", be.n);
	free(bo.p);
	free(be.p);
	if (WIFSIGNALED(status))
		return 4; /* nil, msg, stdout, stderr */
	lua_remove(L, -3);
	return 3; /* code, stdout, stderr */

pipe_fail:
	{
		int e = errno;
		for (i = 0; i < 2; i++) {
			if (out[i] >= 0) close(out[i]);
			if (err[i] >= 0) close(err[i]);
			if (in[i] >= 0) close(in[i]);
		}
		return fail_errno(L, argv[0], e);
	}
}

/* environ() -> { "K=V", ... }: the process environment, for Lua to extend. */
static int l_environ(lua_State *L)
{
	extern char **environ;
	int i;

	lua_newtable(L);
	for (i = 0; environ && environ[i]; i++) {
		lua_pushstring(L, environ[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* setenv(name, value) / setenv(name, nil): change this process's own
 * environment (what popen'd children inherit).  Hooks get an explicit
 * environment from run() instead. */
static int l_setenv(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *value = luaL_optstring(L, 2, NULL);
	int rc = value ? setenv(name, value, 1) : unsetenv(name);

	if (rc != 0)
		return fail_errno(L, name, errno);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---- small things ---- */

static int l_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty((int)luaL_optinteger(L, 1, 0)));
	return 1;
}

/* time() -> seconds since the epoch, with fractions. */
static int l_time(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
	return 1;
}

/* monotonic() -> seconds on a clock that never jumps. */
static int l_monotonic(lua_State *L)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
	return 1;
}

static int l_sleep(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	struct timespec ts;

	if (!(s > 0)) /* also NaN */
		return 0;
	if (s > 31536000) /* a year: no UB converting a huge value */
		s = 31536000;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
	/* A signal ends the sleep early: SIGINT/SIGTERM then raise their
	 * error in Lua at once (csrc/main.c). */
	lua_pushboolean(L, nanosleep(&ts, NULL) == 0);
	return 1;
}

static int l_getuid(lua_State *L)
{
	lua_pushinteger(L, geteuid());
	return 1;
}

static int l_getpid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

/* umask(mask) -> previous mask */
static int l_umask(lua_State *L)
{
	lua_pushinteger(L, umask((mode_t)luaL_checkinteger(L, 1) & 0777));
	return 1;
}

static int l_strerror(lua_State *L)
{
	lua_pushstring(L, strerror((int)luaL_checkinteger(L, 1)));
	return 1;
}

/* ---- Reading renewal confs ---- */

/* conf_read(text, general) -> conf | false: a renewal conf (configobj
 * text) in confobj.parse's shape, { keys = { k = v }, order = { k, ... },
 * sections = { name = <the same shape> }, section_order = { name, ... } }.
 * It sits here because a no-op renew reads a conf per lineage: Lua took
 * ~65 k instructions a conf (~150 k with patterns), this takes ~15 k.
 *
 * Lines end at "\n" (a "\r" before it belongs to the line).  Empty lines
 * and lines starting with '#' are skipped.  Two shapes are read here:
 *   "key = value"  first and last character no blank, one blank either
 *                  side of the first '=', no '#', ',', '"' or "'" in the
 *                  line; value may be empty ("key = ");
 *   "[name]", "[[name]]"  name not empty, no bracket in it, no blank at
 *                  either end.
 * Any other line goes to general(line), confobj's reading of one line:
 * -> "skip" | "pair", key, value | "section", depth, name | nil, why.
 * false (confobj then reads the whole text in Lua, which gives the error
 * and its line number) for an error, a key or section given twice, a
 * [[subsection]] before any [section], deeper nesting, or more than
 * CONF_MAX_LINES lines or CONF_MAX_SECTIONS sections. */
#define CONF_MAX_LINES 512
#define CONF_MAX_SECTIONS 64

enum { CL_PAIR, CL_HEADER, CL_LUA_PAIR, CL_LUA_HEADER, CL_SKIP };

struct conf_line {
	size_t at, len, mid;	/* mid: the '=' (pairs) or the depth (headers) */
	int kind;
};

/* Where the next '#', ',', '"' or "'" lies at or after from (n: none). */
static size_t next_special(const char *s, size_t from, size_t n)
{
	static const char special[4] = { '#', ',', '"', '\'' };
	size_t best = n;
	int i;

	for (i = 0; i < 4; i++) {
		const char *p = memchr(s + from, special[i], best - from);
		if (p)
			best = (size_t)(p - s);
	}
	return best;
}

/* The line l[0..n) holds no '#', ',' or quote: is it "key = value"? */
static int plain_pair(const unsigned char *l, size_t n, size_t *eq_at)
{
	const unsigned char *e;
	size_t eq;

	if (l[0] <= 32 || l[0] == '[' || (e = memchr(l, '=', n)) == NULL)
		return 0;
	eq = (size_t)(e - l);
	if (eq < 2 || l[eq - 2] <= 32 || l[eq - 1] != ' ' || eq + 1 >= n || l[eq + 1] != ' ')
		return 0;
	if (eq + 2 < n && (l[eq + 2] <= 32 || l[n - 1] <= 32))
		return 0;
	*eq_at = eq;
	return 1;
}

static int plain_header(const unsigned char *l, size_t n, size_t *depth)
{
	size_t d = 0, i;

	while (d < n && l[d] == '[')
		d++;
	if (d == 0 || d > 2 || n < 2 * d + 1)
		return 0;
	for (i = 0; i < d; i++)
		if (l[n - 1 - i] != ']')
			return 0;
	for (i = d; i < n - d; i++)
		if (l[i] == '[' || l[i] == ']')
			return 0;
	if (l[d] <= 32 || l[n - d - 1] <= 32)
		return 0;
	*depth = d;
	return 1;
}

/* A section table with presized parts, on the stack. */
static void push_section(lua_State *L, int nkeys, int nsections)
{
	lua_createtable(L, 0, 4);
	lua_createtable(L, 0, nkeys);
	lua_setfield(L, -2, "keys");
	lua_createtable(L, nkeys, 0);
	lua_setfield(L, -2, "order");
	lua_createtable(L, 0, nsections);
	lua_setfield(L, -2, "sections");
	lua_createtable(L, nsections, 0);
	lua_setfield(L, -2, "section_order");
}

static int conf_false(lua_State *L)
{
	lua_pushboolean(L, 0);
	return 1;
}

static int l_conf_read(lua_State *L)
{
	size_t n, pos = 0, special = 0;
	const char *s = luaL_checklstring(L, 1, &n);
	const unsigned char *u = (const unsigned char *)s;
	struct conf_line lines[CONF_MAX_LINES];
	int keys[CONF_MAX_SECTIONS + 1] = { 0 }, subs[CONF_MAX_SECTIONS + 1] = { 0 };
	int nl = 0, sec = 0, top = -1, tmp, i, root, ks, os, topslot, norder;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_settop(L, 2);
	lua_newtable(L);	/* what general() gave, by line */
	tmp = lua_gettop(L);
	special = next_special(s, 0, n);
	/* First pass: what each line is, and how many keys and subsections
	 * each section gets. */
	while (pos < n) {
		const char *nlp = memchr(s + pos, '\n', n - pos);
		size_t eol = nlp ? (size_t)(nlp - s) : n, len = eol - pos, mid = 0;
		struct conf_line *c = &lines[nl];

		if (len == 0 || s[pos] == '#') {
			pos = eol + 1;
			continue;
		}
		if (nl == CONF_MAX_LINES)
			return conf_false(L);
		c->at = pos;
		c->len = len;
		if (special < pos)
			special = next_special(s, pos, n);
		if (special >= eol && plain_pair(u + pos, len, &mid)) {
			c->kind = CL_PAIR;
		} else if (plain_header(u + pos, len, &mid)) {
			c->kind = CL_HEADER;
		} else {
			const char *kind;

			lua_pushvalue(L, 2);
			lua_pushlstring(L, s + pos, len);
			lua_call(L, 1, 3);
			kind = lua_tostring(L, -3);
			if (kind && strcmp(kind, "skip") == 0) {
				c->kind = CL_SKIP;
			} else if (kind && strcmp(kind, "pair") == 0 && lua_type(L, -2) == LUA_TSTRING) {
				c->kind = CL_LUA_PAIR;
				lua_rawseti(L, tmp, 2 * nl + 2);
				lua_rawseti(L, tmp, 2 * nl + 1);
			} else if (kind && strcmp(kind, "section") == 0 && lua_isinteger(L, -2) &&
				   (lua_tointeger(L, -2) == 1 || lua_tointeger(L, -2) == 2)) {
				c->kind = CL_LUA_HEADER;
				mid = (size_t)lua_tointeger(L, -2);
				lua_rawseti(L, tmp, 2 * nl + 2);
			} else {
				return conf_false(L);
			}
			lua_settop(L, tmp);
		}
		c->mid = mid;
		if (c->kind == CL_PAIR || c->kind == CL_LUA_PAIR) {
			keys[sec]++;
		} else if (c->kind != CL_SKIP) {
			if (sec == CONF_MAX_SECTIONS)
				return conf_false(L);
			sec++;
			if (mid == 1) {
				subs[0]++;
				top = sec;
			} else if (top < 0) {
				return conf_false(L);	/* [[sub]] with no [section] */
			} else {
				subs[top]++;
			}
		}
		nl++;
		pos = eol + 1;
	}
	/* Second pass: the tables. */
	push_section(L, keys[0], subs[0]);
	root = lua_gettop(L);
	lua_pushnil(L);		/* the current [section] */
	topslot = root + 1;
	lua_getfield(L, root, "keys");
	ks = root + 2;
	lua_getfield(L, root, "order");
	os = root + 3;
	norder = 0;
	for (i = 0, sec = 0; i < nl; i++) {
		const struct conf_line *c = &lines[i];

		switch (c->kind) {
		case CL_PAIR:
		case CL_LUA_PAIR:
			if (c->kind == CL_PAIR)
				lua_pushlstring(L, s + c->at, c->mid - 1);
			else
				lua_rawgeti(L, tmp, 2 * i + 1);
			lua_pushvalue(L, -1);
			if (lua_rawget(L, ks) != LUA_TNIL)
				return conf_false(L);	/* given twice */
			lua_pop(L, 1);
			lua_pushvalue(L, -1);
			if (c->kind == CL_PAIR)
				lua_pushlstring(L, s + c->at + c->mid + 2, c->len - c->mid - 2);
			else
				lua_rawgeti(L, tmp, 2 * i + 2);
			lua_rawset(L, ks);
			lua_rawseti(L, os, ++norder);
			break;
		case CL_HEADER:
		case CL_LUA_HEADER: {
			int parent = c->mid == 1 ? root : topslot, ps, ns;

			sec++;
			if (c->kind == CL_HEADER)
				lua_pushlstring(L, s + c->at + c->mid, c->len - 2 * c->mid);
			else
				lua_rawgeti(L, tmp, 2 * i + 2);
			lua_getfield(L, parent, "sections");
			ps = lua_gettop(L);
			lua_pushvalue(L, -2);
			if (lua_rawget(L, ps) != LUA_TNIL)
				return conf_false(L);	/* given twice */
			lua_pop(L, 1);
			push_section(L, keys[sec], subs[sec]);
			ns = lua_gettop(L);
			lua_pushvalue(L, ps - 1);
			lua_pushvalue(L, ns);
			lua_rawset(L, ps);
			lua_getfield(L, parent, "section_order");
			lua_pushvalue(L, ps - 1);
			lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
			lua_pop(L, 1);
			if (c->mid == 1) {
				lua_pushvalue(L, ns);
				lua_replace(L, topslot);
			}
			lua_getfield(L, ns, "keys");
			lua_replace(L, ks);
			lua_getfield(L, ns, "order");
			lua_replace(L, os);
			norder = 0;
			lua_settop(L, os);
			break;
		}
		default:
			break;
		}
	}
	lua_settop(L, root);
	return 1;
}

static const luaL_Reg sys_funcs[] = {
	{ "write_atomic", l_write_atomic },
	{ "flag", l_flag },
	{ "read_file", l_read_file },
	{ "conf_read", l_conf_read },
	{ "mkdir", l_mkdir },
	{ "symlink_swap", l_symlink_swap },
	{ "symlinks_swap", l_symlinks_swap },
	{ "readlink", l_readlink },
	{ "stat", l_stat },
	{ "lstat", l_lstat },
	{ "listdir", l_listdir },
	{ "unlink", l_unlink },
	{ "rmdir", l_rmdir },
	{ "rename", l_rename },
	{ "chmod", l_chmod },
	{ "chown", l_chown },
	{ "realpath", l_realpath },
	{ "lock", l_lock },
	{ "run", l_run },
	{ "environ", l_environ },
	{ "setenv", l_setenv },
	{ "isatty", l_isatty },
	{ "time", l_time },
	{ "monotonic", l_monotonic },
	{ "sleep", l_sleep },
	{ "getuid", l_getuid },
	{ "getpid", l_getpid },
	{ "umask", l_umask },
	{ "strerror", l_strerror },
	{ NULL, NULL }
};

int cb_open_sys(lua_State *L)
{
	if (luaL_newmetatable(L, LOCK_MT)) {
		luaL_setfuncs(L, lock_meta, 0);
		luaL_newlib(L, lock_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, sys_funcs);
	return 1;
}
