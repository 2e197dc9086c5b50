package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	yaml "go.yaml.in/yaml/v3"
)

// The decoder reads the YAML node tree (not a map or JSON) because only the
// tree still has what a user needs to fix a file: the line of every key,
// both copies of a duplicated key, and the type a scalar was written as.
// It walks the Cluster struct alongside the tree, so the schema is the Go
// type itself (json tags name the fields), and it collects every problem
// instead of stopping at the first.

// problem is one thing wrong with a config, kept apart from its location
// so the location can be added (or left out) when it is printed.
type problem struct {
	path string // field path, e.g. nodes[1].roles; "" for the document
	line int    // line in the file, 0 when unknown or not from a file
	dflt bool   // the value is a default, not something the file says
	msg  string // what is wrong, what was expected, the fix
}

// text is the problem as one line: "FILE:LINE: path: msg". Without a file
// name the location is "line N"; a defaulted value says "(default)".
func (p problem) text(file string) string {
	var b strings.Builder
	switch {
	case p.line > 0 && file != "":
		fmt.Fprintf(&b, "%s:%d: ", file, p.line)
	case p.line > 0:
		fmt.Fprintf(&b, "line %d: ", p.line)
	case file != "":
		b.WriteString(file + ": ")
	}
	if p.path != "" {
		b.WriteString(p.path)
		if p.dflt {
			b.WriteString(" (default)")
		}
		b.WriteString(": ")
	}
	b.WriteString(p.msg)
	return b.String()
}

// source remembers where a parsed config came from, so that Validate can
// point each problem at the line that set the value.
type source struct {
	file  string         // "" when parsed from bytes without a name
	lines map[string]int // field path → line of its key or list item
	// loaded is the config as Parse returned it (defaults filled): a value
	// that differs now was set by the program (say --name), not the file.
	loaded *Cluster
}

// locate says where the value at path came from: a line of the file, a
// default (dflt), or neither (changed since the file was read).
func (s *source) locate(c *Cluster, path string) (line int, dflt bool) {
	if s == nil || s.loaded == nil || path == "" {
		return 0, false
	}
	now, ok1 := fieldAt(reflect.ValueOf(c), path)
	then, ok2 := fieldAt(reflect.ValueOf(s.loaded), path)
	if ok1 != ok2 || ok1 && !reflect.DeepEqual(now.Interface(), then.Interface()) {
		return 0, false
	}
	if l, ok := s.lines[path]; ok {
		return l, false
	}
	// A node's ssh settings not given at the node come from the
	// cluster's ssh block: point there.
	if _, f, ok := strings.Cut(path, "].ssh."); ok && strings.HasPrefix(path, "nodes[") {
		if l, ok := s.lines["ssh."+f]; ok {
			if v, ok := fieldAt(reflect.ValueOf(c), "ssh."+f); ok && reflect.DeepEqual(v.Interface(), now.Interface()) {
				return l, false
			}
		}
	}
	return 0, true
}

// decoder collects what one document says and everything wrong with it.
type decoder struct {
	lines    map[string]int
	problems []problem
	// zeros are scalars the file set to their zero value ("" or 0 or
	// null): if defaults then replace them, the file was silently ignored.
	zeros []problem
}

func (d *decoder) bad(path string, line int, format string, a ...any) {
	d.problems = append(d.problems, problem{path: path, line: line, msg: fmt.Sprintf(format, a...)})
}

// decode reads one YAML document into a Cluster. The Cluster is nil when
// the YAML itself cannot be read.
func decode(data []byte) (*Cluster, *decoder) {
	d := &decoder{lines: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		c := &Cluster{}
		d.checkHeader(c)
		return c, d
	}
	if err != nil {
		d.yamlError(err)
		return nil, d
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.yamlError(err)
		return nil, d
	case !emptyDocument(&more):
		d.bad("", more.Line, "a second YAML document starts here: a config file holds one Cluster: move it to a file of its own")
	}
	c := &Cluster{}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = deref(root)
	switch {
	case isNull(root):
	case root.Kind != yaml.MappingNode:
		d.bad("", root.Line, "the document is %s, want the fields of a Cluster (apiVersion: %s, kind: %s, ...)", describe(root), APIVersion, Kind)
		return c, d
	default:
		d.object(root, reflect.ValueOf(c).Elem(), "")
	}
	d.checkHeader(c)
	return c, d
}

