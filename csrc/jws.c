/*
 * jws.c: JWK (RFC 7517/7518), RFC 7638 thumbprint, and the signatures of a
 * flattened JWS: RS256, ES256/384/512 (raw r||s), HS256/384/512.
 *
 * The JSON of a JWS is composed in Lua; here we turn keys into JWK members
 * and sign bytes.  Account keys round-trip through Certbot's
 * private_key.json (private_jwk / key_from_jwk).
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core.h"

static void free_bn(void *p) { BN_clear_free(p); }
static void free_bn_ctx(void *p) { BN_CTX_free(p); }
static void free_md_ctx(void *p) { EVP_MD_CTX_free(p); }
static void free_pkey_ctx(void *p) { EVP_PKEY_CTX_free(p); }
static void free_bld(void *p) { OSSL_PARAM_BLD_free(p); }
static void free_params(void *p) { OSSL_PARAM_free(p); }
static void free_sig(void *p) { ECDSA_SIG_free(p); }

/* Coordinate / scalar length of a NIST curve. */
static int field_len(int ec_bits)
{
	return (ec_bits + 7) / 8;
}

/* The key's kind, raising for keys we never hold. */
static int kind_of(lua_State *L, int idx, const cb_key *k, int *ec_bits)
{
	int kind = cb_pkey_kind(k->pkey, ec_bits);

	if (kind == 0) {
		char buf[96];
		luaL_argerror(L, idx, lua_pushfstring(L, "unsupported %s",
						      cb_key_describe(k, buf, sizeof buf)));
	}
	return kind;
}

/* Pushes base64url of a key's BIGNUM parameter (left-padded to padlen
 * bytes when padlen > 0, else minimal).  0 when the key lacks it. */
static int push_param(lua_State *L, const EVP_PKEY *pkey, const char *name, int padlen)
{
	void **slot = cb_box_new(L, free_bn);
	BIGNUM *bn = NULL;
	unsigned char *buf;
	int n;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
		ERR_clear_error();
		lua_pop(L, 1);
		return 0;
	}
	*slot = bn;
	n = padlen > 0 ? padlen : BN_num_bytes(bn);
	if (BN_num_bytes(bn) > n) {
		lua_pop(L, 1);
		return 0;
	}
	buf = lua_newuserdatauv(L, n > 0 ? (size_t)n : 1, 0);
	if (BN_bn2binpad(bn, buf, n) != n) {
		lua_pop(L, 2);
		return 0;
	}
	cb_push_b64url(L, buf, (size_t)n);
	OPENSSL_cleanse(buf, (size_t)n);
	cb_box_free(slot);
	lua_replace(L, -3);	/* [box, buf, string] -> [string] */
	lua_pop(L, 1);
	return 1;
}

/* Sets field of the table on top to the parameter; raises if missing
 * (a key we hold always has its public parameters). */
static void set_param(lua_State *L, const EVP_PKEY *pkey, const char *field, const char *name,
		      int padlen, int required)
{
	if (push_param(L, pkey, name, padlen))
		lua_setfield(L, -2, field);
	else if (required)
		luaL_error(L, "key has no %s parameter", field);
}

/* Pushes the public JWK of the key at idx as a table. */
static void push_jwk(lua_State *L, int idx, const cb_key *k, int *kind, int *ec_bits)
{
	*kind = kind_of(L, idx, k, ec_bits);
	lua_createtable(L, 0, 4);
	if (*kind == CB_RSA) {
		lua_pushliteral(L, "RSA");
		lua_setfield(L, -2, "kty");
		set_param(L, k->pkey, "n", OSSL_PKEY_PARAM_RSA_N, 0, 1);
		set_param(L, k->pkey, "e", OSSL_PKEY_PARAM_RSA_E, 0, 1);
	} else {
		lua_pushliteral(L, "EC");
		lua_setfield(L, -2, "kty");
		lua_pushstring(L, cb_curve_name(*ec_bits));
		lua_setfield(L, -2, "crv");
		set_param(L, k->pkey, "x", OSSL_PKEY_PARAM_EC_PUB_X, field_len(*ec_bits), 1);
		set_param(L, k->pkey, "y", OSSL_PKEY_PARAM_EC_PUB_Y, field_len(*ec_bits), 1);
	}
}

