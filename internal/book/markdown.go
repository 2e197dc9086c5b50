package book

import (
	"fmt"
	"strings"
)

// doc builds one chapter's Markdown.
type doc struct{ b strings.Builder }

// code marks code spans in prose written inside Go raw strings, which cannot
// hold backticks: «kubectl» becomes `kubectl`.
var code = strings.NewReplacer("«", "`", "»", "`")

// p writes a paragraph; format is Markdown with «code» spans.
func (d *doc) p(format string, args ...any) {
	text := format
	if len(args) > 0 {
		text = fmt.Sprintf(format, args...)
	}
	d.b.WriteString(code.Replace(strings.TrimSpace(dedent(text))) + "\n\n")
}

func (d *doc) h2(title string) { d.b.WriteString("## " + code.Replace(title) + "\n\n") }
func (d *doc) h3(title string) { d.b.WriteString("### " + code.Replace(title) + "\n\n") }

// pre writes a fenced code block; lang may be empty.
func (d *doc) pre(lang, text string) {
	fence := "```"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	d.b.WriteString(fence + lang + "\n" + strings.TrimRight(text, "\n") + "\n" + fence + "\n\n")
}

// list writes a bullet list; items are Markdown with «code» spans.
func (d *doc) list(items ...string) {
	for _, it := range items {
		d.b.WriteString("- " + code.Replace(it) + "\n")
	}
	d.b.WriteString("\n")
}

// table writes a GFM table; cells are Markdown with «code» spans.
func (d *doc) table(header []string, rows [][]string) {
	cell := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(code.Replace(s), "|", `\|`), "\n", " ")
	}
	hs := make([]string, len(header))
	seps := make([]string, len(header))
	for i, h := range header {
		hs[i], seps[i] = cell(h), "---"
	}
	d.b.WriteString("| " + strings.Join(hs, " | ") + " |\n| " + strings.Join(seps, " | ") + " |\n")
	for _, r := range rows {
		cs := make([]string, len(r))
		for i, c := range r {
			cs[i] = cell(c)
		}
		d.b.WriteString("| " + strings.Join(cs, " | ") + " |\n")
	}
	d.b.WriteString("\n")
}

// img shows a picture that opens full size when clicked.
func (d *doc) img(p Picture) {
	src := ImageDir + "/" + p.File
	fmt.Fprintf(&d.b, "[![%s](%s)](%s)\n\n", escapeText(p.Alt), src, src)
}

func (d *doc) String() string { return d.b.String() }

// dedent strips the indentation common to all non-blank lines, so prose can
// be indented like the Go code around it.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		} else {
			lines[i] = strings.TrimLeft(l, " \t")
		}
	}
	return strings.Join(lines, "\n")
}

// escapeText makes plain text safe inside Markdown: nothing in it becomes
// emphasis, a link, raw HTML or a table cell boundary.
func escapeText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>|#~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapeProse is escapeText that keeps `code spans` written in the text.
func escapeProse(s string) string {
	parts := strings.Split(s, "`")
	if len(parts)%2 == 0 {
		return escapeText(s) // an unpaired backtick: no spans
	}
	for i := range parts {
		if i%2 == 0 {
			parts[i] = escapeText(parts[i])
		}
	}
	out := strings.Join(parts, "`")
	// A paragraph must not start like a list item or a heading.
	if len(out) > 1 && (out[0] == '-' || out[0] == '+') && out[1] == ' ' {
		out = `\` + out
	}
	return out
}
