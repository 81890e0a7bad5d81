/*
 * ocsp.c: OCSP (RFC 6960) bytes for revocation checks: the responder URLs
 * a certificate names, a request for (certificate, issuer), and the
 * verification of a response against the issuer.  Lua decides when to
 * ask, whom, with what timeout, and what a failure means.
 *
 *   ocsp.has_url(cert)                 -> boolean
 *   ocsp.urls(cert)                    -> { url, ... } | nil, err
 *   ocsp.request(cert, issuer)         -> der | nil, err
 *   ocsp.check(der, cert, issuer[, {skew=, maxage=}])
 *       -> "good" | "revoked" | "unknown", revocation_time|nil, reason|nil
 *        | nil, err
 *
 * cert and issuer are PEM (the first CERTIFICATE block: the issuer may be
 * a whole chain.pem) or DER.  has_url is the hot one: `renew` asks it of
 * every lineage that is not due, so it looks for the id-ad-ocsp OID in the
 * decoded bytes and parses nothing.  Most certificates name no responder:
 * Let's Encrypt stopped putting OCSP URLs in its certificates in 2025.
 */
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core.h"

/* id-ad-ocsp (1.3.6.1.5.5.7.48.1) as a whole OBJECT IDENTIFIER TLV.  With
 * the tag and length, the OCSP no-check extension (…48.1.5) does not match. */
static const unsigned char ocsp_oid_tlv[10] = {
	0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01
};

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

/* Certificates larger than this are decoded into a Lua-owned buffer. */
#define STACK_DER 8192

static void free_x509(void *p) { X509_free(p); }
static void free_req(void *p) { OCSP_REQUEST_free(p); }
static void free_resp(void *p) { OCSP_RESPONSE_free(p); }
static void free_basic(void *p) { OCSP_BASICRESP_free(p); }
static void free_certid(void *p) { OCSP_CERTID_free(p); }
static void free_store(void *p) { X509_STORE_free(p); }
/* The stack only borrows its certificates: the boxes own them. */
static void free_sk(void *p) { sk_X509_free(p); }
static void free_strings(void *p) { X509_email_free(p); }

/* nil, "what: why" where why is OCSP_basic_verify's own verdict: the
 * reasons the OCSP library queued ("missing ocspsigning usage, root ca not
 * trusted", "certificate verify error (Verify error:unable to get local
 * issuer certificate)"), not the first error, a detail deep in EVP.
 * Clears the queue. */
static int verify_fail(lua_State *L, const char *what)
{
	unsigned long e, other = 0;
	const char *d;
	int flags, n = 0;
	luaL_Buffer b;

	luaL_buffinit(L, &b);
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
		const char *r = ERR_reason_error_string(e);

		if (ERR_GET_LIB(e) != ERR_LIB_OCSP || r == NULL) {
			other = e;
			continue;
		}
		if (n++ > 0)
			luaL_addstring(&b, ", ");
		luaL_addstring(&b, r);
		if ((flags & ERR_TXT_STRING) && d && *d) {
			luaL_addstring(&b, " (");
			luaL_addstring(&b, d);
			luaL_addchar(&b, ')');
		}
	}
	if (n == 0) {
		d = other ? ERR_reason_error_string(other) : NULL;
		luaL_addstring(&b, d ? d : "failed");
	}
	luaL_pushresult(&b);
	return cb_fail(L, "%s: %s", what, lua_tostring(L, -1));
}

/* ---- PEM -> DER ---- */

/* base64 character values: 0-63, or SKIP (whitespace), PAD ('='), BAD. */
enum { SKIP = 64, PAD = 65, BAD = 66 };
static const unsigned char b64[256] = {
	66, 66, 66, 66, 66, 66, 66, 66, 66, 64, 64, 66, 66, 64, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	64, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 62, 66, 66, 66, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 66, 66, 66, 65, 66, 66,
	66, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 66, 66, 66, 66, 66,
	66, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
	66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
};

/* Decode s[0..n) (base64 with whitespace, '=' padding at the end) into out,
 * which holds at least n / 4 * 3 + 3 bytes.  -1 if it is not base64.
 * Four characters at a time while they are all data (every full line);
 * one at a time around line ends.  This is the hot loop of has_url. */
