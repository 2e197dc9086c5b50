package trace

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

func TestParseAudit(t *testing.T) {
	// Real lines of a hardway cluster's audit log (Metadata level).
	log := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"cb1b1e7f","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/trace-x/pods?fieldManager=kubectl-run","verb":"create","user":{"username":"admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["10.248.0.2"],"userAgent":"kubectl/v1.32.4","objectRef":{"resource":"pods","namespace":"trace-x","name":"p1","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-27T14:29:18.920089Z","stageTimestamp":"2026-11-27T14:29:18.945945Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"e58ef8bc","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/trace-x/pods?watch=true","verb":"watch","user":{"username":"admin"},"objectRef":{"resource":"pods","namespace":"trace-x","name":"p1","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-27T14:29:19.000000Z","stageTimestamp":"2026-11-27T14:29:19.000100Z"}

{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b61324f0","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/trace-x/pods/p1/binding","verb":"create","user":{"username":"system:kube-scheduler"},"sourceIPs":["127.0.0.1"],"objectRef":{"resource":"pods","namespace":"trace-x","name":"p1","apiVersion":"v1","subresource":"binding"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-11-27T14:29:18.960001Z","stageTimestamp":"2026-11-27T14:29:18.970002Z"}
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"nonres","stage":"ResponseComplete","requestURI":"/api","verb":"get","user":{"username":"admin"},"requestReceivedTimestamp":"2026-11-27T14:29:18.960001Z","stageTimestamp":"2026-11-27T14:29:18.970002Z"}
`
	got, err := ParseAudit("node-2", []byte(log))
	if err != nil {
		t.Fatal(err)
	}
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	want := []AuditEvent{
		{Node: "node-2", ID: "cb1b1e7f", Verb: "create", URI: "/api/v1/namespaces/trace-x/pods?fieldManager=kubectl-run", User: "admin",
			SourceIPs: []string{"10.248.0.2"}, Resource: "pods", Namespace: "trace-x", Name: "p1", Code: 201,
			Received: ts("2026-11-27T14:29:18.920089Z"), Completed: ts("2026-11-27T14:29:18.945945Z")},
		{Node: "node-2", ID: "b61324f0", Verb: "create", URI: "/api/v1/namespaces/trace-x/pods/p1/binding", User: "system:kube-scheduler",
			SourceIPs: []string{"127.0.0.1"}, Resource: "pods", Subresource: "binding", Namespace: "trace-x", Name: "p1", Code: 201,
			Received: ts("2026-11-27T14:29:18.960001Z"), Completed: ts("2026-11-27T14:29:18.970002Z")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	_, err = ParseAudit("node-0", []byte("{\"stage\":\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "audit log of node-0, line 1: ") {
		t.Errorf("error %v, want one naming the node and line", err)
	}
}

// stored encodes a pod the way the API server stores it in etcd.
func stored(t *testing.T, p *corev1.Pod) []byte {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		t.Fatal("no protobuf serializer")
	}
	data, err := runtime.Encode(scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion), p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// journalLine is one entry of journalctl -o json.
func journalLine(t *testing.T, us int64, unit string, msg any) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"__REALTIME_TIMESTAMP": fmt.Sprint(us), "_SYSTEMD_UNIT": unit, "MESSAGE": msg, "__CURSOR": "s=1"})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParseWatch(t *testing.T) {
	key := "/registry/pods/hardway-trace/launch-abcde"
	pod := func(node, ip string, ready bool) []byte {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "launch-abcde", Namespace: "hardway-trace"},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{PodIP: ip}}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(time.Date(2026, 11, 27, 14, 29, 20, 0, time.UTC))}}
		}
		return stored(t, p)
	}
	type kv struct {
		Key            []byte `json:"key"`
		CreateRevision int64  `json:"create_revision"`
		ModRevision    int64  `json:"mod_revision"`
		Value          []byte `json:"value,omitempty"`
	}
	type event struct {
		Type int `json:"type,omitempty"`
		KV   kv  `json:"kv"`
	}
	response := func(events ...event) string {
		data, err := json.Marshal(map[string]any{"Header": map[string]any{"revision": 1}, "Events": events})
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	const unit = "hardway-trace-launch-abcde.service"
	out := strings.Join([]string{
		journalLine(t, 1795789759000001, unit, response(event{KV: kv{Key: []byte(key), CreateRevision: 100, ModRevision: 100, Value: pod("", "", false)}})),
		// One response may carry several events, other keys among them.
		journalLine(t, 1795789759000002, unit, response(
			event{KV: kv{Key: []byte("/registry/leases/kube-system/kube-scheduler"), CreateRevision: 5, ModRevision: 101, Value: []byte("x")}},
			event{KV: kv{Key: []byte(key), CreateRevision: 100, ModRevision: 102, Value: pod("node-2", "", false)}})),
		journalLine(t, 1795789760500000, unit, response(event{KV: kv{Key: []byte(key), CreateRevision: 100, ModRevision: 110, Value: pod("node-2", "10.200.2.4", true)}})),
		journalLine(t, 1795789761000000, unit, response(event{Type: 1, KV: kv{Key: []byte(key), ModRevision: 120}})),
	}, "\n")
	got, err := ParseWatch("node-0", []byte(out), key)
	if err != nil {
		t.Fatal(err)
	}
	want := []EtcdWrite{
		{Node: "node-0", At: time.UnixMicro(1795789759000001), Revision: 100, Created: true},
		{Node: "node-0", At: time.UnixMicro(1795789759000002), Revision: 102, NodeName: "node-2"},
		{Node: "node-0", At: time.UnixMicro(1795789760500000), Revision: 110, NodeName: "node-2", PodIP: "10.200.2.4", Ready: true,
			ReadySince: time.Date(2026, 11, 27, 14, 29, 20, 0, time.UTC).Local()},
		{Node: "node-0", At: time.UnixMicro(1795789761000000), Revision: 120, Deleted: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d writes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || !got[i].ReadySince.Equal(want[i].ReadySince) {
			t.Errorf("write %d at %s (ready since %s), want %s (%s)", i, got[i].At, got[i].ReadySince, want[i].At, want[i].ReadySince)
		}
		got[i].At, want[i].At, got[i].ReadySince, want[i].ReadySince = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got[i] != want[i] {
			t.Errorf("write %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
	bad := journalLine(t, 1795789759000001, unit, response(event{KV: kv{Key: []byte(key), CreateRevision: 100, ModRevision: 100, Value: []byte("k8s\x00garbage")}}))
	if _, err := ParseWatch("node-0", []byte(bad), key); err == nil || !strings.Contains(err.Error(), "etcd watch on node-0, revision 100 of "+key) {
		t.Errorf("error %v, want one naming node, revision and key", err)
	}
}

func TestParseJournal(t *testing.T) {
	out := journalLine(t, 1795789758987614, "kubelet.service", `"SyncLoop ADD" pods=["a/b"]`) + "\n" +
		// journald writes a message that is not UTF-8 as an array of bytes.
		journalLine(t, 1795789758987615, "containerd.service", []int{'m', 's', 'g', 0xff}) + "\n"
	got, err := ParseJournal("node-2", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []JournalEntry{
		{Node: "node-2", Unit: "kubelet.service", At: time.UnixMicro(1795789758987614), Message: `"SyncLoop ADD" pods=["a/b"]`},
		{Node: "node-2", Unit: "containerd.service", At: time.UnixMicro(1795789758987615), Message: "msg\xff"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := ParseJournal("node-2", []byte(`{"__REALTIME_TIMESTAMP":"soon"}`)); err == nil || err.Error() != `journal of node-2, line 1: timestamp "soon": strconv.ParseInt: parsing "soon": invalid syntax` {
		t.Errorf("error %v", err)
	}
}

// TestIPAMScript runs the node script against a directory laid out like
// host-local's and parses what it prints.
func TestIPAMScript(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "var/lib/cni/networks/bridge")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1795789759, 706682069)
	for name, content := range map[string]string{
		"10.200.2.4": sandboxID + "\r\neth0", "10.200.2.3": "0123\r\neth0", "last_reserved_ip.0": "10.200.2.4", "lock": "",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", ipamScript)
	cmd.Env = append(os.Environ(), "HARDWAY_ROOT="+root)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIPAM("node-2", out)
	if err != nil {
		t.Fatal(err)
	}
	want := []IPReservation{
		{Node: "node-2", Path: "/var/lib/cni/networks/bridge/10.200.2.3", IP: "10.200.2.3", ContainerID: "0123", At: mtime},
		{Node: "node-2", Path: "/var/lib/cni/networks/bridge/10.200.2.4", IP: "10.200.2.4", ContainerID: sandboxID, At: mtime},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) {
			t.Errorf("%s at %s, want %s", got[i].IP, got[i].At, want[i].At)
		}
		got[i].At = want[i].At
		if got[i] != want[i] {
			t.Errorf("got  %+v\nwant %+v", got[i], want[i])
		}
	}
}