func emptyDocument(n *yaml.Node) bool {
	return n.Kind == yaml.DocumentNode && (len(n.Content) == 0 || len(n.Content) == 1 && isNull(n.Content[0]))
}

// yamlLineRE picks the line out of the YAML parser's "yaml: line N: msg".
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (d *decoder) yamlError(err error) {
	msg := oneLine(err.Error())
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.bad("", line, "not valid YAML: %s", m[2])
		return
	}
	d.bad("", 0, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// checkHeader refuses a document that is not a hardway Cluster.
func (d *decoder) checkHeader(c *Cluster) {
	if c.APIVersion == "" && c.Kind == "" && d.lines["apiVersion"] == 0 && d.lines["kind"] == 0 {
		d.bad("", 0, "missing apiVersion and kind: start the file with \"apiVersion: %s\" and \"kind: %s\"", APIVersion, Kind)
		return
	}
	if c.APIVersion != APIVersion {
		if c.APIVersion == "" {
			d.bad("apiVersion", d.lines["apiVersion"], "missing: add \"apiVersion: %s\"", APIVersion)
		} else {
			d.bad("apiVersion", d.lines["apiVersion"], "%s is not supported: this hardway reads apiVersion %s", q(c.APIVersion), APIVersion)
		}
	}
	if c.Kind != Kind {
		if c.Kind == "" {
			d.bad("kind", d.lines["kind"], "missing: add \"kind: %s\"", Kind)
		} else {
			d.bad("kind", d.lines["kind"], "%s is not supported: this hardway reads kind %s", q(c.Kind), Kind)
		}
	}
}

// deref follows aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

var (
	durationType = reflect.TypeOf(Duration{})
	nodeType     = reflect.TypeOf(Node{})
)

// field is one field of a config struct as YAML names it.
type field struct {
	name  string
	index int
}

// fieldsOf lists a struct's YAML fields in declaration order.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		out = append(out, field{name, i})
	}
	return out
}

func fieldNames(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// object decodes a mapping into the struct v: every key once, every key
// known.
func (d *decoder) object(n *yaml.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.bad(path, k.Line, "a key is %s, want a field name (%s)", describe(k), strings.Join(fieldNames(fields), ", "))
			continue
		}
		name := k.Value
		fp := join(path, name)
		if k.ShortTag() == "!!merge" {
			d.bad(path, k.Line, "YAML merge keys (<<) are not supported: write the fields out")
			continue
		}
		first, dup := seen[name]
		if dup {
			fix := "keep one"
			if v := deref(val); v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				fix = "merge them into one"
			}
			d.bad(fp, k.Line, "given twice (lines %d and %d); YAML would silently keep only the last: %s", first, k.Line, fix)
		} else {
			seen[name] = k.Line
		}
		idx := -1
		for _, f := range fields {
			if f.name == name {
				idx = f.index
			}
		}
		if idx < 0 {
			if !dup {
				d.unknown(path, fp, k.Line, name, fields)
			}
			continue
		}
		d.lines[fp] = k.Line
		d.value(val, v.Field(idx), fp, k.Line)
	}
}

// unknown reports a key the struct does not have, with the field the user
// most likely meant, or else the fields there are.
func (d *decoder) unknown(path, fp string, line int, name string, fields []field) {
	names := fieldNames(fields)
	if s := nearest(name, names); len(s) > 0 {
		d.bad(fp, line, "unknown field; did you mean %s?", strings.Join(s, " or "))
		return
	}
	where := path
	if where == "" {
		where = "a Cluster"
	}
	d.bad(fp, line, "unknown field; %s takes %s", where, strings.Join(names, ", "))
}