static ptrdiff_t b64_decode(const char *s, size_t n, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	unsigned acc = 0;
	int bits = 0, pad = 0;
	size_t o = 0;

	while (p < end) {
		unsigned v;

		if (bits == 0 && end - p >= 4) {
			unsigned a = b64[p[0]], b = b64[p[1]], c = b64[p[2]], d = b64[p[3]];

			if ((a | b | c | d) < 64) {
				if (pad)
					return -1;
				out[o] = (unsigned char)(a << 2 | b >> 4);
				out[o + 1] = (unsigned char)(b << 4 | c >> 2);
				out[o + 2] = (unsigned char)(c << 6 | d);
				o += 3;
				p += 4;
				continue;
			}
		}
		v = b64[*p++];
		if (v == SKIP)
			continue;
		if (v == PAD) {
			pad++;
			continue;
		}
		if (v == BAD || pad)
			return -1;
		acc = (acc << 6 | v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2)
		return -1;
	return (ptrdiff_t)o;
}

/* The base64 body of the first CERTIFICATE block in s, up to the "-" of
 * its END line (checked), or NULL.  Base64 has no "-": the first one after
 * the BEGIN line is where the body ends. */
static const char *pem_body(const char *s, size_t n, size_t *len)
{
	const char *b = memmem(s, n, pem_begin, sizeof pem_begin - 1), *e;
	size_t rest;

	if (b == NULL)
		return NULL;
	b += sizeof pem_begin - 1;
	rest = n - (size_t)(b - s);
	e = memchr(b, '-', rest);
	if (e == NULL || rest - (size_t)(e - b) < sizeof pem_end - 1 ||
	    memcmp(e, pem_end, sizeof pem_end - 1) != 0)
		return NULL;
	*len = (size_t)(e - b);
	return b;
}

/* The DER of argument idx (PEM or DER).  Decoded bytes go to buf when they
 * fit, else to a userdata pushed on the stack.  NULL with *why set when
 * there is no certificate. */
static const unsigned char *arg_der(lua_State *L, int idx, unsigned char *buf, size_t cap,
				    size_t *len, const char **why)
{
	size_t n, bn = 0;
	const char *s = luaL_checklstring(L, idx, &n);
	const char *body = pem_body(s, n, &bn);
	unsigned char *out;
	ptrdiff_t got;

	if (body == NULL) {
		if (n > 0 && (unsigned char)s[0] == 0x30) {
			*len = n;
			return (const unsigned char *)s;
		}
		*why = n > 0 && memmem(s, n, "-----BEGIN", 10) ? "no CERTIFICATE block in the PEM"
								 : "neither PEM nor DER";
		return NULL;
	}
	out = bn / 4 * 3 + 3 <= cap ? buf : lua_newuserdatauv(L, bn / 4 * 3 + 3, 0);
	got = b64_decode(body, bn, out);
	if (got <= 0) {
		*why = "bad base64 in the PEM";
		return NULL;
	}
	*len = (size_t)got;
	return out;
}

/* A certificate from argument idx, boxed on the stack; NULL after pushing
 * nil, err. */
static X509 *arg_cert(lua_State *L, int idx, const char *what)
{
	unsigned char buf[STACK_DER];
	const char *why = NULL;
	size_t len = 0;
	const unsigned char *der = arg_der(L, idx, buf, sizeof buf, &len, &why), *p = der;
	void **slot;

	if (der == NULL) {
		cb_fail(L, "%s: %s", what, why);
		return NULL;
	}
	if (len > LONG_MAX) {
		cb_fail(L, "%s: too large", what);
		return NULL;
	}
	slot = cb_box_new(L, free_x509);
	*slot = d2i_X509(NULL, &p, (long)len);
	if (*slot == NULL) {
		cb_ossl_fail(L, what);
		return NULL;
	}
	if (p != der + len) {
		cb_fail(L, "%s: trailing data after the certificate", what);
		return NULL;
	}
	return *slot;
}

/* ---- functions ---- */

/* has_url(cert) -> boolean: false when the certificate surely names no
 * OCSP responder.  A scan, not a parse: true may be a false alarm (the
 * bytes inside some other field), and input it cannot read is true too,
 * so that the full path looks and reports. */
static int l_has_url(lua_State *L)
{
	unsigned char buf[STACK_DER];
	const char *why = NULL;
	size_t len = 0;
	const unsigned char *der = arg_der(L, 1, buf, sizeof buf, &len, &why);

	lua_pushboolean(L, der == NULL || memmem(der, len, ocsp_oid_tlv, sizeof ocsp_oid_tlv) != NULL);
	return 1;
}

/* urls(cert) -> the id-ad-ocsp URIs of its Authority Information Access,
 * in order (maybe none) | nil, err */
static int l_urls(lua_State *L)
{
	X509 *x = arg_cert(L, 1, "ocsp.urls: certificate");
	STACK_OF(OPENSSL_STRING) *sk;
	void **slot;
	int i, n;

	if (x == NULL)
		return 2;
	slot = cb_box_new(L, free_strings);
	*slot = sk = X509_get1_ocsp(x);
	n = sk ? sk_OPENSSL_STRING_num(sk) : 0;
	lua_createtable(L, n, 0);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, sk_OPENSSL_STRING_value(sk, i));
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* The CertID for (cert, issuer): SHA-1, which is what responders expect
 * (RFC 5019 §2.1.1).  The slot of its box on the stack; NULL after
 * pushing nil, err. */
static void **cert_id(lua_State *L, X509 *cert, X509 *issuer, const char *what)
{
	void **slot;

	if (X509_check_issued(issuer, cert) != X509_V_OK) {
		cb_fail(L, "%s: the issuer given did not issue the certificate", what);
		return NULL;
	}
	slot = cb_box_new(L, free_certid);
	*slot = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
	if (*slot == NULL) {
		cb_ossl_fail(L, what);
		return NULL;
	}
	return slot;
}

/* request(cert, issuer) -> DER of an OCSP request for one certificate,
 * without a nonce | nil, err */
static int l_request(lua_State *L)
{
	const char *what = "ocsp.request";
	X509 *cert = arg_cert(L, 1, "ocsp.request: certificate"), *issuer;
	OCSP_REQUEST *req;
	void **slot, **id;
	int ok;

	if (cert == NULL || (issuer = arg_cert(L, 2, "ocsp.request: issuer")) == NULL)
		return 2;
	if ((id = cert_id(L, cert, issuer, what)) == NULL)
		return 2;
	slot = cb_box_new(L, free_req);
	*slot = req = OCSP_REQUEST_new();
	if (req == NULL)
		return cb_ossl_fail(L, what);
	if (OCSP_request_add0_id(req, *id) == NULL)
		return cb_ossl_fail(L, what);
	*id = NULL; /* the request owns it now */
	{
		int n = i2d_OCSP_REQUEST(req, NULL);
		luaL_Buffer b;
		unsigned char *p;

		ok = 0;
		if (n > 0) {
			p = (unsigned char *)luaL_buffinitsize(L, &b, (size_t)n);
			n = i2d_OCSP_REQUEST(req, &p);
			if (n > 0) {
				luaL_pushresultsize(&b, (size_t)n);
				ok = 1;
			}
		}
	}
	if (!ok)
		return cb_ossl_fail(L, what);
	return 1;
}

/* Seconds since the epoch of a GeneralizedTime; 0 if it does not convert. */
static int gtime(const ASN1_GENERALIZEDTIME *t, lua_Integer *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	*out = (lua_Integer)timegm(&tm);
	return 1;
}

/* A non-negative integer option (seconds), or def when absent. */
static long opt_seconds(lua_State *L, int t, const char *name, long def)
{
	lua_Integer v;
	int isnum;

	if (lua_isnoneornil(L, t))
		return def;
	lua_getfield(L, t, name);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return def;
	}
	v = lua_tointegerx(L, -1, &isnum);
	if (!isnum || v < 0 || v > 86400L * 366)
		luaL_error(L, "ocsp.check: %s must be a whole number of seconds (0 to a year)", name);
	lua_pop(L, 1);
	return (long)v;
}

