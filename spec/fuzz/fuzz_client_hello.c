/*
 * fuzz_client_hello: whole TLS records as a client would send them, into a
 * server-side SSL object made from the responder's own SSL_CTX (its
 * ClientHello and ALPN callbacks, one challenge certificate set).  OpenSSL
 * parses the records and the hello; this reaches our callbacks with every
 * shape of extension list OpenSSL lets through.  Seeds (real ClientHellos
 * from openssl s_client, with and without SNI and ALPN, TLS 1.2 and 1.3):
 * spec/fuzz/corpus/client_hello/.
 */
#include <stdlib.h>

#include "fuzz.h"

#define NAME "one.example.org"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test-harness state: one responder state for the whole run. */
static struct sa_server *server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	server = cb_fuzz_tls_server(NAME);
	if (server == NULL)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return cb_fuzz_client_hello(server, NAME, data, size);
}
