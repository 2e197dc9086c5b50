// Package trace measures one pod launch across the cluster's components: it
// creates a pod, collects what each component recorded about it (the API
// server's audit log, an etcd watch, the journals of kubelet and containerd,
// the CNI plugin's address reservations) and puts the events on one timeline,
// relative to the moment the create request left this host. The nodes are
// containers on this host, so every timestamp comes from the same clock.
package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// Evidence is everything recorded about one launch, before it is put in
// order. Collect gathers it from a live cluster; tests build it by hand.
type Evidence struct {
	Namespace, Name, Image string
	// Start is when the create request left this host; every time on the
	// timeline is relative to it.
	Start time.Time
	// ResourceVersion is what the API server answered the create with: the
	// etcd revision of the write that stored the pod.
	ResourceVersion string
	// ClientReady is when this host's watch saw the pod Ready, and Pod the
	// object it saw (node, IP, UID, container).
	ClientReady time.Time
	Pod         *corev1.Pod
	Audit       []AuditEvent
	Writes      []EtcdWrite
	Journal     []JournalEntry
	IPs         []IPReservation
}

// AuditEvent is one API request as an API server's audit log recorded it
// when the response was complete.
type AuditEvent struct {
	// Node is the control-plane node whose audit log holds the event: the
	// API server that served the request.
	Node                                   string
	ID, Verb, URI, User                    string
	SourceIPs                              []string
	Resource, Subresource, Namespace, Name string
	Code                                   int
	Received, Completed                    time.Time
}

// auditLine is the part of an audit.k8s.io/v1 Event the timeline uses.
type auditLine struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	SourceIPs []string `json:"sourceIPs"`
	ObjectRef *struct {
		Resource, Namespace, Name, Subresource string
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	StageTimestamp           time.Time `json:"stageTimestamp"`
}

