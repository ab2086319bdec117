# Sourced by scripts that start servers: free_port prints a free loopback TCP port below
# the kernel's ephemeral range, never the same one twice in a script. A port from bind(0)
# is ephemeral: between the pick and the server's bind, an outgoing connection (a
# database pool opening, another test) can take it as its source port.
# shellcheck shell=bash
free_port_used=" "
free_port() {
  local p
  while :; do
    p=$(python3 -c 'import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    p = random.randint(10000, low - 1)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass')
    case "$free_port_used" in *" $p "*) continue ;; esac
    free_port_used+="$p "
    echo "$p"
    return
  done
}
