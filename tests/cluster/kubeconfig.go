package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	contextName = "test-apiserver"
	adminUser   = "admin"
)

// writeKubeconfig writes a kubeconfig for the admin user. The CA is embedded
// (certificate-authority-data) so the file keeps working if the data dir is
// moved or deleted. It is written to a temporary name and renamed, so a
// reader polling for the file never sees half of it.
func writeKubeconfig(path, server string, caPEM []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: caPEM,
	}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[contextName] = &clientcmdapi.Context{
		Cluster:   contextName,
		AuthInfo:  adminUser,
		Namespace: "default",
	}
	cfg.CurrentContext = contextName

	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kubeconfig-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// waitReady polls the apiserver the way a client would (TLS verified against
// our CA, admin bearer token) until /readyz is OK and the "default" namespace
// exists. /readyz alone does not cover the latter: the namespace is created
// by a controller loop shortly after the server starts serving, and tests
// commonly use it straight away.
func waitReady(ctx context.Context, server string, caPEM []byte, token string, died <-chan error) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("cannot parse CA certificate")
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	defer client.CloseIdleConnections()

	ok := func(path string) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+path, nil)
		if err != nil {
			return false
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == http.StatusOK
	}

	const timeout = 2 * time.Minute
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for !ok(path) {
			select {
			case err := <-died:
				if err == nil {
					err = errors.New("exited without error")
				}
				return fmt.Errorf("kube-apiserver stopped before it was ready: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				return fmt.Errorf("%s%s not OK after %s", server, path, timeout)
			case <-tick.C:
			}
		}
	}
	return nil
}
