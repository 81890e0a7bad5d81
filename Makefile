# certbot: C core + embedded Lua 5.4.  `make help` lists the targets.

CC      ?= cc
LUA     ?= lua5.4
PREFIX  ?= /usr/local
DESTDIR ?=
CFLAGS  ?= -O2 -g
B       ?= build

PKG_CFLAGS := $(shell pkg-config --cflags lua5.4 libcurl openssl augeas)
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALLCFLAGS = $(CFLAGS) $(WARN) -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden \
            -Icsrc $(PKG_CFLAGS) $(EXTRA_CFLAGS)
CORE_LIBS := -lssl -lcrypto -lpthread -ldl
CJSON_A := $(firstword $(wildcard /usr/lib/*/liblua5.4-cjson.a) /usr/lib/x86_64-linux-gnu/liblua5.4-cjson.a)

CORE_SRC := $(filter-out csrc/main.c,$(sort $(wildcard csrc/*.c)))
CORE_OBJ := $(patsubst csrc/%.c,$(B)/obj/%.o,$(CORE_SRC))
LUA_SRC  := $(sort $(shell find lua plugins -name '*.lua' 2>/dev/null))
C_TESTS  := $(patsubst spec/c/%.c,$(B)/ctest/%,$(sort $(wildcard spec/c/test_*.c)))

EXE := $(B)/certbot
SO  := $(B)/lib/certbot/core.so

.PHONY: all ctests test check man test-c test-lua asan fuzz fuzz-short valgrind lint install rock demo bench clean help

all: $(EXE) $(SO)

help:
	@echo "make            build $(EXE) and $(SO)"
	@echo "make test       busted specs (Lua 5.4) and C tests; ends with 'N passed, N failed'"
	@echo "make check      lint + test + asan + fuzz-short + valgrind: what CI runs"
	@echo "make asan       C tests, #core specs and integration specs under ASan + UBSan"
	@echo "make fuzz       libFuzzer targets (spec/fuzz/), FUZZ_TIME=$(FUZZ_TIME) s each"
	@echo "make fuzz-short the same, FUZZ_SHORT_TIME=$(FUZZ_SHORT_TIME) s each (CI)"
	@echo "make valgrind   certonly and a no-op renew of 100 lineages under valgrind"
	@echo "make test-faults the long crash, disk and signal sweeps; writes docs/reliability.md"
	@echo "make test-nonce the Pebble specs with 20% of nonces rejected (TESTPLAN D2)"
	@echo "make lint       luacheck over lua/, plugins/, spec/"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=..."
	@echo "make rock       luarocks make (Lua 5.4) from rocks/certbot-scm-1.rockspec"
	@echo "make demo       start a local Pebble and issue a certificate from it"
	@echo "make bench      benchmarks side by side with Debian's certbot"

$(B)/obj/%.o: csrc/%.c csrc/core.h csrc/embed.h
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(B)/embed.c: $(LUA_SRC) csrc/gen_embed.lua
	@mkdir -p $(@D)
	$(LUA) csrc/gen_embed.lua $@ $(LUA_SRC)

$(B)/obj/embed.o: $(B)/embed.c csrc/embed.h
	$(CC) $(ALLCFLAGS) -c -o $@ $<

# The executable links Lua and cjson statically and exports none of their
# symbols.  libcurl (and its ~30 dependencies) is dlopen()ed by http.c on
# first use, so --version, --help and a no-op renew never pay the ~6 ms its
# loading costs.  OpenSSL stays shared: libcurl brings libcrypto.so anyway,
# and a second, static copy cost ~4 MiB of peak RSS during issuance.
STATIC_LIBS := $(firstword $(wildcard /usr/lib/*/liblua5.4.a))
$(EXE): $(B)/obj/main.o $(B)/obj/embed.o $(CORE_OBJ)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -Wl,--exclude-libs,ALL -o $@ $^ $(CJSON_A) $(STATIC_LIBS) -lssl -lcrypto -lpthread -lm -ldl

# The module for Debian's lua5.4 and LuaRocks: no liblua inside (the
# interpreter exports the API; a second copy breaks luaL_checkversion).
$(SO): $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -shared -o $@ $^ $(CORE_LIBS)

