package deploy

// How the manifests are checked, and why this way.
//
// Each document under kubernetes/ is split out with go.yaml.in/yaml/v3 and
// decoded into the official Kubernetes API types (k8s.io/api) with unknown
// fields and duplicate keys refused (sigs.k8s.io/yaml.UnmarshalStrict, the
// same YAML-to-JSON path kubectl takes). That checks every field name and
// value type against the real API: a misspelt "readinesProbe", a string
// where an integer belongs or a malformed quantity is an error. It needs no
// cluster, no network and no hand-written schema, which would only know the
// fields its author thought of. The price is test-only modules (k8s.io/api,
// k8s.io/apimachinery, sigs.k8s.io/yaml and theirs; no client-go) that build
// with Go 1.26 without raising go.mod's go directive; no binary links them.
//
// On top of decoding, the checks below hold the files to what the code
// needs: the configuration is parsed by the daemon's own flag set and
// validation, the policy by the policy package, the probes and /metrics are
// the paths the server registers, and every file the configuration names is
// mounted. Each check returns its problems instead of failing the test, so
// TestChecksCatchMistakes can show that each one does fail on a broken copy.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/queue"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/internal/validate"
)

const (
	manifestDir       = "kubernetes"
	kustomizationFile = "kustomization.yaml"
	// secretTemplate holds placeholders; kustomization.yaml must not list it.
	secretTemplate = "secret.example.yaml"
	// placeholder marks every value of the Secret template.
	placeholder = "CHANGE_ME"

	// The ConfigMap keys the daemon reads.
	configKey = "config.yaml"
	policyKey = "policy.yaml"

	// Ports and paths the server serves (server/server.go, daemon/daemon.go).
	grpcPortName = "grpc"
	httpPortName = "http"
	livenessPath = "/healthz"
	readyPath    = "/readyz"
	metricsPath  = "/metrics"

	// queueHardStop bounds queue.Queue.Stop's second phase: jobs still
	// running when --drain-timeout ends are cancelled and awaited. finalFlush
	// covers what daemon.Daemon.Run and close do after that: the last audit
	// chain link (5 s) and the trace flush (5 s).
	queueHardStop = queue.HardStopTimeout
	finalFlush    = 10 * time.Second

	// minAvailable is how many replicas must stay up through a voluntary
	// disruption; replicas is how many the Deployment runs.
	minAvailable = 2
	replicas     = 3
)

// kustomization is the part of kustomize's Kustomization that
// kustomization.yaml may use: decoded strictly, anything else is refused
// (and would need this struct, and a reason, first).
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace"`
	Resources  []string         `json:"resources"`
	Images     []kustomizeImage `json:"images"`
}

// kustomizeImage rewrites a container image's name and tag.
type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// bundle is every object under kubernetes/, decoded.
type bundle struct {
	files          []string // every *.yaml file, base names
	kustomization  kustomization
	namespace      *corev1.Namespace
	serviceAccount *corev1.ServiceAccount
	configMap      *corev1.ConfigMap
	// secret is the template: its key names are real, its values are not.
	secret        *corev1.Secret
	deployment    *appsv1.Deployment
	services      []*corev1.Service
	pdb           *policyv1.PodDisruptionBudget
	networkPolicy *networkingv1.NetworkPolicy
}

// clone returns a deep copy, for tests that break one thing on purpose.
func (b *bundle) clone() *bundle {
	c := *b
	c.files = slices.Clone(b.files)
	c.kustomization.Resources = slices.Clone(b.kustomization.Resources)
	c.kustomization.Images = slices.Clone(b.kustomization.Images)
	c.namespace = b.namespace.DeepCopy()
	c.serviceAccount = b.serviceAccount.DeepCopy()
	c.configMap = b.configMap.DeepCopy()
	c.secret = b.secret.DeepCopy()
	c.deployment = b.deployment.DeepCopy()
	c.services = nil
	for _, s := range b.services {
		c.services = append(c.services, s.DeepCopy())
	}
	c.pdb = b.pdb.DeepCopy()
	c.networkPolicy = b.networkPolicy.DeepCopy()
	return &c
}

// object is one decoded object, for checks that apply to all of them.
type object struct {
	kind string
	meta metav1.Object
}

func (b *bundle) objects() []object {
	objs := []object{
		{"Namespace", b.namespace},
		{"ServiceAccount", b.serviceAccount},
		{"ConfigMap", b.configMap},
		{"Secret", b.secret},
		{"Deployment", b.deployment},
		{"PodDisruptionBudget", b.pdb},
		{"NetworkPolicy", b.networkPolicy},
	}
	for _, s := range b.services {
		objs = append(objs, object{"Service", s})
	}
	return objs
}

func (b *bundle) pod() *corev1.PodSpec { return &b.deployment.Spec.Template.Spec }

func (b *bundle) podLabels() labels.Set { return b.deployment.Spec.Template.Labels }

// container is the replicad container (the pod has one).
func (b *bundle) container() *corev1.Container { return &b.pod().Containers[0] }