/* jwk(key) -> { kty = "RSA", n, e } | { kty = "EC", crv, x, y } */
static int l_jwk(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	int kind, bits;

	push_jwk(L, 1, k, &kind, &bits);
	return 1;
}

/* thumbprint(key) -> base64url(SHA-256(canonical JWK)), RFC 7638 §3 */
static int l_thumbprint(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	int kind, bits;
	size_t n;
	const char *json;
	unsigned char md[32];
	unsigned int mdlen = 0;

	push_jwk(L, 1, k, &kind, &bits);
	if (kind == CB_RSA) {
		lua_getfield(L, -1, "e");
		lua_getfield(L, -2, "n");
		json = lua_pushfstring(L, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
				       lua_tostring(L, -2), lua_tostring(L, -1));
	} else {
		lua_getfield(L, -1, "crv");
		lua_getfield(L, -2, "x");
		lua_getfield(L, -3, "y");
		json = lua_pushfstring(L, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
				       lua_tostring(L, -3), lua_tostring(L, -2), lua_tostring(L, -1));
	}
	n = strlen(json);
	if (!EVP_Digest(json, n, md, &mdlen, EVP_sha256(), NULL))
		return cb_ossl_fail(L, "thumbprint");
	cb_push_b64url(L, md, mdlen);
	return 1;
}