/* check(der, cert, issuer[, opts]) -> status, revocation_time, reason
 *
 * The response must be "successful", signed by the issuer itself or by a
 * responder certificate the issuer issued for OCSP signing (RFC 6960
 * §4.2.2.2), valid now (thisUpdate/nextUpdate with opts.skew seconds of
 * clock skew, default 0; opts.maxage: the oldest thisUpdate accepted when
 * there is no nextUpdate), and must cover this certificate.  No nonce is
 * expected: requests carry none.  status: "good" | "revoked" | "unknown";
 * for "revoked", the time (seconds since the epoch) and the reason
 * ("keyCompromise", ...; nil when the response gives none). */
static int l_check(lua_State *L)
{
	const char *what = "ocsp response";
	size_t n;
	const unsigned char *der = (const unsigned char *)luaL_checklstring(L, 1, &n), *p = der;
	long skew, maxage;
	X509 *cert, *issuer;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	void **id;
	X509_STORE *store;
	STACK_OF(X509) *certs;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	void **slot;
	int rstatus, status = -1, reason = -1;

	if (!lua_isnoneornil(L, 4))
		luaL_checktype(L, 4, LUA_TTABLE);
	skew = opt_seconds(L, 4, "skew", 0);
	maxage = opt_seconds(L, 4, "maxage", -1);
	if ((cert = arg_cert(L, 2, "ocsp.check: certificate")) == NULL ||
	    (issuer = arg_cert(L, 3, "ocsp.check: issuer")) == NULL)
		return 2;
	if ((id = cert_id(L, cert, issuer, "ocsp.check")) == NULL)
		return 2;
	if (n == 0)
		return cb_fail(L, "%s: empty", what);
	if (n > LONG_MAX)
		return cb_fail(L, "%s: too large", what);

	slot = cb_box_new(L, free_resp);
	*slot = resp = d2i_OCSP_RESPONSE(NULL, &p, (long)n);
	if (resp == NULL)
		return cb_ossl_fail(L, "ocsp response: malformed");
	if (p != der + n)
		return cb_fail(L, "%s: trailing data after the response", what);
	rstatus = OCSP_response_status(resp);
	if (rstatus != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		return cb_fail(L, "%s: the responder answered %s", what,
			       OCSP_response_status_str(rstatus));
	slot = cb_box_new(L, free_basic);
	*slot = bs = OCSP_response_get1_basic(resp);
	if (bs == NULL)
		return cb_ossl_fail(L, "ocsp response: no basic response");

	/* The issuer is the only trust anchor (a partial chain: it is an
	 * intermediate).  It is also offered as a signer, for responses that
	 * carry no certificate. */
	slot = cb_box_new(L, free_store);
	*slot = store = X509_STORE_new();
	if (store == NULL || !X509_STORE_add_cert(store, issuer) ||
	    !X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN))
		return cb_ossl_fail(L, what);
	slot = cb_box_new(L, free_sk);
	*slot = certs = sk_X509_new_null();
	if (certs == NULL || !sk_X509_push(certs, issuer))
		return cb_ossl_fail(L, what);
	ERR_clear_error();
	if (OCSP_basic_verify(bs, certs, store, OCSP_PARTIAL_CHAIN) <= 0)
		return verify_fail(L, "ocsp response: not signed by the issuer or its responder");

	if (!OCSP_resp_find_status(bs, *id, &status, &reason, &rev, &thisupd, &nextupd))
		return cb_fail(L, "%s: no status for this certificate", what);
	if (!OCSP_check_validity(thisupd, nextupd, skew, maxage))
		return cb_ossl_fail(L, "ocsp response: outside its validity period");

	switch (status) {
	case V_OCSP_CERTSTATUS_GOOD:
		lua_pushliteral(L, "good");
		return 1;
	case V_OCSP_CERTSTATUS_REVOKED: {
		lua_Integer t;

		lua_pushliteral(L, "revoked");
		if (gtime(rev, &t))
			lua_pushinteger(L, t);
		else
			lua_pushnil(L);
		if (reason >= 0)
			lua_pushstring(L, OCSP_crl_reason_str(reason));
		else
			lua_pushnil(L);
		return 3;
	}
	case V_OCSP_CERTSTATUS_UNKNOWN:
		lua_pushliteral(L, "unknown");
		return 1;
	default:
		return cb_fail(L, "%s: certificate status %d", what, status);
	}
}

static const luaL_Reg ocsp_funcs[] = {
	{ "has_url", l_has_url },
	{ "urls", l_urls },
	{ "request", l_request },
	{ "check", l_check },
	{ NULL, NULL }
};

int cb_open_ocsp(lua_State *L)
{
	luaL_newlib(L, ocsp_funcs);
	return 1;
}
