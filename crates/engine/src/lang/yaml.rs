//! A YAML document as a tree of nodes that remember where they came from.
//!
//! serde-based YAML crates lose locations in the shapes templates use (flattened maps, untagged
//! enums), so templates are read from saphyr-parser's event stream into this small tree and
//! converted by hand. Every node keeps its byte span, and a string node remembers whether its
//! characters map one-to-one onto the file, so an error inside `${...}` can point at its column.

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::base::diagnostic::Diagnostic;
use crate::base::source::{Located, SourceFile, Span};
use crate::base::value::Value;

/// One node of a YAML document.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string; `direct` is the byte offset in the file where its content starts when content
    /// and file agree character for character (single-line, no escapes), else `None`.
    Str {
        value: String,
        direct: Option<usize>,
    },
    Seq(Vec<Node>),
    /// Entries in file order; keys are kept as nodes for their spans.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What this node is, for error messages ("expected a map, found a list").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str { .. } => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The key text of a map key (scalars only; YAML allows complex keys, templates do not).
    pub fn key_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str { value, .. } => Some(value.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Plain data, with any `${...}` left as text. Used for defaults and literal values.
    pub fn to_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Int(*i),
            NodeKind::Float(f) => Value::Float(*f),
            NodeKind::Str { value, .. } => Value::String(value.clone()),
            NodeKind::Seq(items) => Value::List(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.key_text()?, v.to_value())))
                    .collect(),
            ),
        }
    }
}

/// Parses one YAML document. An empty file, several documents, duplicate keys and non-scalar keys
/// are errors: each of them is almost always a mistake in a template.
pub fn parse(source: &Arc<SourceFile>) -> Result<Node, Diagnostic> {
    let text = &source.text;
    // saphyr reports positions in characters; spans are bytes.
    let char_to_byte: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let byte = |chars: usize| char_to_byte.get(chars).copied().unwrap_or(text.len());

    let mut builder = Builder {
        source,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let offset = byte(e.marker().index());
            Diagnostic::new("template::yaml", format!("malformed YAML: {}", e.info()))
                .at(Located::new(source, Span::new(offset, offset + 1)))
                .label("here")
                .help("fix the YAML syntax at this position (indentation, quotes, a missing `:`)")
        })?;
        let span = Span::new(byte(span.start.index()), byte(span.end.index()));
        builder.event(event, span)?;
    }
    match builder.root {
        Some(root) => Ok(root),
        None => Err(Diagnostic::new("template::empty", "the template is empty")
            .at(Located::new(source, Span::new(0, 0)))
            .help("a template needs at least `name:` and `resources:`")),
    }
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Key text to its index in `entries`, for duplicate detection in O(1).
        seen: HashMap<String, usize>,
    },
}

