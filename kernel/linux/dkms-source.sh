#!/usr/bin/env bash
# Stage the sources DKMS builds cse.ko from: DEST/cse-<version>/ with
# dkms.conf at its top and the tree layout the Kbuild expects.
#   kernel/linux/dkms-source.sh /usr/src && dkms install cse/<version>
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?usage: dkms-source.sh DEST_DIR}
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$root/kernel/linux/dkms.conf")
out="$dest/cse-$version"
rm -rf "$out"
mkdir -p "$out/cse" "$out/kernel/linux" "$out/tests/conformance"
cp -r "$root/cse/include" "$root/cse/src" "$out/cse/"
cp "$root"/kernel/linux/{Kbuild,Makefile,*.c,*.h} "$out/kernel/linux/"
cp "$root"/tests/conformance/{conformance.h,conf_server.c,env_scenarios.c,batch_scenarios.c,scenarios.c} \
   "$out/tests/conformance/"
cp "$root/kernel/linux/dkms.conf" "$out/"
echo "$out"
