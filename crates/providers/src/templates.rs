//! The built-in templates, embedded in the binary. Their files in `templates/` double as examples.

/// A template shipped with stackform.
pub struct BuiltinTemplate {
    pub name: &'static str,
    pub source: &'static str,
}

/// Every built-in template, by name.
pub const BUILTIN: &[BuiltinTemplate] = &[
    BuiltinTemplate {
        name: "aws",
        source: include_str!("../../../templates/aws.yaml"),
    },
    BuiltinTemplate {
        name: "azure",
        source: include_str!("../../../templates/azure.yaml"),
    },
    BuiltinTemplate {
        name: "gcp",
        source: include_str!("../../../templates/gcp.yaml"),
    },
    BuiltinTemplate {
        name: "local",
        source: include_str!("../../../templates/local.yaml"),
    },
];

pub fn builtin(name: &str) -> Option<&'static BuiltinTemplate> {
    BUILTIN.iter().find(|t| t.name == name)
}
