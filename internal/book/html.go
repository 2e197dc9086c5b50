package book

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// newMarkdown is the Markdown → HTML converter: GitHub's flavour (tables),
// heading ids for links into a page, raw HTML left out (the texts quote
// files full of angle brackets), and links between chapters pointed at
// their HTML pages.
func newMarkdown() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(
			parser.WithAutoHeadingID(),
			parser.WithASTTransformers(util.Prioritized(mdLinksToHTML{}, 100)),
		),
	)
}

// mdLinksToHTML rewrites relative links to "x.md" into "x.html": the
// Markdown pages link to each other, the HTML pages must too.
type mdLinksToHTML struct{}

func (mdLinksToHTML) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if l, ok := n.(*ast.Link); ok && entering {
			l.Destination = []byte(htmlLink(string(l.Destination)))
		}
		return ast.WalkContinue, nil
	})
}

func htmlLink(dest string) string {
	if strings.Contains(dest, "://") || strings.HasPrefix(dest, "/") {
		return dest
	}
	path, frag, _ := strings.Cut(dest, "#")
	if !strings.HasSuffix(path, ".md") {
		return dest
	}
	out := strings.TrimSuffix(path, ".md") + ".html"
	if frag != "" {
		out += "#" + frag
	}
	return out
}

// tocEntry is one line of the table of contents beside every page.
type tocEntry struct {
	Part, Short, Href string
	Current           bool
	NewPart           bool
}

type pageView struct {
	Title, Cluster string
	Origin         template.HTML
	Live           bool
	Content        template.HTML
	CSS            template.CSS
	TOC            []tocEntry
	Prev, Next     *tocEntry
}

// pageTemplate is one HTML page: table of contents, the origin banner, the
// chapter and links to the chapters before and after. Everything is inline
// (no fonts, scripts or styles from elsewhere), so the book works offline.
var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — hardway: {{.Cluster}}</title>
<link rel="icon" href="favicon.svg" type="image/svg+xml">
<style>{{.CSS}}</style>
</head>
<body>
<nav class="toc" aria-label="Contents">
<p class="book"><a href="index.html">hardway: cluster {{.Cluster}}</a></p>
<div class="search" role="search"><input type="search" id="search" placeholder="Search the book" aria-label="Search the book" autocomplete="off"><ol id="search-results"></ol></div>
<ol>
{{- range .TOC}}
{{- if .NewPart}}
<li class="part">{{.Part}}</li>
{{- end}}
<li{{if .Current}} class="current"{{end}}><a href="{{.Href}}">{{.Short}}</a></li>
{{- end}}
</ol>
</nav>
<main>
<div class="origin {{if .Live}}live{{else}}planned{{end}}">{{.Origin}}</div>
<h1>{{.Title}}</h1>
{{.Content}}
<nav class="pager" aria-label="Previous and next chapter">
{{- with .Prev}}<a class="prev" rel="prev" href="{{.Href}}">← {{.Short}}</a>{{end}}
{{- with .Next}}<a class="next" rel="next" href="{{.Href}}">{{.Short}} →</a>{{end}}
</nav>
</main>
<script src="search.js"></script>
</body>
</html>
`))

// favicon is the book's icon: a ship's wheel, drawn inline like the rest.
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#326ce5"/><circle cx="16" cy="16" r="6" fill="none" stroke="#fff" stroke-width="3"/><path d="M16 3v26M3 16h26M6.8 6.8l18.4 18.4M25.2 6.8L6.8 25.2" stroke="#fff" stroke-width="2.5"/></svg>
`

