//! Diagnostics: every error a user can fix by editing a template or its inputs.
//!
//! A diagnostic carries a stable code (for `--output json` and documentation), a message, where it
//! happened (file and span) and what to do. The engine collects all it finds instead of stopping
//! at the first, as a compiler does. Rendering belongs to the CLI (miette); this module only
//! implements miette's `Diagnostic` trait so the CLI can render without knowing the variants.

use std::fmt;

use crate::base::source::Located;

/// `a string`, `an integer`: a type name with the article English wants.
pub fn a(word: &str) -> String {
    let vowel = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {word}", if vowel { "an" } else { "a" })
}

/// One problem found in a template or its inputs.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Stable identifier, e.g. `template::unknown_property`.
    pub code: &'static str,
    pub message: String,
    pub location: Option<Located>,
    /// Short text shown under the highlighted source.
    pub label: Option<String>,
    pub help: Option<String>,
    /// Further places that explain this one (the other resources on a cycle).
    pub related: Vec<(Located, String)>,
}

impl Diagnostic {
    pub fn new(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            location: None,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    pub fn at(mut self, location: Located) -> Self {
        self.location = Some(location);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn related(mut self, location: Located, label: impl Into<String>) -> Self {
        self.related.push((location, label.into()));
        self
    }

    /// `file:line:column`, if the diagnostic has a location.
    pub fn position(&self) -> Option<(String, usize, usize)> {
        self.location.as_ref().map(|l| {
            let (line, col) = l.line_col();
            (l.source.name.clone(), line, col)
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

fn span_of(location: &Located) -> miette::SourceSpan {
    (location.span.start, location.span.len()).into()
}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.location
            .as_ref()
            .map(|l| &*l.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let location = self.location.as_ref()?;
        let mut labels = vec![miette::LabeledSpan::new_with_span(
            self.label.clone(),
            span_of(location),
        )];
        // Related places in the same file are shown as extra labels on the same snippet.
        for (related, text) in &self.related {
            if std::sync::Arc::ptr_eq(&related.source, &location.source) {
                labels.push(miette::LabeledSpan::new_with_span(
                    Some(text.clone()),
                    span_of(related),
                ));
            }
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// Everything wrong with a template, in the order found (sorted by position before display).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// `Ok(())` if nothing was found, else the sorted diagnostics.
    pub fn into_result(mut self) -> Result<(), Diagnostics> {
        if self.0.is_empty() {
            Ok(())
        } else {
            self.sort();
            Err(self)
        }
    }

    /// Orders by file position, diagnostics without a location last, so output is deterministic.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| {
            d.location
                .as_ref()
                .map_or((1, String::new(), usize::MAX), |l| {
                    (0, l.source.name.clone(), l.span.start)
                })
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => write!(f, "{} problems found", many.len()),
        }
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}
