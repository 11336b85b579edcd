package main

import (
	"encoding/json"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Peer is a pod (namespace, its labels, the pod's labels) or, with IP set, an address
// outside the cluster.
type Peer struct {
	Namespace       string            `json:"namespace,omitempty"`
	NamespaceLabels map[string]string `json:"namespaceLabels,omitempty"`
	PodLabels       map[string]string `json:"podLabels,omitempty"`
	IP              string            `json:"ip,omitempty"`
}

// Connection is one TCP connection to ask about: to a container port of the destination,
// by number and by the name the pod gives it.
type Connection struct {
	Name        string `json:"name"`
	Source      Peer   `json:"source"`
	Destination Peer   `json:"destination"`
	Port        int    `json:"port"`
	PortName    string `json:"portName"`
}

type ReachInput struct {
	Policies    []networkingv1.NetworkPolicy `json:"policies"`
	Connections []Connection                 `json:"connections"`
}

type Verdict struct {
	Name    string `json:"name"`
	Allowed bool   `json:"allowed"`
	// Ingress and egress on their own: each side's policies must allow the connection.
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
	// The policies whose rules admit it, and those that select the pod but do not.
	AllowedBy []string `json:"allowedBy"`
	DeniedBy  []string `json:"deniedBy"`
}

func reach(path string) ([]Verdict, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var input ReachInput
	if err := json.Unmarshal(data, &input); err != nil {
		return nil, err
	}
	policies := make([]*networkingv1.NetworkPolicy, len(input.Policies))
	for i := range input.Policies {
		policies[i] = &input.Policies[i]
	}
	policy := matcher.BuildNetworkPolicies(true, policies)
	verdicts := make([]Verdict, 0, len(input.Connections))
	for _, c := range input.Connections {
		result := policy.IsTrafficAllowed(&matcher.Traffic{
			Source:           trafficPeer(c.Source),
			Destination:      trafficPeer(c.Destination),
			ResolvedPort:     c.Port,
			ResolvedPortName: c.PortName,
			Protocol:         corev1.ProtocolTCP,
		})
		verdict := Verdict{
			Name:      c.Name,
			Allowed:   result.IsAllowed(),
			Ingress:   result.Ingress.IsAllowed(),
			Egress:    result.Egress.IsAllowed(),
			AllowedBy: []string{},
			DeniedBy:  []string{},
		}
		for _, t := range append(result.Ingress.AllowingTargets, result.Egress.AllowingTargets...) {
			verdict.AllowedBy = append(verdict.AllowedBy, sources(t)...)
		}
		for _, t := range append(result.Ingress.DenyingTargets, result.Egress.DenyingTargets...) {
			verdict.DeniedBy = append(verdict.DeniedBy, sources(t)...)
		}
		verdicts = append(verdicts, verdict)
	}
	return verdicts, nil
}

func trafficPeer(p Peer) *matcher.TrafficPeer {
	if p.IP != "" && p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	ip := p.IP
	if ip == "" {
		ip = "10.244.0.10"
	}
	return &matcher.TrafficPeer{
		IP: ip,
		Internal: &matcher.InternalPeer{
			Namespace:       p.Namespace,
			NamespaceLabels: withNameLabel(p.Namespace, p.NamespaceLabels),
			PodLabels:       p.PodLabels,
		},
	}
}

// Kubernetes labels every namespace with its name.
func withNameLabel(namespace string, labels map[string]string) map[string]string {
	out := map[string]string{"kubernetes.io/metadata.name": namespace}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

func sources(t *matcher.Target) []string {
	names := []string{}
	for _, netpol := range t.SourceRules {
		names = append(names, netpol.Namespace+"/"+netpol.Name)
	}
	return names
}
