// Command test-apiserver runs a real kube-apiserver, backed by an embedded
// etcd, inside this one process, for integration tests that need a genuine
// Kubernetes API (RBAC, CRDs, admission, TokenRequest) but no nodes.
//
// It writes an admin kubeconfig, waits until the server is ready, prints
// exactly one line "KUBECONFIG=<absolute path>" on stdout, and serves until
// SIGINT or SIGTERM. Everything else it has to say goes to stderr.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/component-base/version"
	"k8s.io/klog/v2"
)

type config struct {
	kubeconfig  string
	dataDir     string
	port        int
	token       string
	keepData    bool
	verbose     bool
	controllers bool
	// stop when stdin reaches EOF: a test process that dies closes the pipe,
	// so its server never outlives it.
	exitOnStdinClose bool
	// where to write the audit log of service-account requests ("": none)
	auditLog string
	// kube-apiserver --feature-gates ("": the version's defaults)
	featureGates string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "kubeconfig", "where to write the admin kubeconfig (parent directories are created)")
	flag.StringVar(&c.dataDir, "data-dir", "", "directory for etcd data and generated certificates; default: a new temporary directory, removed on exit")
	flag.IntVar(&c.port, "port", 0, "secure port on 127.0.0.1 (0 picks a free port)")
	flag.StringVar(&c.token, "token", "", "bearer token of the admin user (group system:masters); default: random")
	flag.BoolVar(&c.keepData, "keep-data", false, "do not remove the temporary data directory on exit")
	flag.BoolVar(&c.controllers, "controllers", true, "also run the namespace, garbage-collector and clusterrole-aggregation controllers")
	flag.BoolVar(&c.exitOnStdinClose, "exit-on-stdin-close", false, "stop as on SIGTERM when standard input reaches end of file (for test processes that hold the pipe)")
	flag.StringVar(&c.auditLog, "audit-log", "", "write an audit event (JSON, one per line, metadata level) for every request a service account makes to this file; default: no audit log")
	flag.StringVar(&c.featureGates, "feature-gates", "", "kube-apiserver feature gates, as in its --feature-gates (e.g. WatchList=false); default: the version's defaults")
	flag.BoolVar(&c.verbose, "verbose", false, "show kube-apiserver and controller logs (klog -v=1) and etcd warnings; default: only fatal apiserver errors and etcd errors")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\n"+
			"Runs kube-apiserver with an embedded etcd on 127.0.0.1. Prints KUBECONFIG=<path>\n"+
			"on stdout once ready; stops cleanly on SIGINT/SIGTERM.\n\nFlags:\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}

	if err := run(c); err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
	logf("stopped")
}

// logf writes one human-oriented status line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "test-apiserver: "+format+"\n", args...)
}

// setupKlog routes kube-apiserver's logging to stderr. By default nothing
// below FATAL gets through: even at -v=0 the apiserver prints hundreds of
// lines while starting, including a few ERROR lines about harmless startup
// races (e.g. "namespaces \"kube-system\" not found"), which would bury the
// handful of lines a person needs and look like failures. Real failures
// still surface: as this program's own error message when the server does
// not come up or dies, and as API errors to clients. --verbose shows it all.
func setupKlog(verbose bool) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	set := func(name, value string) {
		if err := fs.Set(name, value); err != nil {
			panic(err) // the flag names are klog's own; a typo is a bug here
		}
	}
	if verbose {
		set("logtostderr", "true")
		set("v", "1")
		return
	}
	// With logtostderr off, klog sends each message to its per-severity
	// output (discarded here) and additionally to stderr if it is at or above
	// stderrthreshold.
	set("logtostderr", "false")
	set("alsologtostderr", "false")
	set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