/* private_jwk(key) -> Certbot's private_key.json members */
static int l_private_jwk(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 1);
	int kind, bits;

	push_jwk(L, 1, k, &kind, &bits);
	if (kind == CB_RSA) {
		set_param(L, k->pkey, "d", OSSL_PKEY_PARAM_RSA_D, 0, 1);
		/* A key made from n, e, d alone has no CRT members. */
		if (push_param(L, k->pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0)) {
			lua_setfield(L, -2, "p");
			set_param(L, k->pkey, "q", OSSL_PKEY_PARAM_RSA_FACTOR2, 0, 1);
			set_param(L, k->pkey, "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1, 0, 1);
			set_param(L, k->pkey, "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2, 0, 1);
			set_param(L, k->pkey, "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0, 1);
		}
	} else {
		set_param(L, k->pkey, "d", OSSL_PKEY_PARAM_PRIV_KEY, field_len(bits), 1);
	}
	return 1;
}

/* ---- key_from_jwk ---- */

/* Member `name` of the table at 1, base64url-decoded into a buffer left on
 * the stack.  NULL with *err pushed (nil, msg) when it is bad; NULL with
 * *err == 0 when it is absent and not required. */
static const unsigned char *member(lua_State *L, const char *name, int required, size_t *len,
				   int *err)
{
	size_t n;
	const char *s, *why;
	unsigned char *out;

	*err = 0;
	lua_getfield(L, 1, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		if (required) {
			cb_fail(L, "key_from_jwk: missing member '%s'", name);
			*err = 1;
		}
		return NULL;
	}
	if (lua_type(L, -1) != LUA_TSTRING) {
		cb_fail(L, "key_from_jwk: member '%s' is not a string", name);
		*err = 1;
		return NULL;
	}
	s = lua_tolstring(L, -1, &n);
	out = lua_newuserdatauv(L, cb_b64url_decoded_len(n) + 1, 0);
	why = cb_b64url_decode(s, n, out, len);
	lua_remove(L, -2);	/* the string; the buffer stays */
	if (why != NULL) {
		cb_fail(L, "key_from_jwk: member '%s': %s", name, why);
		*err = 1;
		return NULL;
	}
	if (*len == 0) {
		cb_fail(L, "key_from_jwk: member '%s' is empty", name);
		*err = 1;
		return NULL;
	}
	return out;
}

/* Push a BIGNUM made from bytes onto bld (the BIGNUM is boxed: the builder
 * keeps a pointer to it until OSSL_PARAM_BLD_to_param). */
static BIGNUM *bld_bn(lua_State *L, OSSL_PARAM_BLD *bld, const char *key,
		      const unsigned char *b, size_t n)
{
	void **slot = cb_box_new(L, free_bn);
	BIGNUM *bn = BN_bin2bn(b, (int)n, NULL);

	*slot = bn;
	return bn && OSSL_PARAM_BLD_push_BN(bld, key, bn) ? bn : NULL;
}

/* n == p * q: the one relation the test signature cannot see (OpenSSL
 * falls back to d when the CRT parts give a wrong result). */
static int n_is_pq(lua_State *L, const BIGNUM *n, const BIGNUM *p, const BIGNUM *q)
{
	void **slot = cb_box_new(L, free_bn_ctx);
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *pq;

	*slot = ctx;
	if (ctx == NULL)
		return 0;
	BN_CTX_start(ctx);
	pq = BN_CTX_get(ctx);
	return pq && BN_mul(pq, p, q, ctx) && BN_cmp(pq, n) == 0;
}

static EVP_MD_CTX *new_md_ctx(lua_State *L);

static const struct {
	const char *jwk, *param;
} rsa_members[] = {
	{ "n", OSSL_PKEY_PARAM_RSA_N },
	{ "e", OSSL_PKEY_PARAM_RSA_E },
	{ "d", OSSL_PKEY_PARAM_RSA_D },
	{ "p", OSSL_PKEY_PARAM_RSA_FACTOR1 },
	{ "q", OSSL_PKEY_PARAM_RSA_FACTOR2 },
	{ "dp", OSSL_PKEY_PARAM_RSA_EXPONENT1 },
	{ "dq", OSSL_PKEY_PARAM_RSA_EXPONENT2 },
	{ "qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
};

static int rsa_params(lua_State *L, OSSL_PARAM_BLD *bld, int *is_private)
{
	const unsigned char *v[8];
	BIGNUM *bn[8] = { NULL };
	size_t len[8], i;
	int err, crt = 0;

	for (i = 0; i < 8; i++) {
		v[i] = member(L, rsa_members[i].jwk, i < 2, &len[i], &err);
		if (err)
			return 0;
		if (i >= 3 && v[i])
			crt++;
	}
	if (crt != 0 && (crt != 5 || v[2] == NULL)) {
		for (i = 2; i < 8; i++)
			if (v[i] == NULL)
				return cb_fail(L, "key_from_jwk: RSA private key lacks member '%s'",
					       rsa_members[i].jwk), 0;
	}
	for (i = 0; i < 8; i++)
		if (v[i] && (bn[i] = bld_bn(L, bld, rsa_members[i].param, v[i], len[i])) == NULL)
			return cb_ossl_fail(L, "key_from_jwk"), 0;
	/* What no real key has, and nothing downstream checks for a public
	 * key: an even or tiny modulus, an exponent of 0, 1, even or >= n
	 * (e = 0 even encodes as an empty member, so jwk() of such a key
	 * would not read back).  16384 bits is OpenSSL's limit for using it. */
	if (!BN_is_odd(bn[0]) || BN_num_bits(bn[0]) < 1024 || BN_num_bits(bn[0]) > 16384)
		return cb_fail(L, "key_from_jwk: member 'n' is not an odd modulus of 1024 to 16384 bits"), 0;
	if (!BN_is_odd(bn[1]) || BN_is_one(bn[1]) || BN_cmp(bn[1], bn[0]) >= 0)
		return cb_fail(L, "key_from_jwk: member 'e' is not an odd exponent between 1 and n"), 0;
	if (crt && !n_is_pq(L, bn[0], bn[3], bn[4]))
		return cb_fail(L, "key_from_jwk: the RSA key's members do not form a valid key"), 0;
	*is_private = v[2] != NULL;
	return 1;
}

static int ec_params(lua_State *L, OSSL_PARAM_BLD *bld, int *is_private, const char **type)
{
	const char *crv;
	int bits, fl, err;
	const unsigned char *x, *y, *d;
	size_t xl, yl, dl;
	unsigned char *pub;

	lua_getfield(L, 1, "crv");
	crv = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	if (crv == NULL)
		return cb_fail(L, "key_from_jwk: missing member 'crv'"), 0;
	if (strcmp(crv, "P-256") == 0)
		bits = 256;
	else if (strcmp(crv, "P-384") == 0)
		bits = 384;
	else if (strcmp(crv, "P-521") == 0)
		bits = 521;
	else
		return cb_fail(L, "key_from_jwk: member 'crv': unsupported curve '%s'", crv), 0;
	fl = field_len(bits);
	if ((x = member(L, "x", 1, &xl, &err)) == NULL ||
	    (y = member(L, "y", 1, &yl, &err)) == NULL)
		return 0;
	d = member(L, "d", 0, &dl, &err);
	if (err)
		return 0;
	if (xl > (size_t)fl)
		return cb_fail(L, "key_from_jwk: member 'x' is longer than %d bytes", fl), 0;
	if (yl > (size_t)fl)
		return cb_fail(L, "key_from_jwk: member 'y' is longer than %d bytes", fl), 0;
	if (d && dl > (size_t)fl)
		return cb_fail(L, "key_from_jwk: member 'd' is longer than %d bytes", fl), 0;
	/* Uncompressed point 04 || x || y, each left-padded. */
	pub = lua_newuserdatauv(L, 1 + 2 * (size_t)fl, 0);
	memset(pub, 0, 1 + 2 * (size_t)fl);
	pub[0] = 0x04;
	memcpy(pub + 1 + fl - xl, x, xl);
	memcpy(pub + 1 + 2 * fl - yl, y, yl);
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, crv, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * (size_t)fl) ||
	    (d && !bld_bn(L, bld, OSSL_PKEY_PARAM_PRIV_KEY, d, dl)))
		return cb_ossl_fail(L, "key_from_jwk"), 0;
	*is_private = d != NULL;
	*type = "EC";
	return 1;
}

/* Do the members agree?  EC: the point is on the curve and d * G is it
 * (cheap).  RSA: OpenSSL's pairwise check tests p and q for primality,
 * 55 ms for 2048 bits and 340 ms for 4096, too slow for every run that
 * loads an account key; a test signature proves what matters, that the
 * private part signs for the public one, in about a millisecond.
 * Leaves temporaries on the stack. */
static int consistent(lua_State *L, const cb_key *k, const char *type)
{
	static const unsigned char msg[] = "certbot key_from_jwk self-test";
	EVP_PKEY_CTX *pctx;
	EVP_MD_CTX *ctx;
	unsigned char *sig;
	size_t siglen = 0;
	void **slot;

	if (strcmp(type, "EC") == 0) {
		slot = cb_box_new(L, free_pkey_ctx);
		*slot = pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
		return pctx && EVP_PKEY_public_check(pctx) == 1 &&
		       (!k->is_private || EVP_PKEY_pairwise_check(pctx) == 1);
	}
	if (!k->is_private)
		return 1;
	ctx = new_md_ctx(L);
	if (ctx == NULL || EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, msg, sizeof msg) != 1)
		return 0;
	sig = lua_newuserdatauv(L, siglen, 0);
	if (EVP_DigestSign(ctx, sig, &siglen, msg, sizeof msg) != 1)
		return 0;
	ctx = new_md_ctx(L);
	return ctx && EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, NULL) == 1 &&
	       EVP_DigestVerify(ctx, sig, siglen, msg, sizeof msg) == 1;
}

