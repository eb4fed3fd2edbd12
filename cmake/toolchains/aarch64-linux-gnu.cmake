# Cross toolchain: Debian 12 x86_64 host -> aarch64 Linux (glibc), tests run under qemu-user.
#
#   cmake -S . -B build-aarch64 --toolchain cmake/toolchains/aarch64-linux-gnu.cmake
#
# Needs (tools/dev cross installs them): g++-aarch64-linux-gnu, qemu-user, capnproto, pkgconf:arm64,
# `dpkg --add-architecture arm64` and the :arm64 -dev packages (libgtest-dev:arm64, ...).
#
# Where things are found:
#   - target libraries and their CMake packages: the Debian multiarch tree
#     (/usr/lib/aarch64-linux-gnu, /usr/include/aarch64-linux-gnu) that the :arm64 packages
#     install into, plus /usr/aarch64-linux-gnu, the cross compiler's own libc/libstdc++;
#   - architecture-independent headers and CMake files of those packages: /usr/include and
#     /usr/share (Debian multiarch keeps them shared between architectures);
#   - programs (capnp, capnpc-c++, ...): the host only.
# The host's amd64 libraries live in /usr/lib/x86_64-linux-gnu, which is never searched:
# CMake only adds lib/<CMAKE_LIBRARY_ARCHITECTURE> = lib/aarch64-linux-gnu to its search.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(STASIS_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${STASIS_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${STASIS_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${STASIS_CROSS_TRIPLE})

# Search roots. /usr/aarch64-linux-gnu holds the cross compiler's libc and libstdc++. The :arm64
# packages install into the multiarch tree under /usr: libraries, CMake packages and .pc files
# in /usr/lib/aarch64-linux-gnu, arch-dependent headers in /usr/include/aarch64-linux-gnu,
# shared headers in /usr/include, arch-independent CMake files in /usr/share. Those multiarch
# directories cannot be roots themselves: find_package searches <prefix>/lib/<arch>/cmake/<name>*/
# with prefix /usr, so /usr must stay /usr. Root /usr keeps it so, and /usr/local (host-built
# software) is not searched. Entries given with -DCMAKE_FIND_ROOT_PATH=... are kept, so a
# prefix holding other aarch64 builds can be added.
list(APPEND CMAKE_FIND_ROOT_PATH /usr/${STASIS_CROSS_TRIPLE} /usr)
list(REMOVE_DUPLICATES CMAKE_FIND_ROOT_PATH)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config for the target: Debian's pkgconf:arm64 provides the triplet wrapper, which reads
# only /usr/lib/aarch64-linux-gnu/pkgconfig and /usr/share/pkgconfig. Without it, point the
# host pkg-config there.
if(EXISTS /usr/bin/${STASIS_CROSS_TRIPLE}-pkg-config)
  set(PKG_CONFIG_EXECUTABLE /usr/bin/${STASIS_CROSS_TRIPLE}-pkg-config CACHE FILEPATH "pkg-config for the target")
else()
  set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${STASIS_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
endif()

# Target programs (tests, gtest_discover_tests, add_test of an executable target) run through
# qemu-user (looked up in PATH when a test runs):
#   -L   the dynamic loader comes from the cross toolchain's sysroot;
#   -E LD_LIBRARY_PATH=...  that loader takes libc and libstdc++ from the same sysroot, so loader,
#        libc and libstdc++ are one build, the one the cross compiler targets. (Otherwise it would
#        take libc from the :arm64 multiarch package, another Debian revision of glibc, through
#        the host's /etc/ld.so.cache.) The :arm64 libraries (capnp, boost, zstd, ...) are still
#        found in /usr/lib/aarch64-linux-gnu.
#   -E STASIS_UNDER_QEMU=1  tells the tests they run under qemu-user (tests/runtime/test_support.h,
#        docs/platforms.md): set in the guest only, so exactly when a program runs under qemu.
set(CMAKE_CROSSCOMPILING_EMULATOR
  qemu-aarch64;-L;/usr/${STASIS_CROSS_TRIPLE}
  -E;LD_LIBRARY_PATH=/usr/${STASIS_CROSS_TRIPLE}/lib
  -E;STASIS_UNDER_QEMU=1)
