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

/// The longest source line a rendered diagnostic quotes whole; the longest message it shows.
/// Renderers handle columns and widths in small integers (miette panics past column 65,535),
/// and a megabyte-long quoted line helps nobody.
pub const MAX_QUOTED_LINE: usize = 400;
pub const MAX_MESSAGE: usize = 4_000;

impl Diagnostic {
    /// This diagnostic made safe to render, whatever input produced it: a message cut at
    /// [`MAX_MESSAGE`] characters and, when the line it points into is longer than
    /// [`MAX_QUOTED_LINE`], the quoted source replaced by an excerpt of that line around the
    /// span, named `file:line:column` so the position stays exact. Related places that fall
    /// outside the excerpt are dropped from the snippet.
    pub fn bounded(&self) -> Diagnostic {
        let mut d = self.clone();
        d.message = shorten(&d.message, MAX_MESSAGE);
        d.help = d.help.map(|h| shorten(&h, MAX_MESSAGE));
        d.label = d.label.map(|l| shorten(&l, MAX_QUOTED_LINE));
        let Some(location) = &self.location else {
            return d;
        };
        let text = &location.source.text;
        let at = floor(text, location.span.start.min(text.len()));
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        if text[line_start..line_end].chars().count() <= MAX_QUOTED_LINE {
            return d;
        }
        let half = MAX_QUOTED_LINE / 2;
        let from = floor(text, at.saturating_sub(half).max(line_start));
        let to = floor(text, (at + half).min(line_end));
        let (line, column) = location.line_col();
        let excerpt = crate::base::source::SourceFile::new(
            format!(
                "{}:{line}:{column} (excerpt of a {}-character line)",
                location.source.name,
                text[line_start..line_end].chars().count()
            ),
            text[from..to].to_owned(),
        );
        let start = at - from;
        let end = floor(text, location.span.end.clamp(at, to)) - from;
        d.location = Some(Located::new(
            &excerpt,
            crate::base::source::Span::new(start, end),
        ));
        d.related
            .retain(|(l, _)| !std::sync::Arc::ptr_eq(&l.source, &location.source));
        d
    }
}

fn floor(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `s` cut after `max` characters, saying how many were left out.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} more characters)", &s[..i], s[i..].chars().count()),
        None => s.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::source::{SourceFile, Span};

    #[test]
    fn a_span_far_along_a_long_line_is_quoted_from_an_excerpt() {
        let text = format!("name: {}${{x}}\n", "a".repeat(70_000));
        let source = SourceFile::new("long.yaml", text.clone());
        let at = text.find("${").unwrap();
        let d = Diagnostic::new("expr::x", "bad")
            .at(Located::new(&source, Span::new(at, at + 4)))
            .related(Located::new(&source, Span::new(0, 4)), "elsewhere");
        let b = d.bounded();
        let l = b.location.as_ref().unwrap();
        assert!(
            l.source.text.len() <= MAX_QUOTED_LINE,
            "{}",
            l.source.text.len()
        );
        assert_eq!(&l.source.text[l.span.start..l.span.end], "${x}");
        assert!(
            l.source.name.starts_with("long.yaml:1:70007 "),
            "{}",
            l.source.name
        );
        assert!(b.related.is_empty());
        // Short lines are left as they are.
        let short = SourceFile::new("s.yaml", "a: ${x}\n");
        let d = Diagnostic::new("expr::x", "bad").at(Located::new(&short, Span::new(3, 7)));
        assert!(std::sync::Arc::ptr_eq(
            &d.bounded().location.unwrap().source,
            &short
        ));
    }

    #[test]
    fn messages_are_cut() {
        let d = Diagnostic::new("x", "é".repeat(MAX_MESSAGE + 10)).bounded();
        assert!(
            d.message.ends_with("… (10 more characters)"),
            "{}",
            &d.message[d.message.len() - 40..]
        );
    }
}
