/*
 * crypto.c: keys (RSA, EC P-256/384/521), CSRs, X.509 parsing, PEM/DER,
 * hashes, HMAC, base64url.
 *
 * Every OpenSSL object or buffer alive across a call that may raise sits in
 * a GC-owned box (cb_box_new) or in the key userdata, pushed before the
 * object is made; so a Lua error (even out of memory) never leaks it.
 * cert_not_after and cert_validity walk the DER by hand: they are the hot
 * path of `certificates` and of a no-op renew.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core.h"

#define BOX_MT "certbot.box"

/* ---- GC-owned boxes for temporaries ---- */

typedef struct cb_box {
	void *p;
	cb_free_fn fn;
} cb_box;

static int box_gc(lua_State *L)
{
	cb_box *b = luaL_checkudata(L, 1, BOX_MT);

	if (b->p) {
		b->fn(b->p);
		b->p = NULL;
	}
	return 0;
}

void **cb_box_new(lua_State *L, cb_free_fn fn)
{
	cb_box *b = lua_newuserdatauv(L, sizeof *b, 0);

	b->p = NULL;
	b->fn = fn;
	if (luaL_newmetatable(L, BOX_MT)) {
		lua_pushcfunction(L, box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	return &b->p;
}

void cb_box_free(void **slot)
{
	cb_box *b = (cb_box *)(void *)((char *)slot - offsetof(cb_box, p));

	if (b->p) {
		b->fn(b->p);
		b->p = NULL;
	}
}

/* Type-correct wrappers for the boxes. */
static void free_bio(void *p) { BIO_free(p); }
static void free_x509(void *p) { X509_free(p); }
static void free_req(void *p) { X509_REQ_free(p); }
static void free_gens(void *p) { GENERAL_NAMES_free(p); }
static void free_exts(void *p) { sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free); }
static void free_strings(void *p) { X509_email_free(p); }
static void free_ossl(void *p) { OPENSSL_free(p); }

/* A memory BIO that may have held a private key: wipe before freeing. */
static void free_secret_bio(void *p)
{
	BUF_MEM *m = NULL;

	BIO_get_mem_ptr((BIO *)p, &m);
	if (m && m->data)
		OPENSSL_cleanse(m->data, m->max);
	BIO_free(p);
}

/* A scratch buffer owned by Lua (a userdata left on the stack). */
static unsigned char *scratch(lua_State *L, size_t n)
{
	return lua_newuserdatauv(L, n ? n : 1, 0);
}

/* Push what an i2d_* function writes; 0 when it cannot encode. */
#define PUSH_I2D(L, i2d, obj, okvar) do { \
	int n_ = i2d(obj, NULL); \
	(okvar) = 0; \
	if (n_ > 0) { \
		luaL_Buffer b_; \
		unsigned char *p_ = (unsigned char *)luaL_buffinitsize(L, &b_, (size_t)n_); \
		n_ = i2d(obj, &p_); \
		if (n_ > 0) { luaL_pushresultsize(&b_, (size_t)n_); (okvar) = 1; } \
	} \
} while (0)

/* ---- base64url (RFC 4648 §5, no padding) ---- */

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cb_b64url_len(size_t n)
{
	return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t cb_b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
		out[o++] = b64url_chars[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
	} else if (n - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url_chars[v >> 18 & 63];
		out[o++] = b64url_chars[v >> 12 & 63];
		out[o++] = b64url_chars[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

void cb_push_b64url(lua_State *L, const unsigned char *in, size_t n)
{
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, cb_b64url_len(n) + 1);

	luaL_pushresultsize(&b, cb_b64url_encode(in, n, p));
}

static int b64_value(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

size_t cb_b64url_decoded_len(size_t n)
{
	return n / 4 * 3 + (n % 4 == 2 ? 1 : n % 4 == 3 ? 2 : 0);
}

const char *cb_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outn)
{
	unsigned acc = 0;
	int bits = 0;
	size_t i, o = 0;

	if (n % 4 == 1)
		return "impossible length";
	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)in[i], 1);
		if (v < 0)
			return in[i] == '=' ? "padding is not allowed" : "invalid character";
		acc = (acc << 6 | (unsigned)v) & 0xffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return "non-zero trailing bits";
	*outn = o;
	return NULL;
}

/* Standard base64 as PEM bodies hold it: whitespace skipped, '=' only at
 * the end.  Stops when cap bytes are out.  Returns the count, -1 if bad.
 * Table-driven, four characters (one 3-byte group) at a time between
 * blanks; a character at a time around them.  The same bytes and the same
 * verdict as reading one character at a time: no check of the last
 * group's padding or trailing bits. */
