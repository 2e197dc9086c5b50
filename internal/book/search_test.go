package book

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSearchIndex: search.js indexes every chapter by section, each entry
// links to a page and heading that exist, a word is found where the book
// says it, and every page loads the script from beside it.
func TestSearchIndex(t *testing.T) {
	site, err := Build(testInput(false))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range site.Files {
		files[f.Path] = string(f.Data)
	}
	script, ok := files[searchFile]
	if !ok {
		t.Fatalf("no %s in the site", searchFile)
	}
	const prefix = "const HARDWAY_INDEX = "
	i := strings.Index(script, prefix)
	j := strings.Index(script, ";\n(function")
	if i < 0 || j < i {
		t.Fatalf("%s does not start with the index", searchFile)
	}
	var entries []SearchEntry
	if err := json.Unmarshal([]byte(script[i+len(prefix):j]), &entries); err != nil {
		t.Fatal(err)
	}
	chapters := map[string]bool{}
	for _, e := range entries {
		page, frag, _ := strings.Cut(e.Href, "#")
		html, ok := files[page]
		if !ok {
			t.Errorf("%q links to %s, which is no page", e.Section, e.Href)
			continue
		}
		if frag != "" && !strings.Contains(html, `id="`+frag+`"`) {
			t.Errorf("%q links to %s: no such heading", e.Section, e.Href)
		}
		if e.Text == "" {
			t.Errorf("%s: empty text", e.Href)
		}
		chapters[page] = true
	}
	for _, ch := range site.Chapters {
		if !chapters[ch.ID+".html"] {
			t.Errorf("chapter %s is not in the search index", ch.ID)
		}
		if !strings.Contains(files[ch.ID+".html"], `<script src="search.js"></script>`) || !strings.Contains(files[ch.ID+".html"], `id="search"`) {
			t.Errorf("%s.html has no search box or does not load search.js", ch.ID)
		}
	}
	found := false
	for _, e := range entries {
		if e.Href == "architecture.html#one-hub-many-spokes" && strings.Contains(e.Text, "trusts only certificates of its own CA") {
			found = true
		}
	}
	if !found {
		t.Error("the architecture's section \"One hub, many spokes\" is not indexed with its text")
	}
}