$(B)/ctest/%: spec/c/%.c spec/c/tap.h $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -Ispec/c -o $@ $< $(CORE_OBJ) -llua5.4 $(CORE_LIBS) -lm

ctests: $(C_TESTS)

test: all $(C_TESTS)
	@sh spec/run.sh $(B)

# Everything CI runs: lint, the specs and C tests, the sanitizer pass, a
# short fuzz pass (each target counts as one test) and the valgrind runs
# (two tests); the last line totals them all.
check:
	@rm -f $(B)/counts
	$(MAKE) lint
	$(MAKE) all ctests
	@COUNTS=$(CURDIR)/$(B)/counts sh spec/run.sh $(B); s1=$$?; \
	 $(MAKE) --no-print-directory asan COUNTS=$(CURDIR)/$(B)/counts; s2=$$?; \
	 $(MAKE) --no-print-directory fuzz-short COUNTS=$(CURDIR)/$(B)/counts; s4=$$?; \
	 $(MAKE) --no-print-directory valgrind COUNTS=$(CURDIR)/$(B)/counts; s5=$$?; \
	 sh spec/run.sh --total $(B)/counts; s3=$$?; \
	 [ $$s1 -eq 0 ] && [ $$s2 -eq 0 ] && [ $$s3 -eq 0 ] && [ $$s4 -eq 0 ] && [ $$s5 -eq 0 ]

# Sanitizers: a separate tree, so the normal build stays as it is.  The C
# tests, the #core specs, then integration specs against $(B)/asan/certbot
# with the normal build's module on the spec side (spec/run.sh says why).
# The whole integration suite takes as long under ASan as without (~6 min,
# mostly waiting on Pebble), so CI runs a representative subset, issuance,
# renewal and lineage management, plus the executable's J4 limits;
# SAN_INTEGRATION=spec/integration runs all.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_INTEGRATION ?= spec/integration/certonly_spec.lua spec/integration/renew_spec.lua \
                   spec/integration/manage_spec.lua spec/limits_spec.lua
asan: all
	$(MAKE) B=$(B)/asan EXTRA_CFLAGS="$(ASAN_FLAGS)" all ctests
	@ASAN_LIB=$$($(CC) -print-file-name=libasan.so) SAN=1 SAN_HOST=$(B) COUNTS=$(COUNTS) \
	  SAN_INTEGRATION="$(SAN_INTEGRATION)" sh spec/run.sh $(B)/asan

# libFuzzer targets (spec/fuzz/fuzz_*.c): the core built by clang with
# fuzzer instrumentation, ASan and UBSan in its own tree; each target runs
# FUZZ_TIME seconds from its seed corpus (spec/fuzz/corpus/<name>/; new
# inputs go to a scratch copy under $(FUZZ_B)).  A crash, leak, timeout,
# sanitizer report or broken property fails the target; the input is kept
# as $(FUZZ_B)/crash-<name>-*, to replay with `$(FUZZ_B)/fuzz_<name> FILE`.
# Every target runs; with COUNTS set (make check) each is one test there.
# fuzz-short is CI's pass: FUZZ_SHORT_TIME seconds each.
FUZZ_CC   ?= clang-14
FUZZ_TIME ?= 20
FUZZ_SHORT_TIME ?= 5
FUZZ_B    := $(B)/fuzz
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g $(FUZZ_SAN) $(WARN) -std=c11 -D_GNU_SOURCE -DCERTBOT_FUZZ -Icsrc $(PKG_CFLAGS)
FUZZ_OBJ  := $(patsubst csrc/%.c,$(FUZZ_B)/obj/%.o,$(CORE_SRC))
FUZZ_BINS := $(patsubst spec/fuzz/%.c,$(FUZZ_B)/%,$(sort $(wildcard spec/fuzz/fuzz_*.c)))
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_B)/obj/%.o: csrc/%.c $(wildcard csrc/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# Targets that go through Lua (fuzz_lua.h) load the tree's Lua modules
# and their driver spec/fuzz/fuzz_<name>.lua from CB_FUZZ_TREE.
$(FUZZ_B)/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/fuzz.h spec/fuzz/fuzz_lua.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DCB_FUZZ_TREE='"$(CURDIR)"' -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
	  $(CJSON_A) -llua5.4 $(CORE_LIBS) -lm

fuzz: $(FUZZ_BINS)
	@ok=0; bad=0; for t in $(FUZZ_BINS); do \
	  n=$${t##*/fuzz_}; c=$(FUZZ_B)/corpus/$$n; rm -rf $$c; mkdir -p $$c; \
	  echo "# fuzz_$$n: $(FUZZ_TIME) s from spec/fuzz/corpus/$$n"; \
	  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_B)/crash-$$n- $$c spec/fuzz/corpus/$$n \
	    > $(FUZZ_B)/$$n.log 2>&1; then \
	    ok=$$((ok + 1)); \
	    echo "#   $$(grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' $(FUZZ_B)/$$n.log | tr -s ' \n' '  ')"; \
	  else \
	    bad=$$((bad + 1)); tail -n 60 $(FUZZ_B)/$$n.log; echo "fuzz_$$n FAILED"; \
	  fi; \
	  done; \
	  [ -z "$(COUNTS)" ] || echo "$$ok $$bad 0" >> $(COUNTS); \
	  if [ $$bad -eq 0 ]; then echo "# fuzz: $$ok targets, no crash"; \
	  else echo "fuzz: $$bad of $$((ok + bad)) targets FAILED"; exit 1; fi

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_SHORT_TIME)

