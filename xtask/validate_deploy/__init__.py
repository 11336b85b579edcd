"""Checks the deploy files offline with real tools (`cargo xtask validate-deploy` installs them
and passes their paths in the environment; `python -m validate_deploy [CHECK ...]` from xtask/
runs them, default all):

  az       every `az` command and flag in the deploy scripts, the README and the workflows
           exists in the pinned azure-cli (`az <command> --help` works without a network)
           (az.py; the commands are found by shell_commands.py)
  aks      the kustomization renders (deploy/aks/render.sh), the base and each overlay, and
           passes `kubernetes-validate --strict`; on each rendering Dapr 1.16.5's injector
           makes the pods and the NetworkPolicies are evaluated on them (cyclonus), the
           Gateway API resources are checked against v1.6.3's CRDs, and the front door's
           routes, the sidecars' `api.allowed`, the resiliency budget and the real daprd with
           the injected flags (16 KiB header, graceful shutdown) are checked (aks.py,
           aks_network.py, aks_frontdoor.py, aks_go.py, xtask/aks-check)
  crds     every Dapr resource the project ships matches Dapr's CRD schema, with unknown
           fields rejected as `kubectl apply --validate=strict` would (crds.py)
  daprd    every Dapr Component, Configuration and Resiliency under components/, dapr-config/
           and deploy/ (Container Apps components as az would send them, with no key dropped,
           then translated: shipped.py) is loaded by the real daprd
           in self-hosted mode, placeholders substituted, and daprd reports no error; every
           middleware a Configuration's pipeline names is really in it (daprd skips a
           missing one silently); and the AKS frontend's sidecar, asked what each front door
           (HTTPRoute, overlay Ingress) sends it, answers the API path with 401/200 by token and the browsers' path with a
           redirect to the sign-in page (daprd.py, daprd_runs.py, aks_entry.py)
  bicep    deploy/aca/main.bicep parses, declares no name that hides a function it calls, and
           its parameters file names only declared parameters and gives every one without a
           default (bicep.py)

Each check prints what it looked at; any failure makes the run exit non-zero.
"""