enum { B64_BLANK = 64, B64_PAD = 65, B64_BAD = 66 };
static const unsigned char b64_pem_value[256] = {
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

static ptrdiff_t b64_decode_pem(const char *s, size_t n, unsigned char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	unsigned acc = 0, v;
	int bits = 0, pad = 0;
	size_t o = 0;

	while (p < end && o < cap) {
		/* Whole groups, aligned: what every full line is made of.  (The
		 * bits left in acc no longer matter once bits is 0.) */
		if (bits == 0 && !pad) {
			size_t g = (size_t)(end - p) / 4, room = (cap - o) / 3;

			for (g = g < room ? g : room; g > 0; g--) {
				unsigned a = b64_pem_value[p[0]], b = b64_pem_value[p[1]];
				unsigned c = b64_pem_value[p[2]], d = b64_pem_value[p[3]];
				unsigned w = a << 18 | b << 12 | c << 6 | d;

				if ((a | b | c | d) >= 64)
					break;
				out[o] = (unsigned char)(w >> 16);
				out[o + 1] = (unsigned char)(w >> 8);
				out[o + 2] = (unsigned char)w;
				o += 3;
				p += 4;
			}
			if (p == end || o == cap)
				break;
		}
		v = b64_pem_value[*p++];
		if (v == B64_BLANK)
			continue;
		if (v == B64_PAD) {
			if (++pad > 2)
				return -1;
			continue;
		}
		if (pad || v == B64_BAD)
			return -1;
		acc = (acc << 6 | v) & 0xffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (ptrdiff_t)o;
}

/* ---- PEM blocks ---- */

typedef struct pem_block {
	const char *begin;	/* "-----BEGIN ..." */
	const char *label;
	size_t label_len;
	const char *body;	/* after the BEGIN line */
	size_t body_len;	/* up to "-----END" */
	const char *end;	/* just past "-----END <label>-----" */
} pem_block;

static const char *const cert_labels[] = { "CERTIFICATE", NULL };

static int label_in(const char *l, size_t n, const char *const *labels)
{
	if (labels == NULL)
		return 1;
	for (; *labels; labels++)
		if (strlen(*labels) == n && memcmp(*labels, l, n) == 0)
			return 1;
	return 0;
}

/* The first PEM block in s[0..n) whose label is one of labels (NULL: any).
 * 1 found, 0 none, -1 the block has no END line. */
static int pem_find(const char *s, size_t n, const char *const *labels, pem_block *b)
{
	const char *p = s, *lim = s + n;

	while ((p = memmem(p, (size_t)(lim - p), "-----BEGIN ", 11)) != NULL) {
		const char *l = p + 11, *q = l;
		char endm[80];
		size_t ln;

		while (q < lim && *q != '-' && *q != '\n' && q - l < 64)
			q++;
		ln = (size_t)(q - l);
		if (ln == 0 || (size_t)(lim - q) < 5 || memcmp(q, "-----", 5) != 0 ||
		    !label_in(l, ln, labels)) {
			p = l;
			continue;
		}
		b->begin = p;
		b->label = l;
		b->label_len = ln;
		q += 5;
		while (q < lim && *q != '\n')
			q++;
		if (q < lim)
			q++;
		b->body = q;
		snprintf(endm, sizeof endm, "-----END %.*s-----", (int)ln, l);
		p = memmem(q, (size_t)(lim - q), endm, strlen(endm));
		if (p == NULL)
			return -1;
		b->body_len = (size_t)(p - q);
		b->end = p + strlen(endm);
		return 1;
	}
	return 0;
}

/* Decode a block's body into a Lua-owned buffer left on the stack. */
static const unsigned char *pem_decode(lua_State *L, const pem_block *b, size_t *len,
				       const char **why)
{
	unsigned char *out;
	ptrdiff_t got;

	if (memchr(b->body, ':', b->body_len)) {
		*why = memmem(b->body, b->body_len, "ENCRYPTED", 9)
			? "encrypted PEM is not supported" : "PEM headers are not supported";
		return NULL;
	}
	out = scratch(L, b->body_len / 4 * 3 + 3);
	got = b64_decode_pem(b->body, b->body_len, out, b->body_len / 4 * 3 + 3);
	if (got <= 0) {
		*why = "bad base64 in PEM block";
		return NULL;
	}
	*len = (size_t)got;
	return out;
}

/* DER bytes of argument idx: the first PEM block with one of labels,
 * decoded (the buffer stays on the stack), or the bytes themselves when
 * they are not PEM.  NULL and *why on failure. */
static const unsigned char *arg_der(lua_State *L, int idx, const char *const *labels,
				    size_t *len, const char **why)
{
	size_t n;
	const char *s = luaL_checklstring(L, idx, &n);
	pem_block b;
	int r;

	if (memmem(s, n, "-----BEGIN ", 11) == NULL) {
		if (n < 2 || (unsigned char)s[0] != 0x30) {
			*why = n == 0 ? "empty input" : "neither PEM nor DER";
			return NULL;
		}
		*len = n;
		return (const unsigned char *)s;
	}
	r = pem_find(s, n, labels, &b);
	if (r <= 0) {
		*why = r < 0 ? "truncated PEM block (no END line)" : "no matching PEM block";
		return NULL;
	}
	return pem_decode(L, &b, len, why);
}

/* ---- DER walking (no OpenSSL) ---- */

enum { DER_OK = 0, DER_MORE = 1, DER_BAD = -1 };

/* One TLV at *pos of b; bytes exist up to an, the parent ends at dend
 * (which may lie beyond an when only a prefix is at hand).  Positions are
 * offsets, never pointers past the buffer. */
static int der_next(const unsigned char *b, size_t an, size_t *pos, size_t dend,
		    unsigned *tag, size_t *start, size_t *len)
{
	size_t p = *pos, lim = dend < an ? dend : an, l, nb, i;

#define DER_NEED(k) do { if (p > lim || lim - p < (k)) \
	return lim == dend ? DER_BAD : DER_MORE; } while (0)
	DER_NEED(2);
	if ((b[p] & 0x1f) == 0x1f)
		return DER_BAD;
	*tag = b[p];
	l = b[p + 1];
	if (l < 0x80) {
		p += 2;
	} else {
		nb = l & 0x7f;
		if (nb == 0 || nb > 4)
			return DER_BAD;
		DER_NEED(2 + nb);
		for (l = 0, i = 0; i < nb; i++)
			l = l << 8 | b[p + 2 + i];
		p += 2 + nb;
	}
#undef DER_NEED
	if (l > dend - p)
		return DER_BAD;
	*start = p;
	*len = l;
	*pos = p + l;
	return DER_OK;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe, mp = m > 2 ? m - 3 : m + 9;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * mp + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const unsigned char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* UTCTime (tag 0x17, YYMMDDHHMMSSZ) or GeneralizedTime (0x18,
 * YYYYMMDDHHMMSSZ), as RFC 5280 §4.1.2.5 fixes them, to epoch seconds. */
static int der_time(unsigned tag, const unsigned char *s, size_t n, int64_t *out)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, k;

	if (tag == 0x17 && n == 13) {
		if ((y = digits(s, 2)) < 0)
			return -1;
		y += y >= 50 ? 1900 : 2000;
		k = 2;
	} else if (tag == 0x18 && n == 15) {
		if ((y = digits(s, 4)) < 0)
			return -1;
		k = 4;
	} else {
		return -1;
	}
	if (s[n - 1] != 'Z')
		return -1;
	mo = digits(s + k, 2);
	d = digits(s + k + 2, 2);
	h = digits(s + k + 4, 2);
	mi = digits(s + k + 6, 2);
	sec = digits(s + k + 8, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
	return 0;
}

/* Certificate -> tbsCertificate -> [version] serial signature issuer
 * validity -> notAfter. */
static int walk_not_after(const unsigned char *b, size_t an, size_t top, int64_t *out)
{
	size_t pos = 0, s, l, end;
	unsigned t;
	int r, i;

	if ((r = der_next(b, an, &pos, top, &t, &s, &l)) != DER_OK)
		return r;
	if (t != 0x30)
		return DER_BAD;
	pos = s;
	end = s + l;
	if ((r = der_next(b, an, &pos, end, &t, &s, &l)) != DER_OK)
		return r;
	if (t != 0x30)
		return DER_BAD;
	pos = s;
	end = s + l;
	if ((r = der_next(b, an, &pos, end, &t, &s, &l)) != DER_OK)
		return r;
	if (t == 0xa0 && (r = der_next(b, an, &pos, end, &t, &s, &l)) != DER_OK)
		return r;
	if (t != 0x02)	/* serialNumber */
		return DER_BAD;
	for (i = 0; i < 3; i++) {	/* signature, issuer, validity */
		if ((r = der_next(b, an, &pos, end, &t, &s, &l)) != DER_OK)
			return r;
		if (t != 0x30)
			return DER_BAD;
	}
	pos = s;
	end = s + l;
	for (i = 0; i < 2; i++) {	/* notBefore, notAfter */
		if ((r = der_next(b, an, &pos, end, &t, &s, &l)) != DER_OK)
			return r;
		if (t != 0x17 && t != 0x18)
			return DER_BAD;
	}
	if (s + l > an)
		return DER_MORE;
	return der_time(t, b + s, l, out) == 0 ? DER_OK : DER_BAD;
}

/* cert_not_after(pem_or_der) -> epoch | nil, err.  No d2i_X509: this is
 * what a no-op renew over many lineages costs per certificate. */
static int l_cert_not_after(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	static const char beg[] = "-----BEGIN CERTIFICATE-----";
	static const char endm[] = "-----END CERTIFICATE-----";
	unsigned char buf[4096];
	int64_t t = 0;
	int r;
	const char *p = memmem(s, n, beg, sizeof beg - 1);

	if (p) {
		const char *body = p + sizeof beg - 1;
		const char *e = memmem(body, (size_t)(s + n - body), endm, sizeof endm - 1);
		size_t blen;
		ptrdiff_t got;

		if (e == NULL)
			return cb_fail(L, "cert_not_after: truncated PEM (no END line)");
		blen = (size_t)(e - body);
		/* Usually validity lies in the first few hundred bytes. */
		got = b64_decode_pem(body, blen, buf, sizeof buf);
		if (got < 0)
			return cb_fail(L, "cert_not_after: bad base64 in PEM block");
		if ((size_t)got < sizeof buf) {
			r = walk_not_after(buf, (size_t)got, (size_t)got, &t);
		} else {
			r = walk_not_after(buf, (size_t)got, SIZE_MAX, &t);
			if (r == DER_MORE) {
				unsigned char *all = scratch(L, blen / 4 * 3 + 3);
				got = b64_decode_pem(body, blen, all, blen / 4 * 3 + 3);
				if (got < 0)
					return cb_fail(L, "cert_not_after: bad base64 in PEM block");
				r = walk_not_after(all, (size_t)got, (size_t)got, &t);
			}
		}
	} else if (n >= 2 && (unsigned char)s[0] == 0x30) {
		r = walk_not_after((const unsigned char *)s, n, n, &t);
	} else {
		return cb_fail(L, "cert_not_after: %s", n ? "neither PEM nor DER" : "empty input");
	}
	if (r != DER_OK)
		return cb_fail(L, "cert_not_after: malformed or truncated certificate");
	lua_pushinteger(L, (lua_Integer)t);
	return 1;
}

/* Certificate -> tbsCertificate -> [version] serial signature issuer
 * validity -> notBefore, notAfter.  The outer framing must hold too: the
 * Certificate spans the whole DER and is exactly tbsCertificate,
 * signatureAlgorithm and the signature BIT STRING (a truncated file
 * fails), and validity is exactly the two dates.  0, or -1. */
static int walk_validity(const unsigned char *b, size_t n, int64_t *not_before, int64_t *not_after)
{
	size_t pos = 0, s, l, end, s1, l1;
	unsigned t, t1;
	int i;

	if (der_next(b, n, &pos, n, &t, &s, &l) != DER_OK || t != 0x30 || s + l != n)
		return -1;
	pos = s;	/* tbsCertificate, signatureAlgorithm, signature */
	if (der_next(b, n, &pos, n, &t, &s, &l) != DER_OK || t != 0x30)
		return -1;
	end = s + l;
	{
		size_t p2 = pos, s2, l2;
		unsigned t2;

		if (der_next(b, n, &p2, n, &t2, &s2, &l2) != DER_OK || t2 != 0x30 ||
		    der_next(b, n, &p2, n, &t2, &s2, &l2) != DER_OK || t2 != 0x03 || p2 != n)
			return -1;
	}
	pos = s;
	if (der_next(b, n, &pos, end, &t, &s, &l) != DER_OK)
		return -1;
	if (t == 0xa0 && der_next(b, n, &pos, end, &t, &s, &l) != DER_OK)
		return -1;
	if (t != 0x02)	/* serialNumber */
		return -1;
	for (i = 0; i < 3; i++)	/* signature, issuer, validity */
		if (der_next(b, n, &pos, end, &t, &s, &l) != DER_OK || t != 0x30)
			return -1;
	pos = s;
	end = s + l;
	if (der_next(b, n, &pos, end, &t1, &s1, &l1) != DER_OK ||
	    der_next(b, n, &pos, end, &t, &s, &l) != DER_OK || pos != end)
		return -1;
	if (der_time(t1, b + s1, l1, not_before) != 0 || der_time(t, b + s, l, not_after) != 0)
		return -1;
	return 0;
}

/* cert_validity(pem_or_der) -> not_before, not_after, names_ocsp | nil,
 * err: the two dates of the first CERTIFICATE block (or of DER), without
 * d2i_X509 (which also decodes the key and checks the signature: ~1.3 M
 * instructions against ~10 k).  What a no-op renew asks of every
 * lineage's cert.  names_ocsp: whether the DER holds the id-ad-ocsp OID
 * (1.3.6.1.5.5.7.48.1) at all; false means the certificate names no OCSP
 * responder, so a renew need not decode it again to ask. */
static int l_cert_validity(lua_State *L)
{
	static const unsigned char id_ad_ocsp[] = {	/* the whole OID TLV */
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01
	};
	size_t n, len;
	const char *s = luaL_checklstring(L, 1, &n);
	const unsigned char *der;
	unsigned char buf[8192];
	int64_t nb = 0, na = 0;

	if (memmem(s, n, "-----BEGIN ", 11) == NULL) {
		if (n < 2 || (unsigned char)s[0] != 0x30)
			return cb_fail(L, "cert_validity: %s", n ? "neither PEM nor DER" : "empty input");
		der = (const unsigned char *)s;
		len = n;
	} else {
		pem_block b;
		int r = pem_find(s, n, cert_labels, &b);
		size_t cap;
		unsigned char *out;
		ptrdiff_t got;

		if (r <= 0)
			return cb_fail(L, "cert_validity: %s", r < 0
				       ? "truncated PEM block (no END line)" : "no CERTIFICATE block");
		if (memchr(b.body, ':', b.body_len))
			return cb_fail(L, "cert_validity: PEM headers are not supported");
		cap = b.body_len / 4 * 3 + 3;
		out = cap <= sizeof buf ? buf : scratch(L, cap);
		got = b64_decode_pem(b.body, b.body_len, out, cap);
		if (got <= 0)
			return cb_fail(L, "cert_validity: bad base64 in PEM block");
		der = out;
		len = (size_t)got;
	}
	if (walk_validity(der, len, &nb, &na) != 0)
		return cb_fail(L, "cert_validity: malformed or truncated certificate");
	lua_pushinteger(L, (lua_Integer)nb);
	lua_pushinteger(L, (lua_Integer)na);
	lua_pushboolean(L, memmem(der, len, id_ad_ocsp, sizeof id_ad_ocsp) != NULL);
	return 3;
}

/* ---- key userdata ---- */

cb_key *cb_newkey(lua_State *L)
{
	cb_key *k = lua_newuserdatauv(L, sizeof *k, 0);

	k->pkey = NULL;
	k->is_private = 0;
	luaL_setmetatable(L, CB_KEY_MT);
	return k;
}

cb_key *cb_checkkey(lua_State *L, int idx, int want_private)
{
	cb_key *k = luaL_checkudata(L, idx, CB_KEY_MT);

	if (k->pkey == NULL)
		luaL_argerror(L, idx, "key has been freed");
	if (want_private && !k->is_private)
		luaL_argerror(L, idx, "expected a private key, got a public key");
	return k;
}

int cb_pkey_kind(const EVP_PKEY *pkey, int *ec_bits)
{
	char g[64];
	size_t gl = 0;

	*ec_bits = 0;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		return CB_RSA;
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_group_name(pkey, g, sizeof g, &gl)) {
		ERR_clear_error();
		return 0;
	}
	if (strcmp(g, "prime256v1") == 0 || strcmp(g, "P-256") == 0)
		*ec_bits = 256;
	else if (strcmp(g, "secp384r1") == 0 || strcmp(g, "P-384") == 0)
		*ec_bits = 384;
	else if (strcmp(g, "secp521r1") == 0 || strcmp(g, "P-521") == 0)
		*ec_bits = 521;
	else
		return 0;
	return CB_EC;
}

const char *cb_curve_name(int ec_bits)
{
	return ec_bits == 256 ? "P-256" : ec_bits == 384 ? "P-384" : ec_bits == 521 ? "P-521" : NULL;
}

const char *cb_key_describe(const cb_key *k, char *buf, size_t size)
{
	int bits, kind = cb_pkey_kind(k->pkey, &bits);
	const char *priv = k->is_private ? "private" : "public";

	if (kind == CB_RSA)
		snprintf(buf, size, "RSA %s key", priv);
	else if (kind == CB_EC)
		snprintf(buf, size, "EC %s %s key", cb_curve_name(bits), priv);
	else
		snprintf(buf, size, "%s %s key", EVP_PKEY_get0_type_name(k->pkey), priv);
	return buf;
}

static int key_gc(lua_State *L)
{
	cb_key *k = luaL_checkudata(L, 1, CB_KEY_MT);

	if (k->pkey) {
		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
	return 0;
}

/* A key we hold must be RSA or EC on a NIST curve; nil, err otherwise. */
static int key_supported(lua_State *L, cb_key *k, const char *what)
{
	int bits;

	if (cb_pkey_kind(k->pkey, &bits))
		return 1;
	if (EVP_PKEY_get_base_id(k->pkey) == EVP_PKEY_EC) {
		char g[64] = "?";
		size_t gl;
		if (!EVP_PKEY_get_group_name(k->pkey, g, sizeof g, &gl))
			ERR_clear_error();
		cb_fail(L, "%s: unsupported EC curve %s (P-256, P-384 or P-521)", what, g);
	} else {
		cb_fail(L, "%s: unsupported key type %s (RSA or EC)", what,
			EVP_PKEY_get0_type_name(k->pkey));
	}
	return 0;
}

/* generate_key("rsa", bits) | generate_key("ec", curve) -> key | nil, err */
static int l_generate_key(lua_State *L)
{
	const char *type = luaL_checkstring(L, 1);
	cb_key *k;

	if (strcmp(type, "rsa") == 0) {
		lua_Integer bits = luaL_checkinteger(L, 2);
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return cb_fail(L, "generate_key: RSA key size %d is not 2048, 3072 or 4096",
				       (int)(bits > INT_MAX || bits < INT_MIN ? -1 : bits));
		k = cb_newkey(L);
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	} else if (strcmp(type, "ec") == 0) {
		const char *c = luaL_checkstring(L, 2), *curve = NULL;
		if (strcmp(c, "P-256") == 0 || strcmp(c, "secp256r1") == 0 || strcmp(c, "prime256v1") == 0)
			curve = "P-256";
		else if (strcmp(c, "P-384") == 0 || strcmp(c, "secp384r1") == 0)
			curve = "P-384";
		else if (strcmp(c, "P-521") == 0 || strcmp(c, "secp521r1") == 0)
			curve = "P-521";
		else
			return cb_fail(L, "generate_key: unsupported curve '%s' (P-256, P-384 or P-521)", c);
		k = cb_newkey(L);
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	} else {
		return cb_fail(L, "generate_key: unsupported key type '%s' (rsa or ec)", type);
	}
	if (k->pkey == NULL)
		return cb_ossl_fail(L, "generate_key");
	k->is_private = 1;
	return 1;
}

static const char *const key_labels[] = {
	"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
	"PUBLIC KEY", "RSA PUBLIC KEY", NULL
};

/* EncryptedPrivateKeyInfo (RFC 5958) is SEQUENCE { AlgorithmIdentifier,
 * OCTET STRING }; a PrivateKeyInfo starts with an INTEGER. */
static int der_is_encrypted_key(const unsigned char *b, size_t n)
{
	size_t pos = 0, s, l, end;
	unsigned t;

	if (der_next(b, n, &pos, n, &t, &s, &l) != DER_OK || t != 0x30)
		return 0;
	pos = s;
	end = s + l;
	if (der_next(b, n, &pos, end, &t, &s, &l) != DER_OK || t != 0x30)
		return 0;
	if (der_next(b, n, &pos, end, &t, &s, &l) != DER_OK || t != 0x04)
		return 0;
	return pos == end;
}

/* load_key(pem_or_der) -> key | nil, err.  Never asks for a passphrase:
 * encrypted keys are refused before any decoder sees them. */
static int l_load_key(lua_State *L)
{
	size_t n, dlen;
	const char *s = luaL_checklstring(L, 1, &n), *why = NULL;
	const unsigned char *der, *p;
	cb_key *k;
	pem_block b;

	if (n == 0)
		return cb_fail(L, "load_key: empty input");
	if (memmem(s, n, "-----BEGIN ", 11)) {
		int r = pem_find(s, n, key_labels, &b);
		if (r <= 0)
			return cb_fail(L, "load_key: %s", r < 0 ? "truncated PEM block (no END line)"
				       : "no private or public key PEM block");
		if ((b.label_len == 21 && memcmp(b.label, "ENCRYPTED PRIVATE KEY", 21) == 0) ||
		    memmem(b.body, b.body_len, "Proc-Type:", 10))
			return cb_fail(L, "load_key: encrypted private keys are not supported");
		der = pem_decode(L, &b, &dlen, &why);
		if (der == NULL)
			return cb_fail(L, "load_key: %s", why);
		k = cb_newkey(L);
		p = der;
		if (b.label_len == 10 && memcmp(b.label, "PUBLIC KEY", 10) == 0) {
			k->pkey = d2i_PUBKEY(NULL, &p, (long)dlen);
		} else if (b.label_len == 14 && memcmp(b.label, "RSA PUBLIC KEY", 14) == 0) {
			k->pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)dlen);
		} else {
			k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)dlen);
			k->is_private = 1;
		}
	} else {
		if ((unsigned char)s[0] != 0x30)
			return cb_fail(L, "load_key: neither PEM nor DER");
		if (der_is_encrypted_key((const unsigned char *)s, n))
			return cb_fail(L, "load_key: encrypted private keys are not supported");
		dlen = n;
		der = (const unsigned char *)s;
		k = cb_newkey(L);
		p = der;
		k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)n);
		k->is_private = 1;
		if (k->pkey == NULL) {
			ERR_clear_error();
			p = der;
			k->pkey = d2i_PUBKEY(NULL, &p, (long)n);
			k->is_private = 0;
		}
	}
	if (k->pkey == NULL)
		return cb_ossl_fail(L, "load_key");
	ERR_clear_error();	/* decoders tried on the way may leave notes */
	if (p != der + dlen)
		return cb_fail(L, "load_key: trailing data after the key");
	if (!key_supported(L, k, "load_key"))
		return 2;
	return 1;
}