// nearest is the known name closest to name: the same but for case, else
// at most two edits away (and less than half the name), else the one or
// two names containing it or contained in it. None when nothing is close.
func nearest(name string, known []string) []string {
	ln := strings.ToLower(name)
	for _, k := range known {
		if strings.ToLower(k) == ln {
			return []string{k}
		}
	}
	best, bestD := "", 3
	for _, k := range known {
		if dist := editDistance(ln, strings.ToLower(k)); dist < bestD && 2*dist < len(ln) {
			best, bestD = k, dist
		}
	}
	if best != "" {
		return []string{best}
	}
	var contains []string
	for _, k := range known {
		lk := strings.ToLower(k)
		if len(ln) >= 4 && (strings.Contains(lk, ln) || strings.Contains(ln, lk)) {
			contains = append(contains, k)
		}
	}
	if len(contains) > 2 {
		return nil
	}
	return contains
}

// editDistance is the Levenshtein distance between a and b (bytes; field
// names are ASCII). Long inputs are cut: only short names can be close.
func editDistance(a, b string) int {
	if len(a) > 64 {
		a = a[:64]
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// value decodes n into v, whose YAML path is path; keyLine is the line of
// the key that holds it (where a problem with the value is reported).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, keyLine int) {
	n = deref(n)
	line := keyLine
	if line == 0 {
		line = n.Line
	}
	if t := n.Tag; t != "" && !strings.HasPrefix(n.ShortTag(), "!!") {
		d.bad(path, line, "the YAML tag %s is not supported: remove it", show(t))
		return
	}
	if isNull(n) {
		d.null(v, path, line)
		return
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path, line)
	case v.Kind() == reflect.String:
		// A date is text too; and "<<" outside a key is no merge: the
		// YAML writer Marshal uses leaves it unquoted.
		if n.Kind != yaml.ScalarNode || !(n.ShortTag() == "!!str" || n.ShortTag() == "!!timestamp" || n.ShortTag() == "!!merge") {
			fix := ""
			if n.Kind == yaml.ScalarNode {
				fix = " (quote it)"
			}
			d.wrongType(n, path, line, "a string"+example(path, true), fix)
			return
		}
		if hasControl(n.Value) {
			// No field has a use for them, and the YAML writer and reader
			// disagree on some (U+0085 reads back as a space).
			d.bad(path, line, "%s contains a control character or line separator: remove it", q(n.Value))
			return
		}
		v.SetString(n.Value)
		if n.Value == "" {
			d.zeros = append(d.zeros, problem{path: path, line: line, msg: `""`})
		}
	case v.Kind() == reflect.Int:
		d.integer(n, v, path, line)
	case v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Bool:
		d.boolean(n, v, path, line)
	case v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.wrongType(n, path, line, "a mapping with the fields "+strings.Join(fieldNames(fieldsOf(v.Type().Elem())), ", "), "")
			return
		}
		p := reflect.New(v.Type().Elem())
		d.object(n, p.Elem(), path)
		v.Set(p)
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.wrongType(n, path, line, "a mapping with the fields "+strings.Join(fieldNames(fieldsOf(v.Type())), ", "), "")
			return
		}
		d.object(n, v, path)
	case v.Kind() == reflect.Slice:
		d.list(n, v, path, line)
	default:
		// Only reached when a field of a new type is added without
		// teaching the decoder; the fuzz and schema tests catch it.
		d.bad(path, line, "hardway cannot read this field (type %s): please report it", v.Type())
	}
}

// null is a key with no value (or ~ or null): for a block or list the
// same as leaving the key out; for a scalar the zero value, which the
// defaults may replace (see zeros).
func (d *decoder) null(v reflect.Value, path string, line int) {
	switch {
	case v.Kind() == reflect.Slice:
		d.bad(path, line, "%s", emptyList(path))
	case v.Kind() == reflect.String, v.Kind() == reflect.Int, v.Type() == durationType,
		v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Bool:
		d.zeros = append(d.zeros, problem{path: path, line: line, msg: "an empty value"})
	}
}

