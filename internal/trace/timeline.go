package trace

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The stages of a pod launch, in the order they cause each other.
const (
	StageCreate           = "create"
	StageAPIRequest       = "api-request"
	StageStored           = "etcd-create"
	StageBinding          = "binding"
	StageBound            = "etcd-bind"
	StageKubelet          = "kubelet-sync"
	StageSandbox          = "sandbox-start"
	StageIP               = "ip-assigned"
	StageSandboxReady     = "sandbox-ready"
	StageContainerCreated = "container-created"
	StageContainerStarted = "container-started"
	StageStatus           = "status-patch"
	StageReady            = "etcd-ready"
	StageSeen             = "client-ready"
)

// StageNames lists every stage in causal order.
func StageNames() []string {
	return []string{StageCreate, StageAPIRequest, StageStored, StageBinding, StageBound, StageKubelet,
		StageSandbox, StageIP, StageSandboxReady, StageContainerCreated, StageContainerStarted,
		StageStatus, StageReady, StageSeen}
}

// The participants of the launch, as the sequence picture names them.
const (
	Client     = "client"
	APIServer  = "kube-apiserver"
	Etcd       = "etcd"
	Scheduler  = "kube-scheduler"
	Kubelet    = "kubelet"
	Containerd = "containerd"
	CNI        = "cni"
)

// Stage is one measured event of the launch.
type Stage struct {
	Name string
	// At is the time since the create request left this host.
	At time.Duration
	// Component did it, on Node ("" for this host).
	Component, Node string
	// What happened, with this pod's values, and Evidence: where the time
	// was read.
	What, Evidence string
	// From, To and Label draw the stage as an arrow of the sequence picture
	// (From == To: a note).
	From, To, Label string
}

// Missing is a stage no evidence was found for, and where it was looked for.
type Missing struct {
	Stage, Looked string
}

// Timeline is a launch in causal order.
type Timeline struct {
	Namespace, Name, Image string
	// Node is where the pod ran, IP its address.
	Node, IP string
	Start    time.Time
	Stages   []Stage
	Missing  []Missing
}

// Assemble puts the evidence of one launch on a timeline, one entry per
// stage in causal order; stages without evidence are listed as Missing with
// where they were looked for.
func Assemble(ev Evidence) Timeline {
	a := assembly{ev: ev, t: Timeline{Namespace: ev.Namespace, Name: ev.Name, Image: ev.Image, Start: ev.Start}}
	if ev.Pod != nil {
		a.node, a.uid, a.t.IP = ev.Pod.Spec.NodeName, string(ev.Pod.UID), ev.Pod.Status.PodIP
		if len(ev.Pod.Spec.Containers) > 0 {
			a.container = ev.Pod.Spec.Containers[0].Name
		}
	}
	a.t.Node = a.node
	a.writes = firstSeen(ev.Writes)
	a.run()
	return a.t
}

// assembly is the state of one Assemble: what earlier stages found (ids,
// the Ready write) is what later ones look for.
type assembly struct {
	ev                     Evidence
	t                      Timeline
	node, uid, container   string
	writes                 []EtcdWrite
	sandboxID, containerID string
	readyWrite             *EtcdWrite
}

// auditWhere is where API requests are looked for.
const auditWhere = "the audit log (/var/log/audit.log) of every control-plane node"

func (a *assembly) rel(t time.Time) time.Duration { return t.Sub(a.ev.Start) }

func (a *assembly) add(s Stage) { a.t.Stages = append(a.t.Stages, s) }
func (a *assembly) miss(stage, looked string) {
	a.t.Missing = append(a.t.Missing, Missing{stage, looked})
}
func (a *assembly) journalOf(unit string) string { return "the journal of " + unit + " on " + a.node }