/* key_from_jwk(tbl) -> key | nil, err: public or private JWK (RSA, EC). */
static int l_key_from_jwk(lua_State *L)
{
	const char *kty, *type = "RSA";
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	void **slot;
	cb_key *k;
	int is_private = 0, ok, key_idx;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_checkstack(L, 48, NULL);
	lua_getfield(L, 1, "kty");
	kty = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	if (kty == NULL)
		return cb_fail(L, "key_from_jwk: missing member 'kty'");
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)
		return cb_fail(L, "key_from_jwk: member 'kty': unsupported key type '%s'", kty);
	slot = cb_box_new(L, free_bld);
	*slot = bld = OSSL_PARAM_BLD_new();
	if (bld == NULL)
		return cb_ossl_fail(L, "key_from_jwk");
	ok = strcmp(kty, "RSA") == 0 ? rsa_params(L, bld, &is_private)
				     : ec_params(L, bld, &is_private, &type);
	if (!ok)
		return 2;
	slot = cb_box_new(L, free_params);
	*slot = params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL)
		return cb_ossl_fail(L, "key_from_jwk");
	slot = cb_box_new(L, free_pkey_ctx);
	*slot = ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	k = cb_newkey(L);
	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k->pkey, is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) <= 0)
		return cb_ossl_fail(L, "key_from_jwk");
	k->is_private = is_private;
	key_idx = lua_gettop(L);
	if (!consistent(L, k, type)) {
		ERR_clear_error();
		return cb_fail(L, "key_from_jwk: the %s key's members do not form a valid key", kty);
	}
	ERR_clear_error();
	lua_pushvalue(L, key_idx);
	return 1;
}

