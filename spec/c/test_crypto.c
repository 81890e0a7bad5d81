/* test_crypto.c: the crypto helpers jws.c shares, and the parsers fed
 * mutated and random input (run under ASan/UBSan by `make asan`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core.h"
#include "tap.h"

static void dec_ok(const char *in, const char *want)
{
	unsigned char out[64];
	size_t n = 0;
	const char *why = cb_b64url_decode(in, strlen(in), out, &n);

	ok(why == NULL && n == strlen(want) && memcmp(out, want, n) == 0 &&
	   cb_b64url_decoded_len(strlen(in)) == n,
	   "b64url_decode(\"%s\") = \"%s\"", in, want);
}

static void dec_bad(const char *in, const char *reason)
{
	unsigned char out[64];
	size_t n = 0;
	const char *why = cb_b64url_decode(in, strlen(in), out, &n);

	ok(why && strcmp(why, reason) == 0, "b64url_decode(\"%s\") refused: %s (got %s)",
	   in, reason, why ? why : "success");
}

static int freed;
static void count_free(void *p) { freed++; free(p); }

/* xorshift: deterministic garbage */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Calls core.crypto[fn] or core.jws[fn] with a string; a result or
 * (nil, string), never a raise. */
static int call_ok(lua_State *L, const char *sub, const char *fn, const char *s, size_t n)
{
	int ok_ = 0;

	lua_getglobal(L, "core");
	lua_getfield(L, -1, sub);
	lua_getfield(L, -1, fn);
	lua_pushlstring(L, s, n);
	if (lua_pcall(L, 1, 2, 0) == LUA_OK)
		ok_ = !lua_isnil(L, -2) || lua_type(L, -1) == LUA_TSTRING;
	lua_settop(L, 0);
	return ok_;
}

static const char *const parsers[] = {
	"cert_not_after", "cert_validity", "parse_cert", "ari_cert_id", "load_key", "read_csr",
	"pem_to_der", "split_pem", "b64url_decode",
};
#define NPARSERS (sizeof parsers / sizeof parsers[0])

