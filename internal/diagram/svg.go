// Package diagram draws pictures of a cluster as SVG, straight from its
// config: the architecture, the PKI tree, the pod network and the pod-launch
// sequence. Every picture is a pure function of its inputs (no clock, no map
// order), so the same cluster always gives the same bytes and a changed
// config gives a changed picture.
//
// Elements carry classes and data-* attributes (node names, caller and
// callee of an arrow) so tests and readers can find them without guessing
// from coordinates.
package diagram

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
)

// The pictures use a monospace font so that text width is predictable from
// its length: boxes fit their labels without measuring fonts.
const (
	fontSize  = 12.0
	charWidth = fontSize * 0.6
	lineGap   = 15.0 // baseline to baseline
	padX      = 8.0
	padY      = 6.0
)

// style is embedded in every picture: an <img> cannot see the page's CSS,
// and the book must work offline.
const style = `
text{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;fill:#1f2933}
.title{font-size:15px;font-weight:bold}
.small{font-size:10px;fill:#52606d}
.bold{font-weight:bold}
rect{stroke-width:1.2}
.frame{fill:#ffffff;stroke:none}
.host>rect,.endpoint>rect{fill:#fff8e1;stroke:#b7791f}
.lb>rect{fill:#fff3c4;stroke:#b7791f}
.node>rect{fill:#f5f7fa;stroke:#52606d;stroke-width:1.6}
.node.down>rect{fill:#eeeeee;stroke:#9aa5b1;stroke-dasharray:5 3}
.comp>rect{fill:#e6f0ff;stroke:#3b6fd8}
.comp.worker>rect{fill:#e8f7ee;stroke:#2f8f57}
.comp.network>rect{fill:#f3e8ff;stroke:#7c3aed}
.comp.health-active>rect,.lb.health-active>rect{fill:#d9f8e0;stroke:#1f9d45;stroke-width:2}
.comp.health-failed>rect,.comp.health-down>rect,.lb.health-failed>rect,.lb.health-down>rect{fill:#ffe3e3;stroke:#d42b2b;stroke-width:2}
.comp.health-other>rect,.lb.health-other>rect{fill:#fff1d6;stroke:#c77700;stroke-width:2}
.ca>rect{fill:#fff3c4;stroke:#b7791f;stroke-width:1.6}
.keypair>rect{fill:#f3e8ff;stroke:#7c3aed}
.cert>rect{fill:#e6f0ff;stroke:#3b6fd8}
.user>rect{fill:#e8f7ee;stroke:#2f8f57}
.service>rect{fill:#fff3c4;stroke:#b7791f}
.band>rect{fill:#fffbea;stroke:#b7791f;stroke-dasharray:4 3}
.net>rect{fill:#e0f2f1;stroke:#00796b}
.pod>rect{fill:#e8f7ee;stroke:#2f8f57}
.bridge>rect,.vxlan>rect{fill:#f3e8ff;stroke:#7c3aed}
.routes>rect{fill:#ffffff;stroke:#9aa5b1}
.eth>rect{fill:#e0f2f1;stroke:#00796b}
.participant>rect{fill:#e6f0ff;stroke:#3b6fd8}
.note>rect{fill:#fffbea;stroke:#b7791f}
.candidate>rect{fill:#f5f7fa;stroke:#52606d}
.candidate.chosen>rect{fill:#d9f8e0;stroke:#1f9d45;stroke-width:2}
.lifeline{stroke:#9aa5b1;stroke-dasharray:4 4}
.arrow,.link,.tunnel,.hop{fill:none;stroke:#3e4c59;stroke-width:1.3}
.arrow.peer{stroke:#b7791f}
.tunnel{stroke:#7c3aed;stroke-width:1.6;stroke-dasharray:6 3}
.link{stroke:#9aa5b1}
.halo{fill:#ffffff;stroke:none;opacity:0.85}
`

type point struct{ X, Y float64 }

type rect struct{ X, Y, W, H float64 }

func (r rect) right() float64   { return r.X + r.W }
func (r rect) bottom() float64  { return r.Y + r.H }
func (r rect) centerX() float64 { return r.X + r.W/2 }
func (r rect) centerY() float64 { return r.Y + r.H/2 }

// attr is one XML attribute; a slice of them keeps their order fixed.
type attr struct{ Key, Value string }

func data(key, value string) attr { return attr{"data-" + key, value} }

// canvas writes SVG elements in the order they are drawn.
type canvas struct {
	b strings.Builder
}

func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func esc(s string) string {
	var b strings.Builder
	// xml.EscapeText only fails when the writer does; a Builder never does.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func (c *canvas) attrs(as []attr) {
	for _, a := range as {
		c.b.WriteString(" " + a.Key + `="` + esc(a.Value) + `"`)
	}
}

func (c *canvas) open(tag string, as ...attr) {
	c.b.WriteString("<" + tag)
	c.attrs(as)
	c.b.WriteString(">\n")
}