/* ---- signatures ---- */

typedef struct jws_alg {
	const char *name;
	int kind, ec_bits;
	const char *md;
} jws_alg;

static const jws_alg algs[] = {
	{ "RS256", CB_RSA, 0, "SHA256" },
	{ "ES256", CB_EC, 256, "SHA256" },
	{ "ES384", CB_EC, 384, "SHA384" },
	{ "ES512", CB_EC, 521, "SHA512" },
};

/* The alg named at arg idx, checked against the key at arg 1: misuse
 * (an alg that does not fit the key) raises, STYLE.md item 3. */
static const jws_alg *check_alg(lua_State *L, int idx, const cb_key *k, int want_private)
{
	const char *name = luaL_checkstring(L, idx);
	const jws_alg *a = NULL;
	int bits, kind;
	size_t i;

	for (i = 0; i < sizeof algs / sizeof algs[0]; i++)
		if (strcmp(algs[i].name, name) == 0)
			a = &algs[i];
	if (a == NULL)
		luaL_argerror(L, idx, lua_pushfstring(L, "unknown JWS alg '%s' (RS256, ES256, ES384, ES512)", name));
	kind = cb_pkey_kind(k->pkey, &bits);
	if (kind != a->kind || bits != a->ec_bits || (want_private && !k->is_private)) {
		char buf[96];
		const char *need = a->kind == CB_RSA ? "an RSA" : a->ec_bits == 256 ? "an EC P-256"
			: a->ec_bits == 384 ? "an EC P-384" : "an EC P-521";
		luaL_argerror(L, 1, lua_pushfstring(L, "%s needs %s%s key, got %s", a->name, need,
						    want_private ? " private" : "",
						    cb_key_describe(k, buf, sizeof buf)));
	}
	return a;
}

/* alg(key) -> "RS256" | "ES256" | "ES384" | "ES512" */
static int l_alg(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	int bits, kind = kind_of(L, 1, k, &bits);

	lua_pushstring(L, kind == CB_RSA ? "RS256" : bits == 256 ? "ES256" : bits == 384 ? "ES384" : "ES512");
	return 1;
}

static EVP_MD_CTX *new_md_ctx(lua_State *L)
{
	void **slot = cb_box_new(L, free_md_ctx);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	*slot = ctx;
	return ctx;
}

