/*
 * fuzz_http_headers: a response's header block through csrc/http.c as
 * curl hands it over: on_header (line folding, the max_header cap), then
 * the parsers of the headers ACME reads, Retry-After (delta-seconds and
 * the three HTTP-date forms), Link (RFC 8288), Location (resolved against
 * the request URL), Replay-Nonce; and the badNonce scan of a problem
 * body.  What must hold: above cb_fuzz_http_headers in csrc/http.c.
 * Seeds (Pebble's and Let's Encrypt's headers, every date form, hostile
 * Link values): spec/fuzz/corpus/http_headers/.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return cb_fuzz_http_headers(data, size);
}