// newObject maps apiVersion/kind to the API type a document decodes into.
// A kind missing here is refused: add it, and checks for it.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// decodeDocuments decodes every document of a YAML stream strictly into
// its API type.
func decodeDocuments(data []byte) ([]any, error) {
	var objs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 1; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("document %d: not a mapping (an empty document, or a stray ---?)", i)
		}
		raw, err := yaml.Marshal(&doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal(raw, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			return nil, fmt.Errorf("document %d: %s %q is not a kind these tests know", i, tm.APIVersion, tm.Kind)
		}
		if err := sigsyaml.UnmarshalStrict(raw, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
}

// loadBundle decodes kubernetes/ once for every test.
var loadBundle = sync.OnceValues(func() (*bundle, error) {
	names, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	b := &bundle{}
	var errs []error
	for _, name := range names {
		file := filepath.Base(name)
		b.files = append(b.files, file)
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if file == kustomizationFile {
			if err := sigsyaml.UnmarshalStrict(data, &b.kustomization); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", file, err))
			}
			continue
		}
		objs, err := decodeDocuments(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
			continue
		}
		for _, obj := range objs {
			switch o := obj.(type) {
			case *corev1.Namespace:
				errs = setOnce(errs, file, &b.namespace, o)
			case *corev1.ServiceAccount:
				errs = setOnce(errs, file, &b.serviceAccount, o)
			case *corev1.ConfigMap:
				errs = setOnce(errs, file, &b.configMap, o)
			case *corev1.Secret:
				if file != secretTemplate {
					errs = append(errs, fmt.Errorf("%s: a Secret outside %s: real secrets do not belong in the repository", file, secretTemplate))
				}
				errs = setOnce(errs, file, &b.secret, o)
			case *appsv1.Deployment:
				errs = setOnce(errs, file, &b.deployment, o)
			case *corev1.Service:
				b.services = append(b.services, o)
			case *policyv1.PodDisruptionBudget:
				errs = setOnce(errs, file, &b.pdb, o)
			case *networkingv1.NetworkPolicy:
				errs = setOnce(errs, file, &b.networkPolicy, o)
			}
		}
	}
	for what, missing := range map[string]bool{
		"Namespace": b.namespace == nil, "ServiceAccount": b.serviceAccount == nil,
		"ConfigMap": b.configMap == nil, "Secret template": b.secret == nil,
		"Deployment": b.deployment == nil, "Service": len(b.services) == 0,
		"PodDisruptionBudget": b.pdb == nil, "NetworkPolicy": b.networkPolicy == nil,
		kustomizationFile: b.kustomization.Kind == "",
	} {
		if missing {
			errs = append(errs, fmt.Errorf("no %s under %s", what, manifestDir))
		}
	}
	if b.deployment != nil && len(b.deployment.Spec.Template.Spec.Containers) != 1 {
		errs = append(errs, errors.New("the Deployment's pod must have exactly one container, replicad"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return b, nil
})

// setOnce stores v in *dst, reporting a second object of the same kind:
// the checks assume one of each (Services aside).
func setOnce[T any](errs []error, file string, dst **T, v *T) []error {
	if *dst != nil {
		errs = append(errs, fmt.Errorf("%s: a second %T", file, v))
	}
	*dst = v
	return errs
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b, err := loadBundle()
	if err != nil {
		t.Fatalf("decoding %s/: %v", manifestDir, err)
	}
	return b
}

// check is one family of checks; it reports problems, not failures.
type check struct {
	name string
	run  func(t *testing.T, b *bundle) []string
}

var checks = []check{
	{"kustomization", kustomizationProblems},
	{"names and labels", nameProblems},
	{"pod", podProblems},
	{"container", containerProblems},
	{"services", serviceProblems},
	{"disruption budget", pdbProblems},
	{"network policy", networkPolicyProblems},
	{"secret template", secretProblems},
	{"daemon configuration", configProblems},
	{"authorization policy", policyProblems},
	{"termination grace", graceProblems},
}

func TestManifests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, p := range c.run(t, b) {
				t.Error(p)
			}
		})
	}
}

