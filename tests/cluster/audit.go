package main

import (
	"os"
	"path/filepath"
)

// auditPolicy records, at the Metadata level (who, verb, resource,
// namespace, name, response code; no bodies), every request made by a
// service account once it is complete, and nothing else. The admin user
// and the apiserver's own loopback clients are not service accounts, so a
// test that runs a program under a ServiceAccount's token reads exactly that
// program's requests.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`

type auditFiles struct {
	policy string // the policy file, in the data directory
	log    string // absolute path of the log
}

// writeAuditPolicy writes the policy into dataDir and prepares the log's
// directory.
func writeAuditPolicy(dataDir, log string) (*auditFiles, error) {
	log, err := filepath.Abs(log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return nil, err
	}
	policy := filepath.Join(dataDir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		return nil, err
	}
	return &auditFiles{policy: policy, log: log}, nil
}
