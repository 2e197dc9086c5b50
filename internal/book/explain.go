package book

import (
	"path"
	"regexp"
	"strings"
)

// explainMarkdown turns the text of `hardway explain STEP` into Markdown.
// That text is written for a terminal: paragraphs, titles underlined with
// "─", and indented blocks (tables, flags, file contents). Paragraphs stay
// paragraphs, titles become headings and every indented block becomes a code
// block, so whatever the text holds, nothing is lost or misread.
func explainMarkdown(text, heading string) string {
	lines := strings.Split(strings.ReplaceAll(redact(text), "\t", "    "), "\n")
	indented := func(l string) bool { return strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "" }
	titleAt := func(i int) bool {
		return i+1 < len(lines) && !indented(lines[i]) && strings.TrimSpace(lines[i]) != "" && isRule(lines[i+1])
	}
	var d doc
	for i := 0; i < len(lines); {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			i++
		case titleAt(i):
			d.b.WriteString(heading + " " + escapeText(strings.TrimSpace(l)) + "\n\n")
			i += 2
		case indented(l):
			var block []string
			for i < len(lines) && !titleAt(i) {
				if indented(lines[i]) {
					block = append(block, lines[i])
					i++
					continue
				}
				// A blank line belongs to the block only if the block goes on.
				if strings.TrimSpace(lines[i]) == "" && i+1 < len(lines) && indented(lines[i+1]) {
					block = append(block, "")
					i++
					continue
				}
				break
			}
			writeBlock(&d, block)
		default:
			var para []string
			for i < len(lines) && strings.TrimSpace(lines[i]) != "" && !indented(lines[i]) && !titleAt(i) {
				para = append(para, strings.TrimSpace(lines[i]))
				i++
			}
			d.b.WriteString(escapeProse(strings.Join(para, " ")) + "\n\n")
		}
	}
	return d.String()
}

// fileHeader is how explain introduces a file it quotes:
// "  /etc/etcd/... (mode 644):" followed by lines starting with "│".
var fileHeader = regexp.MustCompile(`^\s*(/\S+) \(mode ([0-7]+)\):$`)

// writeBlock writes an indented block: each quoted file as its own code
// block under a line naming it, everything else as it is.
func writeBlock(d *doc, block []string) {
	var plain []string
	flush := func() {
		for len(plain) > 0 && strings.TrimSpace(plain[len(plain)-1]) == "" {
			plain = plain[:len(plain)-1]
		}
		if len(plain) > 0 {
			d.pre("", dedent(strings.Join(plain, "\n")))
		}
		plain = nil
	}
	for i := 0; i < len(block); i++ {
		m := fileHeader.FindStringSubmatch(block[i])
		if m == nil || i+1 >= len(block) || !strings.Contains(block[i+1], "│") {
			plain = append(plain, block[i])
			continue
		}
		flush()
		d.p("«%s» (mode %s):", m[1], m[2])
		var content []string
		for i+1 < len(block) && strings.Contains(block[i+1], "│") {
			i++
			_, after, _ := strings.Cut(block[i], "│")
			content = append(content, strings.TrimPrefix(after, " "))
		}
		d.pre(langOf(m[1]), strings.Join(content, "\n"))
	}
	flush()
}

// langOf names a file's language for the code block that shows it.
func langOf(p string) string {
	switch path.Ext(p) {
	case ".service":
		return "ini"
	case ".yaml":
		return "yaml"
	case ".toml":
		return "toml"
	case ".conflist", ".json":
		return "json"
	case ".conf":
		if strings.Contains(p, "/cni/") {
			return "json"
		}
	}
	return ""
}

// isRule reports whether l underlines a title (a line of "─" or "═").
func isRule(l string) bool {
	l = strings.TrimSpace(l)
	if len([]rune(l)) < 3 {
		return false
	}
	return strings.Trim(l, "─═") == ""
}
