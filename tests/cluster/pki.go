package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pkiFiles are the PEM files the apiserver is pointed at.
type pkiFiles struct {
	CACert     string // CA that signed the serving cert; embedded in the kubeconfig
	ServerCert string // serving cert for 127.0.0.1 / localhost
	ServerKey  string
	SAKey      string // service-account token signing key (private)
	SAPub      string // its public half, used to verify tokens
	CAPEM      []byte // CA cert bytes, kept for the kubeconfig and the readiness probe
}

// certValidity is long enough for any test run yet clearly a throwaway.
const certValidity = 365 * 24 * time.Hour

// generatePKI writes a fresh CA, a serving cert signed by it, and a
// service-account signing key pair into dir, or reuses the ones an earlier
// run left there, so that a restarted server (same --data-dir) is trusted by
// clients of the first one and honours the tokens it issued. ECDSA P-256 is
// used throughout because it generates in microseconds (RSA-2048 would add
// noticeable startup latency) and every Kubernetes component accepts it.
func generatePKI(dir string) (*pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if f, err := existingPKI(dir); err == nil {
		return f, nil
	}
	// Back-date certificates a little so small clock differences between the
	// writer and a reader never make them "not yet valid".
	notBefore := time.Now().Add(-time.Hour)

	caDER, caKey, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "domain-monitor-test-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil, notBefore)
	if err != nil {
		return nil, fmt.Errorf("create CA cert: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	srvDER, srvKey, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		// Clients reach us on loopback; the in-cluster names and the
		// "kubernetes" service IP are included so the cert is also valid for
		// anything that resolves the apiserver the way a pod would.
		DNSNames: []string{
			"localhost",
			"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), serviceIP},
	}, caCert, caKey, notBefore)
	if err != nil {
		return nil, fmt.Errorf("create serving cert: %w", err)
	}

	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}

	f := pkiPaths(dir)
	f.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	srvPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER})
	srvKeyPEM, err := privateKeyPEM(srvKey)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := privateKeyPEM(saKey)
	if err != nil {
		return nil, err
	}
	saPubPEM, err := publicKeyPEM(saKey.Public())
	if err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		f.CACert:     f.CAPEM,
		f.ServerCert: srvPEM,
		f.ServerKey:  srvKeyPEM,
		f.SAKey:      saKeyPEM,
		f.SAPub:      saPubPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// pkiPaths names the files of the PKI in dir (CAPEM left empty).
func pkiPaths(dir string) *pkiFiles {
	return &pkiFiles{
		CACert:     filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "apiserver.crt"),
		ServerKey:  filepath.Join(dir, "apiserver.key"),
		SAKey:      filepath.Join(dir, "sa.key"),
		SAPub:      filepath.Join(dir, "sa.pub"),
	}
}

// issue generates a P-256 key and a certificate for it from tmpl, valid
// from notBefore for certValidity with a random serial, signed by parent
// with parentKey, or self-signed when parent is nil.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, notBefore time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = randomSerial()
	tmpl.NotBefore = notBefore
	tmpl.NotAfter = notBefore.Add(certValidity)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	return der, key, err
}

// existingPKI loads the files a previous generatePKI wrote into dir, or
// fails if any is missing or the CA certificate has expired.
func existingPKI(dir string) (*pkiFiles, error) {
	f := pkiPaths(dir)
	for _, path := range []string{f.ServerCert, f.ServerKey, f.SAKey, f.SAPub} {
		if _, err := os.Stat(path); err != nil {
			return nil, err
		}
	}
	caPEM, err := os.ReadFile(f.CACert)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", f.CACert)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	if time.Now().After(ca.NotAfter) {
		return nil, fmt.Errorf("%s: expired", f.CACert)
	}
	f.CAPEM = caPEM
	return f, nil
}

func privateKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func publicKeyPEM(k crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// randomSerial returns a positive random 128-bit serial number, as RFC 5280
// asks for unpredictable serials.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}
