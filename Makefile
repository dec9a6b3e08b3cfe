# latentmill - one non-recursive Makefile (GNU make).
#
#   make                 build build/latentmill
#   make test            unit, golden and integration tests (the README's test command)
#   make bench           measurements against peers (never part of `make test`)
#   make demo            the end-to-end demo on a synthetic miniature dataset
#   make asan            build + unit tests under Address/UB sanitizers (build-asan/)
#   make deps            install Debian packages (as root) or print the apt-get line
#   make bench-deps      the peers `make bench` compares against (torch, sklearn, faiss)
#   make install PREFIX=/opt/latentmill
#
# Options: CUDA=auto|0|1 (auto: on when nvcc is on PATH), SANITIZE=address,undefined,
#          NATIVE=1 (adds -march=native; build and compute nodes may differ), V=1,
#          BLAS=auto|openmp|pthread (which OpenBLAS build; see below).

CC ?= gcc
PREFIX ?= /usr/local
CUDA ?= auto
SANITIZE ?=
NATIVE ?= 0
# OpenBLAS comes in a pthread and an OpenMP build (Debian: libopenblas-pthread-dev and
# libopenblas-openmp-dev, both from `make deps`). auto = the OpenMP one when installed: its
# threads are libgomp's, the same pool as our own OpenMP loops, while the pthread build's
# idle threads spin in sched_yield against those loops (a fifth of the CPU time in a
# generator profile on 2 cores). The choice is fixed at link time with an rpath, whatever
# the system's libopenblas.so.0 alternative points to.
BLAS ?= auto

# pkg-config module -> Debian package (a missing module stops the build naming it).
PKG_MAP := ompi-c:libopenmpi-dev lmdb:liblmdb-dev libarchive:libarchive-dev \
           libcurl:libcurl4-openssl-dev libuv:libuv1-dev libturbojpeg:libturbojpeg0-dev \
           spng:libspng-dev openblas:libopenblas-dev libcjson:libcjson-dev inih:libinih-dev \
           zlib:zlib1g-dev \
           cmocka:libcmocka-dev
DEB_TOOLS := build-essential pkg-config openmpi-bin lmdb-utils zip unzip python3 python3-numpy \
             python3-pil python3-lmdb libjpeg-turbo-progs liblinear-tools openssl \
             slurm-wlm munge libpmix-dev iproute2 libopenblas-openmp-dev
DEB_PKGS := $(foreach p,$(PKG_MAP),$(word 2,$(subst :, ,$(p)))) $(DEB_TOOLS)
LIB_PKGS := ompi-c lmdb libarchive libcurl libuv libturbojpeg spng libcjson inih zlib

ifneq ($(filter deps bench-deps help clean,$(MAKECMDGOALS)),)
  SKIP_PKG_CHECK := 1
endif
ifndef SKIP_PKG_CHECK
  MISSING := $(foreach p,$(PKG_MAP),$(if $(shell pkg-config --exists $(word 1,$(subst :, ,$(p))) && echo y),,$(word 2,$(subst :, ,$(p)))))
  ifneq ($(strip $(MISSING)),)
    $(error missing libraries; install the Debian packages: $(strip $(MISSING)) (or run `make deps`))
  endif
endif

, := ,
ifneq ($(SANITIZE),)
  ifneq ($(filter-out address undefined,$(subst $(,), ,$(SANITIZE))),)
    $(error SANITIZE must be a comma list of address,undefined; got '$(SANITIZE)')
  endif
  BUILD ?= build-asan
else
  BUILD ?= build
endif

ifeq ($(CUDA),auto)
  CUDA_ON := $(if $(shell command -v nvcc 2>/dev/null),1,0)
else ifeq ($(CUDA),1)
  CUDA_ON := 1
else ifeq ($(CUDA),0)
  CUDA_ON := 0
else
  $(error CUDA must be auto, 0 or 1; got '$(CUDA)')
endif

BLAS_OMP_PC := /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/openblas-openmp/pkgconfig
ifeq ($(BLAS),auto)
  BLAS_ON := $(if $(wildcard $(BLAS_OMP_PC)/openblas.pc),openmp,pthread)
else ifneq ($(filter openmp pthread,$(BLAS)),)
  BLAS_ON := $(BLAS)
else
  $(error BLAS must be auto, openmp or pthread; got '$(BLAS)')
endif
ifeq ($(BLAS_ON),openmp)
  ifeq ($(wildcard $(BLAS_OMP_PC)/openblas.pc),)
    $(error BLAS=openmp needs the Debian package libopenblas-openmp-dev)
  endif
  BLAS_PC := PKG_CONFIG_PATH=$(BLAS_OMP_PC)
  BLAS_LIBS = $(shell $(BLAS_PC) pkg-config --libs openblas) \
              -Wl,-rpath,$(shell $(BLAS_PC) pkg-config --variable=libdir openblas)
