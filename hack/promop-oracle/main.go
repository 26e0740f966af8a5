// Command promop-oracle runs prometheus-operator's own scrape-config generator on ServiceMonitors, PodMonitors,
// Secrets and ConfigMaps read from stdin, the way the OpenTelemetry target allocator calls it: resources selected
// and validated by its ResourceSelector (which also loads the referenced Secrets and ConfigMaps), then
// GenerateServerConfiguration on a synthetic Prometheus with EndpointSlice discovery and inline TLS.
//
// It is the oracle of tests/unit/prom/test_monitors_vs_prometheus_operator.py; hack/promop_oracle.py builds it
// in a throwaway module that pins prometheus-operator's version.
//
// stdin:  {"cases": [{"objects": [<k8s object>...], "prometheus": <Prometheus spec fields, optional>}...]}
// stdout: {"results": [{"config": "<the generated Prometheus YAML>", "rejected": {"<Kind> <ns>/<name>": "<why>"},
//
//	"error": "<set when the case could not be generated at all>"}...]}
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus-operator/prometheus-operator/pkg/assets"
	"github.com/prometheus-operator/prometheus-operator/pkg/operator"
	"github.com/prometheus-operator/prometheus-operator/pkg/prometheus"
	promclient "github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// The allocator's synthetic Prometheus lives in the collector's namespace; its name only shows in events.
const promNamespace = "observability"

type caseIn struct {
	Objects    []json.RawMessage `json:"objects"`
	Prometheus json.RawMessage   `json:"prometheus,omitempty"`
}

type caseOut struct {
	Config   string            `json:"config"`
	Rejected map[string]string `json:"rejected"`
	Error    string            `json:"error,omitempty"`
}

// namespaces stands in for the namespace informer: the selector only reads its store.
type namespaces struct {
	cache.SharedIndexInformer
	store cache.Store
}

func (n namespaces) GetStore() cache.Store { return n.store }

func main() {
	var in struct {
		Cases []caseIn `json:"cases"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "promop-oracle: reading stdin:", err)
		os.Exit(2)
	}
	out := struct {
		Results []caseOut `json:"results"`
	}{Results: make([]caseOut, 0, len(in.Cases))}
	for _, c := range in.Cases {
		res, err := run(c)
		if err != nil {
			res = caseOut{Rejected: map[string]string{}, Error: err.Error()}
		}
		out.Results = append(out.Results, res)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "promop-oracle: writing stdout:", err)
		os.Exit(2)
	}
}

func run(c caseIn) (caseOut, error) {
	ctx := context.Background()
	var (
		sms     []*monitoringv1.ServiceMonitor
		pms     []*monitoringv1.PodMonitor
		kube    []runtime.Object
		nsNames = map[string]bool{promNamespace: true}
	)
	for _, raw := range c.Objects {
		var head metav1.TypeMeta
		if err := json.Unmarshal(raw, &head); err != nil {
			return caseOut{}, err
		}
		switch head.Kind {
		case "ServiceMonitor":
			sm := &monitoringv1.ServiceMonitor{}
			if err := json.Unmarshal(raw, sm); err != nil {
				return caseOut{}, fmt.Errorf("ServiceMonitor: %w", err)
			}
			sms = append(sms, sm)
			nsNames[sm.Namespace] = true
		case "PodMonitor":
			pm := &monitoringv1.PodMonitor{}
			if err := json.Unmarshal(raw, pm); err != nil {
				return caseOut{}, fmt.Errorf("PodMonitor: %w", err)
			}
			pms = append(pms, pm)
			nsNames[pm.Namespace] = true
		case "Secret":
			s := &corev1.Secret{}
			if err := json.Unmarshal(raw, s); err != nil {
				return caseOut{}, fmt.Errorf("Secret: %w", err)
			}
			// The API server merges stringData over data; the fake client does not.
			for k, v := range s.StringData {
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
			kube = append(kube, s)
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := json.Unmarshal(raw, cm); err != nil {
				return caseOut{}, fmt.Errorf("ConfigMap: %w", err)
			}
			kube = append(kube, cm)
		default:
			return caseOut{}, fmt.Errorf("unsupported kind %q", head.Kind)
		}
	}

	// What the allocator's watcher sets: every monitor in every namespace, EndpointSlice discovery.
	role := monitoringv1.EndpointSliceRole
	p := &monitoringv1.Prometheus{
		ObjectMeta: metav1.ObjectMeta{Name: "targetallocator", Namespace: promNamespace},
		Spec: monitoringv1.PrometheusSpec{
			CommonPrometheusFields: monitoringv1.CommonPrometheusFields{
				ScrapeInterval:                  "30s",
				ServiceMonitorSelector:          &metav1.LabelSelector{},
				ServiceMonitorNamespaceSelector: &metav1.LabelSelector{},
				PodMonitorSelector:              &metav1.LabelSelector{},
				PodMonitorNamespaceSelector:     &metav1.LabelSelector{},
				ServiceDiscoveryRole:            &role,
			},
			EvaluationInterval: "30s",
		},
	}
	if len(c.Prometheus) > 0 {
		if err := json.Unmarshal(c.Prometheus, &p.Spec); err != nil {
			return caseOut{}, fmt.Errorf("prometheus: %w", err)
		}
	}

	nsStore := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for name := range nsNames {
		if err := nsStore.Add(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return caseOut{}, err
		}
	}
	client := fake.NewSimpleClientset(kube...)
	store := assets.NewStoreBuilder(client.CoreV1(), client.CoreV1())
	metrics := operator.NewMetrics(promclient.NewRegistry())
	recorder := operator.NewFakeRecorder(len(sms)+len(pms)+1, p)
	logger := slog.New(slog.DiscardHandler)
	rs, err := prometheus.NewResourceSelector(logger, p, store, namespaces{store: nsStore}, metrics, recorder)
	if err != nil {
		return caseOut{}, err
	}

	smSel, err := rs.SelectServiceMonitors(ctx, lister(sms))
	if err != nil {
		return caseOut{}, err
	}
	pmSel, err := rs.SelectPodMonitors(ctx, lister(pms))
	if err != nil {
		return caseOut{}, err
	}
	rejected := map[string]string{}
	for key, r := range smSel {
		if cond := r.Conditions()[0]; cond.Status != monitoringv1.ConditionTrue {
			rejected["ServiceMonitor "+key] = cond.Message
		}
	}
	for key, r := range pmSel {
		if cond := r.Conditions()[0]; cond.Status != monitoringv1.ConditionTrue {
			rejected["PodMonitor "+key] = cond.Message
		}
	}

	cg, err := prometheus.NewConfigGenerator(logger, p, prometheus.WithEndpointSliceSupport(), prometheus.WithInlineTLSConfig())
	if err != nil {
		return caseOut{}, err
	}
	cfg, err := cg.GenerateServerConfiguration(
		p, smSel.ValidResources(), pmSel.ValidResources(), nil, nil, store, nil, nil, nil, nil,
	)
	if err != nil {
		return caseOut{}, err
	}
	return caseOut{Config: string(cfg), Rejected: rejected}, nil
}

// lister lists `objs` as an informer's ListAllByNamespace would: by namespace and label selector.
func lister[T metav1.Object](objs []T) prometheus.ListAllByNamespaceFn {
	sorted := append([]T(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].GetName() < sorted[j].GetName() })
	return func(ns string, sel labels.Selector, add cache.AppendFunc) error {
		for _, o := range sorted {
			if o.GetNamespace() == ns && sel.Matches(labels.Set(o.GetLabels())) {
				add(o)
			}
		}
		return nil
	}
}
