/*
 * fuzz_jws: base64url (crypto.b64url_decode), JWKs (jws.key_from_jwk, the
 * members of RSA and EC keys, public and private) and JWSs (flattened and
 * compact, verified with the key their header carries) through csrc/crypto.c
 * and csrc/jws.c.  The driver, and what must hold: spec/fuzz/fuzz_jws.lua.
 * Seeds: spec/fuzz/corpus/jws/.
 */
#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lua_init("fuzz_jws.lua");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_lua_run(data, size);
}
