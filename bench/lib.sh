# Shared by the benchmarks: a work directory removed at exit, and local docker-registry
# instances on loopback (their pids in $WORK/pids, killed at exit). Source it after `cd`.
WORK=$(mktemp -d)
# Registries start inside $(…) subshells: their pids go to a file, not an array.
cleanup() {
  if [[ -f $WORK/pids ]]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done <"$WORK/pids"
  fi
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts a fresh registry; prints host:port.
start_registry() {
  local port dir
  port=$(free_port)
  dir=$(mktemp -d -p "$WORK")
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
  secret: bench
YAML
  /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 </dev/null &
  echo $! >>"$WORK/pids"
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
    sleep 0.05
  done
  echo "127.0.0.1:$port"
}