// TestChecksCatchMistakes breaks a copy of the manifests one way at a time
// and expects the checks to say so: a check that cannot fail checks nothing.
func TestChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(b *bundle)
		want   string
	}{
		{"one replica", func(b *bundle) { b.deployment.Spec.Replicas = ptr(int32(1)) }, "replicas"},
		{"writable root filesystem", func(b *bundle) { b.container().SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem"},
		{"capabilities kept", func(b *bundle) { b.container().SecurityContext.Capabilities = nil }, "capabilities"},
		{"no memory limit", func(b *bundle) { delete(b.container().Resources.Limits, corev1.ResourceMemory) }, "memory limit"},
		{"liveness on the wrong path", func(b *bundle) { b.container().LivenessProbe.HTTPGet.Path = "/health" }, livenessPath},
		{"readiness by port number", func(b *bundle) { b.container().ReadinessProbe.HTTPGet.Port = intstr.FromInt32(8080) }, "named port"},
		{"plain HTTP probes under TLS", func(b *bundle) { b.container().ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP }, "HTTPS"},
		{"no startup probe", func(b *bundle) { b.container().StartupProbe = nil }, "startupProbe"},
		{"service to a missing port", func(b *bundle) { b.services[0].Spec.Ports[0].TargetPort = intstr.FromString("https") }, "targetPort"},
		{"service selecting nothing", func(b *bundle) { b.services[0].Spec.Selector = map[string]string{"app": "other"} }, "selector"},
		{"budget selecting nothing", func(b *bundle) {
			b.pdb.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, "PodDisruptionBudget"},
		{"budget blocking drains", func(b *bundle) {
			b.pdb.Spec.MaxUnavailable = nil
			b.pdb.Spec.MinAvailable = ptr(intstr.FromInt32(3))
		}, "disruption"},
		{"no DNS egress", func(b *bundle) { b.networkPolicy.Spec.Egress = b.networkPolicy.Spec.Egress[:2] }, "53/UDP"},
		{"misspelt setting", func(b *bundle) { b.configMap.Data[configKey] += "grpc-adress: 0.0.0.0:1\n" }, "grpc-adress"},
		{"no authentication", func(b *bundle) {
			cfg := b.configMap.Data[configKey]
			cfg = replaceLine(cfg, "client-ca-file:", "")
			b.configMap.Data[configKey] = replaceLine(cfg, "jwks-file:", "")
		}, "authentication is required"},
		{"database URL in the ConfigMap", func(b *bundle) {
			b.configMap.Data[configKey] += "database-url: postgres://u:p@db/replicad\n"
		}, "database-url"},
		{"listening on loopback", func(b *bundle) {
			b.configMap.Data[configKey] = replaceLine(b.configMap.Data[configKey], "http-addr:", `http-addr: "127.0.0.1:8080"`)
		}, "loopback"},
		{"key file not mounted", func(b *bundle) {
			b.pod().Volumes[1].Secret.Items = slices.DeleteFunc(b.pod().Volumes[1].Secret.Items,
				func(k corev1.KeyToPath) bool { return k.Key == "data.key" })
		}, "not mounted"},
		{"policy mounted by subPath", func(b *bundle) {
			vm := &b.container().VolumeMounts[0]
			vm.MountPath, vm.SubPath = "/etc/replicad/config/policy.yaml", policyKey
		}, "subPath"},
		{"broken policy", func(b *bundle) { b.configMap.Data[policyKey] = "version: 1\nrules:\n  - name: x\n    effect: maybe\n" }, "policy"},
		{"allow-all policy", func(b *bundle) {
			b.configMap.Data[policyKey] += "  - name: everyone\n    effect: allow\n    principals: [\"**\"]\n    actions: [\"*\"]\n    secrets: [\"**\"]\n"
		}, "default"},
		{"drain longer than the grace period", func(b *bundle) {
			b.configMap.Data[configKey] = replaceLine(b.configMap.Data[configKey], "drain-timeout:", `drain-timeout: "5m"`)
		}, "terminationGracePeriodSeconds"},
		{"real value in the template", func(b *bundle) { b.secret.StringData["data.key"] = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=" }, placeholder},
		{"template applied by kustomize", func(b *bundle) {
			b.kustomization.Resources = append(b.kustomization.Resources, secretTemplate)
		}, secretTemplate},
		{"unlisted manifest", func(b *bundle) { b.files = append(b.files, "extra.yaml") }, "extra.yaml"},
		{"world-readable key files", func(b *bundle) { b.pod().Volumes[1].Secret.DefaultMode = ptr(int32(0o444)) }, "defaultMode"},
		{"host network", func(b *bundle) { b.pod().HostNetwork = true }, "host"},
		{"image kustomize cannot set", func(b *bundle) { b.container().Image = "replicad-server" }, "image"},
		{"bad name", func(b *bundle) { b.configMap.Name = "Replicad_Config" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t).clone()
			tt.break_(b)
			var all []string
			for _, c := range checks {
				all = append(all, c.run(t, b)...)
			}
			if !slices.ContainsFunc(all, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentioning %q; problems found: %q", tt.want, all)
			}
		})
	}
}

// TestStrictDecoding shows the decoder refuses what the API would not
// accept, so that the manifests' decoding is itself a check.
func TestStrictDecoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
	}{
		{"unknown field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 3}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\n"},
		{"misspelt probe", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          readinesProbe: {}\n"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: three}\n"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b, a: c}\n"},
		{"bad quantity", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          resources: {requests: {memory: lots}}\n"},
		{"empty document", "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: y}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := decodeDocuments([]byte(tt.doc)); err == nil {
				t.Errorf("accepted:\n%s", tt.doc)
			}
		})
	}
}

func kustomizationProblems(t *testing.T, b *bundle) []string {
	var ps []string
	k := b.kustomization
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		ps = append(ps, fmt.Sprintf("%s: apiVersion/kind %s/%s", kustomizationFile, k.APIVersion, k.Kind))
	}
	// Every manifest is applied, except the Secret template, which must
	// never be: it would create a Secret with placeholder keys.
	want := slices.DeleteFunc(slices.Clone(b.files), func(f string) bool { return f == kustomizationFile || f == secretTemplate })
	if slices.Contains(k.Resources, secretTemplate) {
		ps = append(ps, fmt.Sprintf("%s lists %s: the template's placeholders would be applied", kustomizationFile, secretTemplate))
	}
	for _, f := range want {
		if !slices.Contains(k.Resources, f) {
			ps = append(ps, fmt.Sprintf("%s does not list %s", kustomizationFile, f))
		}
	}
	for _, r := range k.Resources {
		if !slices.Contains(b.files, r) {
			ps = append(ps, fmt.Sprintf("%s lists %s, which is not a file of %s/", kustomizationFile, r, manifestDir))
		}
	}
	if k.Namespace == "" || b.namespace.Name != k.Namespace {
		ps = append(ps, fmt.Sprintf("%s: namespace %q, Namespace object %q", kustomizationFile, k.Namespace, b.namespace.Name))
	}
	for _, o := range b.objects() {
		if o.kind != "Namespace" && o.meta.GetNamespace() != k.Namespace {
			ps = append(ps, fmt.Sprintf("%s %s is in namespace %q, not %q", o.kind, o.meta.GetName(), o.meta.GetNamespace(), k.Namespace))
		}
	}
	return ps
}

