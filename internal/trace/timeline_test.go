package trace

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 11, 27, 14, 29, 18, 900_000_000, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

const (
	testNS    = "hardway-trace"
	testPod   = "launch-abcde"
	testUID   = "cd28aa5e-1f04-48a5-a641-0425e9f8818f"
	sandboxID = "d2ab45bdd9ddebd49cf36dc6b9e9e0ef629eeb4671e93cc5d8efc92eae6d7ffd"
	ctrID     = "b662298c3cfd09f9b9e25b01c8a331f872ee80fad97ddf24cb72e9d068508550"
)

// logfmt is a containerd journal line saying msg.
func logfmt(msg string) string {
	return `time="2026-11-27T14:29:19.644016403Z" level=info msg=` + strconv.Quote(msg)
}

func podEvent(id, node, verb, sub, user string, code, received, completed int, ips ...string) AuditEvent {
	return AuditEvent{Node: node, ID: id, Verb: verb, User: user, SourceIPs: ips, Resource: "pods", Subresource: sub,
		Namespace: testNS, Name: testPod, Code: code, Received: at(received), Completed: at(completed)}
}

// evidence is a whole launch as Collect would gather it: the pod ran on
// node-2, etcd is watched on node-0 and node-1.
func evidence() Evidence {
	return Evidence{
		Namespace: testNS, Name: testPod, Image: "hardway.local/testapp:1.0", Start: t0, ResourceVersion: "100",
		ClientReady: at(1360),
		Pod: &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: testPod, UID: testUID},
			Spec:       corev1.PodSpec{NodeName: "node-2", Containers: []corev1.Container{{Name: "app"}}},
			Status:     corev1.PodStatus{PodIP: "10.200.2.4"},
		},
		Audit: []AuditEvent{
			podEvent("a-get", "node-0", "get", "", "admin", 200, 1, 3),
			podEvent("a-create", "node-0", "create", "", "admin", 201, 2, 30, "10.240.0.2"),
			podEvent("a-bind", "node-1", "create", "binding", "system:kube-scheduler", 201, 45, 70, "127.0.0.1"),
			podEvent("a-st1", "node-2", "patch", "status", "system:node:node-2", 200, 500, 520, "10.240.0.2"),
			podEvent("a-st2", "node-0", "patch", "status", "system:node:node-2", 200, 1300, 1330, "10.240.0.2"),
			{Node: "node-0", ID: "other", Verb: "create", Resource: "pods", Namespace: testNS, Name: "launch-zzzzz", Received: at(1)},
		},
		Writes: []EtcdWrite{
			{Node: "node-0", At: at(35), Revision: 100, Created: true},
			{Node: "node-1", At: at(25), Revision: 100, Created: true},
			{Node: "node-0", At: at(62), Revision: 101, NodeName: "node-2"},
			{Node: "node-1", At: at(64), Revision: 101, NodeName: "node-2"},
			{Node: "node-0", At: at(525), Revision: 105, NodeName: "node-2"},
			{Node: "node-1", At: at(1330), Revision: 110, NodeName: "node-2", PodIP: "10.200.2.4", Ready: true, ReadySince: time.Date(2026, 11, 27, 14, 29, 20, 0, time.UTC)},
			{Node: "node-0", At: at(1325), Revision: 110, NodeName: "node-2", PodIP: "10.200.2.4", Ready: true, ReadySince: time.Date(2026, 11, 27, 14, 29, 20, 0, time.UTC)},
		},
		Journal: []JournalEntry{
			{Node: "node-2", Unit: "kubelet.service", At: at(70), Message: `I1127 14:29:18.9 656 kubelet.go:2760] "SyncLoop ADD" source="api" pods=["kube-system/other"]`},
			{Node: "node-1", Unit: "kubelet.service", At: at(75), Message: `I1127 14:29:18.9 656 kubelet.go:2760] "SyncLoop ADD" source="api" pods=["hardway-trace/launch-abcde"]`},
			{Node: "node-2", Unit: "kubelet.service", At: at(80), Message: `I1127 14:29:18.987535 656 kubelet.go:2760] "SyncLoop ADD" source="api" pods=["hardway-trace/launch-abcde"]`},
			{Node: "node-2", Unit: "containerd.service", At: at(400), Message: logfmt(`RunPodSandbox for name:"launch-abcde" uid:"` + testUID + `" namespace:"hardway-trace"`)},
			{Node: "node-2", Unit: "containerd.service", At: at(700), Message: logfmt(`connecting to shim ` + sandboxID)},
			{Node: "node-2", Unit: "containerd.service", At: at(900), Message: logfmt(`RunPodSandbox for name:"launch-abcde" uid:"` + testUID + `" namespace:"hardway-trace" returns sandbox id "` + sandboxID + `"`)},
			{Node: "node-2", Unit: "containerd.service", At: at(905), Message: logfmt(`CreateContainer within sandbox "` + sandboxID + `" for container name:"app"`)},
			{Node: "node-2", Unit: "containerd.service", At: at(1000), Message: logfmt(`CreateContainer within sandbox "` + sandboxID + `" for name:"app" returns container id "` + ctrID + `"`)},
			{Node: "node-2", Unit: "containerd.service", At: at(1005), Message: logfmt(`StartContainer for "` + ctrID + `"`)},
			{Node: "node-2", Unit: "containerd.service", At: at(1250), Message: logfmt(`StartContainer for "` + ctrID + `" returns successfully`)},
		},
		IPs: []IPReservation{
			{Node: "node-2", Path: "/var/lib/cni/networks/bridge/10.200.2.3", IP: "10.200.2.3", ContainerID: "0123", At: at(-10000)},
			{Node: "node-2", Path: "/var/lib/cni/networks/bridge/10.200.2.4", IP: "10.200.2.4", ContainerID: sandboxID, At: at(600)},
		},
	}
}

