package steps

// All is the whole build, in order. `hardway steps` prints it; `hardway up`
// runs it; --from/--only pick from it.
func All() []Step {
	return []Step{
		checkStep(),
		nodesStep(),
		pkiStep(),
		kubeconfigsStep(),
		encryptionStep(),
		etcdStep(),
		controlPlaneStep(),
		workersStep(),
		networkStep(),
		dnsStep(),
		verifyStep(),
	}
}
