#!/usr/bin/env bash
# nginx.sh - run a private nginx that serves a directory on loopback.
#
#   scripts/nginx.sh start CONTENT_DIR RUN_DIR [PORT]
#       Writes RUN_DIR/nginx.conf, starts /usr/sbin/nginx daemonized with
#       everything (pid, error log, temp dirs) under RUN_DIR, waits until it
#       answers and prints http://127.0.0.1:PORT on stdout. Without PORT a
#       free one is picked with sbx_freeport (retried if another process
#       takes it first).
#   scripts/nginx.sh stop RUN_DIR
#       Stops that nginx: QUIT (graceful), then TERM, then KILL, each with a
#       bounded wait. Succeeds quietly if nothing is running.
#
# GET /__sbx_ok answers 200 "ok\n" without touching the disk, for benchmarks
# and readiness checks. Environment: SBX_NGINX (nginx binary, default
# /usr/sbin/nginx), SBX_BUILD_DIR (where bin/sbx_freeport is).
# Exit status: 0 done, 1 failure (message on stderr), 2 usage error.
set -euo pipefail

prog=nginx.sh
NGINX=${SBX_NGINX:-/usr/sbin/nginx}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/.." && pwd)

die() {
  echo "$prog: $*" >&2
  exit 1
}

# usage [STATUS]: prints the synopsis (to stdout for --help) and exits.
usage() {
  local status=${1:-2}
  if [ "$status" = 0 ]; then exec 3>&1; else exec 3>&2; fi
  cat >&3 <<EOF
usage: scripts/nginx.sh start CONTENT_DIR RUN_DIR [PORT]
       scripts/nginx.sh stop RUN_DIR
EOF
  exit "$status"
}

# The paths go into nginx.conf as quoted strings; refuse what would need
# escaping there ($ would even be expanded as a variable by "root").
check_conf_path() {
  case $2 in
  *[\"\\\$\;\{\}\'[:cntrl:]]*)
    die "$1 \"$2\" contains a character nginx.conf cannot take (one of \" \\ \$ ; { } ' or a control character); use another directory" ;;
  esac
}

# Is pid a live (not zombie) process? The daemonized master is reparented
# to PID 1, which in a container may never reap it.
alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  if [ -r "/proc/$pid/status" ]; then
    state=$(awk '/^State:/ { print $2; exit }' "/proc/$pid/status" 2>/dev/null || true)
    [ "$state" != Z ] || return 1
  fi
  return 0
}

# Children of pid (nginx workers), from /proc.
children() {
  local f
  for f in /proc/[0-9]*/status; do
    awk -v p="$1" '/^PPid:/ { if ($2 == p) ok = 1 } /^Pid:/ { me = $2 }
                   END { if (ok) print me }' "$f" 2>/dev/null || true
  done
}

# wait_gone PID TENTHS: waits up to TENTHS/10 s for pid to go away.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# Does the nginx on port answer its readiness location?
probe() {
  local port=$1 line
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -s --max-time 1 "http://127.0.0.1:$port/__sbx_ok" 2>/dev/null || true)" = ok ]
    return
  fi
  (
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET /__sbx_ok HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 1 line <&3 || exit 1
    case $line in "HTTP/1."?" 200 "*) exit 0 ;; *) exit 1 ;; esac
  ) 2>/dev/null
}

find_freeport() {
  local c
  for c in ${SBX_BUILD_DIR:+"$SBX_BUILD_DIR/bin/sbx_freeport"} \
           "$src/build/bin/sbx_freeport" "$(command -v sbx_freeport 2>/dev/null || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  die "sbx_freeport not found in \$SBX_BUILD_DIR/bin, $src/build/bin or PATH; build it: cmake --build build --target sbx_freeport (or pass a PORT)"
}

write_conf() {
  local content=$1 run=$2 port=$3 user_line="" types_line nofile conns
  if [ "$(id -u)" = 0 ]; then
    # Workers would otherwise drop to "nobody", which cannot read a
    # content tree inside a 0700 temp directory.
    user_line="user root;"
  fi
  if [ -r /etc/nginx/mime.types ]; then
    types_line="include /etc/nginx/mime.types;"
  else
    types_line="types { text/html html; text/css css; application/javascript js; text/plain txt; image/jpeg jpg jpeg; image/png png; image/webp webp; image/x-icon ico; font/woff2 woff2; application/pdf pdf; application/zip zip; application/json json; application/xml xml; }"
  fi
  # Enough connections for any load generator, but within the fd limit so
  # nginx does not warn at every start.
  nofile=$(ulimit -n)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 8256 ]; then
    conns=8192
  elif [ "$nofile" -gt 320 ]; then
    conns=$((nofile - 64))
  else
    conns=256
  fi
  cat >"$run/nginx.conf.tmp" <<EOF
# Written by scripts/nginx.sh; regenerated at every start.
$user_line
worker_processes 1;
pid "$run/nginx.pid";
error_log "$run/error.log" warn;

events {
  worker_connections $conns;
}

http {
  $types_line
  default_type application/octet-stream;
  types_hash_max_size 4096;
  access_log off;
  server_tokens off;

  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  open_file_cache max=10000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;

  client_body_temp_path "$run/tmp/client_body";
  proxy_temp_path "$run/tmp/proxy";
  fastcgi_temp_path "$run/tmp/fastcgi";
  uwsgi_temp_path "$run/tmp/uwsgi";
  scgi_temp_path "$run/tmp/scgi";

  server {
    listen 127.0.0.1:$port;
    server_name localhost;
    root "$content";
    index index.html;

    location = /__sbx_ok {
      default_type text/plain;
      return 200 "ok\n";
    }
  }
}
EOF
  mv -f "$run/nginx.conf.tmp" "$run/nginx.conf"
}