func nameProblems(t *testing.T, b *bundle) []string {
	var ps []string
	for _, o := range b.objects() {
		name := o.meta.GetName()
		valid := validation.IsDNS1123Subdomain
		if o.kind == "Service" || o.kind == "Namespace" {
			valid = validation.IsDNS1123Label
		}
		for _, e := range valid(name) {
			ps = append(ps, fmt.Sprintf("%s name %q: %s", o.kind, name, e))
		}
		for k, v := range o.meta.GetLabels() {
			for _, e := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				ps = append(ps, fmt.Sprintf("%s %s label %s=%s: %s", o.kind, name, k, v, e))
			}
		}
		if o.meta.GetLabels()["app.kubernetes.io/name"] != "replicad" {
			ps = append(ps, fmt.Sprintf("%s %s: no app.kubernetes.io/name=replicad label", o.kind, name))
		}
	}
	for _, p := range b.container().Ports {
		for _, e := range validation.IsValidPortName(p.Name) {
			ps = append(ps, fmt.Sprintf("container port name %q: %s", p.Name, e))
		}
	}
	return ps
}

// selects reports whether sel is non-empty and matches set.
func selects(sel *metav1.LabelSelector, set labels.Set) (bool, error) {
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		return false, errors.New("empty selector")
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(set), nil
}

func podProblems(t *testing.T, b *bundle) []string {
	var ps []string
	d := b.deployment
	pod := b.pod()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		ps = append(ps, fmt.Sprintf("Deployment replicas: %v, want %d", deref(d.Spec.Replicas), replicas))
	}
	if ok, err := selects(d.Spec.Selector, b.podLabels()); !ok {
		ps = append(ps, fmt.Sprintf("Deployment selector does not match its pod labels (%v)", err))
	}
	if pod.ServiceAccountName != b.serviceAccount.Name {
		ps = append(ps, fmt.Sprintf("pod serviceAccountName %q, ServiceAccount %q", pod.ServiceAccountName, b.serviceAccount.Name))
	}
	if !strings.HasPrefix(b.serviceAccount.Annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::") {
		ps = append(ps, "ServiceAccount: no eks.amazonaws.com/role-arn annotation (IRSA)")
	}
	// replicad never calls the Kubernetes API: a token would only be loot.
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		ps = append(ps, "pod: automountServiceAccountToken must be false")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		ps = append(ps, "pod: shares a host namespace (hostNetwork, hostPID or hostIPC)")
	}
	sc := pod.SecurityContext
	if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		ps = append(ps, "pod: seccompProfile must be RuntimeDefault")
	}
	if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		ps = append(ps, "pod: runAsUser must be a non-root uid (the image's 65532)")
	}
	// The volume types the "restricted" Pod Security Standard allows, which
	// namespace.yaml enforces.
	for _, v := range pod.Volumes {
		vs := v.VolumeSource
		if vs.ConfigMap == nil && vs.Secret == nil && vs.EmptyDir == nil && vs.Projected == nil &&
			vs.DownwardAPI == nil && vs.PersistentVolumeClaim == nil && vs.CSI == nil && vs.Ephemeral == nil {
			ps = append(ps, fmt.Sprintf("volume %s: a type the restricted Pod Security Standard refuses", v.Name))
		}
		if vs.Secret != nil && (vs.Secret.DefaultMode == nil || *vs.Secret.DefaultMode&0o007 != 0) {
			ps = append(ps, fmt.Sprintf("volume %s: defaultMode must give others no access to key files", v.Name))
		}
	}
	if b.namespace.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		ps = append(ps, "Namespace: pod-security.kubernetes.io/enforce is not restricted")
	}
	// Replicas on distinct nodes: one node's loss takes one replica.
	spread := slices.ContainsFunc(pod.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
		ok, _ := selects(c.LabelSelector, b.podLabels())
		return ok && c.TopologyKey == "kubernetes.io/hostname" && c.WhenUnsatisfiable == corev1.DoNotSchedule
	})
	if !spread {
		ps = append(ps, "pod: no DoNotSchedule topologySpreadConstraint on kubernetes.io/hostname selecting its own pods")
	}
	// /metrics, if scraped, is where the daemon serves it.
	if pod := d.Spec.Template; pod.Annotations["prometheus.io/scrape"] == "true" {
		if p := pod.Annotations["prometheus.io/path"]; p != metricsPath {
			ps = append(ps, fmt.Sprintf("prometheus.io/path %q: the daemon serves metrics at %s", p, metricsPath))
		}
	}
	return ps
}

