# Written by hardway: one pass of the kubelet serving-certificate approver on
# node-0, started by hardway-csr-approver.timer every 30 s.
#
# A kubelet with serverTLSBootstrap asks for its serving certificate with a
# CertificateSigningRequest for signer kubernetes.io/kubelet-serving, and
# nothing in Kubernetes approves those (kube-controller-manager's csrapproving
# controller approves only client certificates): the request names the host
# names and addresses the certificate will be valid for, and only someone who
# knows the nodes can tell whether they are the node's own. This pass approves
# a pending request only when
#   - it was made by a node: user system:node:NAME, and Node NAME exists;
#   - its subject is exactly CN=system:node:NAME, O=system:nodes, and its
#     signature verifies;
#   - every name it asks for (DNS, IP) is NAME or one of Node NAME's Hostname,
#     InternalIP and ExternalIP addresses, and it asks for nothing else.
# Anything else stays pending, and the reason is written to the journal.
# kube-controller-manager then signs what was approved with the cluster CA.
#
# It works as system:kube-controller-manager, with that kubeconfig; the
# ClusterRole hardway:kubelet-serving-approver gives it exactly this (see
# kubelet-certificates-rbac.yaml). Approving a request that another
# control-plane node approved first changes nothing (kubectl sees the
# condition, and retries a conflicting update on the fresh object).
# -f: a name a request asks for is split into words below, never globbed.
set -euf
kubectl() {
  /usr/local/bin/kubectl --kubeconfig=/etc/kubernetes/kube-controller-manager.kubeconfig --cache-dir=/run/hardway-csr-approver/kubectl --request-timeout=10s "$@"
}
tab=$(printf '\t')

# check USER REQUEST: says why the request may not be approved and fails, or
# prints the names it asks for.
check() {
  node=${1#system:node:}
  if [ "$node" = "$1" ] || [ -z "$node" ]; then
    echo "requested by $1, not by a node"
    return 1
  fi
  if ! addrs=$(kubectl get node "$node" -o jsonpath='{range .status.addresses[*]}{.type}={.address}{"\n"}{end}' 2>&1); then
    echo "no Node $node: $(printf '%s\n' "$addrs" | head -n 1)"
    return 1
  fi
  # openssl 3.0's req -verify exits 0 even when the signature is wrong: its
  # words say which.
  if ! pem=$(printf '%s' "$2" | base64 -d 2>/dev/null) ||
    ! verified=$(printf '%s\n' "$pem" | openssl req -noout -verify 2>&1) ||
    [ "${verified%verify OK}" = "$verified" ] ||
    ! subject=$(printf '%s\n' "$pem" | openssl req -noout -subject -nameopt RFC2253 2>/dev/null); then
    echo "the request is no certificate request with a valid signature"
    return 1
  fi
  if [ "$subject" != "subject=CN=system:node:$node,O=system:nodes" ]; then
    echo "its ${subject:-subject=} is not CN=system:node:$node,O=system:nodes"
    return 1
  fi
  sans=$(printf '%s\n' "$pem" | openssl req -noout -text | sed -n '/X509v3 Subject Alternative Name/{n;s/^ *//;p;}')
  if [ -z "$sans" ]; then
    echo "it names no host name or address"
    return 1
  fi
  allowed=$(printf '%s\n%s\n' "$node" "$addrs" | sed -n 's/^\(Hostname\|InternalIP\|ExternalIP\)=//p; 1p')
  for san in $(printf '%s\n' "$sans" | sed 's/, */\n/g; s/ /_/g'); do
    case $san in
      DNS:*) value=${san#DNS:} ;;
      IP_Address:*) value=${san#IP_Address:} ;;
      *) echo "it asks for $san, not a host name or an address"; return 1 ;;
    esac
    if ! printf '%s\n' "$allowed" | grep -qxF -- "$value"; then
      echo "it asks for $value; Node $node may have only $(printf '%s\n' "$allowed" | sort -u | tr '\n' ' ' | sed 's/ $//')"
      return 1
    fi
  done
  echo "$sans"
}

# Every request: name, signer, requester, "x" and its conditions (just "x"
# while pending), the request itself.
list=$(kubectl get certificatesigningrequests -o jsonpath='{range .items[*]}{.metadata.name}{"\t"}{.spec.signerName}{"\t"}{.spec.username}{"\t"}x{.status.conditions[*].type}{"\t"}{.spec.request}{"\n"}{end}')
printf '%s\n' "$list" | while IFS="$tab" read -r name signer user state request; do
  if [ -z "$name" ] || [ "$signer" != kubernetes.io/kubelet-serving ] || [ "$state" != x ]; then
    continue
  fi
  if ! names=$(check "$user" "$request"); then
    echo "left $name pending: $names"
    continue
  fi
  if out=$(kubectl certificate approve "$name" 2>&1); then
    echo "approved $name: the serving certificate of ${user#system:node:} for $names"
  else
    echo "approving $name failed: $(printf '%s\n' "$out" | head -n 1)"
  fi
done
