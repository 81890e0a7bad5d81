/*
 * fuzz.h: the entry points csrc/standalone.c and csrc/http.c have when
 * built with -DCERTBOT_FUZZ (`make fuzz`).  What each checks is written
 * above its definition there; the targets here only hand libFuzzer's input
 * over.  (The targets that go through Lua use fuzz_lua.h instead.)
 */
#ifndef CERTBOT_FUZZ_H
#define CERTBOT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct sa_server;

int cb_fuzz_http_request(const uint8_t *data, size_t size);
int cb_fuzz_tls_extensions(const uint8_t *data, size_t size);
struct sa_server *cb_fuzz_tls_server(const char *name);
int cb_fuzz_client_hello(struct sa_server *s, const char *name, const uint8_t *data,
			 size_t size);
int cb_fuzz_http_headers(const uint8_t *data, size_t size);

#endif
