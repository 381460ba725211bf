#!/usr/bin/env bash
# release.sh — the release build: static janitor binaries for linux/amd64 and
# linux/arm64, an OCI image of them (multi-arch, no Docker daemon), and SHA256SUMS.
#
#   scripts/release.sh [--out DIR]   build into DIR (default dist/)
#   scripts/release.sh --check       build twice in temporary directories and fail unless
#                                    the two SHA256SUMS are identical (CI: scripts/test.sh)
#
# VERSION (default: `git describe --tags --always --dirty`) names the build; the revision
# is HEAD and the build date HEAD's commit time, so two builds of one commit are
# byte-identical: -trimpath, no VCS stamping (the -X values say it), fixed file times
# and owners in the image's tar layers, gzip without a name or time, the image's
# created time = the commit time.
#
# Output (DIR):
#   janitor-VERSION-linux-amd64, janitor-VERSION-linux-arm64   the binaries
#   janitor-VERSION-oci.tar      an OCI image layout (index.json, blobs/) with an image
#                                index of both platforms, tagged VERSION; load it with
#                                `skopeo copy oci-archive:FILE:VERSION docker://REGISTRY/janitor:VERSION`
#                                or `crane push FILE REGISTRY/janitor:VERSION` (after untar)
#   SHA256SUMS                   of the three files above
#
# Why the image is written here, not by ko, crane or buildah: the image is `scratch`
# plus two files, so there is no base image to pull (none can be pulled on the build
# machines) and nothing for a builder to do but tar, hash and write four small JSON
# documents; ko and crane want a registry or a base reference for the parts that matter
# here (crane mutate and index append read from a registry), and buildah needs
# privileges and storage configuration CI does not have. Writing the layout with tar,
# gzip and sha256sum keeps every byte reproducible and visible. The image's user,
# entrypoint and command are read from deploy/Dockerfile, so the two cannot disagree; its
# CA bundle is the build machine's Debian ca-certificates (the Dockerfile's is its
# golang:bookworm stage's, the same package).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

sha() { sha256sum "$1" | cut -d' ' -f1; }

out=dist
check=
while [ $# -gt 0 ]; do
	case $1 in
	--out)
		[ $# -ge 2 ] || { echo "release: --out needs a directory" >&2; exit 2; }
		out=$2
		shift 2
		;;
	--check) check=1; shift ;;
	*) echo "release: unknown argument $1 (want --out DIR or --check)" >&2; exit 2 ;;
	esac
done

