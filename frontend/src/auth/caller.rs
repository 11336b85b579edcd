//! Who made a request, once authentication has found out.

/// Who made the request, as the token or the platform says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Stable id: the token's `sub`, or Easy Auth's principal id.
    pub subject: String,
    /// A name for people, when the identity provider gives one.
    pub name: Option<String>,
}

impl Caller {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.subject)
    }
}
