package kube

import "k8s.io/client-go/dynamic"

// Dynamic is the client for objects of kinds client-go has no types for
// (an add-on's custom resources, like the Gateway API's).
func (c *Client) Dynamic() dynamic.Interface { return c.dynamic }