func containerPort(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func containerProblems(t *testing.T, b *bundle) []string {
	var ps []string
	c := b.container()
	pod := b.pod()
	add := func(format string, args ...any) {
		ps = append(ps, "container "+c.Name+": "+fmt.Sprintf(format, args...))
	}

	// The image is the one kustomization.yaml's images: rewrites.
	if !slices.ContainsFunc(b.kustomization.Images, func(i kustomizeImage) bool { return i.Name == c.Image && i.NewTag != "" }) {
		add("image %q is not set by %s's images (with a tag)", c.Image, kustomizationFile)
	}

	req, lim := c.Resources.Requests, c.Resources.Limits
	if req.Cpu().IsZero() || req.Memory().IsZero() {
		add("resources.requests needs cpu and memory")
	}
	if lim.Memory().IsZero() {
		add("no memory limit")
	} else if req.Memory().Cmp(*lim.Memory()) > 0 {
		add("memory request above the limit")
	}

	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	podSC := pod.SecurityContext
	if !isTrue(sc.RunAsNonRoot) && (podSC == nil || !isTrue(podSC.RunAsNonRoot)) {
		add("runAsNonRoot is not true")
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		add("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		add("privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		add("capabilities must drop ALL and add none")
	}
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			add("port %s uses a hostPort", p.Name)
		}
	}
	if containerPort(c, grpcPortName) == 0 || containerPort(c, httpPortName) == 0 {
		add("needs ports named %s and %s", grpcPortName, httpPortName)
	}

	// Probes: the paths the server registers, on the named http port.
	for _, pr := range []struct {
		field string
		probe *corev1.Probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, livenessPath},
		{"livenessProbe", c.LivenessProbe, livenessPath},
		{"readinessProbe", c.ReadinessProbe, readyPath},
	} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			add("%s must be an httpGet probe", pr.field)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path {
			add("%s path %q, want %s", pr.field, g.Path, pr.path)
		}
		if g.Port.Type != intstr.String || g.Port.StrVal != httpPortName {
			add("%s must use the named port %q, not %s", pr.field, httpPortName, g.Port.String())
		}
	}
	return ps
}

func serviceProblems(t *testing.T, b *bundle) []string {
	var ps []string
	c := b.container()
	for _, s := range b.services {
		if ok, err := selects(&metav1.LabelSelector{MatchLabels: s.Spec.Selector}, b.podLabels()); !ok {
			ps = append(ps, fmt.Sprintf("Service %s: selector %v does not select the pods (%v)", s.Name, s.Spec.Selector, err))
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // defaulted to port
			}
			found := slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
				if target.Type == intstr.String {
					return cp.Name == target.StrVal
				}
				return cp.ContainerPort == target.IntVal
			})
			if !found {
				ps = append(ps, fmt.Sprintf("Service %s port %s: targetPort %s is no container port", s.Name, p.Name, target.String()))
			}
		}
	}
	return ps
}

func pdbProblems(t *testing.T, b *bundle) []string {
	var ps []string
	spec := b.pdb.Spec
	if ok, err := selects(spec.Selector, b.podLabels()); !ok {
		ps = append(ps, fmt.Sprintf("PodDisruptionBudget %s does not select the Deployment's pods (%v)", b.pdb.Name, err))
	}
	n := int(deref(b.deployment.Spec.Replicas))
	var available int
	switch {
	case spec.MaxUnavailable != nil && spec.MinAvailable == nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, n, true)
		if err != nil {
			return append(ps, fmt.Sprintf("PodDisruptionBudget maxUnavailable: %v", err))
		}
		available = n - v
	case spec.MinAvailable != nil && spec.MaxUnavailable == nil:
		v, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, n, true)
		if err != nil {
			return append(ps, fmt.Sprintf("PodDisruptionBudget minAvailable: %v", err))
		}
		available = v
	default:
		return append(ps, "PodDisruptionBudget needs exactly one of minAvailable and maxUnavailable")
	}
	if available < minAvailable {
		ps = append(ps, fmt.Sprintf("PodDisruptionBudget lets %d of %d replicas go; at least %d must stay", n-available, n, minAvailable))
	}
	if available >= n {
		ps = append(ps, fmt.Sprintf("PodDisruptionBudget allows no disruption of %d replicas: node drains would block", n))
	}
	return ps
}

func networkPolicyProblems(t *testing.T, b *bundle) []string {
	var ps []string
	np := b.networkPolicy.Spec
	if ok, err := selects(&np.PodSelector, b.podLabels()); !ok {
		ps = append(ps, fmt.Sprintf("NetworkPolicy does not select the pods (%v)", err))
	}
	if !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.PolicyTypes, networkingv1.PolicyTypeEgress) {
		ps = append(ps, "NetworkPolicy must restrict both Ingress and Egress")
	}
	// portSet renders rules' ports as "port/PROTO" (names as they are).
	portSet := func(ports []networkingv1.NetworkPolicyPort) []string {
		var out []string
		for _, p := range ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if p.Port != nil {
				out = append(out, p.Port.String()+"/"+string(proto))
			}
		}
		return out
	}
	var in, out []string
	for _, r := range np.Ingress {
		in = append(in, portSet(r.Ports)...)
	}
	for _, r := range np.Egress {
		out = append(out, portSet(r.Ports)...)
	}
	for _, p := range b.container().Ports {
		if !slices.Contains(in, p.Name+"/TCP") && !slices.Contains(in, strconv.Itoa(int(p.ContainerPort))+"/TCP") {
			ps = append(ps, fmt.Sprintf("NetworkPolicy: no ingress to container port %s", p.Name))
		}
	}
	// PostgreSQL, AWS over HTTPS, and DNS.
	for _, want := range []string{"5432/TCP", "443/TCP", "53/UDP", "53/TCP"} {
		if !slices.Contains(out, want) {
			ps = append(ps, fmt.Sprintf("NetworkPolicy: no egress to %s", want))
		}
	}
	return ps
}

