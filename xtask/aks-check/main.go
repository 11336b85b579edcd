// aks-check: the real code behind the aks check of `cargo xtask validate-deploy`
// (xtask/validate_deploy/aks_network.py builds and runs it). Each command reads files and
// prints JSON; the expectations are the Python check's.
//
//	aks-check inject MANIFESTS      every Dapr-enabled Deployment as Dapr 1.16.5's sidecar
//	                                injector patches its pods (pkg/injector/patcher)
//	aks-check reach TRAFFIC         NetworkPolicies evaluated on the given traffic by cyclonus's
//	                                matcher (github.com/mattfenwick/cyclonus/pkg/matcher)
//	aks-check crds CRD_DIR MANIFESTS  the resources of the CRDs in CRD_DIR (Gateway API) defaulted,
//	                                validated against their OpenAPI schemas (kube-openapi, as the
//	                                API server does, unknown fields rejected) and their
//	                                x-kubernetes-validations rules (cel-go)
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fatalf("usage: aks-check inject MANIFESTS | reach TRAFFIC | crds CRD_DIR MANIFESTS")
	}
	var (
		out any
		err error
	)
	switch os.Args[1] {
	case "inject":
		out, err = inject(os.Args[2])
	case "reach":
		out, err = reach(os.Args[2])
	case "crds":
		if len(os.Args) < 4 {
			fatalf("usage: aks-check crds CRD_DIR MANIFESTS")
		}
		out, err = validateCRDs(os.Args[2], os.Args[3])
	default:
		fatalf("aks-check: no command %q", os.Args[1])
	}
	if err != nil {
		fatalf("aks-check %s: %v", os.Args[1], err)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	if err := encoder.Encode(out); err != nil {
		fatalf("aks-check: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}
