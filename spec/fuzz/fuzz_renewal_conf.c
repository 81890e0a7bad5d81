/*
 * fuzz_renewal_conf: renewal confs through lua/certbot/confobj.lua: the C
 * reader (core.sys.conf_read) against the Lua one, and the round trip
 * parse(write(parse(x))) == parse(x), abort()ing on a mismatch.  The
 * driver: spec/fuzz/fuzz_renewal_conf.lua.  Seeds (confs Certbot and we
 * write, quoting, lists, sections, webroot_map): spec/fuzz/corpus/renewal_conf/.
 */
#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lua_init("fuzz_renewal_conf.lua");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_lua_run(data, size);
}
