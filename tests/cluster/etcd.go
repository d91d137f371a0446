package main

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// embeddedEtcd is a single-member etcd running inside this process.
type embeddedEtcd struct {
	etcd  *embed.Etcd
	URL   string // client URL, for --etcd-servers
	level zap.AtomicLevel
	quiet bool
}

// startEtcd starts etcd on loopback only, with its data in dir.
func startEtcd(dir string, verbose bool) (*embeddedEtcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "test-apiserver"
	cfg.Dir = dir

	// Port 0 lets the kernel pick free ports, so no other process can grab
	// a port between our choosing and etcd binding it. The real client port
	// is read back from the listener below. The ":0" peer URL only has to be
	// identical in the listen, advertise and initial-cluster settings (a
	// single member never dials a peer).
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The JSON/HTTP gateway dials the configured client address literally
	// (port 0 here) and would retry that forever. The apiserver speaks gRPC
	// and does not need it.
	cfg.EnableGRPCGateway = false

	// Test data is disposable: skipping fsync makes every write (and thus
	// apiserver startup, which writes a few hundred bootstrap objects) much
	// faster, particularly on slow CI disks.
	cfg.UnsafeNoFsync = true

	// Our own logger, so that its level can be raised before shutdown: etcd
	// reports its listeners closing as errors, which is only noise here.
	// (Warn level, in --verbose mode, also logs every slow-ish request.)
	level := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	if verbose {
		level.SetLevel(zapcore.WarnLevel)
	}
	zc := zap.NewProductionConfig()
	zc.Level = level
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.DisableStacktrace = true
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	logger, err := zc.Build()
	if err != nil {
		return nil, err
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger.Named("etcd"))

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd did not become ready within 60s")
	}
	if len(e.Clients) == 0 {
		e.Close()
		return nil, fmt.Errorf("etcd has no client listener")
	}
	return &embeddedEtcd{
		etcd:  e,
		URL:   "http://" + e.Clients[0].Addr().String(),
		level: level,
		quiet: !verbose,
	}, nil
}

// Close stops etcd and waits until it has released its files and ports.
func (e *embeddedEtcd) Close() {
	if e.quiet {
		e.level.SetLevel(zapcore.FatalLevel)
	}
	e.etcd.Close()
}
