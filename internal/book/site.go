package book

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"hardway.dev/hardway/internal/fsutil"
)

// faviconFile is the book's icon, beside the pages.
const faviconFile = "favicon.svg"

// File is one file of the site, its path relative to the site's root.
type File struct {
	Path string
	Data []byte
}

// Site is the whole book: every chapter as ID.md and ID.html, and the
// pictures under img/.
type Site struct {
	Chapters []Chapter
	Pictures []Picture
	Files    []File // sorted by path
}

// Build writes the book for in.
func Build(in Input) (*Site, error) {
	chapters, pics, err := Chapters(in)
	if err != nil {
		return nil, err
	}
	md := newMarkdown()
	s := &Site{Chapters: chapters, Pictures: pics}
	for i, ch := range chapters {
		page, err := htmlPage(md, in, chapters, i)
		if err != nil {
			return nil, err
		}
		s.Files = append(s.Files,
			File{Path: ch.ID + ".md", Data: []byte(markdownPage(in, chapters, i))},
			File{Path: ch.ID + ".html", Data: page})
	}
	for _, p := range pics {
		s.Files = append(s.Files, File{Path: ImageDir + "/" + p.File, Data: p.SVG})
	}
	s.Files = append(s.Files, File{Path: faviconFile, Data: []byte(favicon)})
	entries, err := searchIndex(md, chapters)
	if err != nil {
		return nil, err
	}
	script, err := searchScript(entries)
	if err != nil {
		return nil, err
	}
	s.Files = append(s.Files, File{Path: searchFile, Data: script})
	sort.Slice(s.Files, func(i, j int) bool { return s.Files[i].Path < s.Files[j].Path })
	return s, nil
}

// chapterMarkdown is a chapter's body and its try-it table: what the HTML
// page shows between its banner and its navigation.
func chapterMarkdown(ch Chapter) string {
	var d doc
	d.b.WriteString(ch.Body)
	if len(ch.Try) > 0 {
		d.h2("Try it")
		uses := func(tool string) bool {
			for _, t := range ch.Try {
				if strings.HasPrefix(t.Command, tool+" ") {
					return true
				}
			}
			return false
		}
		if uses("kubectl") {
			d.p("The «kubectl» lines need the admin kubeconfig: run the first command of the table in [Welcome](index.md#talking-to-the-cluster) once per shell.")
		}
		rows := make([][]string, len(ch.Try))
		for i, t := range ch.Try {
			rows[i] = []string{codeSpan(t.Command), t.Shows}
		}
		d.table([]string{"Run", "What it shows"}, rows)
	}
	return d.String()
}

// codeSpan wraps s in enough backticks to hold the backticks inside it.
func codeSpan(s string) string {
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

// markdownPage is chapter i as a standalone Markdown file: title, origin,
// body, try-it table and links to the chapters around it.
func markdownPage(in Input, chapters []Chapter, i int) string {
	ch := chapters[i]
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", ch.Title)
	fmt.Fprintf(&b, "> %s\n\n", origin(in))
	b.WriteString(chapterMarkdown(ch))
	b.WriteString("---\n\n")
	var nav []string
	if i > 0 {
		nav = append(nav, fmt.Sprintf("← [%s](%s.md)", chapters[i-1].Short, chapters[i-1].ID))
	}
	if ch.ID != "index" {
		nav = append(nav, "[Contents](index.md#contents)")
	}
	if i+1 < len(chapters) {
		nav = append(nav, fmt.Sprintf("[%s](%s.md) →", chapters[i+1].Short, chapters[i+1].ID))
	}
	b.WriteString(strings.Join(nav, " · ") + "\n")
	return b.String()
}

// Write writes the site under dir, each file replaced atomically.
func (s *Site) Write(dir string) error {
	for _, f := range s.Files {
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w (choose another --out directory)", filepath.Dir(dst), err)
		}
		if err := fsutil.WriteFileAtomic(dst, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Handler serves the site from memory: "/" is the welcome page.
func (s *Site) Handler() http.Handler {
	files := make(map[string][]byte, len(s.Files))
	for _, f := range s.Files {
		files[f.Path] = f.Data
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "the book is read-only", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		switch p {
		case "":
			p = "index.html"
		case "favicon.ico":
			// Browsers ask for it when showing a picture on its own.
			p = faviconFile
		}
		data, ok := files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".md":
			ct = "text/markdown; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-cache")
		// No modification time: the book has no clock, so no Last-Modified.
		http.ServeContent(w, r, p, time.Time{}, bytes.NewReader(data))
	})
}