# TESTPLAN J2: certonly against Pebble and a no-op renew over 100 lineages
# under valgrind (spec/helpers/valgrind.lua); fails on exit 99 (a memory
# error or a definite leak) or on a failed run.  Reports: $(B)/valgrind/.
valgrind: all
	@COUNTS=$(COUNTS) $(LUA) spec/helpers/valgrind.lua $(B)

lint:
	luacheck -q lua plugins spec csrc/gen_embed.lua

# The man page is generated from the option table, like --help.
man: $(B)/certbot.1
$(B)/certbot.1: $(EXE)
	CERTBOT_DEFAULT_CLI_INI= $(LUA) -e 'package.path="lua/?.lua;lua/?/init.lua;"..package.path; package.cpath="$(B)/lib/?.so;"..package.cpath; io.write(require("certbot.help").manpage())' > $@.tmp && mv $@.tmp $@

install: all man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(EXE) $(DESTDIR)$(PREFIX)/bin/certbot
	install -m 0644 $(B)/certbot.1 $(DESTDIR)$(PREFIX)/share/man/man1/certbot.1

rock:
	luarocks --lua-version=5.4 make rocks/certbot-scm-1.rockspec

demo: all
	$(LUA) spec/helpers/demo.lua $(B)

bench: all
	sh bench/startup.sh
	sh bench/issue.sh

clean:
	rm -rf $(B)

# The long fault sweeps (TESTPLAN A, B; spec/integration/sweeps_spec.lua,
# tagged #faults) and the lock/permission cases, then docs/reliability.md
# from the results they append to $(B)/faults-results.jsonl.
# The seconds each spec file takes alone, which spec/shard.lua balances
# the parallel shards of spec/run.sh by.
.PHONY: spec-timings
spec-timings: all
	for f in $$(find spec -name '*_spec.lua' | sort); do s=$$(date +%s); \
	  CERTBOT_BUILD=$(B) busted --lua=$(LUA) $$f >/dev/null 2>&1; \
	  echo "$$(($$(date +%s) - s)) $$f"; done > spec/timings.txt

# TESTPLAN D2: every Pebble-based spec with a fifth of the nonces rejected.
.PHONY: test-nonce
test-nonce: all
	CERTBOT_SPEC_NONCEREJECT=20 CERTBOT_BUILD=$(B) busted --lua=$(LUA) spec/integration

.PHONY: test-faults
test-faults: all
	rm -f $(B)/faults-results.jsonl
	rc=0; CERTBOT_BUILD=$(B) busted --lua=$(LUA) --exclude-tags=none --tags=faults spec || rc=$$?; \
	CERTBOT_BUILD=$(B) busted --lua=$(LUA) spec/integration/locks_perms_spec.lua || rc=$$?; \
	$(LUA) -e 'package.path="./?.lua;lua/?.lua;"..package.path; package.cpath="$(B)/lib/?.so;"..package.cpath; io.write(require("spec.helpers.consistency").report("$(B)/faults-results.jsonl"))' > docs/reliability.md.tmp \
	&& mv docs/reliability.md.tmp docs/reliability.md; exit $$rc
