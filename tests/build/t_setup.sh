#!/usr/bin/env bash
# First contact: on a machine without the packages, `make test` / `make demo` install them and
# then build with the flags the packages provide, in one invocation. The Makefile reads those
# flags (pkg-config ompi-c, hdf5-openmpi) when it is parsed, which on a fresh machine is before
# `make deps` has installed anything; the targets that install build in a fresh make (deps-build).
# Here a copy of the sources is built with stand-ins for dpkg-query, apt-get and pkg-config that
# report nothing installed until the stand-in apt-get has "installed" the packages.
set -euo pipefail
cd "$T"
mkdir -p repo fake
cp -r "$TOP/Makefile" "$TOP/src" "$TOP/io" "$TOP/mpi" "$TOP/jobs" "$TOP/report" "$TOP/tools" repo/
marker="$T/installed"
cat >fake/dpkg-query <<SH
#!/bin/sh
[ -e "$marker" ] && echo 'install ok installed'
exit 0
SH
cat >fake/apt-get <<SH
#!/bin/sh
echo "apt-get \$*" >>"$T/apt.log"
case " \$* " in *" install "*) touch "$marker" ;; esac
exit 0
SH
cat >fake/pkg-config <<SH
#!/bin/sh
[ -e "$marker" ] || exit 1
exec /usr/bin/pkg-config "\$@"
SH
cat >fake/id <<SH
#!/bin/sh
[ "\$1" = -u ] && { echo "\${FAKE_UID:-0}"; exit 0; }
exec /usr/bin/id "\$@"
SH
chmod +x fake/*
export PATH="$T/fake:$PATH"
mk() { make -C repo --no-print-directory BUILD=b "$@"; }

# 0. The stand-ins hide Open MPI: a build that does not install first has no mpi.h (so this
#    test would catch a Makefile that builds with flags read before the install).
if mk b/jobs/cli.o >control.log 2>&1; then
    cat control.log; echo "FAIL: cli.o compiled without Open MPI's flags: the stand-ins do not hide them"; exit 1
fi
grep -q 'mpi.h' control.log || { cat control.log; echo "FAIL: control build failed for another reason"; exit 1; }
rm -rf repo/b

# 1. Not root: make deps prints the apt-get command and installs nothing.
if FAKE_UID=1000 mk deps >user.log 2>&1; then cat user.log; echo "FAIL: make deps as non-root exited 0"; exit 1; fi
grep -q 'not root; run: sudo apt-get install -y --no-install-recommends .*libopenmpi-dev' user.log ||
    { cat user.log; echo "FAIL: no apt-get line for a non-root user"; exit 1; }
[ ! -e "$marker" ] || { echo "FAIL: installed as non-root"; exit 1; }

# 2. As root, one invocation: install, then build (gsae, the binary the demo and tests start).
mk -j2 deps-build DEPS_GOALS=b/gsae >build.log 2>&1 || { tail -n 30 build.log; echo "FAIL: deps-build"; exit 1; }
for p in libopenmpi-dev libdnnl-dev clang-format python3-xarray python3-dask python3-jsonschema slurm-wlm; do
    grep -q "install .* $p\( \|$\)" apt.log || { cat apt.log; echo "FAIL: $p not installed by make deps"; exit 1; }
done
mpi_inc=$(/usr/bin/pkg-config --cflags-only-I ompi-c | awk '{print $1}')
grep -E -q "cc .*$mpi_inc.* -c jobs/cli.c" build.log ||
    { grep 'jobs/cli.c' build.log; echo "FAIL: cli.c not compiled with $mpi_inc"; exit 1; }
repo/b/gsae version >version.txt || { echo "FAIL: the built gsae does not run"; exit 1; }
echo "deps-build: installed, then built with $mpi_inc in one make invocation ($(head -n 1 version.txt))"