// css keeps pages readable on a laptop and a phone, with nothing fetched.
const css = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;background:#fff;display:flex}
nav.toc{width:19rem;flex:none;height:100vh;position:sticky;top:0;overflow-y:auto;background:#f5f7fa;border-right:1px solid #d9e2ec;padding:1rem;font-size:.9rem}
nav.toc ol{list-style:none;margin:0;padding:0}
nav.toc li{margin:.15rem 0}
nav.toc li.part{margin-top:1rem;font-weight:bold;color:#52606d;text-transform:uppercase;font-size:.75rem;letter-spacing:.04em}
nav.toc li.current a{font-weight:bold;color:#1f2933}
nav.toc .book{font-weight:bold;margin-top:0}
main{flex:1;min-width:0;max-width:62rem;padding:1.5rem 2.5rem 4rem}
a{color:#2456b3}
h1{font-size:1.9rem;line-height:1.25}
h2{margin-top:2.2rem;border-bottom:1px solid #e4e7eb;padding-bottom:.2rem}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.88em;background:#f0f4f8;padding:.05em .25em;border-radius:3px}
pre{background:#102a43;color:#f0f4f8;padding:.8rem 1rem;overflow-x:auto;border-radius:6px;line-height:1.4}
pre code{background:none;padding:0;color:inherit;font-size:.82rem}
table{border-collapse:collapse;margin:1rem 0;display:block;overflow-x:auto;max-width:100%}
td code{overflow-wrap:anywhere}
.search input{width:100%;padding:.3rem .5rem;border:1px solid #bcccdc;border-radius:4px;font:inherit}
#search-results{margin:.3rem 0 .8rem!important}
#search-results li{margin:.4rem 0}
#search-results .snippet{display:block;color:#52606d;font-size:.8rem}
th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f7fa}
img{max-width:100%;height:auto;border:1px solid #e4e7eb;border-radius:6px}
blockquote{margin:1rem 0;padding:.2rem 1rem;border-left:4px solid #b7791f;background:#fffbea}
.origin{padding:.1rem 1rem;border-radius:6px;font-size:.92rem}
.origin.live{background:#e3f9e5;border:1px solid #31b237}
.origin.planned{background:#fff3c4;border:1px solid #b7791f}
nav.pager{display:flex;justify-content:space-between;margin-top:3rem;padding-top:1rem;border-top:1px solid #e4e7eb}
nav.pager .next{margin-left:auto}
@media (max-width:50rem){body{display:block}nav.toc{width:auto;height:auto;position:static}main{padding:1rem}}
@media print{body{display:block;font-size:11pt}nav.toc,nav.pager{display:none}main{max-width:none;padding:0}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;color:#000;border:1px solid #999}
table{display:table;font-size:9pt}td code{font-size:8pt}
h2,h3{break-after:avoid}pre,img,tr{break-inside:avoid}
main a[href^="http"]::after{content:" (" attr(href) ")";font-size:.8em;color:#52606d}}
`

// htmlPage renders chapter i of chapters as a complete HTML page.
func htmlPage(md goldmark.Markdown, in Input, chapters []Chapter, i int) ([]byte, error) {
	var content, banner bytes.Buffer
	if err := md.Convert([]byte(chapterMarkdown(chapters[i])), &content); err != nil {
		return nil, fmt.Errorf("book: converting chapter %s to HTML (a bug in hardway): %w", chapters[i].ID, err)
	}
	if err := md.Convert([]byte(origin(in)), &banner); err != nil {
		return nil, fmt.Errorf("book: converting the banner to HTML (a bug in hardway): %w", err)
	}
	toc := make([]tocEntry, len(chapters))
	for k, ch := range chapters {
		toc[k] = tocEntry{Part: ch.Part, Short: ch.Short, Href: ch.ID + ".html", Current: k == i,
			NewPart: k == 0 || chapters[k-1].Part != ch.Part}
	}
	v := pageView{
		Title: chapters[i].Title, Cluster: in.Cluster.Name, Live: in.Live,
		// goldmark escapes everything it does not render itself (raw HTML
		// is off), so its output is safe to embed as is.
		Origin:  template.HTML(banner.String()),
		Content: template.HTML(content.String()),
		CSS:     template.CSS(css),
		TOC:     toc,
	}
	if i > 0 {
		v.Prev = &toc[i-1]
	}
	if i+1 < len(chapters) {
		v.Next = &toc[i+1]
	}
	var out bytes.Buffer
	if err := pageTemplate.Execute(&out, v); err != nil {
		return nil, fmt.Errorf("book: rendering page %s (a bug in hardway): %w", chapters[i].ID, err)
	}
	return out.Bytes(), nil
}