// summary is "name component@node +ms" per stage.
func summary(t Timeline) []string {
	var out []string
	for _, s := range t.Stages {
		out = append(out, fmt.Sprintf("%s %s@%s %d", s.Name, s.Component, s.Node, s.At.Milliseconds()))
	}
	return out
}

func missing(t Timeline) []string {
	var out []string
	for _, m := range t.Missing {
		out = append(out, m.Stage)
	}
	return out
}

func TestAssemble(t *testing.T) {
	complete := []string{
		"create hardway@ 0",
		"api-request kube-apiserver@node-0 2",
		"etcd-create etcd@node-1 25",
		"binding kube-scheduler@node-1 45",
		"etcd-bind etcd@node-0 62",
		"kubelet-sync kubelet@node-2 80",
		"sandbox-start containerd@node-2 400",
		"ip-assigned cni@node-2 600",
		"sandbox-ready containerd@node-2 900",
		"container-created containerd@node-2 1000",
		"container-started containerd@node-2 1250",
		"status-patch kubelet@node-2 1300",
		"etcd-ready etcd@node-0 1325",
		"client-ready hardway@ 1360",
	}
	without := func(stages []string, names ...string) []string {
		return slices.DeleteFunc(slices.Clone(stages), func(s string) bool { return slices.Contains(names, strings.Fields(s)[0]) })
	}
	tests := []struct {
		name        string
		change      func(*Evidence)
		want        []string
		wantMissing []string
	}{
		{"complete", func(*Evidence) {}, complete, nil},
		{
			// The API server answers only after etcd committed: when its
			// answer came before any watcher saw the write, it bounds the
			// write's time.
			"API answered before the watchers saw the write",
			func(ev *Evidence) { ev.Writes[1].At = at(40) },
			append(slices.Clone(complete[:2]), append([]string{"etcd-create etcd@node-0 30"}, complete[3:]...)...),
			nil,
		},
		{
			"audit log rotated away",
			func(ev *Evidence) { ev.Audit = nil },
			without(complete, StageAPIRequest, StageBinding, StageStatus),
			[]string{StageAPIRequest, StageBinding, StageStatus},
		},
		{
			// Without the sandbox id from containerd's journal, the address
			// is found by the pod's IP; the container stages need the ids.
			"journals empty",
			func(ev *Evidence) { ev.Journal = nil },
			without(complete, StageKubelet, StageSandbox, StageSandboxReady, StageContainerCreated, StageContainerStarted),
			[]string{StageKubelet, StageSandbox, StageSandboxReady, StageContainerCreated, StageContainerStarted},
		},
		{
			"no etcd watch",
			func(ev *Evidence) { ev.Writes = nil },
			// Without the Ready write the status patch is the kubelet's last.
			without(complete, StageStored, StageBound, StageReady),
			[]string{StageStored, StageBound, StageReady},
		},
		{
			"pod never seen Ready",
			func(ev *Evidence) { ev.ClientReady = time.Time{} },
			complete[:len(complete)-1],
			[]string{StageSeen},
		},
		{
			"no address reservation",
			func(ev *Evidence) { ev.IPs = ev.IPs[:1] },
			without(complete, StageIP),
			[]string{StageIP},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := evidence()
			tt.change(&ev)
			tl := Assemble(ev)
			if got := summary(tl); !slices.Equal(got, tt.want) {
				t.Errorf("stages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if got := missing(tl); !slices.Equal(got, tt.wantMissing) {
				t.Errorf("missing %v, want %v", got, tt.wantMissing)
			}
			if tl.Node != "node-2" || tl.IP != "10.200.2.4" {
				t.Errorf("pod on %s with %s, want node-2 with 10.200.2.4", tl.Node, tl.IP)
			}
		})
	}
}

