/*
 * fuzz_acme: ACME responses (directory, account, order, authorization,
 * finalize, certificate, problem documents) through lua/certbot/acme.lua
 * as it reads them: cjson.safe, then its checks, over the C/Lua boundary
 * of one Lua state with certbot.core.  The driver, and what must hold:
 * spec/fuzz/fuzz_acme.lua.  Seeds (Pebble's and Let's Encrypt's shapes,
 * and hostile variants): spec/fuzz/corpus/acme/.
 */
#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lua_init("fuzz_acme.lua");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_lua_run(data, size);
}