// secretRefs lists the Secret keys the pod uses: mounted items and
// environment variables.
func secretRefs(b *bundle) (names, keys []string) {
	for _, v := range b.pod().Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
			for _, it := range v.Secret.Items {
				keys = append(keys, it.Key)
			}
		}
	}
	for _, e := range b.container().Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			names = append(names, e.ValueFrom.SecretKeyRef.Name)
			keys = append(keys, e.ValueFrom.SecretKeyRef.Key)
		}
	}
	return names, keys
}

func secretKeys(s *corev1.Secret) []string {
	keys := slices.Collect(maps.Keys(s.StringData))
	keys = slices.AppendSeq(keys, maps.Keys(s.Data))
	slices.Sort(keys)
	return keys
}

func secretProblems(t *testing.T, b *bundle) []string {
	var ps []string
	s := b.secret
	// Every value is an obvious placeholder: a real key pasted into the
	// template would be committed.
	for k, v := range s.StringData {
		if !strings.Contains(v, placeholder) {
			ps = append(ps, fmt.Sprintf("%s: %s does not look like a placeholder (no %s)", secretTemplate, k, placeholder))
		}
	}
	for k, v := range s.Data {
		if !strings.Contains(string(v), placeholder) {
			ps = append(ps, fmt.Sprintf("%s: %s does not look like a placeholder (no %s)", secretTemplate, k, placeholder))
		}
	}
	// The template documents exactly the keys the pod uses.
	names, used := secretRefs(b)
	for _, n := range names {
		if n != s.Name {
			ps = append(ps, fmt.Sprintf("the pod uses Secret %q; the template is %q", n, s.Name))
		}
	}
	have := secretKeys(s)
	for _, k := range used {
		if !slices.Contains(have, k) {
			ps = append(ps, fmt.Sprintf("the pod uses Secret key %s, which %s lacks", k, secretTemplate))
		}
	}
	for _, k := range have {
		if !slices.Contains(used, k) {
			ps = append(ps, fmt.Sprintf("%s has key %s, which the pod does not use", secretTemplate, k))
		}
	}
	return ps
}

// mountedFile is where a file in the container comes from.
type mountedFile struct {
	configMapKey string // set when it is a key of the ConfigMap
	secretKey    string // set when it is a key of the Secret
	subPath      bool   // mounted with subPath: never updated in place
}

// mountedFiles maps every file path the container sees from a ConfigMap or
// Secret volume to its source.
func mountedFiles(b *bundle) map[string]mountedFile {
	files := map[string]mountedFile{}
	c := b.container()
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(b.pod().Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			continue // the API server refuses this; decoding does not
		}
		v := b.pod().Volumes[i]
		// keyToPath: the volume's files, named by items or by their keys.
		keyToPath := map[string]string{}
		var fromConfigMap bool
		switch {
		case v.ConfigMap != nil && v.ConfigMap.Name == b.configMap.Name:
			fromConfigMap = true
			for k := range b.configMap.Data {
				keyToPath[k] = k
			}
			if len(v.ConfigMap.Items) > 0 {
				keyToPath = map[string]string{}
				for _, it := range v.ConfigMap.Items {
					keyToPath[it.Key] = it.Path
				}
			}
		case v.Secret != nil && v.Secret.SecretName == b.secret.Name:
			for _, k := range secretKeys(b.secret) {
				keyToPath[k] = k
			}
			if len(v.Secret.Items) > 0 {
				keyToPath = map[string]string{}
				for _, it := range v.Secret.Items {
					keyToPath[it.Key] = it.Path
				}
			}
		default:
			continue
		}
		for key, p := range keyToPath {
			f := mountedFile{}
			if fromConfigMap {
				f.configMapKey = key
			} else {
				f.secretKey = key
			}
			switch vm.SubPath {
			case "":
				files[path.Join(vm.MountPath, p)] = f
			case p:
				f.subPath = true
				files[vm.MountPath] = f
			}
		}
	}
	return files
}

// parseDaemonConfig reads the container's arguments and the ConfigMap's
// config.yaml with the daemon's own parser (daemon.ParseArgs, as
// cmd/replicad does), without reading the key files, which do not exist
// here. It returns the config path the arguments name.
func parseDaemonConfig(t *testing.T, b *bundle) (cfg daemon.Config, configPath string, err error) {
	args := slices.Clone(b.container().Args)
	tmp := filepath.Join(t.TempDir(), configKey)
	if err := os.WriteFile(tmp, []byte(b.configMap.Data[configKey]), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				configPath, args[i+1] = args[i+1], tmp
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			configPath = a[strings.Index(a, "=")+1:]
			args[i] = "--config=" + tmp
		}
	}
	cfg, err = daemon.ParseArgs(args, io.Discard, "")
	return cfg, configPath, err
}

// configKeys is config.yaml as a map, to look at individual settings.
func configKeys(b *bundle) (map[string]any, error) {
	var m map[string]any
	err := yaml.Unmarshal([]byte(b.configMap.Data[configKey]), &m)
	return m, err
}

// daemonFlags is the daemon's flag set, to look settings up by name.
func daemonFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("replicad", flag.ContinueOnError)
	var cfg daemon.Config
	cfg.RegisterFlags(fs)
	return fs
}

