"""Stand-ins for the values a reader supplies when deploying."""

from __future__ import annotations

import re

# Stand-ins for the values a reader supplies (README, "Deploy to AKS", and deploy.sh). The Dapr
# files use `${NAME}` (deploy/) or `{{NAME}}` (components/); a name not listed here gets a
# stand-in by its kind (see stand_in).
PLACEHOLDERS = {
    "IMAGE": "example.azurecr.io/dapr-pair:1.0.0",
    "HOST": "dapr-pair.example.com",
    "AZURE_TENANT_ID": "11111111-1111-1111-1111-111111111111",
    "LOGIN_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "BACKEND_IDENTITY_CLIENT_ID": "33333333-3333-3333-3333-333333333333",
    "FRONTEND_IDENTITY_CLIENT_ID": "55555555-5555-5555-5555-555555555555",
    "COSMOS_URL": "https://dapr-pair-example.documents.azure.com:443/",
}
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}|\{\{\s*([A-Z][A-Z0-9_]*)\s*\}\}")
STAND_IN_SECRET = "c3RhbmQtaW4ta2V5"  # base64, as a key would be


def stand_in(name: str, identity_provider: str) -> str:
    """A value for a placeholder: the listed one, else one of the right shape by its name."""
    if name in PLACEHOLDERS:
        return PLACEHOLDERS[name]
    if re.search(r"URL|URI|ISSUER|ENDPOINT|AUTHORITY", name):
        return identity_provider  # a discovery document and key set answer there
    if name.endswith("_ID"):
        return "44444444-4444-4444-4444-444444444444"
    if "SECRET_STORE" in name:
        return "stand-in-secrets"  # provided by daprd.run_daprd as a file secret store
    return "stand-in"


def substitute(text: str, identity_provider: str = "http://127.0.0.1:9/stand-in") -> str:
    return PLACEHOLDER.sub(lambda m: stand_in(m.group(1) or m.group(2), identity_provider), text)
