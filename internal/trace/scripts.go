package trace

// The shell that runs on nodes. Each script is a constant that takes its
// inputs as arguments, never text spliced into it.

// watchStartScript starts an etcd watch on every key under /registry/ as
// a transient systemd service and returns. Arguments: the unit name, the
// most seconds it may run (so nothing lingers should hardway be killed),
// then etcdctl with its flags. Its output goes to the journal, one watch
// response per line, so journald stamps each with the time it arrived, the
// same clock and the same way as the kubelet's and containerd's lines; the
// raised priority keeps a busy node from delaying it. Everything is watched,
// not just the pod: the writes etcd takes all the time (leader-election
// leases) tell watchReadyScript when the watch is live.
const watchStartScript = `unit=$1 secs=$2
shift 2
systemd-run --quiet --collect --unit="$unit" --property=RuntimeMaxSec="$secs" --property=Nice=-10 \
  "$@" watch --prefix /registry/ -w json`

// watchReadyScript waits, at most 10 s, until the watch unit $1 has
// delivered an event: from then on it is registered with its member and
// misses no later write.
const watchReadyScript = `for i in $(seq 100); do
  if [ -n "$(journalctl "_SYSTEMD_UNIT=$1" -n 1 -o cat --no-pager 2>/dev/null)" ]; then exit 0; fi
  sleep 0.1
done
echo "the etcd watch $1 delivered nothing in 10 s:" >&2
systemctl status --no-pager "$1" >&2
exit 1`

// watchStopScript waits, at most 5 s, until the watch unit $1 has delivered
// a line containing $3 (the last write the trace needs), stops it and prints
// its journal entries (JSON) that contain $2 (the pod's key as etcdctl
// prints it: base64).
const watchStopScript = `for i in $(seq 50); do
  if journalctl "_SYSTEMD_UNIT=$1" -o cat --no-pager | grep -q -F -e "$3"; then break; fi
  sleep 0.1
done
systemctl stop "$1" 2>/dev/null || true
journalctl "_SYSTEMD_UNIT=$1" -o json --output-fields=MESSAGE --no-pager | grep -F -e "$2" || true`

// auditScript prints the audit log lines that contain $1 (the pod's
// namespace and name as the log writes them).
const auditScript = `grep -F -e "$1" /var/log/audit.log || true`

// journalScript prints the journals of kubelet and containerd since the
// epoch second $1, as JSON (one line per entry, microsecond timestamps).
const journalScript = `journalctl -o json --output-fields=MESSAGE,_SYSTEMD_UNIT -u kubelet -u containerd --since "@$1" --no-pager`

// ipamScript prints one line per address the host-local IPAM plugin has
// reserved: the file's modification time (when the address was handed
// out), its path and the first line it holds (the sandbox's container id).
// $HARDWAY_ROOT prefixes the directory (empty on a node; tests set it), as
// in converge's scripts.
const ipamScript = `R=${HARDWAY_ROOT:-}
for f in "$R"/var/lib/cni/networks/*/*; do
  [ -f "$f" ] || continue
  case ${f##*/} in lock|last_reserved_ip*) continue ;; esac
  printf '%s %s %s\n' "$(stat -c %.9Y "$f")" "${f#"$R"}" "$(head -n 1 "$f" | tr -d '\r')"
done`
