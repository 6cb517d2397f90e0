# gsae: Gemma-2 + sparse autoencoders on MPI/CPU clusters.
#
#   make            build build/gsae
#   make deps       install the Debian packages gsae needs (as root; prints the command otherwise)
#   make test       deps, build, then every test; ends with "N passed, N failed, N skipped"
#   make san        the same tests on an ASan+UBSan build (build-san/)
#   make bench      machine peaks (sgemm, memory bandwidth) and gsae's figures against them
#   make demo       deps, build, run the demo job on a small random Gemma-2 with several ranks
#   make fuzz       run the fuzz targets longer than the test suite does
#   make nightly    reproducibility run: manifest of output checksums, compared with the last one
#   make format     clang-format the sources; make check-format fails on a diff

MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR    := /usr/lib/$(MULTIARCH)

# Debian packages: build, run, test. Keep in step with README.md.
DEB_BUILD := gcc make pkg-config openmpi-bin libopenmpi-dev libopenblas-dev \
             libscalapack-openmpi-dev libnetcdf-mpi-dev libhdf5-openmpi-dev libarchive-dev \
             libjansson-dev libinih-dev libcmocka-dev libdnnl-dev zstd
DEB_TEST  := bc time netcdf-bin python3 python3-numpy python3-netcdf4 python3-sklearn python3-xarray \
             python3-dask python3-jsonschema clang clang-format slurm-wlm munge chromium
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

BUILD ?= build
CC    ?= cc
ARCH  ?= -march=native

# Open MPI's C flags without the mpicc wrapper, so every tool sees one compiler. These come from
# the installed packages and are computed when make reads this file: the targets that install
# packages first (test, demo, bench, fuzz, nightly, san) build in a second make started after
# `deps` (deps-build below), which sees them.
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_LIBS   := $(shell pkg-config --libs ompi-c 2>/dev/null)
NC_CFLAGS  := -I$(LIBDIR)/netcdf/mpi/include $(shell pkg-config --cflags hdf5-openmpi 2>/dev/null)
NC_LIBS    := -L$(LIBDIR)/netcdf/mpi/lib -Wl,-rpath,$(LIBDIR)/netcdf/mpi/lib -lnetcdf_mpi
BLAS_LIBS  := -lscalapack-openmpi -lopenblas
LIBS       := $(NC_LIBS) $(BLAS_LIBS) $(MPI_LIBS) -larchive -ljansson -linih -ldnnl -lm -lpthread

GIT_VERSION := $(shell git describe --always --dirty --tags 2>/dev/null || echo unknown)

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wvla -Wundef -Werror
# -fopenmp: gsae's own loops (norms, attention, decode GEMV) use OpenMP; BLAS has its threads.
BASE_CFLAGS := -std=c11 -O2 -g $(ARCH) -fopenmp -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L \
               -MMD -MP
