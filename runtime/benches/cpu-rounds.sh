# Sourced by rest-cpu.sh and grpc-cpu.sh: two servers' CPU time per request (user + system,
# all threads, from /proc/PID/stat, which does not count time the host took away), in rounds
# that alternate which server goes first. Needs `rounds` set.

hz=$(getconf CLK_TCK)

# us_per PID LOAD URL: microseconds of CPU the server PID spends per request while the
# function LOAD loads URL (LOAD prints how many requests were answered).
us_per() {
  local before after n
  before=$(awk '{print $14 + $15}' "/proc/$1/stat")
  n=$("$2" "$3") || exit 1
  after=$(awk '{print $14 + $15}' "/proc/$1/stat")
  python3 -c "print(round(($after - $before) * 1e6 / $hz / $n, 2))"
}

# cpu_rounds LOAD UNIT GEN_PID GEN_URL BARE_PID BARE_URL: prints each round and the median
# ratio bare/generated, which reads like a throughput ratio generated/bare.
cpu_rounds() {
  local load=$1 unit=$2 gen_pid=$3 gen=$4 bare_pid=$5 bare=$6 ratios="" i g b r
  for i in $(seq "$rounds"); do
    if [ $((i % 2)) = 1 ]; then
      g=$(us_per "$gen_pid" "$load" "$gen"); b=$(us_per "$bare_pid" "$load" "$bare")
    else
      b=$(us_per "$bare_pid" "$load" "$bare"); g=$(us_per "$gen_pid" "$load" "$gen")
    fi
    r=$(python3 -c "print(round($b / $g, 3))")
    echo "round $i: generated $g us/$unit, bare $b us/$unit, ratio $r"
    ratios="$ratios $r"
  done
  echo "median ratio (bare CPU time / generated): $(echo $ratios | tr ' ' '\n' | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"
}