if [ -n "$check" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	"$0" --out "$tmp/a" 2>"$tmp/a.log" || { cat "$tmp/a.log" >&2; exit 1; }
	"$0" --out "$tmp/b" 2>"$tmp/b.log" || { cat "$tmp/b.log" >&2; exit 1; }
	if ! cmp -s "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS"; then
		echo "release: two builds of one commit differ (not reproducible):" >&2
		diff "$tmp/a/SHA256SUMS" "$tmp/b/SHA256SUMS" >&2 || true
		exit 1
	fi
	# The amd64 binary says what it is (the -X paths are right).
	if [ "$(go env GOARCH)" = amd64 ]; then
		v=$("$tmp"/a/janitor-*-linux-amd64 version | head -n 1)
		case $v in "janitor $(sed -n 's/.*janitor-\(.*\)-linux-amd64$/\1/p' "$tmp/a/SHA256SUMS")") ;; *)
			echo "release: the binary says \"$v\", not its release version" >&2
			exit 1
			;;
		esac
		"$tmp"/a/janitor-*-linux-amd64 version | grep -q "revision:   $(git rev-parse HEAD)" ||
			{ echo "release: the binary does not carry the revision $(git rev-parse HEAD)" >&2; exit 1; }
	fi
	# The image: every blob is what its name says; with umoci (Debian's), the amd64 image
	# unpacks and its binary, user and command are the Dockerfile's.
	mkdir "$tmp/oci"
	tar -C "$tmp/oci" -xf "$tmp"/a/janitor-*-oci.tar
	for b in "$tmp"/oci/blobs/sha256/*; do
		[ "$(sha "$b")" = "${b##*/}" ] || { echo "release: blob ${b##*/} does not match its digest" >&2; exit 1; }
	done
	if command -v umoci >/dev/null && command -v jq >/dev/null; then
		tag=$(sed -n 's/.*janitor-\(.*\)-oci.tar$/\1/p' "$tmp/a/SHA256SUMS")-linux-amd64
		umoci unpack --image "$tmp/oci:$tag" "$tmp/bundle" >/dev/null
		[ "$(jq -c '[.process.user.uid, .process.user.gid]' "$tmp/bundle/config.json")" = "[$(sed -n 's/^USER \([0-9]*\):\([0-9]*\)$/\1,\2/p' deploy/Dockerfile)]" ] ||
			{ echo "release: the image's user is not the Dockerfile's USER" >&2; exit 1; }
		[ "$(jq -c .process.args "$tmp/bundle/config.json")" = "$(sed -n 's/^ENTRYPOINT \["\(.*\)"\]$/["\1",/p' deploy/Dockerfile)$(sed -n 's/^CMD \[\(.*\)\]$/\1]/p' deploy/Dockerfile | tr -d ' ')" ] ||
			{ echo "release: the image's entrypoint and command are not the Dockerfile's: $(jq -c .process.args "$tmp/bundle/config.json")" >&2; exit 1; }
		"$tmp/bundle/rootfs/janitor" version >/dev/null
		[ -s "$tmp/bundle/rootfs/etc/ssl/certs/ca-certificates.crt" ] || { echo "release: the image has no CA bundle" >&2; exit 1; }
	else
		echo "release: umoci or jq is not installed: the image was not unpacked (apt-get install umoci jq)" >&2
	fi
	echo "release: reproducible:" >&2
	cat "$tmp/a/SHA256SUMS" >&2
	exit 0
fi

version=${VERSION:-$(git describe --tags --always --dirty)}
# The version goes into file names, JSON and an -X flag: keep it to a tag's characters.
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || { echo "release: VERSION \"$version\" is not a tag-like name (letters, digits, . _ + -)" >&2; exit 2; }
revision=$(git rev-parse HEAD)
epoch=$(git log -1 --format=%ct HEAD)
date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
ca=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca" ] || { echo "release: $ca is missing: apt-get install ca-certificates" >&2; exit 1; }

# What the image promises, from the Dockerfile: USER uid:gid, ENTRYPOINT and CMD in exec form.
dockerfile=deploy/Dockerfile
user=$(sed -n 's/^USER \([0-9]*:[0-9]*\)$/\1/p' "$dockerfile")
entrypoint=$(sed -n 's/^ENTRYPOINT \(\[.*\]\)$/\1/p' "$dockerfile")
cmd=$(sed -n 's/^CMD \(\[.*\]\)$/\1/p' "$dockerfile")
[ -n "$user" ] && [ -n "$entrypoint" ] && [ -n "$cmd" ] ||
	{ echo "release: $dockerfile: want USER uid:gid, ENTRYPOINT [...] and CMD [...] lines" >&2; exit 1; }
[ "$entrypoint" = '["/janitor"]' ] || { echo "release: $dockerfile's ENTRYPOINT is $entrypoint; this script puts the binary at /janitor" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/oci" "$out/rootfs"
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$version -X $pkg.Revision=$revision -X $pkg.BuildDate=$date"

# blob FILE: moves FILE into the layout's blobs, prints its digest.
blob() {
	local d
	d=$(sha "$1")
	mv "$1" "$out/oci/blobs/sha256/$d"
	echo "$d"
}
size() { stat -c %s "$out/oci/blobs/sha256/$1"; }
# tarball DIR FILE: a reproducible tar of DIR's contents.
tarball() {
	tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=ustar \
		-C "$1" -cf "$2" .
}

mkdir -p "$out/oci/blobs/sha256"
manifests=()
tags=()
for arch in amd64 arm64; do
	bin=$out/janitor-$version-linux-$arch
	# timetzdata embeds time zones (scratch has none), as the Dockerfile does.
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS= go build -trimpath -buildvcs=false -tags timetzdata \
		-ldflags "$ldflags" -o "$bin" ./cmd/janitor

	# The layer: what the Dockerfile's final stage copies, root-owned, fixed times.
	root=$out/rootfs
	rm -rf "$root"
	install -d -m 0755 "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs"
	install -m 0644 "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
	install -m 0755 "$bin" "$root/janitor"
	tarball "$root" "$out/layer.tar"
	rm -rf "$root"
	diffid=$(sha "$out/layer.tar")
	gzip -n -9 "$out/layer.tar"
	layer=$(blob "$out/layer.tar.gz")

	printf '{"architecture":"%s","os":"linux","created":"%s","config":{"User":"%s","Entrypoint":%s,"Cmd":%s,"Labels":{"org.opencontainers.image.version":"%s","org.opencontainers.image.revision":"%s","org.opencontainers.image.created":"%s","org.opencontainers.image.licenses":"Apache-2.0","org.opencontainers.image.title":"janitor"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"%s","created_by":"scripts/release.sh"}]}' \
		"$arch" "$date" "$user" "$entrypoint" "$cmd" "$version" "$revision" "$date" "$diffid" "$date" >"$out/config.json"
	config=$(blob "$out/config.json")

	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
		"$config" "$(size "$config")" "$layer" "$(size "$layer")" >"$out/manifest.json"
	manifest=$(blob "$out/manifest.json")
	manifests+=("$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"platform":{"architecture":"%s","os":"linux"}}' \
		"$manifest" "$(size "$manifest")" "$arch")")
	# Each platform's manifest is tagged too (VERSION-linux-ARCH), for tools that take one
	# image, not an index (umoci unpack).
	tags+=("$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s-linux-%s"}}' \
		"$manifest" "$(size "$manifest")" "$version" "$arch")")
done

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$(IFS=,; echo "${manifests[*]}")" >"$out/index.json"
index=$(blob "$out/index.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}},%s]}' \
	"$index" "$(size "$index")" "$version" "$(IFS=,; echo "${tags[*]}")" >"$out/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci/oci-layout"
find "$out/oci" -type d -exec chmod 0755 {} + && find "$out/oci" -type f -exec chmod 0644 {} +
tarball "$out/oci" "$out/janitor-$version-oci.tar"
rm -rf "$out/oci"

(cd "$out" && sha256sum "janitor-$version-linux-amd64" "janitor-$version-linux-arm64" "janitor-$version-oci.tar" >SHA256SUMS)
echo "release: $version ($revision, $date) in $out:" >&2
cat "$out/SHA256SUMS" >&2
