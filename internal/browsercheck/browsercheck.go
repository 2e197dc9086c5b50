// Package browsercheck loads a web site in headless Chromium and reports
// what a reader would trip over: pages that do not load, console errors,
// broken images, and a picture that does not show what it should. Tests use
// it on the tutorial book, served from memory or by `hardway tutorial
// --serve` against a live cluster.
package browsercheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ErrNoBrowser means no Chromium is installed.
var ErrNoBrowser = errors.New("no chromium on PATH: apt-get install -y chromium (hack/setup-host.sh does)")

// FindBrowser returns the path of a Chromium (or Chrome) binary.
func FindBrowser() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Options say what to load and what to expect.
type Options struct {
	// Browser is the Chromium binary; empty finds one on PATH.
	Browser string
	// Start is the URL of the first page. Every page it links to on the same
	// site, and every page those link to, is loaded too.
	Start string
	// Picture is an SVG image, relative to Start, whose elements with class
	// "node" must carry exactly Nodes in data-node, and whose text must name
	// each of them. Empty skips the check.
	Picture string
	Nodes   []string
	// Search is typed into the start page's search box (#search); a result
	// (#search-results a) must link to a page whose address contains
	// SearchWant. Empty skips the check.
	Search, SearchWant string
}

// Report is what the check saw.
type Report struct {
	// Pages are the URLs loaded, in order.
	Pages []string
	// Problems are one line each: the page and what is wrong there.
	Problems []string
}

// Check loads the site in a fresh headless browser. The error is for a
// check that could not run (no browser, the browser died); what is wrong
// with the site is in the Report.
func Check(ctx context.Context, o Options) (Report, error) {
	var r Report
	bin := o.Browser
	if bin == "" {
		var err error
		if bin, err = FindBrowser(); err != nil {
			return r, err
		}
	}
	start, err := url.Parse(o.Start)
	if err != nil {
		return r, fmt.Errorf("start URL %q: %w", o.Start, err)
	}
	profile, err := os.MkdirTemp("", "hardway-browser-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(profile)

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
	)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()

	// Console messages come in on the tab's reader goroutine, before the
	// navigation that caused them returns; page says whose they are.
	var mu sync.Mutex
	page := o.Start
	problem := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
	setPage := func(u string) {
		mu.Lock()
		defer mu.Unlock()
		page = u
	}
	if err := chromedp.Listen(tab, func(ev any) {
		msg := consoleError(ev)
		if msg == "" {
			return
		}
		mu.Lock()
		p := page
		mu.Unlock()
		problem("%s: console: %s", p, msg)
	}); err != nil {
		return r, fmt.Errorf("starting %s: %w", bin, err)
	}

	queue := []string{start.String()}
	seen := map[string]bool{pageKey(start.String()): true}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		setPage(u)
		resp, err := chromedp.Run(tab, chromedp.NavigateResponse(u))
		if err != nil {
			return r, fmt.Errorf("loading %s: %w", u, err)
		}
		r.Pages = append(r.Pages, u)
		if resp.Status >= 400 {
			problem("%s: HTTP %d", u, resp.Status)
			continue
		}
		broken, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
			`Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'))`))
		if err != nil {
			return r, fmt.Errorf("reading the images of %s: %w", u, err)
		}
		links, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('a[href]')).map(a => a.href)`))
		if err != nil {
			return r, fmt.Errorf("reading the links of %s: %w", u, err)
		}
		for _, b := range broken {
			problem("%s: broken image %s", u, b)
		}
		for _, l := range links {
			next, ok := samePage(start, l)
			if ok && !seen[pageKey(next)] {
				seen[pageKey(next)] = true
				queue = append(queue, next)
			}
		}
	}

	if o.Picture != "" {
		pic := start.ResolveReference(&url.URL{Path: o.Picture}).String()
		setPage(pic)
		resp, err := chromedp.Run(tab, chromedp.NavigateResponse(pic))
		if err != nil {
			return r, fmt.Errorf("loading %s: %w", pic, err)
		}
		if resp.Status >= 400 {
			problem("%s: HTTP %d", pic, resp.Status)
		} else {
			shown, err := chromedp.Run(tab, chromedp.Evaluate[[]string](
				`Array.from(document.querySelectorAll('.node[data-node]')).map(g => g.getAttribute('data-node'))`))
			if err != nil {
				return r, fmt.Errorf("reading %s: %w", pic, err)
			}
			text, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.documentElement.textContent`))
			if err != nil {
				return r, fmt.Errorf("reading %s: %w", pic, err)
			}
			sort.Strings(shown)
			want := slices.Sorted(slices.Values(o.Nodes))
			if !slices.Equal(shown, want) {
				problem("%s: shows nodes %v, want %v", pic, shown, want)
			}
			for _, n := range o.Nodes {
				if !strings.Contains(text, n) {
					problem("%s: does not name node %s", pic, n)
				}
			}
		}
	}
	if o.Search != "" {
		setPage(start.String())
		q, _ := json.Marshal(o.Search)
		var hrefs []string
		_, err := chromedp.Run(tab, chromedp.Navigate(start.String()))
		if err == nil {
			hrefs, err = chromedp.Run(tab, chromedp.Evaluate[[]string](`(() => {
  const box = document.getElementById('search');
  if (!box) return ['no search box'];
  box.value = `+string(q)+`;
  box.dispatchEvent(new Event('input'));
  return Array.from(document.querySelectorAll('#search-results a')).map(a => a.getAttribute('href'));
})()`))
		}
		if err != nil {
			return r, fmt.Errorf("searching %s: %w", start, err)
		}
		if !slices.ContainsFunc(hrefs, func(h string) bool { return strings.Contains(h, o.SearchWant) }) {
			problem("%s: searching %q finds %v, nothing in %s", start, o.Search, hrefs, o.SearchWant)
		}
	}
	// Stop the browser before reading the problems: no event arrives after.
	cancelTab()
	cancelAlloc()
	mu.Lock()
	defer mu.Unlock()
	return Report{Pages: r.Pages, Problems: slices.Clone(r.Problems)}, nil
}

// samePage returns link without its fragment when it is an HTML page of the
// site that start belongs to.
func samePage(start *url.URL, link string) (string, bool) {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != start.Scheme || u.Host != start.Host {
		return "", false
	}
	u.Fragment = ""
	if !strings.HasSuffix(u.Path, ".html") && !strings.HasSuffix(u.Path, "/") {
		return "", false
	}
	return u.String(), true
}

// pageKey names a page once: a directory URL is its index.html, as the
// book's server (and most others) answer it.
func pageKey(u string) string {
	if strings.HasSuffix(u, "/") {
		return u + "index.html"
	}
	return u
}

// consoleError is the text of an event that a reader would see as an error
// in the browser's console, or "".
func consoleError(ev any) string {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return ""
		}
		var parts []string
		for _, a := range ev.Args {
			switch {
			case a.Description != "":
				parts = append(parts, a.Description)
			case len(a.Value) > 0:
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
		}
		return "console.error " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return "an uncaught exception"
		}
		if d.Exception != nil && d.Exception.Description != "" {
			return "uncaught " + d.Exception.Description
		}
		return "uncaught " + d.Text
	case *log.EventEntryAdded:
		if ev.Entry == nil || ev.Entry.Level != log.EntryLevelError {
			return ""
		}
		if ev.Entry.URL != "" {
			return ev.Entry.Text + " (" + ev.Entry.URL + ")"
		}
		return ev.Entry.Text
	}
	return ""
}