func (c *canvas) close(tag string) { c.b.WriteString("</" + tag + ">\n") }

func (c *canvas) empty(tag string, as ...attr) {
	c.b.WriteString("<" + tag)
	c.attrs(as)
	c.b.WriteString("/>\n")
}

func (c *canvas) rect(r rect, class string) {
	as := []attr{{"x", num(r.X)}, {"y", num(r.Y)}, {"width", num(r.W)}, {"height", num(r.H)}, {"rx", "4"}}
	if class != "" {
		as = append(as, attr{"class", class})
	}
	c.empty("rect", as...)
}

// text writes one line; anchor is start, middle or end.
func (c *canvas) text(x, y float64, anchor, class, s string) {
	as := []attr{{"x", num(x)}, {"y", num(y)}}
	if anchor != "" && anchor != "start" {
		as = append(as, attr{"text-anchor", anchor})
	}
	if class != "" {
		as = append(as, attr{"class", class})
	}
	c.b.WriteString("<text")
	c.attrs(as)
	c.b.WriteString(">" + esc(s) + "</text>\n")
}

// label writes text on a white halo so it stays readable over lines.
func (c *canvas) label(x, y float64, anchor, class, s string) {
	w := textWidth(s)
	if class == "small" {
		w = float64(len([]rune(s))) * 10 * 0.6
	}
	left := x
	switch anchor {
	case "middle":
		left = x - w/2
	case "end":
		left = x - w
	}
	c.empty("rect", attr{"x", num(left - 2)}, attr{"y", num(y - 11)}, attr{"width", num(w + 4)}, attr{"height", "14"}, attr{"class", "halo"})
	c.text(x, y, anchor, class, s)
}

// box draws a rectangle with lines of text, the first one bold, inside a
// group that carries class and attributes.
func (c *canvas) box(r rect, class string, lines []string, as ...attr) {
	c.open("g", append([]attr{{"class", class}}, as...)...)
	c.rect(r, "")
	for i, l := range lines {
		cls := ""
		if i == 0 {
			cls = "bold"
		}
		c.text(r.X+padX, r.Y+padY+fontSize+float64(i)*lineGap, "", cls, l)
	}
	c.close("g")
}

// arrowMarker is the id of the arrowhead every arrow uses.
const arrowMarker = "arrowhead"

// polyline draws a path through pts; class "arrow" paths get an arrowhead at
// the end, and at the start too when both is set.
func (c *canvas) polyline(pts []point, class string, both bool, as ...attr) {
	var d strings.Builder
	for i, p := range pts {
		if i == 0 {
			d.WriteString("M" + num(p.X) + " " + num(p.Y))
		} else {
			d.WriteString(" L" + num(p.X) + " " + num(p.Y))
		}
	}
	all := []attr{{"class", class}, {"d", d.String()}}
	if strings.HasPrefix(class, "arrow") {
		all = append(all, attr{"marker-end", "url(#" + arrowMarker + ")"})
		if both {
			all = append(all, attr{"marker-start", "url(#" + arrowMarker + "-start)"})
		}
	}
	c.empty("path", append(all, as...)...)
}

// document wraps the drawn elements into a complete SVG file.
func document(width, height float64, title string, body *canvas) []byte {
	var c canvas
	c.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	c.open("svg", attr{"xmlns", "http://www.w3.org/2000/svg"}, attr{"width", num(width)}, attr{"height", num(height)},
		attr{"viewBox", "0 0 " + num(width) + " " + num(height)}, attr{"role", "img"}, attr{"aria-label", title})
	c.open("title")
	c.b.WriteString(esc(title) + "\n")
	c.close("title")
	c.open("style")
	c.b.WriteString(esc(style))
	c.close("style")
	c.open("defs")
	for _, m := range []struct{ id, orient string }{{arrowMarker, "auto"}, {arrowMarker + "-start", "auto-start-reverse"}} {
		c.open("marker", attr{"id", m.id}, attr{"viewBox", "0 0 10 10"}, attr{"refX", "9"}, attr{"refY", "5"},
			attr{"markerWidth", "7"}, attr{"markerHeight", "7"}, attr{"orient", m.orient})
		c.empty("path", attr{"d", "M0 0 L10 5 L0 10 z"}, attr{"fill", "#3e4c59"})
		c.close("marker")
	}
	c.close("defs")
	c.rect(rect{0, 0, width, height}, "frame")
	c.b.WriteString(body.b.String())
	c.close("svg")
	return []byte(c.b.String())
}

// textWidth is the width of s in the picture's monospace font.
func textWidth(s string) float64 { return float64(len([]rune(s))) * charWidth }

// boxSize is the size of a box holding lines.
func boxSize(lines []string) (w, h float64) {
	for _, l := range lines {
		w = math.Max(w, textWidth(l))
	}
	return w + 2*padX, boxHeight(len(lines))
}

func boxHeight(lines int) float64 { return 2*padY + fontSize + float64(lines-1)*lineGap + 4 }
