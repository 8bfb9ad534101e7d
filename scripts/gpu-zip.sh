#!/usr/bin/env bash
# Adds libzip and zlib's header to .deps/local for a GPU-machine build (run here, from the project
# root; scripts/gpu-deps.sh calls it and packs .deps for the device tool).
#  - libzip (hf/: pytorch_model.bin): the GPU image has no libzip at all, so Debian's headers
#    (zip.h, zipconf.h) and libzip.so* are copied. At run time libzip.so.4 needs libz.so.1,
#    libbz2.so.1.0 and libcrypto.so.3, which the image has (Python's zlib, bz2 and ssl modules use
#    them); they are not copied, since a copy on LD_LIBRARY_PATH would shadow the image's own.
#  - zlib (models/: the checkpoint CRC-32): the image has the runtime libz.so.1 but no zlib.h, so
#    only zlib.h and zconf.h are copied; models/CMakeLists.txt then links the image's libz.so.1.
set -euo pipefail
cd "$(dirname "$0")/.."
local_dir=.deps/local
lib=$local_dir/lib/x86_64-linux-gnu
for f in /usr/include/zip.h /usr/include/zipconf.h /usr/include/zlib.h /usr/include/zconf.h; do
  test -f "$f" || { echo "[gpu-zip] no $f here: ./scripts/setup-deps.sh first" >&2; exit 1; }
done
mkdir -p "$local_dir/include" "$lib"
cp /usr/include/zip.h /usr/include/zipconf.h /usr/include/zlib.h /usr/include/zconf.h "$local_dir/include/"
cp -a /usr/lib/x86_64-linux-gnu/libzip.so* "$lib/"
echo "[gpu-zip] libzip $(sed -n 's/^#define LIBZIP_VERSION "\(.*\)"/\1/p' /usr/include/zipconf.h) and the zlib header in $local_dir"