// noneAllowed: lists where [] means "none" rather than "the default".
func noneAllowed(path string) bool {
	return path == "addons" || path == "podSecurity.exemptNamespaces"
}

// emptyList is the problem with an explicitly empty list: defaults would
// fill it, so the file would not mean what it says.
func emptyList(path string) string {
	if path == "nodes" {
		return fmt.Sprintf("the list is empty: remove the key for the default %d nodes, or list at least one node", DefaultNodeCount)
	}
	if noneAllowed(path) {
		return "has no value: write [] for none, or list them"
	}
	if strings.HasSuffix(path, ".roles") {
		return fmt.Sprintf("the list is empty: remove the key for both roles (%s and %s), or list at least one", RoleControlPlane, RoleWorker)
	}
	return "the list is empty: remove the key, or list at least one item"
}

func (d *decoder) list(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		fix := ""
		switch {
		case n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String:
			fix = fmt.Sprintf(" (write [%s])", show(n.Value))
		case n.Kind == yaml.MappingNode:
			fix = ` (start each item with "- ")`
		}
		d.wrongType(n, path, line, "a list"+example(path, false), fix)
		return
	}
	if len(n.Content) == 0 {
		if noneAllowed(path) {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		d.bad(path, line, "%s", emptyList(path))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip] = item.Line
		if v.Type().Elem() == nodeType && deref(item).Kind == yaml.ScalarNode && !isNull(deref(item)) {
			// "- node-0" instead of "- name: node-0".
			d.bad(ip, item.Line, "%s is %s, want a node like {name: node-0} (write - name: %s)", show(item.Value), kindOf(deref(item)), show(item.Value))
			continue
		}
		d.value(item, out.Index(i), ip, item.Line)
	}
	v.Set(out)
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string, line int) {
	want := "a whole number" + example(path, false)
	if n.Kind != yaml.ScalarNode {
		d.wrongType(n, path, line, want, "")
		return
	}
	switch n.ShortTag() {
	case "!!int":
		var i int
		if err := n.Decode(&i); err != nil {
			d.bad(path, line, "%s is out of range, want %s", show(n.Value), want)
			return
		}
		v.SetInt(int64(i))
		if i == 0 {
			d.zeros = append(d.zeros, problem{path: path, line: line, msg: show(n.Value)})
		}
	case "!!float":
		if digitsRE.MatchString(n.Value) {
			d.bad(path, line, "%s is out of range, want %s", show(n.Value), want)
		} else {
			d.bad(path, line, "%s is not a whole number, want %s", show(n.Value), want)
		}
	case "!!str":
		fix := ""
		if _, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			fix = " (drop the quotes)"
		}
		d.wrongType(n, path, line, want, fix)
	default:
		d.wrongType(n, path, line, want, "")
	}
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		var b bool
		if err := n.Decode(&b); err == nil {
			v.Set(reflect.ValueOf(&b))
			return
		}
	}
	fix := ""
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		// YAML 1.1 read yes/no/on/off as booleans; YAML 1.2 reads strings.
		switch strings.ToLower(n.Value) {
		case "true", "false":
			fix = " (drop the quotes)"
		case "yes", "y", "on":
			fix = " (write true)"
		case "no", "n", "off":
			fix = " (write false)"
		}
	}
	d.wrongType(n, path, line, "true or false", fix)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string, line int) {
	want := "a duration" + example(path, true)
	if n.Kind != yaml.ScalarNode {
		d.wrongType(n, path, line, want, "")
		return
	}
	switch n.ShortTag() {
	case "!!str":
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.bad(path, line, "%s is not %s: use hours (h), minutes (m) or seconds (s)", q(n.Value), want)
			return
		}
		v.Set(reflect.ValueOf(Duration{dur}))
		if dur == 0 {
			d.zeros = append(d.zeros, problem{path: path, line: line, msg: q(n.Value)})
		}
	case "!!int", "!!float":
		d.wrongType(n, path, line, want, fmt.Sprintf(" (add a unit: %sh)", show(n.Value)))
	default:
		d.wrongType(n, path, line, want, "")
	}
}