/* sign(key, alg, signing_input) -> raw signature bytes */
static int l_sign(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	const jws_alg *a = check_alg(L, 2, k, 1);
	size_t n, siglen = 0;
	const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 3, &n);
	const unsigned char *p;
	unsigned char *sig, *out;
	EVP_MD_CTX *ctx = new_md_ctx(L);
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	void **slot;
	int fl;

	if (ctx == NULL || EVP_DigestSignInit_ex(ctx, NULL, a->md, NULL, NULL, k->pkey, NULL) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, in, n) != 1)
		return cb_ossl_fail(L, "sign");
	sig = lua_newuserdatauv(L, siglen, 0);
	if (EVP_DigestSign(ctx, sig, &siglen, in, n) != 1)
		return cb_ossl_fail(L, "sign");
	if (a->kind == CB_RSA) {
		lua_pushlstring(L, (const char *)sig, siglen);
		return 1;
	}
	/* ECDSA-Sig-Value (DER) -> r || s, each field_len bytes (RFC 7518 §3.4). */
	slot = cb_box_new(L, free_sig);
	p = sig;
	*slot = es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
	if (es == NULL)
		return cb_ossl_fail(L, "sign");
	ECDSA_SIG_get0(es, &r, &s);
	fl = field_len(a->ec_bits);
	out = lua_newuserdatauv(L, 2 * (size_t)fl, 0);
	if (BN_bn2binpad(r, out, fl) != fl || BN_bn2binpad(s, out + fl, fl) != fl)
		return cb_fail(L, "sign: ECDSA signature out of range");
	lua_pushlstring(L, (const char *)out, 2 * (size_t)fl);
	return 1;
}

/* verify(key, alg, signing_input, signature) -> bool */
static int l_verify(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	const jws_alg *a = check_alg(L, 2, k, 0);
	size_t n, sn;
	const unsigned char *in = (const unsigned char *)luaL_checklstring(L, 3, &n);
	const unsigned char *sig = (const unsigned char *)luaL_checklstring(L, 4, &sn);
	unsigned char der[160], *p = der;
	EVP_MD_CTX *ctx;
	int ok;

	if (a->kind == CB_EC) {
		int fl = field_len(a->ec_bits), dl;
		void **slot;
		ECDSA_SIG *es;
		BIGNUM *r, *s;

		if (sn != 2 * (size_t)fl) {
			lua_pushboolean(L, 0);
			return 1;
		}
		slot = cb_box_new(L, free_sig);
		*slot = es = ECDSA_SIG_new();
		r = BN_bin2bn(sig, fl, NULL);
		s = BN_bin2bn(sig + fl, fl, NULL);
		if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			return cb_ossl_fail(L, "verify");
		}
		if ((dl = i2d_ECDSA_SIG(es, NULL)) <= 0 || (size_t)dl > sizeof der ||
		    i2d_ECDSA_SIG(es, &p) != dl)
			return cb_ossl_fail(L, "verify");
		sig = der;
		sn = (size_t)dl;
	}
	ctx = new_md_ctx(L);
	if (ctx == NULL || EVP_DigestVerifyInit_ex(ctx, NULL, a->md, NULL, NULL, k->pkey, NULL) != 1)
		return cb_ossl_fail(L, "verify");
	ok = EVP_DigestVerify(ctx, sig, sn, in, n);
	ERR_clear_error();
	lua_pushboolean(L, ok == 1);
	return 1;
}

/* hmac_sign("HS256"|"HS384"|"HS512", key_bytes, signing_input) -> raw MAC */
static int l_hmac_sign(lua_State *L)
{
	const char *alg = luaL_checkstring(L, 1);
	const EVP_MD *md = strcmp(alg, "HS256") == 0 ? EVP_sha256()
		: strcmp(alg, "HS384") == 0 ? EVP_sha384()
		: strcmp(alg, "HS512") == 0 ? EVP_sha512() : NULL;

	if (md == NULL)
		luaL_argerror(L, 1, lua_pushfstring(L, "unknown HMAC alg '%s' (HS256, HS384, HS512)", alg));
	return cb_push_hmac(L, md, 2, 3, "hmac_sign");
}

static const luaL_Reg jws_funcs[] = {
	{ "jwk", l_jwk },
	{ "thumbprint", l_thumbprint },
	{ "private_jwk", l_private_jwk },
	{ "key_from_jwk", l_key_from_jwk },
	{ "alg", l_alg },
	{ "sign", l_sign },
	{ "verify", l_verify },
	{ "hmac_sign", l_hmac_sign },
	{ NULL, NULL }
};

int cb_open_jws(lua_State *L)
{
	luaL_newlib(L, jws_funcs);
	return 1;
}