// ParseAudit reads audit log lines (JSON, one event per line) from node and
// keeps the completed requests; other stages (a watch's ResponseStarted)
// repeat what the completed event says.
func ParseAudit(node string, data []byte) ([]AuditEvent, error) {
	var out []AuditEvent
	err := eachLine(data, func(i int, line []byte) error {
		var l auditLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("audit log of %s, line %d: %w", node, i, err)
		}
		if l.Stage != "ResponseComplete" || l.ObjectRef == nil {
			return nil
		}
		e := AuditEvent{Node: node, ID: l.AuditID, Verb: l.Verb, URI: l.RequestURI, User: l.User.Username,
			SourceIPs: l.SourceIPs, Resource: l.ObjectRef.Resource, Subresource: l.ObjectRef.Subresource,
			Namespace: l.ObjectRef.Namespace, Name: l.ObjectRef.Name,
			Received: l.RequestReceivedTimestamp, Completed: l.StageTimestamp}
		if l.ResponseStatus != nil {
			e.Code = l.ResponseStatus.Code
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// EtcdWrite is one version of the pod's key as an etcd watch delivered it,
// decoded: what the write changed is read from the stored object itself.
type EtcdWrite struct {
	// Node runs the etcd member whose watcher saw the write; At is when
	// the event reached the journal there.
	Node     string
	At       time.Time
	Revision int64
	// Created: the first version of the key; Deleted: the key went away.
	Created, Deleted bool
	NodeName, PodIP  string
	Ready            bool
	// ReadySince is the Ready condition's lastTransitionTime (whole
	// seconds, as the API stores it).
	ReadySince time.Time
}

// watchResponse is etcdctl's JSON for one watch response.
type watchResponse struct {
	Events []struct {
		Type int `json:"type"` // 0 PUT (omitted), 1 DELETE
		KV   struct {
			Key            []byte `json:"key"`
			CreateRevision int64  `json:"create_revision"`
			ModRevision    int64  `json:"mod_revision"`
			Value          []byte `json:"value"`
		} `json:"kv"`
	} `json:"Events"`
}

// ParseWatch reads the journal entries (journalctl -o json) of the watch
// unit on node, each an etcd watch response stamped by journald when it
// arrived, and keeps the events for key. Values are Kubernetes objects in
// their stored form (protobuf behind a "k8s\x00" magic), decoded with
// client-go's scheme.
func ParseWatch(node string, data []byte, key string) ([]EtcdWrite, error) {
	entries, err := ParseJournal(node, data)
	if err != nil {
		return nil, err
	}
	var out []EtcdWrite
	for _, en := range entries {
		var resp watchResponse
		if err := json.Unmarshal([]byte(en.Message), &resp); err != nil {
			return nil, fmt.Errorf("etcd watch on %s at %s: %w", node, en.At.UTC().Format(time.StampMicro), err)
		}
		for _, e := range resp.Events {
			if string(e.KV.Key) != key {
				continue
			}
			w := EtcdWrite{Node: node, At: en.At, Revision: e.KV.ModRevision, Deleted: e.Type == 1,
				Created: e.Type != 1 && e.KV.CreateRevision == e.KV.ModRevision}
			if !w.Deleted {
				p, err := decodePod(e.KV.Value)
				if err != nil {
					return nil, fmt.Errorf("etcd watch on %s, revision %d of %s: %w", node, w.Revision, key, err)
				}
				w.NodeName, w.PodIP = p.Spec.NodeName, p.Status.PodIP
				if c := condition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
					w.Ready, w.ReadySince = true, c.LastTransitionTime.Time
				}
			}
			out = append(out, w)
		}
	}
	return out, nil
}

func decodePod(value []byte) (*corev1.Pod, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(value, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decoding the stored object: %w", err)
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("the stored object is a %T, not a Pod", obj)
	}
	return p, nil
}

func condition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// JournalEntry is one line of a unit's journal on a node.
type JournalEntry struct {
	Node, Unit string
	// At is when journald received the line.
	At      time.Time
	Message string
}

// ParseJournal reads `journalctl -o json` output from node.
func ParseJournal(node string, data []byte) ([]JournalEntry, error) {
	var out []JournalEntry
	err := eachLine(data, func(i int, line []byte) error {
		var l struct {
			Realtime string          `json:"__REALTIME_TIMESTAMP"`
			Unit     string          `json:"_SYSTEMD_UNIT"`
			Message  json.RawMessage `json:"MESSAGE"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("journal of %s, line %d: %w", node, i, err)
		}
		us, err := strconv.ParseInt(l.Realtime, 10, 64)
		if err != nil {
			return fmt.Errorf("journal of %s, line %d: timestamp %q: %w", node, i, l.Realtime, err)
		}
		out = append(out, JournalEntry{Node: node, Unit: l.Unit, At: time.UnixMicro(us), Message: journalMessage(l.Message)})
		return nil
	})
	return out, err
}

// journalMessage reads MESSAGE, which journald writes as a string, or as an
// array of bytes when the text is not valid UTF-8.
func journalMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var bs []byte
	var ints []int
	if json.Unmarshal(raw, &ints) == nil {
		for _, b := range ints {
			bs = append(bs, byte(b))
		}
	}
	return string(bs)
}

// IPReservation is a pod address the host-local IPAM plugin handed out: a
// file named after the address, holding the sandbox's container id, written
// when the address was reserved.
type IPReservation struct {
	Node, Path, IP, ContainerID string
	At                          time.Time
}

// ParseIPAM reads the output of the IPAM script on node: one line per
// reserved address, "MTIME PATH CONTAINER-ID".
func ParseIPAM(node string, data []byte) ([]IPReservation, error) {
	var out []IPReservation
	err := eachLine(data, func(i int, line []byte) error {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			return fmt.Errorf("address reservations on %s, line %d: %q", node, i, line)
		}
		at, err := epoch(f[0])
		if err != nil {
			return fmt.Errorf("address reservations on %s, line %d: %w", node, i, err)
		}
		r := IPReservation{Node: node, Path: f[1], IP: f[1][strings.LastIndex(f[1], "/")+1:], At: at}
		if len(f) > 2 {
			r.ContainerID = f[2]
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// epoch reads "SECONDS.FRACTION" (any number of fraction digits).
func epoch(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
	}
	ns := int64(0)
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		frac += strings.Repeat("0", 9-len(frac))
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
		}
	}
	return time.Unix(secs, ns), nil
}

// eachLine calls f for every non-empty line (numbered from 1). Lines may be
// long: a watch response carries whole objects.
func eachLine(data []byte, f func(i int, line []byte) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for i := 1; sc.Scan(); i++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := f(i, line); err != nil {
			return err
		}
	}
	return sc.Err()
}