static int push_bio(lua_State *L, BIO *bio)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	lua_pushlstring(L, data, n > 0 ? (size_t)n : 0);
	return 1;
}

/* key:pem() -> PKCS#8 PEM | nil, err */
static int key_pem(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	void **slot;
	BIO *bio;

	if (!k->is_private)
		return cb_fail(L, "pem: a public key has no private PEM (use public_pem)");
	slot = cb_box_new(L, free_secret_bio);
	*slot = bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL))
		return cb_ossl_fail(L, "pem");
	return push_bio(L, bio);
}

/* key:public_pem() -> SubjectPublicKeyInfo PEM */
static int key_public_pem(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	void **slot = cb_box_new(L, free_bio);
	BIO *bio;

	*slot = bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_PUBKEY(bio, k->pkey))
		return cb_ossl_fail(L, "public_pem");
	return push_bio(L, bio);
}

/* key:public_der() -> SubjectPublicKeyInfo DER */
static int key_public_der(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	int ok;

	PUSH_I2D(L, i2d_PUBKEY, k->pkey, ok);
	return ok ? 1 : cb_ossl_fail(L, "public_der");
}

/* key:info() -> { type, bits, curve, private } */
static int key_info(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 0);
	int bits, kind = cb_pkey_kind(k->pkey, &bits);

	lua_createtable(L, 0, 4);
	lua_pushstring(L, kind == CB_RSA ? "rsa" : kind == CB_EC ? "ec" : "other");
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, EVP_PKEY_get_bits(k->pkey));
	lua_setfield(L, -2, "bits");
	if (kind == CB_EC) {
		lua_pushstring(L, cb_curve_name(bits));
		lua_setfield(L, -2, "curve");
	}
	lua_pushboolean(L, k->is_private);
	lua_setfield(L, -2, "private");
	return 1;
}