func (a *assembly) run() {
	ns, name := a.ev.Namespace, a.ev.Name
	a.add(Stage{Name: StageCreate, Component: "hardway", What: fmt.Sprintf("POST /api/v1/namespaces/%s/pods: pod %s, image %s", ns, name, a.ev.Image),
		Evidence: "this host's clock just before the request was sent", From: Client, To: APIServer, Label: "POST pods/" + name})

	create := a.audit(func(e AuditEvent) bool { return e.Verb == "create" && e.Subresource == "" })
	if create != nil {
		a.add(Stage{Name: StageAPIRequest, At: a.rel(create.Received), Component: APIServer, Node: create.Node,
			What: fmt.Sprintf("received the create from %s: authenticated, authorized, admitted; answered %d after %s",
				create.User, create.Code, ms(create.Completed.Sub(create.Received))),
			Evidence: fmt.Sprintf("audit log of %s, event %s (requestReceivedTimestamp)", create.Node, create.ID),
			From:     APIServer, To: APIServer, Label: fmt.Sprintf("authn, authz, admission; %d", create.Code)})
	} else {
		a.miss(StageAPIRequest, "a pods create for "+name+" in "+auditWhere)
	}

	key := "/registry/pods/" + ns + "/" + name
	if w := a.write(func(w EtcdWrite) bool { return w.Created }); w != nil {
		rv := ""
		if a.ev.ResourceVersion == strconv.FormatInt(w.Revision, 10) {
			rv = ", the resourceVersion the API server answered with"
		}
		a.add(a.stored(StageStored, w, create, fmt.Sprintf("stored %s at revision %d%s", key, w.Revision, rv),
			fmt.Sprintf("put %s (rev %d)", key, w.Revision)))
	} else {
		a.miss(StageStored, "the creation of "+key+" in the etcd watches")
	}

	bind := a.audit(func(e AuditEvent) bool { return e.Verb == "create" && e.Subresource == "binding" })
	if bind != nil {
		where := "through the API server on " + bind.Node
		if len(bind.SourceIPs) > 0 && (bind.SourceIPs[0] == "127.0.0.1" || bind.SourceIPs[0] == "::1") {
			// The scheduler talks to the API server of its own node.
			where = "on " + bind.Node
		}
		a.add(Stage{Name: StageBinding, At: a.rel(bind.Received), Component: Scheduler, Node: bind.Node,
			What:     fmt.Sprintf("%s (%s) bound the pod to %s: POST .../pods/%s/binding → %d", bind.User, where, a.node, name, bind.Code),
			Evidence: fmt.Sprintf("audit log of %s, event %s (requestReceivedTimestamp)", bind.Node, bind.ID),
			From:     Scheduler, To: APIServer, Label: "POST binding → " + a.node})
	} else {
		a.miss(StageBinding, "a pods/binding create in "+auditWhere)
	}

	if w := a.write(func(w EtcdWrite) bool { return w.NodeName != "" }); w != nil {
		a.add(a.stored(StageBound, w, bind, fmt.Sprintf("stored spec.nodeName=%s at revision %d", w.NodeName, w.Revision),
			fmt.Sprintf("put nodeName=%s (rev %d)", w.NodeName, w.Revision)))
	} else {
		a.miss(StageBound, "a version of "+key+" with spec.nodeName in the etcd watches")
	}

	a.nodeStages()

	if w := a.write(func(w EtcdWrite) bool { return w.Ready }); w != nil {
		a.readyWrite = w
	}
	status := a.statusPatch()
	if status != nil {
		a.add(Stage{Name: StageStatus, At: a.rel(status.Received), Component: Kubelet, Node: a.node,
			What:     fmt.Sprintf("%s reported the pod's status: PATCH .../pods/%s/status → %d (via the API server on %s)", status.User, name, status.Code, status.Node),
			Evidence: fmt.Sprintf("audit log of %s, event %s (requestReceivedTimestamp)", status.Node, status.ID),
			From:     Kubelet, To: APIServer, Label: "PATCH status: Running, IP " + a.t.IP})
	} else {
		a.miss(StageStatus, "a pods/status patch by system:node:"+a.node+" in "+auditWhere)
	}
	if w := a.readyWrite; w != nil {
		a.add(a.stored(StageReady, w, status, fmt.Sprintf("stored Ready=True (podIP %s) at revision %d; the condition's lastTransitionTime says %s (whole seconds)",
			w.PodIP, w.Revision, w.ReadySince.UTC().Format(time.TimeOnly)), fmt.Sprintf("put Ready=True (rev %d)", w.Revision)))
	} else {
		a.miss(StageReady, "a version of "+key+" with Ready=True in the etcd watches")
	}
	if !a.ev.ClientReady.IsZero() {
		a.add(Stage{Name: StageSeen, At: a.rel(a.ev.ClientReady), Component: "hardway",
			What:     "the watch on the pod delivered it Ready: the launch is over",
			Evidence: "this host's clock when the watch event arrived",
			From:     APIServer, To: Client, Label: "watch: Ready"})
	} else {
		a.miss(StageSeen, "this host's watch on the pod")
	}
}

