# Written by hardway: run by kubelet.service before each start of the kubelet
# on node-0. $1 is the kubelet's --cert-dir, $2 hardway's client pair
# (certificate and key in one file), $3 hardway's serving certificate
# (tlsCertFile).
#
# The kubelet rotates its own certificates (rotateCertificates,
# serverTLSBootstrap) into $1 and loads kubelet-client-current.pem and
# kubelet-server-current.pem there before anything hardway placed. So the
# newer placement wins, decided by modification time: a pair hardway wrote
# after the kubelet's last rotation (hardway certs renew, or an up that
# rewrote it; either restarts the kubelet) replaces the kubelet's own, and a
# pair the kubelet rotated after hardway's last write stays.
#
# Client: the kubeconfig names kubelet-client-current.pem, and the kubelet asks
# for its next certificate with the kubeconfig's identity, so the link must
# always exist: it points at hardway's pair until the kubelet rotates it.
# Serving: without kubelet-server-current.pem the kubelet falls back to
# tlsCertFile, so an older link is only removed.
set -eu
dir=$1
client=$2
serving=$3
mkdir -p "$dir"
cur="$dir/kubelet-client-current.pem"
if [ -e "$client" ] && { [ ! -e "$cur" ] || [ "$client" -nt "$cur" ]; }; then
  ln -sfn "$client" "$cur"
  echo "kubelet-client-current.pem -> $client: hardway's client pair is newer than any the kubelet rotated"
fi
cur="$dir/kubelet-server-current.pem"
if [ -L "$cur" ] || [ -e "$cur" ]; then
  if [ ! -e "$cur" ] || [ "$serving" -nt "$cur" ]; then
    rm -f "$cur"
    echo "kubelet-server-current.pem removed (older than hardway's $serving, or pointing at nothing): the kubelet serves $serving"
  fi
fi