/* key:equals(other) -> bool: the same public key */
static int key_equals(lua_State *L)
{
	cb_key *a = cb_checkkey(L, 1, 0), *b = cb_checkkey(L, 2, 0);

	lua_pushboolean(L, EVP_PKEY_eq(a->pkey, b->pkey) == 1);
	ERR_clear_error();
	return 1;
}

static int key_tostring(lua_State *L)
{
	cb_key *k = luaL_checkudata(L, 1, CB_KEY_MT);
	char buf[96];

	if (k->pkey == NULL)
		lua_pushliteral(L, "certbot.key (freed)");
	else
		lua_pushfstring(L, "certbot.key (%s, %p)", cb_key_describe(k, buf, sizeof buf),
				(void *)k);
	return 1;
}

/* ---- identifiers -> subjectAltName ---- */

/* Reads the identifiers array at idx.  Leaves on the stack a box holding
 * the GENERAL_NAMES and then the subject CN (string, or nil: the first DNS
 * identifier when it is at most 64 characters).  Returns the names, or NULL
 * after pushing nil, err. */
static GENERAL_NAMES *check_identifiers(lua_State *L, int idx, const char *what)
{
	void **slot;
	GENERAL_NAMES *gens;
	lua_Integer i, n;
	int seen_dns = 0;

	luaL_checktype(L, idx, LUA_TTABLE);
	n = (lua_Integer)lua_rawlen(L, idx);
	slot = cb_box_new(L, free_gens);
	*slot = gens = sk_GENERAL_NAME_new_null();
	if (gens == NULL) {
		cb_ossl_fail(L, what);
		return NULL;
	}
	lua_pushnil(L);	/* the CN slot */
	if (n == 0) {
		cb_fail(L, "%s: no identifiers", what);
		return NULL;
	}
	for (i = 1; i <= n; i++) {
		const char *type, *value;
		size_t vlen, j;
		GENERAL_NAME *gn;
		int ok = 0;

		if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
			luaL_argerror(L, idx, lua_pushfstring(L, "identifier %d is not a table", (int)i));
		lua_getfield(L, -1, "type");
		lua_getfield(L, -2, "value");
		type = lua_tostring(L, -2);
		if (lua_type(L, -1) != LUA_TSTRING || type == NULL)
			luaL_argerror(L, idx, lua_pushfstring(L, "identifier %d needs string type and value", (int)i));
		value = lua_tolstring(L, -1, &vlen);
		if ((gn = GENERAL_NAME_new()) == NULL) {
			cb_ossl_fail(L, what);
			return NULL;
		}
		if (strcmp(type, "dns") == 0) {
			ASN1_IA5STRING *ia5;
			for (j = 0; j < vlen; j++)
				if ((unsigned char)value[j] <= 0x20 || (unsigned char)value[j] >= 0x7f)
					break;
			if (vlen == 0 || vlen > 253 || j < vlen) {
				GENERAL_NAME_free(gn);
				cb_fail(L, "%s: bad DNS name '%s'", what, value);
				return NULL;
			}
			if ((ia5 = ASN1_IA5STRING_new()) && ASN1_STRING_set(ia5, value, (int)vlen)) {
				GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
				ok = 1;
			} else {
				ASN1_IA5STRING_free(ia5);
			}
			/* CN: the first DNS name, if it fits (ub-common-name 64) */
			if (!seen_dns && vlen <= 64) {
				lua_pushvalue(L, -1);
				lua_replace(L, -5);	/* the CN slot */
			}
			seen_dns = 1;
		} else if (strcmp(type, "ip") == 0) {
			unsigned char a[16];
			int alen = 0;
			ASN1_OCTET_STRING *os;
			if (strlen(value) == vlen && inet_pton(AF_INET, value, a) == 1)
				alen = 4;
			else if (strlen(value) == vlen && inet_pton(AF_INET6, value, a) == 1)
				alen = 16;
			if (alen == 0) {
				GENERAL_NAME_free(gn);
				cb_fail(L, "%s: bad IP address '%s'", what, value);
				return NULL;
			}
			if ((os = ASN1_OCTET_STRING_new()) && ASN1_OCTET_STRING_set(os, a, alen)) {
				GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
				ok = 1;
			} else {
				ASN1_OCTET_STRING_free(os);
			}
		} else {
			GENERAL_NAME_free(gn);
			luaL_argerror(L, idx, lua_pushfstring(L, "identifier %d: unknown type '%s' (dns or ip)",
							      (int)i, type));
		}
		if (!ok || !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			cb_ossl_fail(L, what);
			return NULL;
		}
		lua_pop(L, 3);
	}
	return gens;
}

