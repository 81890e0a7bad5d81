/*
 * fuzz_pem: PEM bundles and DER through split_pem and the X.509 readers of
 * csrc/crypto.c (parse_cert, cert_not_after, cert_validity, ari_cert_id,
 * pem_to_der, cert_matches_key; load_key and read_csr share the PEM
 * reader).  The driver, and what must hold: spec/fuzz/fuzz_pem.lua.
 * Seeds (Pebble chains, certificates with and without AKI, DER, keys,
 * CSRs, broken framing): spec/fuzz/corpus/pem/.
 */
#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lua_init("fuzz_pem.lua");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_lua_run(data, size);
}
