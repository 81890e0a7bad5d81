/*
 * fuzz_tls_extensions: what the tls-alpn-01 responder parses by hand in
 * its ClientHello callback: the raw ALPN and server_name extension bodies
 * OpenSSL hands over (SSL_client_hello_get0_ext), and the SNI name check.
 * Input: a big-endian uint16 cut point, then the ALPN body and the
 * server_name body.  Seeds: spec/fuzz/corpus/tls_extensions/.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return cb_fuzz_tls_extensions(data, size);
}
