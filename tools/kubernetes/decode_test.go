package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objects are the objects of one rendering, each decoded into its API type.
type objects struct {
	Deployment     *appsv1.Deployment
	Service        *corev1.Service
	ServiceAccount *corev1.ServiceAccount
	PVC            *corev1.PersistentVolumeClaim
	NetworkPolicy  *networkingv1.NetworkPolicy
	PDB            *policyv1.PodDisruptionBudget
	ServiceMonitor *monitoringv1.ServiceMonitor
	PrometheusRule *monitoringv1.PrometheusRule
	ConfigMaps     map[string]*corev1.ConfigMap
	Secrets        map[string]*corev1.Secret
	all            []metav1.Object
}

// decode reads a stream of YAML documents as kubectl would, and decodes each
// strictly into the type of its apiVersion and kind: an unknown field, a
// duplicate key or a wrong type is an error, and so is a kind the chart is
// not meant to render or a second object where the chart renders one.
func decode(stream []byte) (*objects, error) {
	objs := &objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("reading apiVersion and kind: %w\n%s", err, doc)
		}
		obj, err := objs.add(tm.APIVersion + " " + tm.Kind)
		if err != nil {
			return nil, err
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", tm.Kind, err, doc)
		}
		m := obj.(metav1.Object)
		if errs := validateMeta(m); len(errs) > 0 {
			return nil, fmt.Errorf("%s %s: %s", tm.Kind, m.GetName(), strings.Join(errs, "; "))
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			if objs.ConfigMaps[o.Name] != nil {
				return nil, fmt.Errorf("two ConfigMaps named %s", o.Name)
			}
			objs.ConfigMaps[o.Name] = o
		case *corev1.Secret:
			if objs.Secrets[o.Name] != nil {
				return nil, fmt.Errorf("two Secrets named %s", o.Name)
			}
			objs.Secrets[o.Name] = o
		}
		objs.all = append(objs.all, m)
	}
	return objs, nil
}

// add returns a new object of the type that the apiVersion and kind name,
// stored in objs.
func (objs *objects) add(typ string) (any, error) {
	switch typ {
	case "apps/v1 Deployment":
		return one(&objs.Deployment, typ)
	case "v1 Service":
		return one(&objs.Service, typ)
	case "v1 ServiceAccount":
		return one(&objs.ServiceAccount, typ)
	case "v1 PersistentVolumeClaim":
		return one(&objs.PVC, typ)
	case "networking.k8s.io/v1 NetworkPolicy":
		return one(&objs.NetworkPolicy, typ)
	case "policy/v1 PodDisruptionBudget":
		return one(&objs.PDB, typ)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return one(&objs.ServiceMonitor, typ)
	case "monitoring.coreos.com/v1 PrometheusRule":
		return one(&objs.PrometheusRule, typ)
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	}
	return nil, fmt.Errorf("unexpected object %q", typ)
}

// one fills a slot of an object the chart renders once.
func one[T any](slot **T, typ string) (any, error) {
	if *slot != nil {
		return nil, fmt.Errorf("a second %s", typ)
	}
	*slot = new(T)
	return *slot, nil
}

// stripComments drops the lines that are YAML comments (helm's "# Source:").
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// validateMeta checks what the API server would refuse in names and labels.
func validateMeta(m metav1.Object) []string {
	errs := validation.IsDNS1123Subdomain(m.GetName())
	for k, v := range m.GetLabels() {
		errs = append(errs, validation.IsQualifiedName(k)...)
		errs = append(errs, validation.IsValidLabelValue(v)...)
	}
	return errs
}

func TestDecodeRejectsWhatTheAPIServerWould(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":  "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n",
		"duplicate key":  "apiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\n",
		"wrong type":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: two}\n",
		"unknown kind":   "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"invalid name":   "apiVersion: v1\nkind: Service\nmetadata: {name: A_b}\n",
		"invalid label":  "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {x: \"a b\"}}\n",
		"second service": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n",
		"operator field": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\nspec: {endpoints: [{port: http, intervall: 30s}]}\n",
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	objs, err := decode([]byte("# Source: x\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {app.kubernetes.io/name: a}}\nspec: {ports: [{name: http, port: 1}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if objs.Service == nil || objs.Service.Spec.Ports[0].Name != "http" {
		t.Errorf("decoded %+v", objs.Service)
	}
}