// wrongType reports a value of the wrong YAML type: what it is, what the
// field wants, and the fix when there is an obvious one.
func (d *decoder) wrongType(n *yaml.Node, path string, line int, want, fix string) {
	if n.Kind == yaml.ScalarNode {
		d.bad(path, line, "%s is %s, want %s%s", shownValue(n), kindOf(n), want, fix)
		return
	}
	d.bad(path, line, "%s, want %s%s", describe(n), want, fix)
}

// describe names a node's kind for messages about it.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return shownValue(n) + " (" + kindOf(n) + ")"
	}
	return "empty"
}

// kindOf says what YAML read a scalar as.
func kindOf(n *yaml.Node) string {
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!timestamp":
		return "a date"
	case "!!null":
		return "empty"
	case "!!binary":
		return "binary data"
	case "!!merge":
		return "a YAML merge key"
	}
	return "of YAML type " + show(n.ShortTag())
}

// shownValue is a scalar as the user wrote it: strings quoted, numbers and
// booleans bare.
func shownValue(n *yaml.Node) string {
	if n.ShortTag() == "!!str" {
		return q(n.Value)
	}
	return show(n.Value)
}

// examples are what a right value looks like, by field path with list
// indexes dropped. Every scalar or list field has one (TestExamples).
var examples = map[string]string{
	"apiVersion":                     APIVersion,
	"kind":                           Kind,
	"name":                           "lab",
	"kubernetesVersion":              DefaultKubernetesVersion,
	"provider":                       ProviderDocker,
	"arch":                           "arm64",
	"network.nodeSubnet":             "10.240.0.0/24",
	"network.podCIDR":                "10.200.0.0/16",
	"network.serviceCIDR":            "10.32.0.0/24",
	"network.clusterDNS":             "10.32.0.10",
	"network.clusterDomain":          "cluster.local",
	"network.kubeProxyMode":          ProxyIPTables,
	"network.loadBalancerIP":         "10.240.0.2",
	"network.apiServerPort":          "6443",
	"network.podRoutes":              PodRoutesVXLAN,
	"network.apiEndpoint":            "k8s.example.com:6443",
	"network.hostAccess":             AccessPublished,
	"network.apiPublishAddress":      "127.0.0.1",
	"network.apiPublishPort":         "26443",
	"network.loadBalancerIPs":        "10.240.0.240-10.240.0.254",
	"addons":                         "[metallb]",
	"addons[]":                       AddonMetalLB,
	"podSecurity.enforce":            PSABaseline,
	"podSecurity.warn":               PSARestricted,
	"podSecurity.audit":              PSARestricted,
	"podSecurity.exemptNamespaces":   "[kube-system]",
	"podSecurity.exemptNamespaces[]": "kube-system",
	"pki.keyAlgorithm":               KeyECDSA,
	"pki.caValidity":                 "87600h",
	"pki.certValidity":               "8760h",
	"etcd.snapshots.every":           "1h",
	"etcd.snapshots.keep":            "24",
	"ssh.user":                       DefaultSSHUser,
	"ssh.port":                       "22",
	"ssh.identityFile":               "~/.ssh/id_ed25519",
	"lima.vmType":                    "vz",
	"lima.network":                   "vzNAT",
	"lima.cpus":                      "2",
	"lima.memory":                    "4GiB",
	"lima.disk":                      "20GiB",
	"nodes":                          "[{name: node-0}]",
	"nodes[].name":                   "node-0",
	"nodes[].ip":                     "10.240.0.10",
	"nodes[].roles":                  "[control-plane, worker]",
	"nodes[].roles[]":                RoleWorker,
	"nodes[].podCIDR":                "10.200.0.0/24",
	"nodes[].ssh.address":            "192.168.1.20",
	"nodes[].ssh.user":               DefaultSSHUser,
	"nodes[].ssh.port":               "22",
	"nodes[].ssh.identityFile":       "~/.ssh/id_ed25519",
	"isolated":                       "true",
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// example is " like X" for the field at path ("" when there is none);
// quoted says X is a string.
func example(path string, quoted bool) string {
	e, ok := examples[indexRE.ReplaceAllString(path, "[]")]
	if !ok || e == "" {
		return ""
	}
	if quoted {
		e = strconv.Quote(e)
	}
	return " like " + e
}

// join adds a key to a field path; a key that is not a plain name is
// quoted so the path stays one readable line.
func join(path, key string) string {
	if !plainKeyRE.MatchString(key) {
		key = q(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// digitsRE is an integer YAML read as a float because it is too large.
	digitsRE = regexp.MustCompile(`^[-+]?[0-9_]+$`)
	// A value shown bare must be short and look like a word or number.
	bareRE = regexp.MustCompile(`^[A-Za-z0-9_.:/+~!-]{1,64}$`)
)

// q quotes a value for a message: Go escapes keep it on one line, and a
// long value is cut.
func q(s string) string {
	const max = 64
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

// show is s bare when that is unambiguous (a word, a number, a CIDR),
// else quoted.
func show(s string) string {
	if bareRE.MatchString(s) {
		return s
	}
	return q(s)
}

// hasControl reports control characters (tab and newline included) and
// the Unicode line and paragraph separators.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 })
}

// oneLine keeps text from outside hardway (parser errors) on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

// checkZeros refuses a "" or 0 the file set explicitly that the defaults
// then replaced: `name: ""` is not the default name said on purpose.
func (d *decoder) checkZeros(c *Cluster) {
	for _, z := range d.zeros {
		v, ok := fieldAt(reflect.ValueOf(c), z.path)
		if !ok || isZeroValue(v) {
			continue
		}
		d.bad(z.path, z.line, "%s would silently become the default %s: remove the key for the default, or give a value", z.msg, display(v))
	}
}

func isZeroValue(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer {
		return v.IsNil()
	}
	return v.IsZero()
}

// display is a config value for a message.
func display(v reflect.Value) string {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	switch x := v.Interface().(type) {
	case Duration:
		return x.String()
	case string:
		return q(x)
	}
	return fmt.Sprint(v.Interface())
}

// fieldAt is the value at a field path like nodes[1].ssh.port in v (a
// *Cluster); false when the path leads through a nil pointer, past the
// end of a list, or to no field.
func fieldAt(v reflect.Value, path string) (reflect.Value, bool) {
	for {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, path == ""
			}
			if path == "" {
				return v, true
			}
			v = v.Elem()
		}
		if path == "" {
			return v, true
		}
		if path[0] == '[' {
			end := strings.IndexByte(path, ']')
			if end < 0 || v.Kind() != reflect.Slice {
				return reflect.Value{}, false
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || i < 0 || i >= v.Len() {
				return reflect.Value{}, false
			}
			v, path = v.Index(i), path[end+1:]
			continue
		}
		path = strings.TrimPrefix(path, ".")
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			end = len(path)
		}
		name := path[:end]
		path = path[end:]
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		found := false
		for _, f := range fieldsOf(v.Type()) {
			if f.name == name {
				v, found = v.Field(f.index), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
}

// ancestors is path and every path containing it: nodes[1].ssh.port,
// nodes[1].ssh, nodes[1], nodes. A problem of Validate at or around a field
// that could not be decoded would only repeat it (the field now holds a
// default, not what the file meant).
func ancestors(path string) []string {
	out := []string{path}
	for i := len(path) - 1; i > 0; i-- {
		if path[i] == '.' || path[i] == '[' {
			out = append(out, path[:i])
		}
	}
	return out
}

// sortByLine orders problems as the file has them; problems without a line
// keep their order after those with one.
func sortByLine(ps []problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		li, lj := ps[i].line, ps[j].line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
}
