/**
 * `pipework completion bash`: a completion script for bash (verbs, options, guests, host
 * interfaces). Names found on the host are not ours: a guest names its links (and a NIC given
 * back keeps that name), a named netns can be called almost anything, so a name may hold `$(…)`,
 * backticks, quotes, a newline or a `*`. The script never lets bash expand one: names are listed
 * with globs and read line by line (never through `compgen -W`, which expands its words, nor an
 * unquoted `$(…)`, which splits and globs), matched with `[[ ]]`, and offered as they are when
 * made of plain characters, else quoted by `printf %q` — so accepting one types the name, not code.
 */
export const BASH_COMPLETION = `# bash completion for pipework — source <(pipework completion bash)
# Names from the host (netns, links, containers) are never expanded: see _pipework_offer.

# _pipework_offer CUR WORD...: add each WORD that starts with CUR to COMPREPLY, as it is when it
# is made of plain characters, quoted by printf %q otherwise.
_pipework_offer() {
  local cur=$1 word quoted plain='^[A-Za-z0-9_.,:@%+=-]+$'
  shift
  for word in "$@"; do
    [[ -n $word ]] || continue
    if [[ $word =~ $plain ]]; then
      [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
    else
      printf -v quoted '%q' "$word"
      [[ $word == "$cur"* || $quoted == "$cur"* ]] && COMPREPLY+=("$quoted")
    fi
  done
  return 0
}

# _pipework_entries DIR: the names in DIR, into the array _pipework_names (a glob: nothing is run).
_pipework_entries() {
  local f shopts
  shopts=$(shopt -p nullglob failglob dotglob)
  shopt -s nullglob; shopt -u failglob dotglob
  for f in "$1"/*; do _pipework_names+=("\${f##*/}"); done
  eval "$shopts"
}

_pipework() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=\${COMP_WORDS[COMP_CWORD]}; prev=\${COMP_WORDS[COMP_CWORD-1]}; cword=$COMP_CWORD; words=("\${COMP_WORDS[@]}"); }
  COMPREPLY=()
  local verbs=(del ls batch route rule tc apply destroy inspect graph schema watch cni help completion)
  local opts=(-i -l -a --direct-phys --replace --all --stale --owner --dhcp-timeout --dhcp-image --timeout --wait --dry-run --json --help --version)
  case $prev in
    -a) _pipework_offer "$cur" 4 6; return ;;
    -i|-l|--timeout|--dhcp-timeout|--dhcp-image) return ;;
    --owner) _pipework_offer "$cur" cli watch topology cni; return ;;
    help) _pipework_offer "$cur" attach "\${verbs[@]}"; return ;;
    completion) _pipework_offer "$cur" bash; return ;;
    batch|apply|destroy|inspect|graph|-o)
      # File names: bash quotes them itself (-o filenames).
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return ;;
    cni) _pipework_offer "$cur" install uninstall daemon; return ;;
    --format) _pipework_offer "$cur" mermaid dot html; return ;;
  esac
  if [[ $cur == -* ]]; then _pipework_offer "$cur" "\${opts[@]}"; return; fi
  local n=0 w
  for w in "\${words[@]:1:cword-1}"; do [[ $w == -* ]] || n=$((n+1)); done
  local _pipework_names=()
  if ((n == 0)); then
    _pipework_entries /sys/class/net
    _pipework_offer "$cur" "\${verbs[@]}" "\${_pipework_names[@]}"
  elif ((n == 1)); then
    _pipework_entries /var/run/netns
    while IFS= read -r w; do _pipework_names+=("$w"); done < <(docker ps --format '{{.Names}}' 2>/dev/null; podman ps --format '{{.Names}}' 2>/dev/null)
    _pipework_offer "$cur" "\${_pipework_names[@]}"
  elif ((n == 2)); then
    _pipework_offer "$cur" udhcpc udhcpc-f dhclient dhclient-f dhcpcd dhcpcd-f dhcp
  fi
}
complete -F _pipework pipework
`;
