LC_ALL=C; export LC_ALL
echo "### date"; date +%s.%N
echo "### id"; id -u
echo "### uname"; uname -m; uname -r
echo "### os-release"; cat /etc/os-release 2>/dev/null
echo "### init"; cat /proc/1/comm 2>/dev/null
[ -d /run/systemd/system ] && echo systemd-running
command -v openrc >/dev/null 2>&1 && echo openrc-installed
[ -d /run/openrc ] && echo openrc-running
echo "### nproc"; nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo
echo "### meminfo"; grep -E '^(MemTotal|SwapTotal):' /proc/meminfo
echo "### swaps"; cat /proc/swaps 2>/dev/null
echo "### hostname"; cat /proc/sys/kernel/hostname
echo "### df"
for p in $FERRY_DF_PATHS; do
  d=$p; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  echo "$p $(df -Pk "$d" | awk 'NR==2 {print $4}')"
done
echo "### usrlocalbin"
d=/usr/local/bin; while [ ! -e "$d" ]; do d=$(dirname "$d"); done
m=$(df -P "$d" | awk 'NR==2 {print $6}')
awk -v m="$m" '$2 == m {o = $4} END {n = split(o, a, ","); for (i = 1; i <= n; i++) if (a[i] == "ro") {print "ro"; exit} print "rw"}' /proc/self/mounts
echo "### tcp"; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
echo "### udp"; cat /proc/net/udp /proc/net/udp6 2>/dev/null
echo "### route"; cat /proc/net/route 2>/dev/null
echo "### selinux"; if [ -r /sys/fs/selinux/enforce ]; then cat /sys/fs/selinux/enforce; else echo none; fi
echo "### k3s"
for f in /usr/local/bin/k3s /opt/bin/k3s /etc/systemd/system/k3s.service /etc/systemd/system/k3s-agent.service /etc/init.d/k3s /etc/init.d/k3s-agent /etc/rancher/k3s/config.yaml; do
  [ -e "$f" ] && echo "file $f"
done
[ -r "$FERRY_MARKER" ] && echo "marker $(head -n 1 "$FERRY_MARKER")"
[ -e "$FERRY_CREATED" ] && echo "created $FERRY_CREATED"
for c in /proc/[0-9]*/comm; do read -r n < "$c" 2>/dev/null && case "$n" in k3s*) echo "proc $n";; esac; done | sort -u
echo "### end"
