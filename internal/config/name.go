package config

import "fmt"

// ValidateName checks a cluster name given outside a config (--name): it
// becomes a directory, Docker object names and certificate names.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) || len(name) > 40 {
		return fmt.Errorf("%q is not a cluster name: use 1 to 40 lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. --name dev)", name)
	}
	return nil
}
