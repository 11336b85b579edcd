"""The dependency graph the bicep check reads from pycep's parse (bicep.Template): references
through variables, property accessors, child resources and string interpolations; and the
two ordering rules it enforces."""

from __future__ import annotations

import os

for _name in ("AZ", "KUSTOMIZE", "KUBERNETES_VALIDATE", "DAPRD", "DAPR_CRDS"):
    os.environ.setdefault(_name, "unused-here")  # tools.py reads them at import

import pytest  # noqa: E402

from validate_deploy import bicep, report  # noqa: E402

APP = """
resource env 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: 'e'
  location: 'x'
  properties: {}
}
resource pull 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' %(existing)s= {
  name: 'dapr-pair-pull'
}
var registries = [ { server: 'r.azurecr.io', identity: pull.id } ]
var configuration = { registries: registries }
resource app 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'frontend'
  location: 'x'
  properties: {
    environmentId: env.id
    configuration: union(configuration, { ingress: { external: %(external)s, targetPort: 8080 } })
  }
}
resource auth 'Microsoft.App/containerApps/authConfigs@2025-07-01' = {
  parent: app
  name: 'current'
  properties: {
    platform: { enabled: true }
    globalValidation: { unauthenticatedClientAction: 'RedirectToLoginPage' }
  }
}
"""

MODULE = """
param properties object
resource frontend 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'frontend'
  location: 'x'
  properties: properties
}
"""

PUBLIC = """
module public 'public.bicep' = {
  name: 'public'
  %(depends)s
  params: {
    properties: { environmentId: env.id, configuration: { ingress: { external: true } }, note: '${pull.id}/x' }
  }
}
"""


def template(tmp_path, text: str) -> bicep.Template:
    (tmp_path / "public.bicep").write_text(MODULE)
    path = tmp_path / "main.bicep"
    path.write_text(text)
    return bicep.Template(path, bicep.parse(path))


@pytest.fixture(autouse=True)
def no_failures():
    report.failures.clear()
    yield
    report.failures.clear()


def test_references_go_through_variables_accessors_and_interpolations(tmp_path):
    main = template(tmp_path, APP % {"existing": "", "external": "false"} + PUBLIC % {"depends": ""})
    assert main.direct("app") == {"env", "pull"}
    assert main.direct("auth") == {"app"}
    assert main.direct("public") == {"env", "pull"}
    assert main.depends_on("auth") == {"app", "env", "pull"}


def test_an_app_exposed_in_its_own_declaration_is_exposed_before_its_auth(tmp_path):
    main = template(tmp_path, APP % {"existing": "existing ", "external": "true"})
    bicep.check_exposure(main)
    assert len(report.failures) == 1 and "before the login is on" in report.failures[0]


def test_an_app_exposed_by_a_module_that_waits_for_its_auth_is_not(tmp_path):
    main = template(tmp_path, APP % {"existing": "existing ", "external": "false"}
                    + PUBLIC % {"depends": "dependsOn: [ auth ]"})
    bicep.check_exposure(main)
    assert report.failures == []


def test_a_module_that_does_not_wait_for_the_auth_exposes_the_app(tmp_path):
    main = template(tmp_path, APP % {"existing": "existing ", "external": "false"} + PUBLIC % {"depends": ""})
    bicep.check_exposure(main)
    assert len(report.failures) == 1 and "public gives app frontend external ingress" in report.failures[0]


def test_an_identity_made_in_the_same_deployment_as_the_app_it_pulls_for_fails(tmp_path):
    bicep.check_identities_exist_first(template(tmp_path, APP % {"existing": "", "external": "false"}))
    assert report.failures and "which this deployment makes" in report.failures[0]


def test_an_existing_identity_is_fine(tmp_path):
    bicep.check_identities_exist_first(template(tmp_path, APP % {"existing": "existing ", "external": "false"}))
    assert report.failures == []


# ------------------------------------------------------------------ login=builtin|session