// stored is the stage of an etcd write. Its time is when the first
// watcher's journal got the event, unless the API server had answered the
// request that made the write (by) before that: it answers only once etcd
// has committed, so its answer is the closer bound.
func (a *assembly) stored(name string, w *EtcdWrite, by *AuditEvent, what, label string) Stage {
	at := w.At
	evidence := fmt.Sprintf("etcd watch on %s: the first member to report the write", w.Node)
	if by != nil && by.Completed.Before(w.At) {
		at = by.Completed
		evidence = fmt.Sprintf("the API server answered the request that wrote it (audit log of %s, event %s, stageTimestamp), so etcd had committed it; the first watch (on %s) reported it %s later",
			by.Node, by.ID, w.Node, ms(w.At.Sub(by.Completed)))
	}
	return Stage{Name: name, At: a.rel(at), Component: Etcd, Node: w.Node, What: what, Evidence: evidence, From: APIServer, To: Etcd, Label: label}
}

// Messages of kubelet (klog) and containerd (logrus msg=, unquoted first)
// that mark the node's stages.
var (
	sandboxReturns   = regexp.MustCompile(`returns sandbox id "([0-9a-f]+)"`)
	containerReturns = regexp.MustCompile(`returns container id "([0-9a-f]+)"`)
)

func (a *assembly) nodeStages() {
	name, ns := a.ev.Name, a.ev.Namespace
	if e := a.journal("kubelet.service", func(m string) bool {
		return strings.Contains(m, `"SyncLoop ADD"`) && strings.Contains(m, `"`+ns+"/"+name+`"`)
	}); e != nil {
		a.add(Stage{Name: StageKubelet, At: a.rel(e.At), Component: Kubelet, Node: a.node,
			What:     "saw the pod bound to its node (SyncLoop ADD) and started working on it",
			Evidence: a.journalOf("kubelet"), From: APIServer, To: Kubelet, Label: "watch: pod for " + a.node})
	} else {
		a.miss(StageKubelet, `"SyncLoop ADD" for `+ns+"/"+name+" in "+a.journalOf("kubelet"))
	}

	uid := `uid:"` + a.uid + `"`
	if e := a.journal("containerd.service", func(m string) bool {
		return strings.HasPrefix(m, "RunPodSandbox for ") && strings.Contains(m, uid) && !strings.Contains(m, "returns")
	}); e != nil {
		a.add(Stage{Name: StageSandbox, At: a.rel(e.At), Component: Containerd, Node: a.node,
			What:     "RunPodSandbox: a network namespace, the CNI plugins, the pause container",
			Evidence: a.journalOf("containerd"), From: Kubelet, To: Containerd, Label: "RunPodSandbox (CRI)"})
	} else {
		a.miss(StageSandbox, "RunPodSandbox for uid "+a.uid+" in "+a.journalOf("containerd"))
	}

	ready := a.journal("containerd.service", func(m string) bool {
		return strings.HasPrefix(m, "RunPodSandbox for ") && strings.Contains(m, uid) && sandboxReturns.MatchString(m)
	})
	if ready != nil {
		a.sandboxID = sandboxReturns.FindStringSubmatch(msgOf(*ready))[1]
	}
	if r := a.reservation(); r != nil {
		a.add(Stage{Name: StageIP, At: a.rel(r.At), Component: CNI, Node: a.node,
			What:     fmt.Sprintf("host-local IPAM reserved %s for sandbox %s (bridge plugin: veth into cni0)", r.IP, short(r.ContainerID)),
			Evidence: "modification time of " + r.Path + " on " + a.node, From: Containerd, To: CNI, Label: "CNI ADD → " + r.IP})
	} else {
		a.miss(StageIP, "a file under /var/lib/cni/networks on "+a.node+" naming the sandbox or "+a.t.IP)
	}
	if ready != nil {
		a.add(Stage{Name: StageSandboxReady, At: a.rel(ready.At), Component: Containerd, Node: a.node,
			What:     "the sandbox runs: id " + short(a.sandboxID),
			Evidence: a.journalOf("containerd"), From: Containerd, To: Kubelet, Label: "sandbox " + short(a.sandboxID)})
	} else {
		a.miss(StageSandboxReady, `"returns sandbox id" for uid `+a.uid+" in "+a.journalOf("containerd"))
	}

	if e := a.journal("containerd.service", func(m string) bool {
		return a.sandboxID != "" && strings.HasPrefix(m, `CreateContainer within sandbox "`+a.sandboxID+`"`) && containerReturns.MatchString(m)
	}); e != nil {
		a.containerID = containerReturns.FindStringSubmatch(msgOf(*e))[1]
		a.add(Stage{Name: StageContainerCreated, At: a.rel(e.At), Component: Containerd, Node: a.node,
			What:     fmt.Sprintf("created container %s: %s from %s", short(a.containerID), a.container, a.ev.Image),
			Evidence: a.journalOf("containerd"), From: Kubelet, To: Containerd, Label: "CreateContainer " + a.container})
	} else {
		a.miss(StageContainerCreated, "CreateContainer in sandbox "+short(a.sandboxID)+" in "+a.journalOf("containerd"))
	}

	if e := a.journal("containerd.service", func(m string) bool {
		return a.containerID != "" && m == `StartContainer for "`+a.containerID+`" returns successfully`
	}); e != nil {
		a.add(Stage{Name: StageContainerStarted, At: a.rel(e.At), Component: Containerd, Node: a.node,
			What:     "started container " + short(a.containerID) + " (shim → runc create, start)",
			Evidence: a.journalOf("containerd"), From: Kubelet, To: Containerd, Label: "StartContainer"})
	} else {
		a.miss(StageContainerStarted, "StartContainer of container "+short(a.containerID)+" in "+a.journalOf("containerd"))
	}
}

