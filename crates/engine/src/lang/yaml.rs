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

/// The most nodes a document may hold once its aliases are expanded. Templates, var files and
/// manifests hold a few thousand; an alias bomb (each anchor aliased ten times by the next) holds
/// billions in a few hundred bytes, so aliases are counted at their expanded size.
pub const MAX_NODES: usize = 250_000;

/// The deepest nesting of maps and lists, aliases expanded.
pub const MAX_DEPTH: usize = 128;

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
        nodes: 0,
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

/// How big a node is once expanded: its node count and its depth (a scalar is 1 and 1).
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    depth: usize,
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        weight: Weight,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        weight: Weight,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Key text to its index in `entries`, for duplicate detection in O(1).
        seen: HashMap<String, usize>,
    },
}

struct Builder<'a> {
    source: &'a Arc<SourceFile>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, Weight)>,
    root: Option<Node>,
    documents: usize,
    /// Nodes built so far, aliases counted at their expanded size.
    nodes: usize,
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
                let weight = Weight { nodes: 1, depth: 1 };
                self.count(weight, span)?;
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), weight));
                }
                self.push(node, weight)?;
            }
            Event::Alias(id) => {
                let (node, weight) = self.anchors.get(&id).cloned().ok_or_else(|| {
                    Diagnostic::new("template::yaml", "alias to an unknown anchor")
                        .at(Located::new(self.source, span))
                })?;
                // Counted before the copy is made: the bound is on what would be built.
                self.count(weight, span)?;
                self.push(Node { span, ..node }, weight)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.count(Weight { nodes: 1, depth: 1 }, span)?;
                self.stack.push(Frame::Seq {
                    start: span,
                    anchor,
                    weight: Weight { nodes: 1, depth: 1 },
                    items: Vec::new(),
                })
            }
            Event::MappingStart(anchor, _) => {
                self.count(Weight { nodes: 1, depth: 1 }, span)?;
                self.stack.push(Frame::Map {
                    start: span,
                    anchor,
                    weight: Weight { nodes: 1, depth: 1 },
                    entries: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, weight) = match self.stack.pop() {
                    Some(Frame::Seq {
                        start,
                        anchor,
                        weight,
                        items,
                    }) => {
                        let end = items.last().map_or(span.end, |n| n.span.end.max(start.end));
                        (
                            Node {
                                span: Span::new(start.start, end),
                                kind: NodeKind::Seq(items),
                            },
                            anchor,
                            weight,
                        )
                    }
                    Some(Frame::Map {
                        start,
                        anchor,
                        weight,
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
                            weight,
                        )
                    }
                    None => return Ok(()),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), weight));
                }
                self.push(node, weight)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Adds `weight` more nodes at the current depth; refuses a document past the bounds.
    fn count(&mut self, weight: Weight, span: Span) -> Result<(), Diagnostic> {
        self.nodes = self.nodes.saturating_add(weight.nodes);
        let depth = self.stack.len().saturating_add(weight.depth);
        let too_many = self.nodes > MAX_NODES;
        if !too_many && depth <= MAX_DEPTH {
            return Ok(());
        }
        let (what, limit) = if too_many {
            ("nodes", MAX_NODES)
        } else {
            ("levels of nesting", MAX_DEPTH)
        };
        Err(Diagnostic::new(
            "yaml::too_large",
            format!(
                "{} expands to more than {limit} {what} (aliases counted at their expanded size)",
                self.source.name
            ),
        )
        .at(Located::new(self.source, span))
        .label("the limit is passed here")
        .help(format!(
            "stackform reads at most {MAX_NODES} nodes nested at most {MAX_DEPTH} deep from one YAML \
             file; write repeated parts out, or alias fewer times (each `*alias` copies its anchor)"
        )))
    }

    fn push(&mut self, node: Node, weight: Weight) -> Result<(), Diagnostic> {
        let grow = |w: &mut Weight| {
            w.nodes = w.nodes.saturating_add(weight.nodes);
            w.depth = w.depth.max(weight.depth.saturating_add(1));
        };
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, weight: w, ..
            }) => {
                grow(w);
                items.push(node)
            }
            Some(Frame::Map {
                entries,
                key,
                seen,
                weight: w,
                ..
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
                    grow(w);
                    *key = Some(node);
                }
                Some(k) => {
                    grow(w);
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

    /// `levels` anchors, each a list of `fanout` aliases of the one before: fanout^levels nodes.
    fn bomb(levels: usize, fanout: usize) -> String {
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..levels {
            let items = vec![format!("*a{}", i - 1); fanout].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        text
    }

    /// What `bomb` expands to: a top map of levels keys and values.
    fn bomb_nodes(levels: usize, fanout: usize) -> usize {
        let mut size = 2usize; // [x]
        let mut total = 1 + 1 + size;
        for _ in 1..levels {
            size = size.saturating_mul(fanout).saturating_add(1);
            total = total.saturating_add(1).saturating_add(size);
        }
        total
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_is_built() {
        // 9 levels of 10 aliases: a billion nodes from a few hundred bytes.
        let text = bomb(10, 10);
        assert!(text.len() < 600, "{}", text.len());
        let started = std::time::Instant::now();
        let err = parse_str(&text).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(err.code, "yaml::too_large");
        assert!(err.message.contains("t.yaml"), "{}", err.message);
        assert!(
            err.message.contains(&MAX_NODES.to_string()),
            "{}",
            err.message
        );
        assert!(err.help.unwrap().contains("alias"));
    }

    #[test]
    fn nesting_is_bounded_too() {
        let deep = format!(
            "{}x{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let err = parse_str(&deep).unwrap_err();
        assert_eq!(err.code, "yaml::too_large");
        assert!(err.message.contains("nesting"), "{}", err.message);
        // Through aliases: each level nests the one before.
        let mut text = String::from("l0: &l0 x\n");
        for i in 1..=MAX_DEPTH {
            text.push_str(&format!("l{i}: &l{i} [*l{}]\n", i - 1));
        }
        assert_eq!(parse_str(&text).unwrap_err().code, "yaml::too_large");
        let fine = format!("{}x{}", "[".repeat(20), "]".repeat(20));
        parse_str(&fine).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever the shape of the aliases, a document is built only within the bound, and
        /// every document within the bound is built.
        #[test]
        fn alias_structures_never_exceed_the_bound(levels in 1usize..14, fanout in 1usize..40) {
            let expected = bomb_nodes(levels, fanout);
            match parse_str(&bomb(levels, fanout)) {
                Ok(_) => proptest::prop_assert!(expected <= MAX_NODES, "{expected} built"),
                Err(e) => {
                    proptest::prop_assert_eq!(e.code, "yaml::too_large");
                    proptest::prop_assert!(expected > MAX_NODES, "{expected} refused");
                }
            }
        }
    }

    #[test]
    fn anchors_and_aliases_copy_nodes() {
        let node = parse_str("a: &x {k: 1}\nb: *x\n").unwrap();
        assert_eq!(format!("{}", node.to_value()), "{a: {k: 1}, b: {k: 1}}");
    }
}