// TestAssembleTexts: what each stage says and where its time comes from.
func TestAssembleTexts(t *testing.T) {
	ev := evidence()
	ev.Writes[1].At = at(40) // the create's answer bounds the first write
	want := map[string][2]string{
		StageCreate: {"POST /api/v1/namespaces/hardway-trace/pods: pod launch-abcde, image hardway.local/testapp:1.0",
			"this host's clock just before the request was sent"},
		StageAPIRequest: {"received the create from admin: authenticated, authorized, admitted; answered 201 after 28.0 ms",
			"audit log of node-0, event a-create (requestReceivedTimestamp)"},
		StageStored: {"stored /registry/pods/hardway-trace/launch-abcde at revision 100, the resourceVersion the API server answered with",
			"the API server answered the request that wrote it (audit log of node-0, event a-create, stageTimestamp), so etcd had committed it; the first watch (on node-0) reported it 5.0 ms later"},
		StageBinding: {"system:kube-scheduler (on node-1) bound the pod to node-2: POST .../pods/launch-abcde/binding → 201",
			"audit log of node-1, event a-bind (requestReceivedTimestamp)"},
		StageBound:   {"stored spec.nodeName=node-2 at revision 101", "etcd watch on node-0: the first member to report the write"},
		StageKubelet: {"saw the pod bound to its node (SyncLoop ADD) and started working on it", "the journal of kubelet on node-2"},
		StageSandbox: {"RunPodSandbox: a network namespace, the CNI plugins, the pause container", "the journal of containerd on node-2"},
		StageIP: {"host-local IPAM reserved 10.200.2.4 for sandbox d2ab45bdd9dd (bridge plugin: veth into cni0)",
			"modification time of /var/lib/cni/networks/bridge/10.200.2.4 on node-2"},
		StageSandboxReady:     {"the sandbox runs: id d2ab45bdd9dd", "the journal of containerd on node-2"},
		StageContainerCreated: {"created container b662298c3cfd: app from hardway.local/testapp:1.0", "the journal of containerd on node-2"},
		StageContainerStarted: {"started container b662298c3cfd (shim → runc create, start)", "the journal of containerd on node-2"},
		StageStatus: {"system:node:node-2 reported the pod's status: PATCH .../pods/launch-abcde/status → 200 (via the API server on node-0)",
			"audit log of node-0, event a-st2 (requestReceivedTimestamp)"},
		StageReady: {"stored Ready=True (podIP 10.200.2.4) at revision 110; the condition's lastTransitionTime says 14:29:20 (whole seconds)",
			"etcd watch on node-0: the first member to report the write"},
		StageSeen: {"the watch on the pod delivered it Ready: the launch is over", "this host's clock when the watch event arrived"},
	}
	tl := Assemble(ev)
	var names []string
	for _, s := range tl.Stages {
		names = append(names, s.Name)
		w := want[s.Name]
		if s.What != w[0] {
			t.Errorf("%s says %q, want %q", s.Name, s.What, w[0])
		}
		if s.Evidence != w[1] {
			t.Errorf("%s evidence %q, want %q", s.Name, s.Evidence, w[1])
		}
	}
	if !slices.Equal(names, StageNames()) {
		t.Errorf("stages %v, want every stage in order %v", names, StageNames())
	}
}

// TestSVG: one arrow or note per stage, numbered in order, and a lifeline
// per component.
func TestSVG(t *testing.T) {
	svg := string(Assemble(evidence()).SVG("demo"))
	for _, want := range []string{
		`data-from="client" data-to="kube-apiserver" data-n="1"`,
		`data-from="kube-apiserver" data-to="client" data-n="13"`,
		"1. +0.000s POST pods/launch-abcde",
		"+0.002s authn, authz, admission; 201",
		"7. +0.600s CNI ADD → 10.200.2.4",
		"13. +1.360s watch: Ready",
		`Launching pod hardway-trace/launch-abcde on &#34;demo&#34;, measured`,
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("picture lacks %s", want)
		}
	}
	for _, id := range []string{Client, APIServer, Etcd, Scheduler, Kubelet, Containerd, CNI} {
		if !strings.Contains(svg, `data-id="`+id+`"`) {
			t.Errorf("no lifeline %s", id)
		}
	}
}

func TestOffset(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "+0.000s", 1234 * time.Millisecond: "+1.234s", -17 * time.Millisecond: "-0.017s"} {
		if got := Offset(d); got != want {
			t.Errorf("Offset(%s) = %s, want %s", d, got, want)
		}
	}
}

func TestLogfmtMsg(t *testing.T) {
	tests := []struct{ line, want string }{
		{logfmt(`RunPodSandbox for name:"p" uid:"u"`), `RunPodSandbox for name:"p" uid:"u"`},
		{`time="x" level=info msg=plain other=1`, "plain"},
		{`msg="first field"`, "first field"},
		{`no message here`, "no message here"},
	}
	for _, tt := range tests {
		if got := logfmtMsg(tt.line); got != tt.want {
			t.Errorf("logfmtMsg(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}