LOGIN = """
@allowed([ 'builtin', 'session' ])
param login string = 'builtin'
var session = login == 'session'
resource env 'Microsoft.App/managedEnvironments@2025-07-01' = {
  name: 'e'
  location: 'x'
  properties: {}
}
var sessionSettings = [
%(settings)s
]
resource app 'Microsoft.App/containerApps@2025-07-01' = {
  name: 'frontend'
  location: 'x'
  properties: {
    environmentId: env.id
    configuration: {
      ingress: { external: true, targetPort: 8080 }
      secrets: [ { name: 'oidc-client-secret', keyVaultUrl: 'https://v/secrets/s', identity: 'i' }
        { name: 'session-encryption-key', keyVaultUrl: 'https://v/secrets/k', identity: 'i' } ]
    }
    template: {
      containers: [ { name: 'frontend', env: concat([ { name: 'LOG_FORMAT', value: 'json' } ],
        session ? sessionSettings : [ { name: 'AUTH_MODE', value: 'easyauth' } ]) } ]
    }
  }
}
resource auth 'Microsoft.App/containerApps/authConfigs@2025-07-01' = if (!session) {
  parent: app
  name: 'current'
  properties: {
    platform: { enabled: true }
    globalValidation: { unauthenticatedClientAction: 'RedirectToLoginPage' }
  }
}
"""

COMPLETE = """  { name: 'AUTH_MODE', value: 'session' }
  { name: 'OIDC_ISSUER', value: 'https://issuer' }
  { name: 'OIDC_AUDIENCE', value: 'a' }
  { name: 'OIDC_CLIENT_ID', value: 'a' }
  { name: 'OIDC_CLIENT_SECRET', secretRef: 'oidc-client-secret' }
  { name: 'OIDC_REDIRECT_URL', value: 'https://frontend.e/auth/callback' }
  { name: 'SESSION_ENCRYPTION_KEY', secretRef: 'session-encryption-key' }"""


def login_templates(tmp_path, settings: str) -> dict[str, bicep.Template]:
    main = template(tmp_path, LOGIN % {"settings": settings})
    return {given["login"]: bicep.Template(main.path, bicep.specialize(main.parsed, given), given)
            for given in bicep.choices(main.parsed)}


def test_each_allowed_value_decides_the_conditions(tmp_path):
    modes = login_templates(tmp_path, COMPLETE)
    assert set(modes) == {"builtin", "session"}
    assert "auth" in modes["builtin"].resources and "auth" not in modes["session"].resources
    env, _ = bicep.app_env(modes["builtin"], modes["builtin"].declarations["app"].get("config"))
    assert {"name": "AUTH_MODE", "value": "easyauth"} in env


def test_an_app_in_session_mode_with_every_setting_guards_itself(tmp_path):
    for mode in login_templates(tmp_path, COMPLETE).values():
        bicep.check_exposure(mode)
    assert len(report.failures) == 1 and "login=builtin" in report.failures[0]  # exposed in its own declaration


def test_an_app_in_session_mode_without_its_redirect_url_does_not(tmp_path):
    incomplete = "\n".join(line for line in COMPLETE.splitlines() if "OIDC_REDIRECT_URL" not in line)
    bicep.check_exposure(login_templates(tmp_path, incomplete)["session"])
    assert len(report.failures) == 1 and "it lacks OIDC_REDIRECT_URL" in report.failures[0]


def test_a_session_client_secret_given_as_a_value_fails(tmp_path):
    text = (LOGIN % {"settings": COMPLETE}).replace(
        "keyVaultUrl: 'https://v/secrets/s', identity: 'i'", "value: 'not-in-a-template'")
    main = template(tmp_path, text)
    bicep.check_sign_in_secret(bicep.Template(main.path, bicep.specialize(main.parsed, {"login": "session"})))
    assert len(report.failures) == 1 and "not a Key Vault reference" in report.failures[0]