else
  BLAS_PC :=
  BLAS_LIBS = $(shell pkg-config --libs openblas)
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(LIB_PKGS) 2>/dev/null) \
              $(shell $(BLAS_PC) pkg-config --cflags openblas 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) $(BLAS_LIBS)
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Werror
# -fno-trapping-math: the code never reads or traps FP exception flags, so the compiler may
# evaluate both arms of a select (results are unchanged, unlike -ffast-math). Without it
# GCC keeps a branch around a conditional multiply or divide and will not vectorise the
# per-element loops (activation, its gradient, the conv epilogues). -fvect-cost-model=cheap
# (GCC only; -O2 defaults to "very cheap", which skips loops of unknown length).
VECT := $(shell $(CC) -fvect-cost-model=cheap -Werror -E -x c /dev/null >/dev/null 2>&1 && \
          echo -fvect-cost-model=cheap)
CFLAGS := -std=c11 -O2 -g $(WARN) -fopenmp -fno-trapping-math $(VECT) -D_GNU_SOURCE -I. $(PKG_CFLAGS) \
          -MMD -MP
LDLIBS := $(PKG_LIBS) -fopenmp -lm -lpthread
ifeq ($(NATIVE),1)
  CFLAGS += -march=native
endif
ifneq ($(SANITIZE),)
  CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
  LDLIBS += -fsanitize=$(SANITIZE)
endif
GIT_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
CFLAGS += -DLM_VERSION='"0.1.0"' -I$(BUILD)/gen
VERSION_H := $(BUILD)/gen/lm_version.h

MODULES := shared kernels models datasets coordinator node reduce
LIB_SRC := $(wildcard $(addsuffix /*.c,$(MODULES)))
CLI_SRC := $(wildcard cli/*.c)
CU_SRC :=
ifeq ($(CUDA_ON),1)
  CU_SRC := $(wildcard kernels/cuda/*.cu)
  ifneq ($(CU_SRC),)
    CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v nvcc))
    CFLAGS += -DLM_HAVE_CUDA=1
    LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart -lcublas
  endif
endif
NVCCFLAGS := -O2 -I. -Werror all-warnings

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_SRC:%.cu=$(BUILD)/%.cu.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/liblatentmill.a
BIN := $(BUILD)/latentmill
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

ifeq ($(V),1)
  Q :=
else
  Q := @
endif

.PHONY: all test unit bench demo asan deps bench-deps install clean models features help
all: features $(BIN) $(UNIT_BIN) $(BENCH_BIN)

features:
	@echo "latentmill $(GIT_VERSION): build dir $(BUILD)"
	@echo "  $(if $(filter 1,$(CUDA_ON)),✓,✗) CUDA $(if $(filter 1,$(CUDA_ON)),(nvcc; $(words $(CU_SRC)) kernel files),(CUDA=$(CUDA)))"
	@echo "  $(if $(SANITIZE),✓,✗) sanitizers $(SANITIZE)"
	@echo "  ✓ OpenBLAS, $(BLAS_ON) build (BLAS=$(BLAS))"
	@echo "  ✓ OpenMP, OpenMPI, LMDB, libarchive, libuv, libjpeg-turbo, libspng"

# The git version lands in a header rewritten only when it changes, so the
# binary always reports the commit it was built from.
$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@echo '#define LM_GIT "$(GIT_VERSION)"' >$@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@
	@rm -f $@.tmp
$(BUILD)/cli/main.o: $(VERSION_H)
.PHONY: FORCE
FORCE:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC $<")
	$(Q)nvcc $(NVCCFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	@$(if $(Q),echo "  LD $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC $<")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test: all
	@BUILD=$(BUILD) tests/run.sh

unit: all
	@BUILD=$(BUILD) tests/run.sh unit

bench: all
	@BUILD=$(BUILD) tests/bench/run.sh

demo: all
	@BUILD=$(BUILD) tools/demo.sh

asan:
	$(MAKE) SANITIZE=address,undefined unit

models:
	@tools/fetch_models.sh

# Peers measured by `make bench` (not needed by `make test`): PyTorch for the
# generator and inversion, scikit-learn for the SVMs, faiss for the indexes,
# SciPy for the alignment reference.
BENCH_PKGS := python3-torch python3-sklearn python3-faiss python3-scipy curl
bench-deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BENCH_PKGS); \
	else \
	  echo "run as root:  apt-get install -y $(BENCH_PKGS)"; \
	fi

deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEB_PKGS); \
	else \
	  echo "run as root:  apt-get install -y $(DEB_PKGS)"; \
	fi

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/latentmill/jobs $(DESTDIR)$(PREFIX)/share/latentmill/slurm
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/latentmill
	install -m 644 jobs/*.ini $(DESTDIR)$(PREFIX)/share/latentmill/jobs/
	install -m 644 slurm/*.sbatch $(DESTDIR)$(PREFIX)/share/latentmill/slurm/
	install -m 755 slurm/local-cluster.sh tools/fetch_models.sh $(DESTDIR)$(PREFIX)/share/latentmill/

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
