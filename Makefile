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

.PHONY: all ctests test check man test-c test-lua asan fuzz lint install rock demo bench clean help

all: $(EXE) $(SO)

help:
	@echo "make            build $(EXE) and $(SO)"
	@echo "make test       busted specs (Lua 5.4) and C tests; ends with 'N passed, N failed'"
	@echo "make check      lint + test + asan: what CI runs"
	@echo "make asan       C tests and crypto specs under AddressSanitizer + UBSan"
	@echo "make fuzz       libFuzzer targets (spec/fuzz/), FUZZ_TIME=$(FUZZ_TIME) s each"
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

# Everything CI runs: lint, the specs and C tests, and the sanitizer pass;
# the last line totals them all.
check:
	@rm -f $(B)/counts
	$(MAKE) lint
	$(MAKE) all ctests
	@COUNTS=$(CURDIR)/$(B)/counts sh spec/run.sh $(B); s1=$$?; \
	 $(MAKE) --no-print-directory asan COUNTS=$(CURDIR)/$(B)/counts; s2=$$?; \
	 sh spec/run.sh --total $(B)/counts; s3=$$?; \
	 [ $$s1 -eq 0 ] && [ $$s2 -eq 0 ] && [ $$s3 -eq 0 ]

# Sanitizers: a separate tree, so the normal build stays as it is.
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan:
	$(MAKE) B=$(B)/asan EXTRA_CFLAGS="$(ASAN_FLAGS)" all ctests
	@ASAN_LIB=$$($(CC) -print-file-name=libasan.so) SAN=1 COUNTS=$(COUNTS) sh spec/run.sh $(B)/asan

# libFuzzer targets (spec/fuzz/fuzz_*.c): the core built by clang with
# fuzzer instrumentation, ASan and UBSan in its own tree; each target runs
# FUZZ_TIME seconds from its seed corpus (spec/fuzz/corpus/<name>/; new
# inputs go to a scratch copy under $(FUZZ_B)).  A crash, leak, timeout or
# sanitizer report fails the run; the input is kept as $(FUZZ_B)/crash-*.
FUZZ_CC   ?= clang-14
FUZZ_TIME ?= 20
FUZZ_B    := $(B)/fuzz
FUZZ_SAN  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g $(FUZZ_SAN) $(WARN) -std=c11 -D_GNU_SOURCE -DCERTBOT_FUZZ -Icsrc $(PKG_CFLAGS)
FUZZ_OBJ  := $(patsubst csrc/%.c,$(FUZZ_B)/obj/%.o,$(CORE_SRC))
FUZZ_BINS := $(patsubst spec/fuzz/%.c,$(FUZZ_B)/%,$(sort $(wildcard spec/fuzz/fuzz_*.c)))
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_B)/obj/%.o: csrc/%.c $(wildcard csrc/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_B)/fuzz_%: spec/fuzz/fuzz_%.c spec/fuzz/fuzz.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) -llua5.4 $(CORE_LIBS) -lm

fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_BINS); do \
	  n=$${t##*/fuzz_}; c=$(FUZZ_B)/corpus/$$n; rm -rf $$c; mkdir -p $$c; \
	  echo "# fuzz_$$n: $(FUZZ_TIME) s from spec/fuzz/corpus/$$n"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $$t -max_total_time=$(FUZZ_TIME) -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_B)/crash-$$n- $$c spec/fuzz/corpus/$$n \
	    > $(FUZZ_B)/$$n.log 2>&1 || { tail -n 60 $(FUZZ_B)/$$n.log; echo "fuzz_$$n FAILED"; exit 1; }; \
	  echo "  $$(grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' $(FUZZ_B)/$$n.log | tr -s ' \n' '  ')"; \
	  done; echo "fuzz: $(words $(FUZZ_BINS)) targets, no crash"

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
.PHONY: test-faults
test-faults: all
	rm -f $(B)/faults-results.jsonl
	rc=0; CERTBOT_BUILD=$(B) busted --lua=$(LUA) --exclude-tags=none --tags=faults spec || rc=$$?; \
	CERTBOT_BUILD=$(B) busted --lua=$(LUA) spec/integration/locks_perms_spec.lua || rc=$$?; \
	$(LUA) -e 'package.path="./?.lua;lua/?.lua;"..package.path; package.cpath="$(B)/lib/?.so;"..package.cpath; io.write(require("spec.helpers.consistency").report("$(B)/faults-results.jsonl"))' > docs/reliability.md.tmp \
	&& mv docs/reliability.md.tmp docs/reliability.md; exit $$rc
