package config

import (
	"errors"
	"fmt"
	"strings"
)

// MaxNameLength bounds cluster names. A name becomes the Docker network
// hardway-NAME, the containers NAME-NODE (node names take up to 63), kubeconfig
// contexts and a directory under the state root; 40 keeps all of them
// valid Docker names and readable in `docker ps`.
const MaxNameLength = 40

// ValidateName checks a cluster name (the config's name, or --name) and
// says the rule and a name that would do when it is wrong.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("the cluster name is empty: give one like \"lab\", or leave it out for the default %q", DefaultName)
	}
	if len(name) <= MaxNameLength && nameRE.MatchString(name) {
		return nil
	}
	return errors.New(q(name) + " is not a valid cluster name: use 1 to " + fmt.Sprint(MaxNameLength) +
		" lower-case letters, digits and '-', starting and ending with a letter or digit (Docker names its network hardway-NAME), e.g. " +
		q(suggestName(name, MaxNameLength)))
}

// suggestName turns s into a valid name of at most max characters: lower
// case, anything else a '-', no '-' at either end ("lab" if nothing is left).
func suggestName(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		return "lab"
	}
	return out
}