func configProblems(t *testing.T, b *bundle) []string {
	var ps []string
	c := b.container()
	raw, err := configKeys(b)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", configKey, err)}
	}
	// Every key is a flag (ff refuses unknown ones too; this names them).
	fs := daemonFlags()
	for k := range raw {
		if fs.Lookup(k) == nil {
			ps = append(ps, fmt.Sprintf("%s: %s is not a replicad setting (replicad --help)", configKey, k))
		}
	}
	// The password belongs in the Secret, not in a ConfigMap.
	if _, ok := raw["database-url"]; ok {
		ps = append(ps, fmt.Sprintf("%s sets database-url: the password would be in a ConfigMap; use DATABASE_URL from the Secret", configKey))
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "REPLICAD_") {
			ps = append(ps, fmt.Sprintf("env %s: put settings in %s, which these tests check", e.Name, configKey))
		}
	}

	cfg, configPath, err := parseDaemonConfig(t, b)
	if err != nil {
		return append(ps, fmt.Sprintf("the daemon refuses the container's arguments and %s: %v", configKey, err))
	}
	files := mountedFiles(b)
	if configPath == "" {
		ps = append(ps, "the container's args do not pass --config")
	} else if f, ok := files[configPath]; !ok || f.configMapKey != configKey {
		ps = append(ps, fmt.Sprintf("--config %s is not the mounted ConfigMap key %s", configPath, configKey))
	}

	// DATABASE_URL from the Secret; its sslrootcert, if any, mounted.
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "DATABASE_URL" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil {
		ps = append(ps, "the container has no DATABASE_URL from the Secret")
	} else {
		dbURL := b.secret.StringData[c.Env[i].ValueFrom.SecretKeyRef.Key]
		u, err := url.Parse(dbURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			ps = append(ps, fmt.Sprintf("%s: the database URL is not a postgres:// URL", secretTemplate))
		} else if root := u.Query().Get("sslrootcert"); root != "" {
			if _, ok := files[root]; !ok {
				ps = append(ps, fmt.Sprintf("database URL sslrootcert %s is not mounted", root))
			}
		}
		cfg.DatabaseURL = dbURL
	}

	// Every file the configuration names is mounted, so the pod cannot
	// start on a path that is not there. A file setting the daemon gains
	// must be added to configuredPaths first.
	known := map[string]bool{}
	for _, p := range configuredPaths(allPathsSet) {
		known[p.setting] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if (strings.HasSuffix(f.Name, "-file") || strings.HasSuffix(f.Name, "-files")) && !known[f.Name] {
			ps = append(ps, fmt.Sprintf("the daemon has a file setting --%s that configuredPaths does not check", f.Name))
		}
	})
	for _, p := range configuredPaths(cfg) {
		f, ok := files[p.path]
		switch {
		case !ok:
			ps = append(ps, fmt.Sprintf("%s %s is not mounted by any volumeMount", p.setting, p.path))
		case f.subPath:
			// kubelet never updates subPath mounts: rotated certificates
			// and policy edits would not reach the running daemon.
			ps = append(ps, fmt.Sprintf("%s %s is mounted with subPath, which never sees updates", p.setting, p.path))
		}
	}
	if cfg.AuditRetention > 0 {
		ps = append(ps, "audit-retention is on: mount a persistent, writable volume at audit-export-dir and teach this test about it")
	}

	// The daemon's own validation, with the key files' contents (Secret
	// placeholders here) replaced by keys of the right size.
	if cfg.DataKeyFile != "" {
		cfg.DataKeys = [][]byte{make([]byte, seal.KeyLength)}
	}
	if cfg.FingerprintKeyFile != "" {
		cfg.FingerprintKey = make([]byte, 32)
	}
	if err := cfg.Validate(); err != nil {
		ps = append(ps, fmt.Sprintf("daemon.Config.Validate: %v", err))
	}
	if _, err := validate.NewRules(cfg.AllowedRegions, cfg.DefaultRegion); err != nil {
		ps = append(ps, fmt.Sprintf("regions: %v", err))
	}
	if len(cfg.AllowedRegions) == 0 {
		ps = append(ps, fmt.Sprintf("%s: set allowed-regions, and keep deploy/iam's Region conditions equal to it", configKey))
	}
	if j := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AWS_REGION" }); j >= 0 && c.Env[j].Value != cfg.DefaultRegion {
		ps = append(ps, fmt.Sprintf("env AWS_REGION %q differs from default-region %q", c.Env[j].Value, cfg.DefaultRegion))
	}

	// Listen on the pod IP, on the container's named ports.
	for _, l := range []struct{ setting, addr, port string }{
		{"grpc-addr", cfg.GRPCAddr, grpcPortName}, {"http-addr", cfg.HTTPAddr, httpPortName},
	} {
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			ps = append(ps, fmt.Sprintf("%s %q: %v", l.setting, l.addr, err))
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			ps = append(ps, fmt.Sprintf("%s %s is loopback: unreachable from Services and probes", l.setting, l.addr))
		}
		if want := strconv.Itoa(int(containerPort(c, l.port))); port != want {
			ps = append(ps, fmt.Sprintf("%s port %s is not the container port %s (%s)", l.setting, port, l.port, want))
		}
	}

	// With TLS configured the HTTP listener serves only TLS: the probes
	// (and the Prometheus scrape) must speak HTTPS.
	want := corev1.URISchemeHTTP
	if cfg.TLSCertFile != "" {
		want = corev1.URISchemeHTTPS
	}
	for field, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if pr != nil && pr.HTTPGet != nil && pr.HTTPGet.Scheme != want && !(want == corev1.URISchemeHTTP && pr.HTTPGet.Scheme == "") {
			ps = append(ps, fmt.Sprintf("%s scheme %q, want %s (TLS configured: %v)", field, pr.HTTPGet.Scheme, want, cfg.TLSCertFile != ""))
		}
	}
	// /metrics is plain HTTP on its own listener, else on the API's.
	wantScrape, wantPort := want, strconv.Itoa(int(containerPort(c, httpPortName)))
	if cfg.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(cfg.MetricsAddr)
		if err != nil {
			ps = append(ps, fmt.Sprintf("metrics-addr %q: %v", cfg.MetricsAddr, err))
		}
		wantScrape, wantPort = corev1.URISchemeHTTP, port
	}
	ann := b.deployment.Spec.Template.Annotations
	if s := ann["prometheus.io/scheme"]; s != "" && !strings.EqualFold(s, string(wantScrape)) {
		ps = append(ps, fmt.Sprintf("prometheus.io/scheme %q, want %s", s, strings.ToLower(string(wantScrape))))
	}
	if port := ann["prometheus.io/port"]; ann["prometheus.io/scrape"] == "true" && port != wantPort {
		ps = append(ps, fmt.Sprintf("prometheus.io/port %q, want %s where the daemon serves /metrics", port, wantPort))
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return strconv.Itoa(int(p.ContainerPort)) == wantPort }) {
		ps = append(ps, fmt.Sprintf("no container port %s for /metrics", wantPort))
	}
	return ps
}