int main(void)
{
	lua_State *L;
	void **slot;
	size_t i, n, bad;
	uint32_t seed = 0x9e3779b9u;
	const char *cert;
	char *buf, *orig;
	char descr[96];
	int bits;

	/* RFC 4648 §10 vectors without padding, and what strictness refuses. */
	dec_ok("", "");
	dec_ok("Zg", "f");
	dec_ok("Zm8", "fo");
	dec_ok("Zm9v", "foo");
	dec_ok("Zm9vYmE", "fooba");
	dec_ok("-__-", "\xfb\xff\xfe");
	dec_bad("Z", "impossible length");
	dec_bad("Zm9vY", "impossible length");
	dec_bad("Zg==", "padding is not allowed");
	dec_bad("Zh", "non-zero trailing bits");
	dec_bad("Zm9=", "padding is not allowed");
	dec_bad("Zm+v", "invalid character");
	dec_bad("Zm 9", "invalid character");

	L = luaL_newstate();
	luaL_openlibs(L);

	/* A box frees what it holds when collected, and only once. */
	slot = cb_box_new(L, count_free);
	*slot = malloc(8);
	cb_box_free(slot);
	ok(freed == 1 && *slot == NULL, "cb_box_free frees now and clears the slot");
	slot = cb_box_new(L, count_free);
	*slot = malloc(8);
	lua_settop(L, 0);
	lua_gc(L, LUA_GCCOLLECT);
	ok(freed == 2, "a box frees its object when collected (freed %d)", freed);

	luaL_requiref(L, "certbot.core", luaopen_certbot_core, 0);
	lua_setglobal(L, "core");

	/* Keys know what they are. */
	ok(luaL_dostring(L, "return core.crypto.generate_key('ec', 'P-384')") == LUA_OK,
	   "generate_key('ec', 'P-384')");
	{
		cb_key *k = cb_checkkey(L, -1, 1);
		ok(cb_pkey_kind(k->pkey, &bits) == CB_EC && bits == 384, "cb_pkey_kind: EC 384");
		cb_key_describe(k, descr, sizeof descr);
		ok(strcmp(descr, "EC P-384 private key") == 0, "cb_key_describe: %s", descr);
	}
	lua_settop(L, 0);
	ok(luaL_dostring(L, "return core.crypto.generate_key('rsa', 2048)") == LUA_OK,
	   "generate_key('rsa', 2048)");
	ok(cb_pkey_kind(cb_checkkey(L, -1, 1)->pkey, &bits) == CB_RSA && bits == 0, "cb_pkey_kind: RSA");
	lua_settop(L, 0);

	/* A certificate to mutate: PEM, CSR and key material too. */
	ok(luaL_dostring(L,
		"local c = core.crypto\n"
		"local k = c.generate_key('ec', 'P-256')\n"
		"local d = c.self_signed_cert(k, {{type='dns', value='fuzz.example'},"
		"  {type='ip', value='2001:db8::7'}}, {extensions = {{oid = '2.5.29.35',"
		"  der = '\\48\\22\\128\\20' .. string.rep('\\171', 20)}}})\n"
		"return d, c.der_to_pem(d, 'CERTIFICATE') .. k:pem() .. "
		"  c.der_to_pem(c.make_csr(k, {{type='dns', value='fuzz.example'}}), 'CERTIFICATE REQUEST')")
	   == LUA_OK && lua_type(L, 1) == LUA_TSTRING, "made a certificate to mutate");
	lua_pushvalue(L, 1);
	lua_setglobal(L, "fuzz_der");
	lua_pushvalue(L, 2);
	lua_setglobal(L, "fuzz_pem");
	lua_settop(L, 0);

	/* cert_validity reads the dates parse_cert (OpenSSL) reads, from PEM
	 * and from DER; a truncated DER has none. */
	ok(luaL_dostring(L,
		"local c = core.crypto\n"
		"local i = c.parse_cert(fuzz_der)\n"
		"local b, a = c.cert_validity(fuzz_der)\n"
		"local pb, pa = c.cert_validity(fuzz_pem)\n"
		"local t = c.cert_validity(fuzz_der:sub(1, -2))\n"
		"return b == i.not_before and a == i.not_after and pb == b and pa == a"
		"  and a == c.cert_not_after(fuzz_pem) and t == nil") == LUA_OK && lua_toboolean(L, -1),
	   "cert_validity agrees with parse_cert and cert_not_after");
	lua_settop(L, 0);

	/* Every truncation and every single-byte change of the DER and of the
	 * PEM text, and random bytes: each parser returns, never crashes. */
	for (i = 0, bad = 0; i < 2; i++) {
		size_t j, p;
		lua_getglobal(L, i == 0 ? "fuzz_der" : "fuzz_pem");
		cert = lua_tolstring(L, -1, &n);
		orig = malloc(n);
		memcpy(orig, cert, n);
		lua_pop(L, 1);
		buf = malloc(n);
		/* the PEM text is long: every third position is enough there */
		for (j = 0; j <= n; j += i == 0 ? 1 : 3) {
			for (p = 0; p < NPARSERS; p++) {
				memcpy(buf, orig, n);
				bad += !call_ok(L, "crypto", parsers[p], buf, j);	/* truncated */
				if (j < n) {
					buf[j] ^= (char)(1 + rnd(&seed) % 255);
					bad += !call_ok(L, "crypto", parsers[p], buf, n);	/* one byte changed */
				}
			}
		}
		free(buf);
		free(orig);
		ok(bad == 0, "%s: parsers survive truncation and byte changes (%zu misbehaved)",
		   i == 0 ? "DER" : "PEM", bad);
	}
	buf = malloc(4096);
	for (i = 0, bad = 0; i < 3000; i++) {
		size_t j, len = rnd(&seed) % 4096;
		for (j = 0; j < len; j++)
			buf[j] = (char)rnd(&seed);
		if (len > 0 && i % 3 == 0)
			buf[0] = 0x30;	/* look like DER */
		bad += !call_ok(L, "crypto", parsers[i % NPARSERS], buf, len);
	}
	free(buf);
	ok(bad == 0, "parsers survive random bytes (%zu misbehaved)", bad);

	lua_close(L);
	return done_testing();
}