static int push_ext(STACK_OF(X509_EXTENSION) *sk, const ASN1_OBJECT *obj, int crit,
		    const unsigned char *der, size_t n)
{
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;

	if (os && n <= INT_MAX && ASN1_OCTET_STRING_set(os, der, (int)n))
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit, os);
	ASN1_OCTET_STRING_free(os);
	if (ext && sk_X509_EXTENSION_push(sk, ext))
		return 1;
	X509_EXTENSION_free(ext);
	return 0;
}

/* subjectAltName (critical when the subject is empty, RFC 5280 §4.2.1.6). */
static int push_san(STACK_OF(X509_EXTENSION) *sk, GENERAL_NAMES *gens, int crit)
{
	X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, crit, gens);

	if (ext && sk_X509_EXTENSION_push(sk, ext))
		return 1;
	X509_EXTENSION_free(ext);
	return 0;
}

static int set_cn(X509_NAME *name, lua_State *L, int idx)
{
	size_t n;
	const char *cn = lua_tolstring(L, idx, &n);

	if (cn == NULL)
		return 1;
	return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
					  (const unsigned char *)cn, (int)n, -1, 0);
}

/* make_csr(key, identifiers, opts) -> DER | nil, err */
static int l_make_csr(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 1);
	GENERAL_NAMES *gens;
	STACK_OF(X509_EXTENSION) *exts;
	X509_REQ *req;
	void **slot;
	int cn_idx, must_staple = 0, ok;

	if (!lua_isnoneornil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		lua_getfield(L, 3, "must_staple");
		must_staple = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	lua_settop(L, 3);
	if ((gens = check_identifiers(L, 2, "make_csr")) == NULL)
		return 2;
	cn_idx = lua_gettop(L);
	slot = cb_box_new(L, free_exts);
	*slot = exts = sk_X509_EXTENSION_new_null();
	if (exts == NULL || !push_san(exts, gens, lua_isnil(L, cn_idx)))
		return cb_ossl_fail(L, "make_csr");
	if (must_staple) {
		/* TLS Feature (RFC 7633): SEQUENCE { INTEGER 5 (status_request) } */
		static const unsigned char tlsf[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
		if (!push_ext(exts, OBJ_nid2obj(NID_tlsfeature), 0, tlsf, sizeof tlsf))
			return cb_ossl_fail(L, "make_csr");
	}
	slot = cb_box_new(L, free_req);
	*slot = req = X509_REQ_new();
	if (req == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !set_cn(X509_REQ_get_subject_name(req), L, cn_idx) ||
	    !X509_REQ_set_pubkey(req, k->pkey) || !X509_REQ_add_extensions(req, exts) ||
	    X509_REQ_sign(req, k->pkey, EVP_sha256()) <= 0)
		return cb_ossl_fail(L, "make_csr");
	PUSH_I2D(L, i2d_X509_REQ, req, ok);
	return ok ? 1 : cb_ossl_fail(L, "make_csr");
}

/* Sets t.dns and t.ips (table on top) from names (may be NULL). */
static void push_names(lua_State *L, const GENERAL_NAMES *gens)
{
	int i, nd = 0, ni = 0, n = gens ? sk_GENERAL_NAME_num(gens) : 0;

	lua_newtable(L);
	lua_newtable(L);
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		int type;
		const void *v = GENERAL_NAME_get0_value(gn, &type);
		const ASN1_STRING *as = v;

		if (type == GEN_DNS) {
			lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(as),
					(size_t)ASN1_STRING_length(as));
			lua_rawseti(L, -3, ++nd);
		} else if (type == GEN_IPADD) {
			char txt[INET6_ADDRSTRLEN];
			int len = ASN1_STRING_length(as);
			if ((len == 4 || len == 16) &&
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(as), txt, sizeof txt)) {
				lua_pushstring(L, txt);
				lua_rawseti(L, -2, ++ni);
			}
		}
	}
	lua_setfield(L, -3, "ips");
	lua_setfield(L, -2, "dns");
}

