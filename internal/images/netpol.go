package images

import v1 "github.com/google/go-containerregistry/pkg/v1"

// NetpolImage is the NetworkPolicy agent (kube-network-policies) at
// /bin/netpol, as upstream's image has it, plus a static busybox at
// /bin/busybox for the pod's steering container, which only needs chroot
// (it then runs the node's own shell, iptables and nft).
func NetpolImage(arch, agent, busybox string) (v1.Image, error) {
	a, err := readExecutable(agent)
	if err != nil {
		return nil, err
	}
	b, err := readExecutable(busybox)
	if err != nil {
		return nil, err
	}
	return image(arch, []entry{
		{path: "/bin/netpol", mode: 0o755, content: a},
		{path: "/bin/busybox", mode: 0o755, content: b},
		{path: "/tmp", mode: 0o1777, dir: true},
	}, v1.Config{Entrypoint: []string{"/bin/netpol"}, User: "0:0"})
}
