# Sourced by the REST benchmark scripts beside it: what they share with
# ../shared/bench/rest-vs-bare.sh's setup. Needs `root` (the project) and `work` (a scratch
# directory) set and CARGO_TARGET_DIR exported.

# Builds rustctl, makes a service with `rustctl api new perfsvc` in $work, moves it to
# 127.0.0.1:18932 and builds it in release; sets `cfg` to its config file.
fresh_rest_service() {
  (cd "$root" && cargo build --release -q -p rustctl)
  (cd "$work" && "$CARGO_TARGET_DIR/release/rustctl" api new perfsvc >/dev/null)
  cfg="$work/perfsvc/etc/perfsvc-api.yaml"
  sed -i 's/^Host: .*/Host: 127.0.0.1/; s/^Port: .*/Port: 18932/' "$cfg"
  (cd "$work/perfsvc" && cargo build --release -q)
}

# Waits for each URL to answer, then requires a 200 from it.
wait_for_200() {
  local u code
  for u in "$@"; do
    for _ in $(seq 100); do curl -s -o /dev/null "$u" && break; sleep 0.1; done
    code=$(curl -s -o /dev/null -w '%{http_code}' "$u")
    [ "$code" = 200 ] || { echo "$u answers $code, not 200" >&2; exit 1; }
  done
}
