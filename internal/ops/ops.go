// Package ops holds the day-2 procedures that change a running cluster in
// several rolled-out stages: certificate renewal, CA rotation, encryption
// key rotation. Each stage writes the new desired state on this host and
// then runs the ordinary steps of `hardway up`, whose rollouts restart one
// node at a time, gated on its health, so the API and etcd's quorum stay up.
// Every stage is recorded before it is rolled out, so running the same
// command again after an interruption continues where it stopped.
package ops

import "hardway.dev/hardway/internal/config"

// certSteps are the steps a change of certificates goes through: the
// host-side material, then every unit that reads it, rolled node by node,
// then the gateway add-on when it is on (its Secret carries the gateway's
// certificate; Traefik reloads it when the Secret changes).
func certSteps(c *config.Cluster) []string {
	s := []string{"pki", "kubeconfigs", "etcd", "control-plane", "workers"}
	if c.GatewayOn() {
		s = append(s, config.AddonGateway)
	}
	return s
}
