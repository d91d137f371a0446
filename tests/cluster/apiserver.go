package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kubeoptions "k8s.io/kubernetes/pkg/kubeapiserver/options"
)

const (
	// serviceCIDR is only a configuration value: nothing routes to it, but
	// the apiserver needs a range to allocate ClusterIPs from, and the first
	// address becomes the "kubernetes" Service's IP.
	serviceCIDR = "10.0.0.0/24"

	// saIssuer is what real clusters (kubeadm, kind) use, so projected
	// service-account tokens look like production ones.
	saIssuer = "https://kubernetes.default.svc.cluster.local"
)

var serviceIP = net.ParseIP("10.0.0.1")

// keptAdmissionPlugins are the admission plugins left enabled. Everything
// else that kube-apiserver turns on by default is disabled: most of it is
// about Pods, Nodes, storage or quotas and either needs controllers we do not
// run (e.g. ServiceAccount would reject every Pod until a "default"
// ServiceAccount exists, which only kube-controller-manager creates) or only
// costs startup time. What stays is what an operator's tests can observe:
// namespace lifecycle rules and admission webhooks/policies.
var keptAdmissionPlugins = sets.New(
	"NamespaceLifecycle",
	"MutatingAdmissionWebhook",
	"ValidatingAdmissionWebhook",
	"ValidatingAdmissionPolicy",
	"MutatingAdmissionPolicy",
)

type apiserverConfig struct {
	listener  net.Listener // already bound secure-port listener
	pki       *pkiFiles
	tokenFile string // static token file holding the admin user
	etcdURL   string
	certDir   string      // where the apiserver may write generated certs (it should not need to)
	audit     *auditFiles // nil: no audit log
	gates     string      // --feature-gates ("": the defaults)
}

// disabledAdmissionPlugins lists every default-on plugin that is not kept.
// It is derived from the apiserver's own tables so a newer Kubernetes
// version with new default plugins needs no change here.
func disabledAdmissionPlugins() []string {
	defaultOn := sets.New(kubeoptions.AllOrderedPlugins...).Difference(kubeoptions.DefaultOffAdmissionPlugins())
	return sets.List(defaultOn.Difference(keptAdmissionPlugins))
}

// apiserverArgs returns kube-apiserver command-line flags. Using the real
// flag names (rather than poking option structs) keeps this readable for
// anyone who knows kube-apiserver and lets the options' own parsing and
// validation apply.
func apiserverArgs(c apiserverConfig) []string {
	port := c.listener.Addr().(*net.TCPAddr).Port
	args := []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + c.certDir,
		"--tls-cert-file=" + c.pki.ServerCert,
		"--tls-private-key-file=" + c.pki.ServerKey,

		"--etcd-servers=" + c.etcdURL,

		"--token-auth-file=" + c.tokenFile,
		"--authorization-mode=RBAC",

		// Needed for the TokenRequest API (kubectl create token) and for
		// validating the tokens it issues.
		"--service-account-issuer=" + saIssuer,
		"--service-account-key-file=" + c.pki.SAPub,
		"--service-account-signing-key-file=" + c.pki.SAKey,
		"--api-audiences=" + saIssuer,

		"--service-cluster-ip-range=" + serviceCIDR,
		"--enable-admission-plugins=" + strings.Join(sets.List(keptAdmissionPlugins), ","),
		"--disable-admission-plugins=" + strings.Join(disabledAdmissionPlugins(), ","),

		// The lease reconciler would publish 127.0.0.1 as the endpoint of
		// the "kubernetes" Service, which Endpoints validation rejects
		// (loopback addresses are not allowed) and would log every 10s.
		// Nothing in a test can reach a Service anyway.
		"--endpoint-reconciler-type=none",

		"--allow-privileged=true",
		"--profiling=false",
	}
	if c.gates != "" {
		args = append(args, "--feature-gates="+c.gates)
	}
	if c.audit != nil {
		args = append(args,
			"--audit-policy-file="+c.audit.policy,
			"--audit-log-path="+c.audit.log,
			"--audit-log-format=json",
			// Each event is written before the response goes out, so a
			// client that got its answer finds its request in the log.
			"--audit-log-mode=blocking",
			// Never rotated: a test reads one file.
			"--audit-log-maxsize=0",
		)
	}
	return args
}

// startAPIServer configures kube-apiserver from args and runs it in the
// background until ctx is cancelled. The returned channel yields the result
// of the run (nil after a clean shutdown) and is then closed.
func startAPIServer(ctx context.Context, c apiserverConfig) (<-chan error, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, set := range s.Flags().FlagSets {
		fs.AddFlagSet(set)
	}
	if err := fs.Parse(apiserverArgs(c)); err != nil {
		return nil, fmt.Errorf("kube-apiserver flags: %w", err)
	}
	// Hand over the listener we already bound, so that with --port 0 the
	// port we report is guaranteed to be the one being served.
	s.SecureServing.Listener = c.listener

	// What cobra's PersistentPreRunE does in the real binary: resolve the
	// effective version and feature gates from flags.
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return nil, err
	}
	// The apiserver's loopback clients should not log warnings the server
	// itself issued.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("complete kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("invalid kube-apiserver options: %w", utilerrors.NewAggregate(errs))
	}

	done := make(chan error, 1)
	go func() {
		defer close(done)
		done <- app.Run(ctx, completed)
	}()
	return done, nil
}