cmd_start() {
  [ $# -ge 2 ] && [ $# -le 3 ] || usage
  local content=$1 run=$2 port=${3:-} attempts=1 attempt freeport="" pid="" i

  [ -x "$NGINX" ] || die "nginx not found at $NGINX; run scripts/setup.sh (or set SBX_NGINX to the nginx binary)"
  [ -d "$content" ] || die "content directory $content does not exist; generate it first, e.g. sbx-gen-web-static --seed 42 --content $content --dataset DATASET"
  if [ -n "$port" ]; then
    [[ $port =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
      die "PORT must be a number from 1 to 65535, got \"$port\""
  else
    freeport=$(find_freeport)
    attempts=5
  fi
  mkdir -p "$run" || die "cannot create run directory $run"
  content=$(cd "$content" && pwd -P)
  run=$(cd "$run" && pwd -P)
  check_conf_path CONTENT_DIR "$content"
  check_conf_path RUN_DIR "$run"

  if [ -f "$run/nginx.pid" ]; then
    pid=$(tr -dc 0-9 <"$run/nginx.pid")
    if [ -n "$pid" ] && alive "$pid"; then
      die "an nginx (pid $pid) is already running for $run; stop it first: scripts/nginx.sh stop $run"
    fi
    rm -f "$run/nginx.pid"
  fi
  mkdir -p "$run/tmp/client_body" "$run/tmp/proxy" "$run/tmp/fastcgi" \
           "$run/tmp/uwsgi" "$run/tmp/scgi"

  # -e sends the errors from before the config is read to RUN_DIR too
  # (nginx >= 1.19.5); without it they would go to /var/log/nginx.
  local eopt=()
  if "$NGINX" -h 2>&1 | grep -q -- '-e filename'; then
    eopt=(-e "$run/error.log")
  fi

  for ((attempt = 1; attempt <= attempts; attempt++)); do
    if [ -n "$freeport" ]; then
      port=$("$freeport") || die "sbx_freeport failed"
    fi
    write_conf "$content" "$run" "$port"
    if "$NGINX" "${eopt[@]}" -p "$run/" -c "$run/nginx.conf" 2>"$run/start.err"; then
      break
    fi
    if [ "$attempt" -lt "$attempts" ] && grep -q "Address already in use" "$run/start.err"; then
      continue
    fi
    cat "$run/start.err" >&2
    if grep -q "Address already in use" "$run/start.err"; then
      die "127.0.0.1:$port is in use by another program; pick another PORT or omit it"
    fi
    die "nginx failed to start (config $run/nginx.conf, log $run/error.log)"
  done

  # The foreground nginx has exited once the master is daemonized; wait
  # (bounded) for the pid file and for the port to answer.
  for ((i = 0; i < 100; i++)); do
    if [ -z "$pid" ] && [ -s "$run/nginx.pid" ]; then
      pid=$(tr -dc 0-9 <"$run/nginx.pid")
    fi
    if [ -n "$pid" ] && ! alive "$pid"; then
      tail -n 20 "$run/error.log" >&2 2>/dev/null || true
      die "nginx exited right after starting; see $run/error.log"
    fi
    if probe "$port"; then
      echo "$port" >"$run/port"
      echo "http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$run/error.log" >&2 2>/dev/null || true
  cmd_stop "$run" >/dev/null 2>&1 || true
  die "nginx did not answer on 127.0.0.1:$port within 10 s; see $run/error.log"
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local run=$1 pidfile pid comm kids k
  pidfile=$run/nginx.pid
  if [ ! -f "$pidfile" ]; then
    echo "$prog: no nginx running for $run (no $pidfile)" >&2
    return 0
  fi
  pid=$(tr -dc 0-9 <"$pidfile")
  [ -n "$pid" ] || die "$pidfile holds no pid; remove it if no nginx runs for $run"
  if ! alive "$pid"; then
    echo "$prog: nginx (pid $pid) for $run had already exited" >&2
    rm -f "$pidfile"
    return 0
  fi
  # Never signal a process that merely inherited a recycled pid.
  if [ -r "/proc/$pid/comm" ]; then
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case $comm in
    nginx*) ;;
    *) die "pid $pid in $pidfile is \"$comm\", not nginx; not stopping it (remove $pidfile if it is stale)" ;;
    esac
  fi
  kids=$(children "$pid")
  kill -QUIT "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" 50; then
    echo "$prog: nginx (pid $pid) ignored QUIT for 5 s; sending TERM" >&2
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 30; then
      echo "$prog: nginx (pid $pid) ignored TERM for 3 s; sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 20 || die "nginx (pid $pid) did not exit even after KILL"
    fi
  fi
  # Workers normally leave with the master; make sure of it.
  for k in $kids; do
    if alive "$k" && [ "$(cat "/proc/$k/comm" 2>/dev/null || true)" = nginx ]; then
      kill -KILL "$k" 2>/dev/null || true
    fi
  done
  rm -f "$pidfile" "$run/port"
}

[ $# -ge 1 ] || usage
case $1 in
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
-h | --help) usage 0 ;;
*) echo "$prog: unknown command \"$1\"" >&2; usage ;;
esac
