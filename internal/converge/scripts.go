package converge

// The shell that runs on nodes. Each script is a constant that takes its
// inputs as arguments ("$@"), never text spliced into the script, so a path
// or unit name can never change what the script does.
//
// $HARDWAY_ROOT prefixes every node path (empty on a node). Tests set it to a
// temporary directory and run the very same scripts against it.

// MarkerDir holds one empty file per unit that must restart. A marker is
// written together with the files that caused it and removed only after the
// restart succeeded: a run interrupted in between still restarts the unit
// next time, instead of leaving it on its old files for good.
const MarkerDir = "/var/lib/hardway/restart"

// sumDir keeps, per installed binary, "sha256 size mtime" as written at
// install time. Hashing every 100 MB binary on every run would make a no-op
// `up` slow; a binary whose size and mtime still match its stamp is known by
// the stamp (the way git trusts its index).
const sumDir = "/var/lib/hardway/sums"

// newSuffix marks a file extracted beside its target; a rename in the same
// directory then replaces the target at once, so a reader (containerd watches
// /etc/cni/net.d) never sees half a file.
const newSuffix = ".hardway-new"

// probeScript reports the node's side of a plan. Arguments come in pairs:
//
//	f PATH   a file
//	b PATH   a binary
//	u UNIT   a unit
//	p USER   a user
//
// It prints, for what exists:
//
//	S <sha256> PATH             a file's content
//	M <mode> <user:group> PATH  a file's mode and owner
//	B <sha256> PATH             a binary's content (from its stamp when
//	                            size and mtime still match)
//	V <key=value>               `systemctl show` of every unit, in argument
//	                            order, blocks separated by an empty "V "
//	K <marker 0|1> UNIT         whether the unit's restart marker is there
//	P <exists 0|1> USER
//
// A node has dozens of files: one sha256sum, one stat and one systemctl for
// all of them, not a few commands per file, since forks were most of what a
// no-op plan cost. A path is a clean absolute path without white space
// (collect refuses others), so it fits on a line and in xargs -0.
const probeScript = `R=${HARDWAY_ROOT:-}
pick() {
  want=$1; shift
  while [ $# -ge 2 ]; do
    if [ "$1" = "$want" ]; then
      case $want in
      f|b) if [ -f "$R$2" ]; then printf '%s\0' "$R$2"; fi ;;
      *) printf '%s\0' "$2" ;;
      esac
    fi
    shift 2
  done
}
pick f "$@" | xargs -0r sha256sum -- | while read -r sum p; do
  printf 'S %s %s\n' "$sum" "${p#"$R"}"
done
pick f "$@" | xargs -0r stat -c '%a %U:%G %n' -- | while read -r mode owner p; do
  printf 'M %s %s %s\n' "$mode" "$owner" "${p#"$R"}"
done
pick b "$@" | xargs -0r stat -c '%s %Y %n' -- | while read -r size mtime p; do
  a=${p#"$R"}
  sum=
  st=$R` + sumDir + `$a
  if [ -f "$st" ]; then
    read -r s1 s2 s3 <"$st" || true
    if [ "$s2 $s3" = "$size $mtime" ]; then sum=$s1; fi
  fi
  if [ -z "$sum" ]; then sum=$(sha256sum <"$p" | cut -d' ' -f1); fi
  printf 'B %s %s\n' "$sum" "$a"
done
pick u "$@" | xargs -0r systemctl show -p Id,ActiveState,UnitFileState -- 2>/dev/null | while IFS= read -r l; do
  printf 'V %s\n' "$l"
done
while [ $# -ge 2 ]; do
  case $1 in
  u)
    m=0
    if [ -e "$R` + MarkerDir + `/$2" ]; then m=1; fi
    printf 'K %s %s\n' "$m" "$2" ;;
  p)
    e=0
    if id -u "$2" >/dev/null 2>&1; then e=1; fi
    printf 'P %s %s\n' "$e" "$2" ;;
  esac
  shift 2
done
true`

// applyScript carries out a plan. Arguments are records, each an operation
// followed by its fixed number of operands, in the order they must happen:
//
//	user NAME            create a system user (and its group) if missing
//	tar                  extract the tar stream on stdin at the root; every
//	                     member lands beside its target (PATH.hardway-new),
//	                     stamped with the node's own time (-m): a node whose
//	                     clock is behind this host's sees no file from the
//	                     future, and a binary's stamp is the node's mtime
//	file PATH            rename PATH.hardway-new over PATH
//	bin PATH SHA         the same for a binary from the tar, then stamp it
//	copy SRC PATH SHA    install a binary from the mounted artifact cache
//	reload               systemctl daemon-reload
//	enable UNIT          systemctl enable
//	restart|start MODE UNIT
//	                     MODE is block or noblock; the unit's marker is
//	                     removed only once systemctl succeeded
//
// It prints one line per effect ("restarted etcd") for the caller's log.
const applyScript = `set -e
R=${HARDWAY_ROOT:-}
N=` + newSuffix + `
stamp() {
  mkdir -p "$(dirname "$R` + sumDir + `$1")"
  printf '%s %s\n' "$2" "$(stat -c '%s %Y' "$R$1")" >"$R` + sumDir + `$1"
}
while [ $# -gt 0 ]; do
  op=$1; shift
  case $op in
  user)
    if ! id -u "$1" >/dev/null 2>&1; then
      if getent group "$1" >/dev/null 2>&1; then g="--gid $1"; else g=--user-group; fi
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $g "$1"
      echo "created user $1"
    fi
    shift ;;
  tar)
    mkdir -p "$R/"
    tar -x -p -m --same-owner -C "$R/" -f - ;;
  file)
    mv -f "$R$1$N" "$R$1"
    shift ;;
  bin)
    mv -f "$R$1$N" "$R$1"
    stamp "$1" "$2"
    echo "installed $1"
    shift 2 ;;
  copy)
    mkdir -p "$(dirname "$R$2")"
    cp "$1" "$R$2$N"
    chmod 0755 "$R$2$N"
    mv -f "$R$2$N" "$R$2"
    stamp "$2" "$3"
    echo "installed $2"
    shift 3 ;;
  reload)
    systemctl daemon-reload ;;
  enable)
    systemctl enable --quiet "$1"
    shift ;;
  restart|start)
    b=
    if [ "$1" = noblock ]; then b=--no-block; fi
    if ! systemctl "$op" $b "$2"; then
      echo "unit $2 failed to $op" >&2
      exit 3
    fi
    rm -f "$R` + MarkerDir + `/$2"
    echo "${op}ed $2"
    shift 2 ;;
  *)
    echo "apply: unknown operation $op (a bug in hardway)" >&2
    exit 2 ;;
  esac
done`