/* Pushes name's CN as UTF-8 into field `field` of the table on top. */
static void push_cn(lua_State *L, const X509_NAME *name, const char *field)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	void **slot;
	int n;

	if (i < 0)
		return;
	slot = cb_box_new(L, free_ossl);
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	*slot = utf8;
	if (n >= 0) {
		lua_pushlstring(L, (const char *)utf8, (size_t)n);
		lua_setfield(L, -3, field);
	}
	cb_box_free(slot);
	lua_pop(L, 1);
}

static const char *const csr_labels[] = { "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL };

/* read_csr(pem_or_der) -> { der, dns, ips, cn, key } | nil, err */
static int l_read_csr(lua_State *L)
{
	size_t len;
	const char *why = NULL;
	const unsigned char *der = arg_der(L, 1, csr_labels, &len, &why), *p = der;
	void **slot;
	X509_REQ *req;
	EVP_PKEY *pub;
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens;
	cb_key *k;

	if (der == NULL)
		return cb_fail(L, "read_csr: %s", why);
	slot = cb_box_new(L, free_req);
	*slot = req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req == NULL)
		return cb_ossl_fail(L, "read_csr");
	if (p != der + len)
		return cb_fail(L, "read_csr: trailing data after the CSR");
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL)
		return cb_ossl_fail(L, "read_csr");
	if (X509_REQ_verify(req, pub) != 1) {
		ERR_clear_error();
		return cb_fail(L, "read_csr: the CSR's signature does not verify");
	}
	slot = cb_box_new(L, free_exts);
	*slot = exts = X509_REQ_get_extensions(req);
	ERR_clear_error();
	slot = cb_box_new(L, free_gens);
	*slot = gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
	ERR_clear_error();

	lua_createtable(L, 0, 5);
	lua_pushlstring(L, (const char *)der, len);
	lua_setfield(L, -2, "der");
	push_names(L, gens);
	push_cn(L, X509_REQ_get_subject_name(req), "cn");
	k = cb_newkey(L);
	if (EVP_PKEY_up_ref(pub))
		k->pkey = pub;
	if (k->pkey == NULL)
		return cb_ossl_fail(L, "read_csr");
	if (!key_supported(L, k, "read_csr"))
		return 2;
	lua_setfield(L, -2, "key");
	return 1;
}

/* A certificate from argument idx, boxed on the stack; NULL after pushing
 * nil, err.  *derp, *lenp: its exact DER. */
static X509 *check_cert(lua_State *L, int idx, const char *what, const unsigned char **derp,
			size_t *lenp)
{
	size_t len;
	const char *why = NULL;
	const unsigned char *der = arg_der(L, idx, cert_labels, &len, &why), *p = der;
	void **slot;
	X509 *x;

	if (der == NULL) {
		cb_fail(L, "%s: %s", what, why);
		return NULL;
	}
	slot = cb_box_new(L, free_x509);
	*slot = x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL) {
		cb_ossl_fail(L, what);
		return NULL;
	}
	if (p != der + len) {
		cb_fail(L, "%s: trailing data after the certificate", what);
		return NULL;
	}
	if (derp) {
		*derp = der;
		*lenp = len;
	}
	return x;
}

static int asn1_time(const ASN1_TIME *t, int64_t *out)
{
	return der_time((unsigned)ASN1_STRING_type(t), ASN1_STRING_get0_data(t),
			(size_t)ASN1_STRING_length(t), out);
}

/* "0" or uppercase hex without leading zeros. */
static void push_serial_hex(lua_State *L, const ASN1_INTEGER *serial)
{
	const unsigned char *d = ASN1_STRING_get0_data(serial);
	int n = ASN1_STRING_length(serial), i = 0;
	luaL_Buffer b;
	char hex[3];

	luaL_buffinit(L, &b);
	if (ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER)
		luaL_addchar(&b, '-');
	while (i < n && d[i] == 0)
		i++;
	if (i == n) {
		luaL_addchar(&b, '0');
	} else {
		snprintf(hex, sizeof hex, "%X", d[i++]);
		luaL_addstring(&b, hex);
		for (; i < n; i++) {
			snprintf(hex, sizeof hex, "%02X", d[i]);
			luaL_addlstring(&b, hex, 2);
		}
	}
	luaL_pushresult(&b);
}

/* parse_cert(pem_or_der) -> table | nil, err */
static int l_parse_cert(lua_State *L)
{
	const unsigned char *der;
	size_t len;
	X509 *x = check_cert(L, 1, "parse_cert", &der, &len);
	int64_t nb, na;
	void **slot;
	GENERAL_NAMES *gens;
	STACK_OF(OPENSSL_STRING) *ocsp;
	const ASN1_OCTET_STRING *aki;
	int self;

	if (x == NULL)
		return 2;
	if (asn1_time(X509_get0_notBefore(x), &nb) || asn1_time(X509_get0_notAfter(x), &na))
		return cb_fail(L, "parse_cert: bad validity dates");
	slot = cb_box_new(L, free_gens);
	*slot = gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	slot = cb_box_new(L, free_strings);
	*slot = ocsp = X509_get1_ocsp(x);
	self = X509_self_signed(x, 1);
	ERR_clear_error();

	lua_createtable(L, 0, 14);
	lua_pushlstring(L, (const char *)der, len);
	lua_setfield(L, -2, "der");
	push_cn(L, X509_get_subject_name(x), "cn");
	push_cn(L, X509_get_issuer_name(x), "issuer_cn");
	push_names(L, gens);
	lua_pushinteger(L, (lua_Integer)nb);
	lua_setfield(L, -2, "not_before");
	lua_pushinteger(L, (lua_Integer)na);
	lua_setfield(L, -2, "not_after");
	push_serial_hex(L, X509_get0_serialNumber(x));
	lua_setfield(L, -2, "serial");
	if ((aki = X509_get0_authority_key_id(x)) != NULL) {
		lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(aki),
				(size_t)ASN1_STRING_length(aki));
		lua_setfield(L, -2, "aki");
	}
	if (ocsp && sk_OPENSSL_STRING_num(ocsp) > 0) {
		lua_pushstring(L, sk_OPENSSL_STRING_value(ocsp, 0));
		lua_setfield(L, -2, "ocsp_url");
	}
	lua_pushboolean(L, (X509_get_extension_flags(x) & EXFLAG_CA) != 0);
	lua_setfield(L, -2, "is_ca");
	lua_pushboolean(L, self == 1);
	lua_setfield(L, -2, "self_signed");
	return 1;
}