func run(c config) error {
	started := time.Now()
	setupKlog(c.verbose)

	kubeconfig, err := filepath.Abs(c.kubeconfig)
	if err != nil {
		return err
	}
	if c.token == "" {
		c.token = randomToken()
	}

	// Bind the port first so that a taken --port fails before anything else
	// is set up.
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", c.port, err)
	}
	defer listener.Close() // normally closed by the apiserver already
	server := "https://" + listener.Addr().String()

	data := &dataDir{path: c.dataDir}
	if data.path == "" {
		if data.path, err = os.MkdirTemp("", "test-apiserver-"); err != nil {
			return err
		}
		data.remove = !c.keepData
	} else if err := os.MkdirAll(data.path, 0o700); err != nil {
		return err
	}
	if data.path, err = filepath.Abs(data.path); err != nil {
		return err
	}
	// Deferred first so it runs last, after etcd has closed its files.
	defer data.cleanup()
	// kube-apiserver and the controllers exit through klog on some errors
	// (klog.Fatal for a failed post-start hook, klog.FlushAndExit when the
	// namespace controller finds no API resources); clean up on that path
	// too, and say so, since the log line itself may have been filtered.
	klog.OsExit = func(code int) {
		logf("exiting with code %d from inside kube-apiserver or a controller (rerun with --verbose for details)", code)
		data.cleanup()
		os.Exit(code)
	}

	// Cancelled by the first SIGINT/SIGTERM. The handler is then removed, so
	// a second signal kills the process the default way should a graceful
	// shutdown ever hang.
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stopSignals()
	context.AfterFunc(ctx, stopSignals)
	if c.exitOnStdinClose {
		var cancelOnEOF context.CancelFunc
		ctx, cancelOnEOF = context.WithCancel(ctx)
		defer cancelOnEOF()
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			logf("standard input closed; stopping")
			cancelOnEOF()
		}()
	}

	pki, err := generatePKI(filepath.Join(data.path, "pki"))
	if err != nil {
		return fmt.Errorf("generate certificates: %w", err)
	}
	var audit *auditFiles
	if c.auditLog != "" {
		if audit, err = writeAuditPolicy(data.path, c.auditLog); err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
	}
	tokenFile := filepath.Join(data.path, "tokens.csv")
	// Format: token,user,uid,"group1,group2". system:masters bypasses RBAC.
	tokenLine := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.token, adminUser, adminUser)
	if err := os.WriteFile(tokenFile, []byte(tokenLine), 0o600); err != nil {
		return err
	}

	etcd, err := startEtcd(filepath.Join(data.path, "etcd"), c.verbose)
	if err != nil {
		return err
	}
	defer etcd.Close()
	logf("etcd serving on %s (data in %s)", etcd.URL, data.path)

	// Deliberately not derived from ctx: cancelling kube-apiserver while its
	// post-start hooks are still running makes it exit via klog.Fatal. It is
	// tied to ctx only once the server is ready (below).
	apiCtx, stopAPI := context.WithCancel(context.Background())
	defer stopAPI()
	apiDone, err := startAPIServer(apiCtx, apiserverConfig{
		listener:  listener,
		pki:       pki,
		tokenFile: tokenFile,
		etcdURL:   etcd.URL,
		certDir:   filepath.Join(data.path, "pki"),
		audit:     audit,
		gates:     c.featureGates,
	})
	if err != nil {
		return err
	}
	// Whatever happens from here on, wait for the apiserver to finish
	// shutting down before etcd is closed beneath it.
	defer func() {
		stopAPI()
		select {
		case err, ok := <-apiDone:
			if ok && err != nil {
				logf("kube-apiserver shutdown: %v", err)
			}
		case <-time.After(60 * time.Second):
			logf("kube-apiserver did not stop within 60s; continuing")
		}
	}()
	logf("kube-apiserver %s starting on %s", version.Get().GitVersion, server)

	if err := waitReady(ctx, server, pki.CAPEM, c.token, apiDone); err != nil {
		if ctx.Err() == nil {
			return err
		}
		// Interrupted while starting. There is no clean way to stop a
		// half-started kube-apiserver (see apiCtx), and nobody has been told
		// about this server yet, so just leave.
		logf("interrupted while starting; exiting without graceful shutdown")
		data.cleanup()
		os.Exit(0)
	}

	if c.controllers {
		admin := &rest.Config{
			Host:            server,
			BearerToken:     c.token,
			TLSClientConfig: rest.TLSClientConfig{CAData: pki.CAPEM},
		}
		// Stopped (deferred) before the apiserver is, and the apiserver is
		// not stopped by a signal until they have started: the namespace
		// controller's constructor exits the process if the apiserver
		// cannot answer discovery.
		ctrlCtx, stopControllers := context.WithCancel(ctx)
		defer stopControllers()
		if err := startControllers(ctrlCtx, admin); err != nil {
			if ctx.Err() != nil {
				logf("shutting down")
				return nil
			}
			return fmt.Errorf("start controllers: %w", err)
		}
	}
	context.AfterFunc(ctx, stopAPI)
	if err := writeKubeconfig(kubeconfig, server, pki.CAPEM, c.token); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	logf("ready after %.1fs; admin kubeconfig at %s", time.Since(started).Seconds(), kubeconfig)
	// The one line a caller parses. Stdout is unbuffered in Go (os.Stdout
	// is a plain *os.File), so it reaches a pipe reader immediately.
	if _, err := fmt.Fprintf(os.Stdout, "KUBECONFIG=%s\n", kubeconfig); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
		logf("shutting down")
		return nil
	case err, ok := <-apiDone:
		if !ok || err == nil {
			err = errors.New("exited unexpectedly")
		}
		return fmt.Errorf("kube-apiserver: %w", err)
	}
}

// dataDir is where etcd data and certificates live, and whether it is ours
// to remove when we exit.
type dataDir struct {
	path   string
	remove bool
	once   sync.Once
}

func (d *dataDir) cleanup() {
	d.once.Do(func() {
		if !d.remove {
			logf("data kept in %s", d.path)
			return
		}
		if err := os.RemoveAll(d.path); err != nil {
			logf("could not remove %s: %v", d.path, err)
		}
	})
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}
