package ssh

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"hardway.dev/hardway/internal/provider"
)

// uninstallScript removes what hardway installed on a machine. Arguments are
// records, each an operation and its fixed number of operands, in the order
// they must happen (UninstallArgs builds them):
//
//	unit NAME          stop and disable a unit
//	pods CRICTL SOCK   remove every pod and container through containerd
//	cleanup KUBEPROXY  kube-proxy --cleanup: its iptables/nftables/IPVS rules
//	umount DIR         unmount everything mounted below DIR, deepest first
//	link NAME          delete a network device
//	route CIDR VIA     delete a pod route
//	rules              drop the KUBE-*, CNI-* chains and hardway's rules left
//	                   in each iptables table (everything else is restored
//	                   as it was, counters included)
//	file PATH          remove a file
//	dir PATH           remove a directory tree (never crossing into a mount)
//	rmdir PATH         remove a directory only when it is empty
//	user NAME          remove a system user (and its group)
//	reload             systemctl daemon-reload and reset-failed
//
// It prints one line per thing it removed ("file /usr/local/bin/etcd") and
// goes on past what is already gone: running it twice is harmless.
const uninstallScript = `R=${HARDWAY_ROOT:-}
while [ $# -gt 0 ]; do
  op=$1; shift
  case $op in
  unit)
    if systemctl cat "$1.service" >/dev/null 2>&1; then
      systemctl disable --now "$1.service" >/dev/null 2>&1 || systemctl stop "$1.service" >/dev/null 2>&1 || true
      echo "unit $1"
    fi
    shift ;;
  pods)
    if [ -x "$R$1" ] && [ -S "$R$2" ]; then
      "$R$1" --runtime-endpoint "unix://$R$2" rmp --all --force >/dev/null 2>&1 || true
    fi
    shift 2 ;;
  cleanup)
    if [ -x "$R$1" ]; then
      "$R$1" --cleanup >/dev/null 2>&1 || true
    fi
    shift ;;
  umount)
    awk '{print $2}' /proc/self/mounts | while read -r m; do
      case $m in "$R$1"/*) echo "$m" ;; esac
    done | sort -r | while read -r m; do umount -l "$m" 2>/dev/null && echo "mount $m"; done
    shift ;;
  link)
    if ip link show "$1" >/dev/null 2>&1; then ip link del "$1" && echo "link $1"; fi
    shift ;;
  route)
    if ip route del "$1" via "$2" 2>/dev/null; then echo "route $1"; fi
    shift 2 ;;
  rules)
    for t in filter nat mangle raw; do
      if iptables-save -t "$t" 2>/dev/null | grep -q -e ' KUBE-' -e ':KUBE-' -e ' CNI-' -e ':CNI-' -e 'hardway-'; then
        iptables-save -c -t "$t" | grep -v -e ' KUBE-' -e ':KUBE-' -e ' CNI-' -e ':CNI-' -e 'hardway-' | iptables-restore -c -T "$t" && echo "rules $t"
      fi
    done ;;
  file)
    if [ -e "$R$1" ] || [ -L "$R$1" ]; then rm -f "$R$1" && echo "file $1"; fi
    shift ;;
  dir)
    if [ -d "$R$1" ]; then rm -rf --one-file-system "$R$1" && echo "dir $1"; fi
    shift ;;
  rmdir)
    if [ -d "$R$1" ] && rmdir "$R$1" 2>/dev/null; then echo "dir $1"; fi
    shift ;;
  user)
    if id -u "$1" >/dev/null 2>&1; then userdel "$1" >/dev/null 2>&1 && echo "user $1"; fi
    if getent group "$1" >/dev/null 2>&1; then groupdel "$1" >/dev/null 2>&1 || true; fi
    shift ;;
  reload)
    systemctl daemon-reload
    systemctl reset-failed >/dev/null 2>&1 || true ;;
  *)
    echo "uninstall: unknown operation $op (a bug in hardway)" >&2
    exit 2 ;;
  esac
done
true`

// UninstallArgs is the command that removes fp from a machine: services
// first (pods before containerd stops), then what they left in the kernel,
// then files and directories, the etcd user last.
func UninstallArgs(fp provider.Footprint) []string {
	args := []string{"sh", "-c", uninstallScript, "uninstall"}
	for _, u := range slices.Backward(fp.Units) {
		if u == "containerd" && fp.Crictl != "" {
			// kubelet is stopped by now, so nothing restarts the pods.
			args = append(args, "pods", fp.Crictl, fp.CRISocket)
		}
		args = append(args, "unit", u)
	}
	if fp.KubeProxy != "" {
		args = append(args, "cleanup", fp.KubeProxy)
	}
	for _, m := range fp.Mounts {
		args = append(args, "umount", m)
	}
	for _, l := range fp.Links {
		args = append(args, "link", l)
	}
	for _, r := range fp.Routes {
		cidr, via, _ := strings.Cut(r, " via ")
		args = append(args, "route", cidr, via)
	}
	args = append(args, "rules")
	for _, f := range fp.Files {
		args = append(args, "file", f)
	}
	for _, d := range fp.Dirs {
		args = append(args, "dir", d)
	}
	// Deepest first, so /opt/cni goes after /opt/cni/bin.
	shared := slices.Clone(fp.SharedDirs)
	sort.Sort(sort.Reverse(sort.StringSlice(shared)))
	for _, d := range shared {
		args = append(args, "rmdir", d)
	}
	for _, u := range fp.Users {
		args = append(args, "user", u)
	}
	return append(args, "reload")
}

// summary counts the script's lines by kind: "9 units, 40 files, ...".
func summary(out []byte) string {
	order := []string{"unit", "file", "dir", "mount", "link", "route", "rules", "user"}
	names := map[string][2]string{
		"unit": {"unit", "units"}, "file": {"file", "files"}, "dir": {"directory", "directories"},
		"mount": {"mount", "mounts"}, "link": {"network device", "network devices"}, "route": {"route", "routes"},
		"rules": {"iptables table cleaned", "iptables tables cleaned"}, "user": {"user", "users"},
	}
	count := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, _, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
			count[k]++
		}
	}
	var parts []string
	for _, k := range order {
		switch c := count[k]; {
		case c == 1:
			parts = append(parts, "1 "+names[k][0])
		case c > 1:
			parts = append(parts, fmt.Sprintf("%d %s", c, names[k][1]))
		}
	}
	if len(parts) == 0 {
		return "nothing was left"
	}
	return strings.Join(parts, ", ")
}
