package book

import (
	"fmt"
	"strings"
)

func stepTitle(i int, s StepText) string {
	return fmt.Sprintf("Step %d: %s — %s", i+1, s.Name, s.Title)
}

// step is the chapter of one step of `hardway up`: its explain text, the
// files it writes, and the command that shows it worked.
func (w *writer) step(i int, s StepText) Chapter {
	v := w.v
	var d doc
	d.p(`
		«hardway up» runs this step %d of %d. Run it on its own with «%s»
		(like every step, it changes only what differs from the config), and
		read this text in a terminal with «%s».`,
		i+1, len(w.in.Steps), v.hw("up", "--only", s.Name), v.hw("explain", s.Name))
	switch s.Name {
	case "nodes", "control-plane":
		d.img(w.arch)
	case "pki":
		d.img(w.pkiTree)
	case "network":
		d.img(w.network)
	}
	d.b.WriteString(explainMarkdown(s.Explain, "##"))
	if s.Name == "pki" {
		d.b.WriteString(w.issuedCerts())
	}
	d.b.WriteString(w.stepFiles(s.Name))
	check := stepCheck(v, s.Name)
	d.h2("Check it")
	d.p("Run this; you should see %s.", check.Shows)
	d.pre("sh", check.Command)
	return Chapter{ID: StepChapterID(s.Name), Part: PartSteps, Title: stepTitle(i, s), Short: fmt.Sprintf("%d. %s", i+1, s.Name), Body: d.String()}
}

// issuedCerts lists the certificates the cluster really has, or says that
// none are issued yet.
func (w *writer) issuedCerts() string {
	var d doc
	d.h2("The certificates as issued")
	if w.in.Certs == nil {
		d.p(`
			No cluster «%s» exists on this host, so nothing is issued yet; the
			table above is exactly what «hardway up» will issue.`, w.c.Name)
		return d.String()
	}
	d.p(`Read from «%s/pki» on this host (what «%s» prints):`, w.in.StateDir, w.v.hw("certs"))
	var rows [][]string
	for _, c := range w.in.Certs {
		if c.KeyOnly {
			rows = append(rows, []string{"«" + c.Name + "»", "key pair (" + c.KeyAlgorithm + ")", "", "", "", ""})
			continue
		}
		names := append(append([]string{}, c.DNSNames...), c.IPs...)
		rows = append(rows, []string{"«" + c.Name + "»", "«" + c.CommonName + "»", strings.Join(c.Organization, ", "), c.Issuer,
			c.NotAfter.UTC().Format("2006-01-02"), strings.Join(names, ", ")})
	}
	d.table([]string{"Name", "CN", "O", "Issuer", "Valid until", "Names (SANs)"}, rows)
	return d.String()
}
