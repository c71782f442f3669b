#!/usr/bin/env bash
# Fetches the pinned Zipkin artifacts that tests/blackbox/test_zipkin_lens_ui.py needs,
# from Maven Central with Maven (`mvn dependency:copy`, so no repository host is named
# here), into one directory (default: target/ui-deps; git-ignored):
#
#   zipkin-lens/            the static files of io.zipkin:zipkin-lens (the UI), unpacked
#   zipkin-server-exec.jar  io.zipkin:zipkin-server, classifier exec (the real server)
#   VERSIONS                which versions those are
#
# zipkin-lens 3.4.3 is the newest zipkin-lens jar on Maven Central; zipkin-server 3.4.3 is
# the server release that bundles that same zipkin-lens, so the real server's own UI and
# the UI served in front of weft are the same build.
#
# Maven checks each download against the .sha1 file Maven Central publishes beside it
# (--strict-checksums: a mismatch fails); this script then checks the files against the
# SHA-1s pinned below (copied from those .sha1 files). Does nothing when the directory
# already holds these versions.
#
#   tests/ui/fetch_zipkin_ui_deps.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."

ZIPKIN_VERSION=3.4.3
LENS_SHA1=8c1c93535aa219428e851ae5a726542ba0790afb
SERVER_SHA1=8fc4c7bae5461fa9e090f5f3248a4028b1254076

dir=${1:-target/ui-deps}
versions="zipkin-lens $ZIPKIN_VERSION sha1 $LENS_SHA1
zipkin-server $ZIPKIN_VERSION exec sha1 $SERVER_SHA1"
if [ -f "$dir/VERSIONS" ] && [ "$(cat "$dir/VERSIONS")" = "$versions" ]; then
  echo "zipkin-lens and zipkin-server $ZIPKIN_VERSION already in $dir"
  exit 0
fi
for tool in mvn java unzip sha1sum; do
  command -v "$tool" >/dev/null || { echo "fetch_zipkin_ui_deps: $tool not found" >&2; exit 1; }
done

download=$(mktemp -d -t weft-ui-deps.XXXXXX)
trap 'rm -rf "$download"' EXIT
for artifact in "io.zipkin:zipkin-lens:$ZIPKIN_VERSION" "io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec"; do
  if ! mvn --batch-mode --strict-checksums -Dstyle.color=never dependency:copy \
    -Dartifact="$artifact" -DoutputDirectory="$download" -Dmdep.overWriteReleases=true \
    >"$download/mvn.log" 2>&1; then
    cat "$download/mvn.log" >&2
    echo "fetch_zipkin_ui_deps: mvn dependency:copy $artifact failed" >&2
    exit 1
  fi
done

check_sha1() {
  local file=$1 wanted=$2 got
  got=$(sha1sum "$file" | cut -d' ' -f1)
  if [ "$got" != "$wanted" ]; then
    echo "fetch_zipkin_ui_deps: $(basename "$file") has SHA-1 $got, expected $wanted" >&2
    exit 1
  fi
}
check_sha1 "$download/zipkin-lens-$ZIPKIN_VERSION.jar" "$LENS_SHA1"
check_sha1 "$download/zipkin-server-$ZIPKIN_VERSION-exec.jar" "$SERVER_SHA1"

rm -rf "$dir"
mkdir -p "$dir"
# The jar holds the built UI under zipkin-lens/ (index.html, static/, favicon.ico).
unzip -q "$download/zipkin-lens-$ZIPKIN_VERSION.jar" 'zipkin-lens/*' -d "$dir"
mv "$download/zipkin-server-$ZIPKIN_VERSION-exec.jar" "$dir/zipkin-server-exec.jar"
echo "$versions" >"$dir/VERSIONS"
echo "zipkin-lens and zipkin-server $ZIPKIN_VERSION fetched into $dir"
