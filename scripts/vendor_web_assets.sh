#!/usr/bin/env bash
# Refresh the front-end files the web application serves, from their npm releases.
# No CDN at run time: the files are copied into the package (src/leadsift/web/static/vendor)
# with their licences and a VERSIONS file. Run by hand when upgrading; needs npm and the
# npm registry. Usage: scripts/vendor_web_assets.sh [htmx-version] [chartjs-version]
set -euo pipefail
HTMX="${1:-2.0.11}"
CHARTJS="${2:-4.6.1}"
cd "$(dirname "$0")/.."
dest=src/leadsift/web/static/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "chart.js@$CHARTJS" >/dev/null)
for pkg in "htmx.org-$HTMX" "chart.js-$CHARTJS"; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
cp "$work/htmx.org-$HTMX/package/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$work/htmx.org-$HTMX/package/LICENSE" "$dest/htmx.LICENSE"
cp "$work/chart.js-$CHARTJS/package/dist/chart.umd.min.js" "$dest/chart.umd.min.js"
cp "$work/chart.js-$CHARTJS/package/LICENSE.md" "$dest/chart.js.LICENSE.md"
printf 'htmx.org %s (npm, dist/htmx.min.js, 0BSD)\nchart.js %s (npm, dist/chart.umd.min.js, MIT)\n' \
  "$HTMX" "$CHARTJS" > "$dest/VERSIONS"
echo "vendored htmx.org $HTMX and chart.js $CHARTJS into $dest"