// configuredPath is a file a setting names.
type configuredPath struct{ setting, path string }

// allPathsSet has every file setting set, to list their names.
var allPathsSet = daemon.Config{
	DataKeyFile: "x", DataKeyPreviousFiles: []string{"x"}, FingerprintKeyFile: "x",
	TLSCertFile: "x", TLSKeyFile: "x", ClientCAFile: "x", JWKSFile: "x", PolicyFile: "x", AccountsFile: "x",
}

func configuredPaths(cfg daemon.Config) []configuredPath {
	var out []configuredPath
	add := func(setting, p string) {
		if p != "" {
			out = append(out, configuredPath{setting, p})
		}
	}
	add("data-key-file", cfg.DataKeyFile)
	for _, p := range cfg.DataKeyPreviousFiles {
		add("data-key-previous-files", p)
	}
	add("fingerprint-key-file", cfg.FingerprintKeyFile)
	add("tls-cert-file", cfg.TLSCertFile)
	add("tls-key-file", cfg.TLSKeyFile)
	add("client-ca-file", cfg.ClientCAFile)
	add("jwks-file", cfg.JWKSFile)
	add("policy-file", cfg.PolicyFile)
	add("accounts-file", cfg.AccountsFile)
	return out
}

func policyProblems(t *testing.T, b *bundle) []string {
	cfg, _, err := parseDaemonConfig(t, b)
	if err != nil {
		return nil // configProblems reports it
	}
	f, ok := mountedFiles(b)[cfg.PolicyFile]
	if !ok || f.configMapKey == "" {
		return []string{fmt.Sprintf("policy-file %s is not a mounted ConfigMap key", cfg.PolicyFile)}
	}
	// The file at policy-file is what the daemon will load: parse that one.
	p, err := access.Parse([]byte(b.configMap.Data[f.configMapKey]))
	if err != nil {
		return []string{fmt.Sprintf("policy-file %s (ConfigMap key %s): %v", cfg.PolicyFile, f.configMapKey, err)}
	}
	// Denied by default: a caller no rule names may do nothing.
	var ps []string
	stranger := "spiffe://elsewhere/ns/unknown/sa/unknown"
	for _, a := range access.Actions() {
		var regions []string
		if a == access.ActionReplicate || a == access.ActionRemove || a == access.ActionPromote {
			regions = cfg.AllowedRegions
		}
		if d := p.Decide(access.Request{Principal: stranger, Action: a, Secret: "prod/any/secret", Regions: regions}); d.Allowed {
			ps = append(ps, fmt.Sprintf("%s: an unknown caller may %s (rule %s): the policy must deny by default", policyKey, a, d.Rule))
		}
	}
	return ps
}

func graceProblems(t *testing.T, b *bundle) []string {
	cfg, _, err := parseDaemonConfig(t, b)
	if err != nil {
		return nil // configProblems reports it
	}
	grace := 30 * time.Second // Kubernetes' default
	if g := b.pod().TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	var preStop time.Duration
	if l := b.container().Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
	}
	// The grace period starts before the preStop hook; then the daemon
	// drains, hard-stops what is left, and flushes.
	need := preStop + cfg.Drain + queueHardStop + finalFlush
	if grace <= need {
		return []string{fmt.Sprintf("terminationGracePeriodSeconds %s must exceed preStop %s + --drain-timeout %s + queue hard stop %s + final flush %s = %s",
			grace, preStop, cfg.Drain, queueHardStop, finalFlush, need)}
	}
	return nil
}

// replaceLine replaces the line of text starting with prefix.
func replaceLine(text, prefix, with string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = with
		}
	}
	return strings.Join(lines, "\n")
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
