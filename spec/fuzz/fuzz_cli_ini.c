/*
 * fuzz_cli_ini: cli.ini files through lua/certbot/config.lua (parse,
 * events against the option table) and cli.parse, which applies every
 * value as a run would.  The driver, and what must hold:
 * spec/fuzz/fuzz_cli_ini.lua.  Seeds (Debian's cli.ini, the user guide's
 * examples, every value form): spec/fuzz/corpus/cli_ini/.
 */
#include "fuzz_lua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_lua_init("fuzz_cli_ini.lua");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_lua_run(data, size);
}