/* cert_matches_key(cert, key) -> bool | nil, err */
static int l_cert_matches_key(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 2, 0);
	X509 *x = check_cert(L, 1, "cert_matches_key", NULL, NULL);
	EVP_PKEY *pub;

	if (x == NULL)
		return 2;
	if ((pub = X509_get0_pubkey(x)) == NULL)
		return cb_ossl_fail(L, "cert_matches_key");
	lua_pushboolean(L, EVP_PKEY_eq(pub, k->pkey) == 1);
	ERR_clear_error();
	return 1;
}

/* ari_cert_id(cert) -> "b64url(AKI keyid).b64url(serial DER content)" (RFC 9773 §4.1) */
static int l_ari_cert_id(lua_State *L)
{
	X509 *x = check_cert(L, 1, "ari_cert_id", NULL, NULL);
	const ASN1_OCTET_STRING *aki;
	const ASN1_INTEGER *serial;
	unsigned char *buf, *p;
	size_t pos = 0, s, l;
	unsigned t;
	int n;

	if (x == NULL)
		return 2;
	if ((aki = X509_get0_authority_key_id(x)) == NULL)
		return cb_fail(L, "ari_cert_id: the certificate has no Authority Key Identifier");
	serial = X509_get0_serialNumber(x);
	if ((n = i2d_ASN1_INTEGER(serial, NULL)) <= 0)
		return cb_ossl_fail(L, "ari_cert_id");
	p = buf = scratch(L, (size_t)n);
	if (i2d_ASN1_INTEGER(serial, &p) != n ||
	    der_next(buf, (size_t)n, &pos, (size_t)n, &t, &s, &l) != DER_OK)
		return cb_fail(L, "ari_cert_id: cannot encode the serial");
	cb_push_b64url(L, ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
	lua_pushliteral(L, ".");
	cb_push_b64url(L, buf + s, l);
	lua_concat(L, 3);
	return 1;
}

/* self_signed_cert(key, identifiers, opts) -> DER | nil, err
 * opts: days (7), not_before / not_after (epoch; override days),
 * extensions = { { oid = "1.2.3", critical = bool, der = "..." }, ... } */
static int l_self_signed_cert(lua_State *L)
{
	cb_key *k = cb_checkkey(L, 1, 1);
	GENERAL_NAMES *gens;
	STACK_OF(X509_EXTENSION) *exts;
	X509 *x;
	void **slot;
	lua_Integer days = 7, nb = (lua_Integer)time(NULL), na;
	unsigned char serial[16];
	int cn_idx, i, ok, next;

	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	lua_settop(L, 3);
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "days");
		days = luaL_optinteger(L, -1, 7);
		lua_getfield(L, 3, "not_before");
		nb = luaL_optinteger(L, -1, nb);
		lua_pop(L, 2);
	}
	if (days < 1 || days > 36500)
		luaL_argerror(L, 3, "days must be within 1..36500");
	na = nb + days * 86400;
	if (lua_istable(L, 3)) {
		lua_getfield(L, 3, "not_after");
		na = luaL_optinteger(L, -1, na);
		lua_pop(L, 1);
	}
	if ((gens = check_identifiers(L, 2, "self_signed_cert")) == NULL)
		return 2;
	cn_idx = lua_gettop(L);
	slot = cb_box_new(L, free_exts);
	*slot = exts = sk_X509_EXTENSION_new_null();
	if (exts == NULL || !push_san(exts, gens, lua_isnil(L, cn_idx)))
		return cb_ossl_fail(L, "self_signed_cert");

	if (lua_istable(L, 3))
		lua_getfield(L, 3, "extensions");
	else
		lua_pushnil(L);
	if (!lua_isnil(L, -1)) {
		if (!lua_istable(L, -1))
			luaL_argerror(L, 3, "extensions must be an array of tables");
		for (i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
			const char *oid;
			const unsigned char *der;
			size_t dlen, pos = 0, s, l;
			unsigned t;
			ASN1_OBJECT *obj;
			int crit;

			if (!lua_istable(L, -1))
				luaL_argerror(L, 3, "each extension must be a table");
			lua_getfield(L, -1, "oid");
			lua_getfield(L, -2, "der");
			lua_getfield(L, -3, "critical");
			oid = lua_tostring(L, -3);
			der = (const unsigned char *)lua_tolstring(L, -2, &dlen);
			crit = lua_toboolean(L, -1);
			if (oid == NULL || der == NULL || lua_type(L, -2) != LUA_TSTRING)
				luaL_argerror(L, 3, "an extension needs oid and der strings");
			if (der_next(der, dlen, &pos, dlen, &t, &s, &l) != DER_OK || pos != dlen)
				return cb_fail(L, "self_signed_cert: extension %s: der is not one DER value", oid);
			if ((obj = OBJ_txt2obj(oid, 1)) == NULL) {
				ERR_clear_error();
				return cb_fail(L, "self_signed_cert: bad extension OID '%s'", oid);
			}
			ok = push_ext(exts, obj, crit, der, dlen);
			ASN1_OBJECT_free(obj);
			if (!ok)
				return cb_ossl_fail(L, "self_signed_cert");
			lua_pop(L, 4);
		}
		lua_pop(L, 1);	/* the nil that ended the array */
	}
	lua_pop(L, 1);	/* extensions */

	if (RAND_bytes(serial, sizeof serial) != 1)
		return cb_ossl_fail(L, "self_signed_cert");
	serial[0] = (serial[0] & 0x7f) | 0x40;	/* positive, 16 bytes */
	slot = cb_box_new(L, free_x509);
	*slot = x = X509_new();
	ok = x && X509_set_version(x, X509_VERSION_3) &&
	     ASN1_STRING_set(X509_get_serialNumber(x), serial, sizeof serial) &&
	     set_cn(X509_get_subject_name(x), L, cn_idx) &&
	     X509_set_issuer_name(x, X509_get_subject_name(x)) &&
	     ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) &&
	     ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) &&
	     X509_set_pubkey(x, k->pkey);
	for (i = 0, next = sk_X509_EXTENSION_num(exts); ok && i < next; i++)
		ok = X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
	if (!ok || X509_sign(x, k->pkey, EVP_sha256()) <= 0)
		return cb_ossl_fail(L, "self_signed_cert");
	PUSH_I2D(L, i2d_X509, x, ok);
	return ok ? 1 : cb_ossl_fail(L, "self_signed_cert");
}

/* ---- PEM text ---- */

/* split_pem(bundle) -> { "-----BEGIN CERTIFICATE-----...\n", ... } | nil, err */
static int l_split_pem(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n), *p = s;
	pem_block b;
	int r, i = 0;

	lua_newtable(L);
	while ((r = pem_find(p, (size_t)(s + n - p), cert_labels, &b)) > 0) {
		lua_pushlstring(L, b.begin, (size_t)(b.end - b.begin));
		lua_pushliteral(L, "\n");
		lua_concat(L, 2);
		lua_rawseti(L, -2, ++i);
		p = b.end;
	}
	if (r < 0)
		return cb_fail(L, "split_pem: truncated CERTIFICATE block (no END line)");
	return 1;
}

