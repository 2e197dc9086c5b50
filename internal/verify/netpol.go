package verify

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"hardway.dev/hardway/internal/wait"
)

// NetpolBound is how long a policy may take to show in the traffic. The
// agent judges every new connection against the policies it has read, so
// a new policy counts as soon as its watch delivers it (well under a
// second); the rest is slack for a loaded machine.
const NetpolBound = 30 * time.Second

// The networkpolicy check's objects, in the verify namespace.
const (
	netpolTarget = "netpol-target"
	netpolDeny   = "netpol-deny-all"
	netpolAllow  = "netpol-allow-hello"
)

// checkNetworkPolicy proves NetworkPolicy is enforced: a test pod reaches
// a target pod, a deny-all ingress policy on the target blocks it, and a
// rule allowing the test pods' label opens it again. Only the target pod
// is selected, so the other checks' traffic is untouched; the policies are
// deleted at the end (the target pod stays for the next run, like the
// Deployment).
func checkNetworkPolicy(ctx context.Context, s *session) ([]string, error) {
	client := s.pods[0]
	target, err := s.netpolTarget(ctx, client)
	if err != nil {
		return nil, err
	}
	pols := s.env.Client.NetworkingV1().NetworkPolicies(Namespace)
	defer func() {
		// With a context of its own: the check's may be done.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range []string{netpolDeny, netpolAllow} {
			_ = pols.Delete(cctx, n, metav1.DeleteOptions{})
		}
	}()
	for _, n := range []string{netpolDeny, netpolAllow} {
		if err := pols.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	addr := fmt.Sprintf("%s:%d", target.Status.PodIP, appPort)
	from := fmt.Sprintf("pod %s (%s) → pod %s at %s", client.Name, client.Spec.NodeName, target.Name, addr)
	if _, err := s.netpolReach(ctx, client, addr, true, "the target to answer with no policy"); err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	detail := []string{from + ": answered with no policy"}

	sel := metav1.LabelSelector{MatchLabels: map[string]string{"hardway-verify": netpolTarget}}
	deny := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: netpolDeny, Namespace: Namespace},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
	if _, err := pols.Create(ctx, deny, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	took, err := s.netpolReach(ctx, client, addr, false, "the target to be blocked by "+netpolDeny)
	if err != nil {
		return nil, fmt.Errorf("NetworkPolicy %s (ingress, no rule) selects %s, yet %s: %w; is the agent running? kubectl -n kube-network-policies get pods; kubectl -n kube-network-policies logs ds/kube-network-policies -c steer", netpolDeny, target.Name, from, err)
	}
	detail = append(detail, fmt.Sprintf("NetworkPolicy %s (ingress, no rule): blocked after %.1fs", netpolDeny, took.Seconds()))

	tcp, port := corev1.ProtocolTCP, intstr.FromInt32(appPort)
	allow := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: netpolAllow, Namespace: Namespace},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: sel,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "hello"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
		},
	}
	if _, err := pols.Create(ctx, allow, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	took, err = s.netpolReach(ctx, client, addr, true, "the target to answer again through "+netpolAllow)
	if err != nil {
		return nil, fmt.Errorf("NetworkPolicy %s allows app=hello on TCP %d, yet %s: %w (kubectl -n kube-network-policies logs ds/kube-network-policies -c agent)", netpolAllow, appPort, from, err)
	}
	return append(detail, fmt.Sprintf("NetworkPolicy %s (from app=hello, TCP %d): answered again after %.1fs", netpolAllow, appPort, took.Seconds())), nil
}

// netpolTarget creates the target pod (restricted, like every verify pod)
// on another node than client where there is one, and waits until it is
// ready. An earlier run's pod is reused.
func (s *session) netpolTarget(ctx context.Context, client corev1.Pod) (*corev1.Pod, error) {
	pods := s.env.Client.CoreV1().Pods(Namespace)
	if _, err := pods.Get(ctx, netpolTarget, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		node := ""
		for _, p := range s.pods {
			if p.Spec.NodeName != client.Spec.NodeName {
				node = p.Spec.NodeName
			}
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: netpolTarget, Namespace: Namespace, Labels: map[string]string{"hardway-verify": netpolTarget}},
			Spec: corev1.PodSpec{
				NodeName:                      node,
				TerminationGracePeriodSeconds: new(int64),
				SecurityContext:               restrictedPod(),
				// The kubelet's readiness probe comes from the node's root,
				// which the agent never judges: the pod stays ready under
				// deny-all.
				Containers: []corev1.Container{testAppContainer("app")},
			},
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	var got *corev1.Pod
	err := wait.Until(ctx, "pod "+netpolTarget+" to be ready", 300*time.Millisecond, time.Minute, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, netpolTarget, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				got = p
				return true, nil
			}
		}
		return false, fmt.Errorf("%s", describePods([]corev1.Pod{*p}))
	})
	return got, err
}

// netpolReach fetches the test page at addr from pod p, one try of 2 s at
// a time, until the outcome is want (answered or not), for at most
// NetpolBound; it returns how long that took.
func (s *session) netpolReach(ctx context.Context, p corev1.Pod, addr string, want bool, what string) (time.Duration, error) {
	start := time.Now()
	last := ""
	err := wait.Until(ctx, what, 200*time.Millisecond, NetpolBound, func(ctx context.Context) (bool, error) {
		tctx, cancel := context.WithTimeout(ctx, 6*time.Second)
		defer cancel()
		// The exit status is printed, so a failed exec is not taken for a
		// blocked connection.
		out, err := s.exec(tctx, p, "sh", "-c", "wget -T 2 -q -O - http://"+addr+"/ >/dev/null 2>&1; echo rc=$?")
		if err != nil {
			last = "exec: " + err.Error()
			return false, fmt.Errorf("%s", last)
		}
		answered := strings.TrimSpace(out) == "rc=0"
		if answered == want {
			return true, nil
		}
		if answered {
			last = "it still answers"
		} else {
			last = "it does not answer (wget " + strings.TrimSpace(out) + ")"
		}
		return false, fmt.Errorf("%s", last)
	})
	return time.Since(start), err
}