struct Builder<'a> {
    source: &'a Arc<SourceFile>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::new(
                        "template::yaml",
                        "a template file holds exactly one YAML document",
                    )
                    .at(Located::new(self.source, span))
                    .label("second document starts here")
                    .help("put each template in its own file"));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let node = self.scalar(&value, style, span, forced_string);
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node)?;
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Diagnostic::new("template::yaml", "alias to an unknown anchor")
                        .at(Located::new(self.source, span))
                })?;
                self.push(Node { span, ..node })?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                start: span,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                start: span,
                anchor,
                entries: Vec::new(),
                key: None,
                seen: HashMap::new(),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        start,
                        anchor,
                        items,
                    }) => {
                        let end = items.last().map_or(span.end, |n| n.span.end.max(start.end));
                        (
                            Node {
                                span: Span::new(start.start, end),
                                kind: NodeKind::Seq(items),
                            },
                            anchor,
                        )
                    }
                    Some(Frame::Map {
                        start,
                        anchor,
                        entries,
                        ..
                    }) => {
                        let end = entries
                            .last()
                            .map_or(span.end, |(_, v)| v.span.end.max(start.end));
                        (
                            Node {
                                span: Span::new(start.start, end),
                                kind: NodeKind::Map(entries),
                            },
                            anchor,
                        )
                    }
                    None => return Ok(()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), Diagnostic> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                None => {
                    let Some(text) = node.key_text() else {
                        return Err(Diagnostic::new(
                            "template::yaml",
                            format!("map keys must be plain text, found {}", node.kind_name()),
                        )
                        .at(Located::new(self.source, node.span)));
                    };
                    if let Some((first, _)) = seen.get(&text).map(|i| &entries[*i]) {
                        return Err(Diagnostic::new(
                            "template::duplicate_key",
                            format!("`{text}` is defined twice in the same map"),
                        )
                        .at(Located::new(self.source, node.span))
                        .label("defined again here")
                        .related(Located::new(self.source, first.span), "first defined here")
                        .help("remove one of the two, or rename it"));
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    if let Some(text) = k.key_text() {
                        seen.insert(text, entries.len());
                    }
                    entries.push((k, node));
                }
            },
        }
        Ok(())
    }

    fn scalar(&self, value: &str, style: ScalarStyle, span: Span, forced_string: bool) -> Node {
        let kind = if style == ScalarStyle::Plain && !forced_string {
            resolve_plain(value)
        } else {
            None
        };
        let kind = kind.unwrap_or_else(|| {
            let raw = &self.source.text
                [span.start.min(self.source.text.len())..span.end.min(self.source.text.len())];
            let direct = match style {
                ScalarStyle::Plain if raw == value => Some(span.start),
                ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
                    if raw.len() == value.len() + 2 && &raw[1..raw.len() - 1] == value =>
                {
                    Some(span.start + 1)
                }
                _ => None,
            };
            NodeKind::Str {
                value: value.to_owned(),
                direct,
            }
        });
        Node { span, kind }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar; `None` means it is a string.
fn resolve_plain(s: &str) -> Option<NodeKind> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(NodeKind::Null),
        "true" | "True" | "TRUE" => return Some(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(NodeKind::Bool(false)),
        ".inf" | "+.inf" | ".Inf" | "+.Inf" => return Some(NodeKind::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" => return Some(NodeKind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeKind::Float(f64::NAN)),
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().map(NodeKind::Int);
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(NodeKind::Int);
    }
    if let Some(oct) = s.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(NodeKind::Int);
    }
    let looks_numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric {
        return s.parse::<f64>().ok().map(NodeKind::Float);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Node, Diagnostic> {
        parse(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let node = parse_str("a: 1\nb: true\nc: x\nd: '1'\ne: 1.5\nf: ~\ng: 0x10\n").unwrap();
        let NodeKind::Map(entries) = node.kind else {
            panic!("expected a map")
        };
        let kinds: Vec<String> = entries
            .iter()
            .map(|(_, v)| format!("{:?}", v.to_value()))
            .collect();
        assert_eq!(
            kinds,
            [
                "Int(1)",
                "Bool(true)",
                "String(\"x\")",
                "String(\"1\")",
                "Float(1.5)",
                "Null",
                "Int(16)"
            ]
        );
    }

    #[test]
    fn strings_know_where_their_characters_are() {
        let text = "a: plain ${x}\nb: \"quoted ${y}\"\nc: \"esc\\n${z}\"\n";
        let node = parse_str(text).unwrap();
        let NodeKind::Map(entries) = node.kind else {
            panic!()
        };
        let direct: Vec<Option<usize>> = entries
            .iter()
            .map(|(_, v)| match &v.kind {
                NodeKind::Str { direct, .. } => *direct,
                _ => panic!(),
            })
            .collect();
        assert_eq!(direct[0], Some(3));
        assert_eq!(&text[direct[1].unwrap()..direct[1].unwrap() + 6], "quoted");
        assert_eq!(direct[2], None);
    }

    #[test]
    fn duplicate_keys_point_at_both_places() {
        let err = parse_str("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.code, "template::duplicate_key");
        assert_eq!(err.position(), Some(("t.yaml".into(), 3, 1)));
        assert_eq!(err.related.len(), 1);
    }

    #[test]
    fn malformed_yaml_names_the_line() {
        let err = parse_str("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!(err.code, "template::yaml");
        assert!(err.position().unwrap().1 >= 2, "{:?}", err.position());
    }

    #[test]
    fn empty_and_multi_document_files_are_refused() {
        assert_eq!(parse_str("").unwrap_err().code, "template::empty");
        assert_eq!(
            parse_str("a: 1\n---\nb: 2\n").unwrap_err().code,
            "template::yaml"
        );
    }

    #[test]
    fn anchors_and_aliases_copy_nodes() {
        let node = parse_str("a: &x {k: 1}\nb: *x\n").unwrap();
        assert_eq!(format!("{}", node.to_value()), "{a: {k: 1}, b: {k: 1}}");
    }
}
