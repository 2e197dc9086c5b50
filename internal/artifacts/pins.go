package artifacts

// pinnedSHA256 holds the SHA-256 values hardway itself vouches for, by
// release URL (as written in the manifest, with {arch}) and arch. A pin wins
// over the checksum the project publishes: the published one is then not
// fetched. Everything without a pin is checked against the published
// checksum instead (checksum.go).
//
// A function, not a package variable, so nothing global can be changed.
// TestPinsAreUsed fails when a pin no longer matches any manifest's URL, so
// pins of versions the manifest moved away from do not linger here.
func pinnedSHA256() map[string]map[string]string {
	return map[string]map[string]string{
		// From kubespray roles/kubespray_defaults/vars/main/checksums.yml
		// (only kubelet and kubectl are listed there for v1.36.3).
		"https://dl.k8s.io/release/v1.36.3/bin/linux/{arch}/kubelet": {
			"amd64": "46707a53209f826ad0f0d62371ac69cd00e78fd9a8176cf5f6f87f18f7f8b718",
			"arm64": "57205a5daf5883873d87b4914e1e00bdd7707acd075714788cfb0fc1f60bc414",
		},
		"https://dl.k8s.io/release/v1.36.3/bin/linux/{arch}/kubectl": {
			"amd64": "ebbd080e7c2e275093b55915722043257eb24004363e20acb3c4d71919f88336",
			"arm64": "3d86f24401c41ae5a46ac50eef8865fe891d3647d324a0836f6c63757a126e62",
		},
		// Recorded with the first release form of this component (said to be
		// kubespray's, but kubespray downloads the dynamic archive); an
		// unrelated project pins the same values for
		// containerd-static-2.2.0-linux-{amd64,arm64}.tar.gz.
		"https://github.com/containerd/containerd/releases/download/v2.2.0/containerd-static-2.2.0-linux-{arch}.tar.gz": {
			"amd64": "2d20037947cbb0def12b8ac0c572b212284c1832bf3c921df1e58975515d1d08",
			"arm64": "5f2a7f451231ff35d8306f874c51606fc9da1e2db56048834a23260f68a78eef",
		},
	}
}
