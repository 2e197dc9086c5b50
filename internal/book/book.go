// Package book writes the hardway tutorial: a book of chapters in Markdown
// and HTML, generated from hardway's own teaching texts and, when the
// cluster exists, from its real config, files and certificates. Pictures
// come from package diagram, so they always show this cluster.
//
// The package neither prints nor touches a cluster: the caller gathers the
// Input (the CLI does it from a scratch copy of the state) and decides where
// the Site goes.
package book

import (
	"fmt"
	"regexp"
	"strings"

	"hardway.dev/hardway/internal/config"
	"hardway.dev/hardway/internal/pki"
	"hardway.dev/hardway/internal/render"
)

// Input is everything the book is written from.
type Input struct {
	Cluster *config.Cluster
	// Live is true when Cluster is the config of a cluster built on this
	// host: the book then says "your cluster" and shows its certificates.
	Live bool
	// StateDir is the cluster's state directory on this host.
	StateDir string
	// ConfigFile is the -c file the config came from, if any.
	ConfigFile string
	// Steps are the steps of `hardway up`, in order, with their explain text.
	Steps []StepText
	// Files are the files each node receives, by node name (render.NodeFiles).
	// Only paths, modes and sizes are published: they include private keys.
	Files map[string][]render.File
	// Certs are the cluster's issued certificates (pki.Describe); nil when
	// the cluster does not exist.
	Certs []pki.Info
	// Captures are kubectl's -v=8 outputs on the live cluster, by
	// CaptureSpec key; CaptureNote says why there are none when the
	// cluster is live but they could not be taken.
	Captures    map[string]Capture
	CaptureNote string
}

// StepText is one step of `hardway up` as the book needs it.
type StepText struct {
	Name, Title string
	// Explain is the text `hardway explain NAME` prints for this cluster.
	Explain string
}

// Chapter is one page of the book.
type Chapter struct {
	// ID names the page's files: ID.md and ID.html.
	ID string
	// Part groups chapters in the table of contents.
	Part  string
	Title string
	// Short is the table-of-contents entry.
	Short string
	// Body is the chapter's Markdown, without its title, banner, try-it
	// table and navigation, which every page gets the same way.
	Body string
	Try  []Try
}

// Try is one "try it" command: something to run on this cluster and what
// it shows.
type Try struct {
	Command string
	Shows   string
}

// Picture is one generated image of the book.
type Picture struct {
	File string // under img/
	Alt  string
	SVG  []byte
}

// Parts, in reading order.
const (
	PartStart   = "Start here"
	PartPod     = "Launching a pod, layer by layer"
	PartSteps   = "Building it, step by step"
	PartNetwork = "Networking"
	PartRun     = "Running it"
)

// ImageDir is where pictures live, relative to the pages.
const ImageDir = "img"

// StepChapterID is the chapter of step name.
func StepChapterID(name string) string { return "step-" + name }

// Chapters writes every chapter for in, in reading order, and the pictures
// they show.
func Chapters(in Input) ([]Chapter, []Picture, error) {
	if in.Cluster == nil {
		return nil, nil, fmt.Errorf("book: no cluster config given (a bug in hardway: load the config first)")
	}
	if len(in.Steps) == 0 {
		return nil, nil, fmt.Errorf("book: no steps given (a bug in hardway: pass steps.All with their explain texts)")
	}
	w := newWriter(in)
	chapters := []Chapter{
		w.welcome(),
		w.prerequisites(),
		w.architecture(),
		w.controlLoops(),
		w.podLevel0(),
		w.podLevel1(),
		w.podLevel2(),
		w.podLevel3(),
	}
	for i, s := range in.Steps {
		chapters = append(chapters, w.step(i, s))
	}
	chapters = append(chapters, w.networking(), w.traffic(), w.operating(), w.gitops(), w.managed(), w.filesAppendix())
	for i := range chapters {
		chapters[i].Body += readMoreSection(chapters[i].ID)
	}
	chapters[0].Body += contents(chapters)
	tries := tryIts(w.v, in.Steps)
	for i := range chapters {
		chapters[i].Try = tries[chapters[i].ID]
	}
	return chapters, w.pictures(), nil
}

// origin is the sentence every page opens with, in Markdown: where its
// facts come from.
func origin(in Input) string {
	label := "**Not a built cluster.** "
	if in.Live {
		label = "**Your cluster.** "
	}
	return label + originText(in, "tutorial")
}

// Banner is the same sentence for a terminal: where the facts that follow
// come from, and, for a cluster not built on this host, the command that
// builds it; command is the hardway command to run again afterwards
// (explain, tutorial).
func Banner(in Input, command string) string {
	label := "Not a built cluster. "
	if in.Live {
		label = "Your cluster. "
	}
	return strings.ReplaceAll(label+originText(in, command), "`", "")
}

func originText(in Input, command string) string {
	c := in.Cluster
	switch {
	case in.Live:
		return fmt.Sprintf("This book describes cluster %q as built on this host: its saved config, certificates and files (state: `%s`).", c.Name, in.StateDir)
	case in.ConfigFile != "":
		return fmt.Sprintf("Rendered from the config file `%s`: cluster %q is not built on this host, so the files and certificates shown are what `hardway up -c %s` would create.", in.ConfigFile, c.Name, in.ConfigFile)
	default:
		return fmt.Sprintf("Rendered from the default config: no cluster %q exists on this host yet. Build it with `hardway up --name %s`, then run `hardway %s --name %s` again to see its real files and certificates.", c.Name, c.Name, command, c.Name)
	}
}

// redact removes secrets from text that quotes node files: the encryption
// key and any private key. The book may be served to other machines.
func redact(s string) string {
	s = secretLine.ReplaceAllString(s, "${1}<redacted: the key stays in the state directory>")
	return privateKey.ReplaceAllString(s, "<redacted private key>")
}

var (
	secretLine = regexp.MustCompile(`(?m)(secret:\s*)\S+`)
	privateKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----`)
)