// audit finds the completed request about the pod that matches.
func (a *assembly) audit(match func(AuditEvent) bool) *AuditEvent {
	for i, e := range a.ev.Audit {
		if e.Resource == "pods" && e.Namespace == a.ev.Namespace && e.Name == a.ev.Name && match(e) {
			return &a.ev.Audit[i]
		}
	}
	return nil
}

// statusPatch is the kubelet's status update that made the pod Ready: the
// last one that reached an API server before the Ready write reached etcd's
// watchers (the last one at all when that write was not seen).
func (a *assembly) statusPatch() *AuditEvent {
	var best *AuditEvent
	for i, e := range a.ev.Audit {
		if e.Resource != "pods" || e.Namespace != a.ev.Namespace || e.Name != a.ev.Name ||
			e.Verb != "patch" || e.Subresource != "status" || e.User != "system:node:"+a.node {
			continue
		}
		if a.readyWrite != nil && e.Received.After(a.readyWrite.At) {
			continue
		}
		if best == nil || e.Received.After(best.Received) {
			best = &a.ev.Audit[i]
		}
	}
	return best
}

// write returns the first version of the pod (by revision) that matches.
func (a *assembly) write(match func(EtcdWrite) bool) *EtcdWrite {
	for i, w := range a.writes {
		if !w.Deleted && match(w) {
			return &a.writes[i]
		}
	}
	return nil
}

// journal returns the first line of unit on the pod's node whose message
// matches; containerd's logfmt lines are matched on their msg field.
func (a *assembly) journal(unit string, match func(string) bool) *JournalEntry {
	for i, e := range a.ev.Journal {
		if e.Node != a.node || e.Unit != unit {
			continue
		}
		if match(msgOf(e)) {
			return &a.ev.Journal[i]
		}
	}
	return nil
}

// reservation is the address file of the pod's sandbox (by container id),
// else the one named after the pod's IP.
func (a *assembly) reservation() *IPReservation {
	var byIP *IPReservation
	for i, r := range a.ev.IPs {
		if r.Node != a.node {
			continue
		}
		if a.sandboxID != "" && r.ContainerID == a.sandboxID {
			return &a.ev.IPs[i]
		}
		if r.IP == a.t.IP && a.t.IP != "" {
			byIP = &a.ev.IPs[i]
		}
	}
	return byIP
}

// firstSeen keeps one event per revision, the one that reached its watcher
// first (every member's watcher sees every write), ordered by revision.
func firstSeen(ws []EtcdWrite) []EtcdWrite {
	by := map[int64]EtcdWrite{}
	for _, w := range ws {
		if cur, ok := by[w.Revision]; !ok || w.At.Before(cur.At) {
			by[w.Revision] = w
		}
	}
	out := make([]EtcdWrite, 0, len(by))
	for _, w := range by {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// msgOf is what a journal line says: containerd's logfmt lines are read
// for their msg field.
func msgOf(e JournalEntry) string {
	if e.Unit == "containerd.service" {
		return logfmtMsg(e.Message)
	}
	return e.Message
}

// logfmtMsg returns the msg field of a logfmt line (containerd's log
// format, values quoted Go-style), or the line itself when it has none.
func logfmtMsg(line string) string {
	i := strings.Index(line, " msg=")
	if i < 0 {
		if !strings.HasPrefix(line, "msg=") {
			return line
		}
		i = -1
	}
	rest := line[i+len(" msg="):]
	if q, err := strconv.QuotedPrefix(rest); err == nil {
		if s, err := strconv.Unquote(q); err == nil {
			return s
		}
	}
	if sp := strings.IndexByte(rest, ' '); sp >= 0 {
		return rest[:sp]
	}
	return rest
}

// short is the first 12 characters of a container id, as crictl shows it.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// Offset formats a time on the timeline: "+0.123s".
func Offset(d time.Duration) string {
	return fmt.Sprintf("%+.3fs", d.Seconds())
}
