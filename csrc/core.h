/*
 * core.h: what the C core's sources share.
 *
 * Conventions (DESIGN.md, STYLE.md):
 *  - Expected failures return nil, "what: why"[, code] to Lua (cb_fail,
 *    cb_ossl_fail); luaL_error/luaL_argerror only for misuse by the caller.
 *  - Every OpenSSL object lives in userdata pushed before the object exists,
 *    with a __gc that frees it and sets the pointer to NULL.
 *  - No mutable globals: state lives in objects.
 *  - Each csrc/<sub>.c exports one cb_open_<sub>() that pushes its table.
 */
#ifndef CERTBOT_CORE_H
#define CERTBOT_CORE_H

#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>
#include <openssl/evp.h>

#define CB_VERSION "0.1.0"

#if defined(__GNUC__)
#define CB_EXPORT __attribute__((visibility("default")))
#define CB_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CB_EXPORT
#define CB_PRINTF(f, a)
#endif

/* Metatable names. */
#define CB_KEY_MT "certbot.key"

/* nil, formatted message; returns 2 so callers can `return cb_fail(...)`. */
int cb_fail(lua_State *L, const char *fmt, ...) CB_PRINTF(2, 3);

/* nil, "what: <reason from OpenSSL's error queue>"; clears the queue. */
int cb_ossl_fail(lua_State *L, const char *what);

/* Key userdata (crypto.c). The key a Lua value holds, checked at the
 * boundary: raises luaL_argerror when idx is not a key, or a public key was
 * passed where a private one is needed. */
typedef struct cb_key {
	EVP_PKEY *pkey;
	int is_private;
} cb_key;
cb_key *cb_checkkey(lua_State *L, int idx, int want_private);
/* Push a new, empty key userdata (pkey NULL) ready to be filled. */
cb_key *cb_newkey(lua_State *L);

/* What a key is (crypto.c): CB_RSA, CB_EC with *ec_bits 256/384/521, or 0
 * for anything else. */
#define CB_RSA 1
#define CB_EC 2
int cb_pkey_kind(const EVP_PKEY *pkey, int *ec_bits);
/* "P-256", "P-384", "P-521" for 256/384/521; NULL otherwise. */
const char *cb_curve_name(int ec_bits);
/* "RSA private key", "EC P-384 public key": for messages. */
const char *cb_key_describe(const cb_key *k, char *buf, size_t size);

/* GC-owned box for a temporary (crypto.c): pushes a userdata whose __gc
 * calls fn on the pointer stored in the returned slot (if non-NULL).
 * cb_box_free frees it now and leaves the slot NULL. */
typedef void (*cb_free_fn)(void *);
void **cb_box_new(lua_State *L, cb_free_fn fn);
void cb_box_free(void **slot);

/* base64url without padding (crypto.c). out must hold cb_b64url_len(n)+1. */
size_t cb_b64url_len(size_t n);
size_t cb_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Push base64url of the bytes as a Lua string. */
void cb_push_b64url(lua_State *L, const unsigned char *in, size_t n);
/* Strict decode (no padding, no whitespace, zero trailing bits); out must
 * hold cb_b64url_decoded_len(n) bytes.  NULL on success, else the reason. */
size_t cb_b64url_decoded_len(size_t n);
const char *cb_b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outn);

/* "sha256" | "sha384" | "sha512" -> EVP_MD, or NULL (crypto.c). */
const EVP_MD *cb_md_by_name(const char *name);
/* Push HMAC(md, arg key_idx, arg data_idx) as raw bytes; nil, err on failure. */
int cb_push_hmac(lua_State *L, const EVP_MD *md, int key_idx, int data_idx, const char *what);

/* Registration: each pushes one table onto the stack. */
int cb_open_crypto(lua_State *L);
int cb_open_jws(lua_State *L);
int cb_open_sys(lua_State *L);
int cb_open_http(lua_State *L);
int cb_open_standalone(lua_State *L);
int cb_open_ocsp(lua_State *L);
int cb_open_dnsnet(lua_State *L);
int cb_open_proc(lua_State *L);
int cb_open_augeas(lua_State *L);

CB_EXPORT int luaopen_certbot_core(lua_State *L);

#endif
