"""Checks the deploy files offline with real tools (`cargo xtask validate-deploy` installs them
and passes their paths in the environment; `python -m validate_deploy [CHECK ...]` from xtask/
runs them, default all):

  az       every az command line of the scripts, Bicep comments, README.md, docs/*.md and
           workflows through azure-cli's parser in-process (az_cli.py, shell_commands.py);
           the upload `az containerapp up --source .` sends, packed by azure-cli, against the
           Dockerfile's COPY sources and .gitignore, and the workflow building it on pull
           requests (upload.py, az_upload.py); Azure components' auth methods against
           components-contrib's source (azure_auth.py); deploy/aca/deploy.sh twice, with
           --image, and twice with --login session against a recording az stand-in
           (journey.py, fake_azure.py), each app left with two replicas, probes, SHUTDOWN_DELAY,
           a grace period covering it and Dapr's app health check on the liveness path
           (rollout.py)
  aks      the kustomization renders (deploy/aks/render.sh), the base and each overlay, and
           passes `kubernetes-validate --strict`; on each rendering Dapr 1.16.5's injector
           makes the pods and the NetworkPolicies are evaluated on them (cyclonus), the
           Gateway API resources are checked against v1.6.3's CRDs, and the front door's
           routes (to the sidecar or, with AUTH_MODE=session, the app's port for the
           browsers' paths, as `dapr-pair describe` gives them: description.py), the sidecars'
           `api.allowed` against the Dapr APIs the apps describe, the resiliency budget and the real daprd with
           the injected flags (16 KiB header, graceful shutdown) are checked; the stop's timing
           budget on the injected daprd's flags, the rolling update, disruption budgets,
           spread and replicas, and the real daprd with the injected shutdown flags stopped
           with a draining app (aks.py, aks_network.py, aks_frontdoor.py, aks_go.py,
           rollout.py, xtask/aks-check)
  crds     every Dapr resource the project ships matches Dapr's CRD schema, with unknown
           fields rejected as `kubectl apply --validate=strict` would (crds.py)
  daprd    every Dapr Component, Configuration and Resiliency under components/, dapr-config/
           and deploy/ (Container Apps components as az would send them, with no key dropped,
           then translated: shipped.py) is loaded by the real daprd
           in self-hosted mode, placeholders substituted, and daprd reports no error; every
           middleware a Configuration's pipeline names is really in it (daprd skips a
           missing one silently); and the AKS frontend's sidecar of each rendering (base and
           overlays), asked what its front door (HTTPRoute or Ingress) sends it, answers the
           API path with 401/200 by token and, where the sidecar signs browsers in (the OAuth2
           middleware overlay), the browsers' path with a redirect to the sign-in page
           (daprd.py, daprd_runs.py, aks_entry.py)
  bicep    every deploy/aca/*.bicep parses; parameters and module calls match; once per value
           of each @allowed parameter (login), from the dependency graph: external ingress
           only after the app's built-in auth or with the app's own complete sign-in
           (session_login.py), no identity made or granted a role in the deployment that uses
           it, images pulled with an identity, Microsoft.App stable, workload profiles, the
           sign-in and component secrets from Key Vault, each Dapr component as its
           deploy/aca YAML, the session store's Cosmos DB role scoped to its container,
           each app's replicas, probes and shutdown budget as the journey's (bicep.py)

Each check prints what it looked at; any failure makes the run exit non-zero.
"""