/* pem_to_der(pem[, label]) -> DER of the first (matching) block | nil, err */
static int l_pem_to_der(lua_State *L)
{
	size_t n, len;
	const char *s = luaL_checklstring(L, 1, &n), *why = NULL;
	const char *label = luaL_optstring(L, 2, NULL);
	const char *labels[2] = { label, NULL };
	const unsigned char *der;
	pem_block b;
	int r = pem_find(s, n, label ? labels : NULL, &b);

	if (r <= 0)
		return cb_fail(L, "pem_to_der: %s", r < 0 ? "truncated PEM block (no END line)"
			       : label ? "no PEM block with that label" : "no PEM block");
	if ((der = pem_decode(L, &b, &len, &why)) == NULL)
		return cb_fail(L, "pem_to_der: %s", why);
	lua_pushlstring(L, (const char *)der, len);
	return 1;
}

/* der_to_pem(der, label) -> PEM with 64-column lines */
static int l_der_to_pem(lua_State *L)
{
	size_t n, i, j;
	const unsigned char *d = (const unsigned char *)luaL_checklstring(L, 1, &n);
	const char *label = luaL_checkstring(L, 2);
	luaL_Buffer b;

	for (i = 0; label[i]; i++)
		if (!((label[i] >= 'A' && label[i] <= 'Z') || (label[i] >= '0' && label[i] <= '9') ||
		      (label[i] == ' ' && i > 0 && label[i + 1] && label[i + 1] != ' ')))
			luaL_argerror(L, 2, "label must be like \"CERTIFICATE\"");
	if (i == 0 || i > 60)
		luaL_argerror(L, 2, "label must be like \"CERTIFICATE\"");
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "-----BEGIN ");
	luaL_addstring(&b, label);
	luaL_addstring(&b, "-----\n");
	for (i = 0; i < n; i += 48) {
		char line[66];
		size_t o = 0;
		for (j = i; j < n && j < i + 48; j += 3) {
			unsigned v = (unsigned)d[j] << 16;
			if (j + 1 < n)
				v |= (unsigned)d[j + 1] << 8;
			if (j + 2 < n)
				v |= d[j + 2];
			line[o++] = b64_chars[v >> 18 & 63];
			line[o++] = b64_chars[v >> 12 & 63];
			line[o++] = j + 1 < n ? b64_chars[v >> 6 & 63] : '=';
			line[o++] = j + 2 < n ? b64_chars[v & 63] : '=';
		}
		line[o++] = '\n';
		luaL_addlstring(&b, line, o);
	}
	luaL_addstring(&b, "-----END ");
	luaL_addstring(&b, label);
	luaL_addstring(&b, "-----\n");
	luaL_pushresult(&b);
	return 1;
}

/* ---- bytes ---- */

static int l_b64url_encode(lua_State *L)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);

	cb_push_b64url(L, (const unsigned char *)s, n);
	return 1;
}

/* b64url_decode(s) -> bytes | nil, err (strict: no padding, no whitespace) */
static int l_b64url_decode(lua_State *L)
{
	size_t n, o = 0;
	const char *s = luaL_checklstring(L, 1, &n), *why;
	luaL_Buffer b;
	unsigned char *out = (unsigned char *)luaL_buffinitsize(L, &b, cb_b64url_decoded_len(n) + 1);

	if ((why = cb_b64url_decode(s, n, out, &o)) != NULL)
		return cb_fail(L, "b64url_decode: %s", why);
	luaL_pushresultsize(&b, o);
	return 1;
}

static int digest(lua_State *L, const EVP_MD *md, const char *what)
{
	size_t n;
	const char *s = luaL_checklstring(L, 1, &n);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(s, n, out, &len, md, NULL))
		return cb_ossl_fail(L, what);
	lua_pushlstring(L, (const char *)out, len);
	return 1;
}

static int l_sha256(lua_State *L) { return digest(L, EVP_sha256(), "sha256"); }
static int l_sha384(lua_State *L) { return digest(L, EVP_sha384(), "sha384"); }
/* MD5 only names accounts: Certbot's account id is MD5(SPKI DER) in hex. */
static int l_md5(lua_State *L) { return digest(L, EVP_md5(), "md5"); }

const EVP_MD *cb_md_by_name(const char *name)
{
	if (strcmp(name, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(name, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(name, "sha512") == 0)
		return EVP_sha512();
	return NULL;
}

int cb_push_hmac(lua_State *L, const EVP_MD *md, int key_idx, int data_idx, const char *what)
{
	size_t kn, dn;
	const char *key = luaL_checklstring(L, key_idx, &kn);
	const char *data = luaL_checklstring(L, data_idx, &dn);
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (kn > INT_MAX)
		luaL_argerror(L, key_idx, "key too long");
	if (HMAC(md, key, (int)kn, (const unsigned char *)data, dn, out, &len) == NULL)
		return cb_ossl_fail(L, what);
	lua_pushlstring(L, (const char *)out, len);
	return 1;
}

/* hmac("sha256"|"sha384"|"sha512", key, data) -> raw MAC */
static int l_hmac(lua_State *L)
{
	const EVP_MD *md = cb_md_by_name(luaL_checkstring(L, 1));

	if (md == NULL)
		luaL_argerror(L, 1, "expected sha256, sha384 or sha512");
	return cb_push_hmac(L, md, 2, 3, "hmac");
}

static int l_consttime_equal(lua_State *L)
{
	size_t an, bn;
	const char *a = luaL_checklstring(L, 1, &an);
	const char *b = luaL_checklstring(L, 2, &bn);

	lua_pushboolean(L, an == bn && CRYPTO_memcmp(a, b, an) == 0);
	return 1;
}

static int l_random_bytes(lua_State *L)
{
	lua_Integer n = luaL_checkinteger(L, 1);
	unsigned char buf[4096];

	luaL_argcheck(L, n >= 1 && n <= (lua_Integer)sizeof buf, 1, "must be within 1..4096");
	if (RAND_bytes(buf, (int)n) != 1)
		return cb_ossl_fail(L, "random_bytes");
	lua_pushlstring(L, (const char *)buf, (size_t)n);
	OPENSSL_cleanse(buf, (size_t)n);
	return 1;
}

/* ---- registration ---- */

static const luaL_Reg key_methods[] = {
	{ "pem", key_pem },
	{ "public_pem", key_public_pem },
	{ "public_der", key_public_der },
	{ "info", key_info },
	{ "equals", key_equals },
	{ NULL, NULL }
};

static const luaL_Reg key_meta[] = {
	{ "__gc", key_gc },
	{ "__close", key_gc },
	{ "__tostring", key_tostring },
	{ NULL, NULL }
};

static const luaL_Reg crypto_funcs[] = {
	{ "generate_key", l_generate_key },
	{ "load_key", l_load_key },
	{ "make_csr", l_make_csr },
	{ "read_csr", l_read_csr },
	{ "parse_cert", l_parse_cert },
	{ "cert_not_after", l_cert_not_after },
	{ "cert_validity", l_cert_validity },
	{ "cert_matches_key", l_cert_matches_key },
	{ "ari_cert_id", l_ari_cert_id },
	{ "self_signed_cert", l_self_signed_cert },
	{ "split_pem", l_split_pem },
	{ "pem_to_der", l_pem_to_der },
	{ "der_to_pem", l_der_to_pem },
	{ "b64url_encode", l_b64url_encode },
	{ "b64url_decode", l_b64url_decode },
	{ "sha256", l_sha256 },
	{ "sha384", l_sha384 },
	{ "md5", l_md5 },
	{ "hmac", l_hmac },
	{ "consttime_equal", l_consttime_equal },
	{ "random_bytes", l_random_bytes },
	{ NULL, NULL }
};

int cb_open_crypto(lua_State *L)
{
	if (luaL_newmetatable(L, CB_KEY_MT)) {
		luaL_setfuncs(L, key_meta, 0);
		luaL_newlib(L, key_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_newlib(L, crypto_funcs);
	return 1;
}
