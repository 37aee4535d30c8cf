# Sourced by federation.sh and federation-lab.sh. Every process a script starts carries a token
# in its environment, and so does everything those start, even in sessions or namespaces of
# their own: teardown ends exactly those.

# token_processes VAR=TOKEN: the pids of the live processes whose environment holds VAR=TOKEN.
token_processes() {
    local dir
    for dir in /proc/[0-9]*; do
        if { tr '\0' '\n' < "$dir/environ"; } 2>/dev/null | grep -qx "$1"; then
            echo "${dir#/proc/}"
        fi
    done
}

# end_token_processes VAR=TOKEN: SIGTERM them, SIGKILL what is left after 10 s.
end_token_processes() {
    local pids tries=0
    pids="$(token_processes "$1")"
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true
    while [ -n "$(token_processes "$1")" ] && [ $tries -lt 50 ]; do sleep 0.2; tries=$((tries + 1)); done
    pids="$(token_processes "$1")"
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    wait 2>/dev/null || true
}