CFLAGS   ?=
SANFLAGS :=
ALL_CFLAGS = $(BASE_CFLAGS) $(WARN) $(SANFLAGS) $(MPI_CFLAGS) $(NC_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = -fopenmp $(SANFLAGS) $(LDFLAGS)

LIB_SRC  := $(sort $(wildcard src/*.c io/*.c mpi/*.c))
JOB_SRC  := $(sort $(wildcard jobs/*.c report/*.c tools/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
JOB_OBJ  := $(JOB_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/tests/%)

.PHONY: all deps deps-build test test-unit test-mpi test-golden san bench demo fuzz format check-format clean nightly

all: $(BUILD)/gsae $(TEST_BIN) $(FUZZ_BIN) $(BENCH_BIN)

# io/ and mpi/ talk to int-counting APIs: narrowing must be explicit there.
$(BUILD)/io/%.o $(BUILD)/mpi/%.o: EXTRA_WARN := -Wconversion

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(EXTRA_WARN) -c $< -o $@

# The version (git describe) is compiled into src/gsae.o only, which is rebuilt whenever it
# changes, so results and manifests always name the commit that made them.
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = '$(GIT_VERSION)' ] || echo '$(GIT_VERSION)' > $@
$(BUILD)/src/gsae.o: $(BUILD)/version.stamp
$(BUILD)/src/gsae.o: EXTRA_WARN := -DGSAE_VERSION='"$(GIT_VERSION)"'
.PHONY: FORCE

$(BUILD)/libgsae.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/gsae: $(JOB_OBJ) $(BUILD)/libgsae.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(JOB_OBJ) $(BUILD)/libgsae.a $(LIBS)

# The report's drawing layer lives with the commands (report/): its test links that object.
$(BUILD)/tests/test_report_svg: $(BUILD)/report/report_svg.o
$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libgsae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $< $(filter %.o,$^) -o $@ $(BUILD)/libgsae.a $(LDFLAGS_ALL) -lcmocka $(LIBS)

# Fuzz targets link a deterministic driver (tests/fuzz/driver.c) so they run in the test suite;
# `make fuzz` builds the same targets with clang's libFuzzer for open-ended runs.
$(BUILD)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(BUILD)/libgsae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $< tests/fuzz/driver.c $(filter %.o,$^) -o $@ $(BUILD)/libgsae.a $(LDFLAGS_ALL) $(LIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libgsae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer $< $(filter %.o,$^) -o $@ $(BUILD)/libgsae.a $(LDFLAGS_ALL) $(LIBS)

$(BUILD)/tests/bench_%: tests/bench/bench_%.c $(BUILD)/libgsae.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $< -o $@ $(BUILD)/libgsae.a $(LDFLAGS_ALL) $(LIBS)

-include $(LIB_OBJ:.o=.d) $(JOB_OBJ:.o=.d)

deps:
	@missing=$$(for p in $(DEB_ALL); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: installing:" $$missing; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: not root; run: sudo apt-get install -y --no-install-recommends" $$missing; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing

# Install the missing packages, then build in a fresh make: one started before the install has
# empty package flags (no mpi.h). DEPS_GOALS: what that make builds (default all).
DEPS_GOALS ?= all
deps-build: deps
	@$(MAKE) --no-print-directory $(DEPS_GOALS)

# Tests run with the environment of tests/env.sh (Open MPI as root, thread counts, paths).
test: deps-build
	@tests/run.sh $(BUILD)

test-unit: all
	@tests/run.sh $(BUILD) unit

test-mpi: all
	@tests/run.sh $(BUILD) mpi

test-golden: all
	@tests/run.sh $(BUILD) golden

san: deps
	$(MAKE) BUILD=build-san SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@GSAE_SAN=1 tests/run.sh build-san

bench: deps-build
	@tests/bench/run.sh $(BUILD)

demo: deps-build
	@tests/demo.sh $(BUILD)

# libFuzzer targets with ASan/UBSan in build-fuzz/ (clang), each run FUZZ_SECONDS on its corpus.
# (-Wno-pass-failed: under sanitizers clang cannot always honour `omp simd`.)
FUZZ_SECONDS ?= 60
FUZZ_SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined -Wno-pass-failed
.PHONY: fuzz-bin
fuzz: deps
	$(MAKE) BUILD=build-fuzz CC=clang SANFLAGS="$(FUZZ_SANFLAGS)" fuzz-bin
	@tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

fuzz-bin: $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

# Reproducibility: run the fixed set of slurm/nightly.sh, write results/nightly/<date>/manifest,
# fail on drift from the previous manifest (NIGHTLY_DIR=, NIGHTLY_DATA= to redirect).
nightly: deps-build
	@slurm/nightly.sh $(BUILD)

FORMAT_SRC = $(wildcard src/*.[ch] io/*.[ch] mpi/*.[ch] jobs/*.[ch] report/*.[ch] tools/*.[ch] tests/*/*.[ch])
format:
	clang-format -i $(FORMAT_SRC)

check-format:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-fuzz
