/*
 * fuzz_http_request: the http-01 responder's request head parser
 * (http_scan, http_request_line, http_header_line through http_received)
 * and http_respond.  Input: one byte choosing how the rest is split into
 * reads, then what a client sends.  Seeds: spec/fuzz/corpus/http_request/.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return cb_fuzz_http_request(data, size);
}
