package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// Delete removes every object of a multi-document YAML stream that exists,
// last document first (what a manifest creates first, its namespace or
// CRDs, goes last), and returns those it deleted ("Kind namespace/name").
// A kind the API no longer serves (its CRD is gone) has nothing left to
// delete. With dryRun nothing is deleted; the objects that would be are
// returned.
func (c *Client) Delete(ctx context.Context, manifests []byte, dryRun bool) ([]string, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding manifest: %w", err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
	var deleted []string
	for i := len(objs) - 1; i >= 0; i-- {
		obj := objs[i]
		ri, err := c.resource(obj)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return deleted, err
		}
		if _, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{}); apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return deleted, fmt.Errorf("reading %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		opts := metav1.DeleteOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if err := ri.Delete(ctx, obj.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		deleted = append(deleted, objectName(obj))
	}
	return deleted, nil
}

// Exists reports whether the object a manifest document describes exists.
func (c *Client) Exists(ctx context.Context, apiVersion, kind, namespace, name string) (bool, error) {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(apiVersion)
	obj.SetKind(kind)
	obj.SetNamespace(namespace)
	ri, err := c.resource(obj)
	if meta.IsNoMatchError(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// CRDEstablished reports whether the CustomResourceDefinition name is
// served (its Established condition is True); until then objects of its
// kind cannot be created.
func (c *Client) CRDEstablished(ctx context.Context, name string) (bool, error) {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd, err := c.dynamic.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true, nil
		}
	}
	return false, nil
}

// resource is the dynamic client for obj's kind (in its namespace).
func (c *Client) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.mapper.Reset()
		if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return c.dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.dynamic.Resource(m.Resource), nil
}

func objectName(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return obj.GetKind() + " " + name
}
