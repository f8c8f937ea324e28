/** `pipework completion bash`: a completion script for bash (verbs, options, guests, host interfaces). */
export const BASH_COMPLETION = `# bash completion for pipework — source <(pipework completion bash)
_pipework() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur=\${COMP_WORDS[COMP_CWORD]}; prev=\${COMP_WORDS[COMP_CWORD-1]}; cword=$COMP_CWORD; words=("\${COMP_WORDS[@]}"); }
  local verbs="del ls batch route rule tc apply destroy inspect graph schema watch cni help completion"
  local opts="-i -l -a --direct-phys --replace --all --stale --owner --dhcp-timeout --dhcp-image --timeout --wait --dry-run --json --help --version"
  case $prev in
    -a) COMPREPLY=($(compgen -W "4 6" -- "$cur")); return ;;
    -i|-l|--timeout|--dhcp-timeout|--dhcp-image) return ;;
    --owner) COMPREPLY=($(compgen -W "cli watch topology cni" -- "$cur")); return ;;
    help) COMPREPLY=($(compgen -W "attach $verbs" -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash" -- "$cur")); return ;;
    batch|apply|destroy|inspect|graph|-o) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    cni) COMPREPLY=($(compgen -W "install uninstall daemon" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "mermaid dot html" -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); return; fi
  local n=0 w
  for w in "\${words[@]:1:cword-1}"; do [[ $w == -* ]] || n=$((n+1)); done
  local guests
  guests="$(ls /var/run/netns 2>/dev/null) $(docker ps --format '{{.Names}}' 2>/dev/null) $(podman ps --format '{{.Names}}' 2>/dev/null)"
  if ((n == 0)); then
    COMPREPLY=($(compgen -W "$verbs $(ls /sys/class/net 2>/dev/null)" -- "$cur"))
  elif ((n == 1)); then
    COMPREPLY=($(compgen -W "$guests" -- "$cur"))
  elif ((n == 2)); then
    COMPREPLY=($(compgen -W "udhcpc udhcpc-f dhclient dhclient-f dhcpcd dhcpcd-f dhcp" -- "$cur"))
  fi
}
complete -F _pipework pipework
`;
