#!/bin/sh
# The two distfiles of the FreeBSD port (sysutils/hvvss), built from this checkout:
#   hvvss-VERSION.tgz               npm pack of the built tree (the release tarball)
#   hvvss-node-modules-VERSION.tar.gz
#                                   node_modules/ as "npm ci --omit=dev" installs it on FreeBSD,
#                                   from package-lock.json: koffi with its prebuilt binaries
#                                   @koromix/koffi-freebsd-x64 and -arm64 (optional dependencies,
#                                   so never --omit=optional); the port keeps its ARCH's one.
# Ports build without network, hence the second file. Needs npm 9.6 or later (--os, --cpu).
#
# Usage: packaging/freebsd/make-distfiles.sh [DESTDIR]   (default: the current directory)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(cd "${1:-.}" && pwd)
version=$(node -p 'require(process.argv[1]).version' "$root/package.json")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$root" && npm run build >/dev/null && npm pack --pack-destination "$dest" >/dev/null)

for cpu in x64 arm64; do
	mkdir "$work/$cpu"
	cp "$root/package.json" "$root/package-lock.json" "$work/$cpu/"
	(cd "$work/$cpu" && npm ci --omit=dev --ignore-scripts --os=freebsd --cpu="$cpu" \
	    --no-audit --no-fund --loglevel=error)
	[ -d "$work/$cpu/node_modules/@koromix/koffi-freebsd-$cpu" ] || {
		echo "make-distfiles: npm did not install @koromix/koffi-freebsd-$cpu" >&2
		exit 1
	}
done
cp -R "$work/arm64/node_modules/@koromix/koffi-freebsd-arm64" "$work/x64/node_modules/@koromix/"
# npm ci's bookkeeping, not part of the package.
rm -f "$work/x64/node_modules/.package-lock.json"
(cd "$work/x64" && tar -czf "$dest/hvvss-node-modules-$version.tar.gz" node_modules)
echo "$dest/hvvss-$version.tgz"
echo "$dest/hvvss-node-modules-$version.tar.gz"
