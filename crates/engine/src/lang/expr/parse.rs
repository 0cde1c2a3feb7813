//! Lexing and parsing: template strings into parts, `${...}` into expression trees.

use std::ops::Range;

use super::{BinOp, Expr, ExprError, Part, Reference, Template};
use crate::base::suggest::did_you_mean;
use crate::base::value::Value;

/// Splits a template string into literal text, expressions and secret references.
pub fn parse_template(s: &str) -> Result<Template, ExprError> {
    let mut parts: Vec<Part> = Vec::new();
    let mut lit = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with("$${") {
            lit.push_str("${");
            i += 3;
        } else if s[i..].starts_with("${") {
            let close = matching_brace(s, i + 2).ok_or_else(|| {
                ExprError::new("`${` is never closed", i..i + 2).with_help("add the closing `}`")
            })?;
            let inner = &s[i + 2..close];
            if inner.trim().is_empty() {
                return Err(ExprError::new("empty expression `${}`", i..close + 1));
            }
            let expr = Parser::new(s, i + 2, close)?.parse_all()?;
            flush(&mut parts, &mut lit);
            parts.push(Part::Expr {
                expr,
                span: i..close + 1,
            });
            i = close + 1;
        } else if s[i..].starts_with("{{") {
            let Some(end) = s[i + 2..].find("}}").map(|e| e + i + 2) else {
                return Err(ExprError::new("`{{` is never closed", i..i + 2)
                    .with_help("a secret reference is written `{{ <secret_name>.<key> }}`"));
            };
            let inner = s[i + 2..end].trim();
            let (name, key) = inner.split_once('.').unwrap_or((inner, ""));
            if !is_ident(name) || !is_ident(key) {
                return Err(ExprError::new("malformed secret reference", i..end + 2)
                    .with_help("a secret reference is written `{{ <secret_name>.<key> }}`"));
            }
            flush(&mut parts, &mut lit);
            parts.push(Part::Secret {
                name: name.to_owned(),
                key: key.to_owned(),
                span: i..end + 2,
            });
            i = end + 2;
        } else {
            let ch = s[i..].chars().next().unwrap_or('\0');
            lit.push(ch);
            i += ch.len_utf8();
        }
    }
    let _ = bytes;
    flush(&mut parts, &mut lit);
    Ok(Template { parts })
}

fn flush(parts: &mut Vec<Part>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(Part::Lit(std::mem::take(lit)));
    }
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The index of the `}` closing a `${` whose content starts at `from`, skipping strings and
/// nested braces (an unbalanced `(` must be reported by the parser, not swallow the `}`).
fn matching_brace(s: &str, from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (off, c) in s[from..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' if depth == 0 => return Some(from + off),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Parses a bare expression (a `when:` written without `${ }`).
pub fn parse_expr(s: &str) -> Result<Expr, ExprError> {
    if s.trim().is_empty() {
        return Err(ExprError::new("empty expression", 0..s.len()));
    }
    Parser::new(s, 0, s.len())?.parse_all()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Punct(&'static str),
}

struct Parser {
    toks: Vec<(Tok, Range<usize>)>,
    pos: usize,
    end: usize,
    /// Nesting depth, capped so hostile input gets an error instead of a stack overflow.
    depth: usize,
}

/// How deeply expressions may nest (parentheses, lists, calls, `!`, `-`).
const MAX_DEPTH: usize = 64;

const PUNCT: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", ",", ".", "!", "-", "<", ">", "?", ":",
];

fn lex(s: &str, start: usize, end: usize) -> Result<Vec<(Tok, Range<usize>)>, ExprError> {
    let mut toks = Vec::new();
    let mut i = start;
    while i < end {
        let rest = &s[i..end];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
                .unwrap_or(rest.len());
            toks.push((Tok::Ident(rest[..len].to_owned()), i..i + len));
            i += len;
            continue;
        }
        if c.is_ascii_digit() {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '_'))
                .unwrap_or(rest.len());
            let text = rest[..len].replace('_', "");
            let tok = if text.contains('.') {
                text.parse::<f64>().map(Tok::Float).ok()
            } else {
                text.parse::<i64>().map(Tok::Int).ok()
            };
            let tok = tok.ok_or_else(|| {
                if text.contains('.') {
                    ExprError::new(format!("`{}` is not a number", &rest[..len]), i..i + len)
                } else {
                    ExprError::new(
                        format!("`{}` does not fit a 64-bit integer", &rest[..len]),
                        i..i + len,
                    )
                    .with_help(format!("integers are at most {}", i64::MAX))
                }
            })?;
            toks.push((tok, i..i + len));
            i += len;
            continue;
        }
        if c == '"' {
            let mut value = String::new();
            let mut chars = rest.char_indices().skip(1);
            let mut closed = None;
            while let Some((off, ch)) = chars.next() {
                match ch {
                    '"' => {
                        closed = Some(off);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, '\\')) => value.push('\\'),
                        Some((o, other)) => {
                            return Err(ExprError::new(
                                format!("unknown escape `\\{other}` in a string"),
                                i + off..i + o + other.len_utf8(),
                            )
                            .with_help("strings know \\n, \\t, \\\" and \\\\"));
                        }
                        None => break,
                    },
                    _ => value.push(ch),
                }
            }
            let Some(off) = closed else {
                return Err(ExprError::new("string is never closed", i..end)
                    .with_help("add the closing `\"`"));
            };
            toks.push((Tok::Str(value), i..i + off + 1));
            i += off + 1;
            continue;
        }
        if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            toks.push((Tok::Punct(p), i..i + p.len()));
            i += p.len();
            continue;
        }
        return Err(ExprError::new(
            format!("unexpected `{c}`"),
            i..i + c.len_utf8(),
        ));
    }
    Ok(toks)
}

impl Parser {
    fn new(s: &str, start: usize, end: usize) -> Result<Parser, ExprError> {
        Ok(Parser {
            toks: lex(s, start, end)?,
            pos: 0,
            end,
            depth: 0,
        })
    }

    fn parse_all(mut self) -> Result<Expr, ExprError> {
        let e = self.expr()?;
        if let Some((t, span)) = self.toks.get(self.pos) {
            return Err(ExprError::new(
                format!("unexpected {} after the expression", describe(t)),
                span.clone(),
            )
            .with_help("an expression ends here; is an operator or a `}` missing?"));
        }
        Ok(e)
    }

    fn peek_punct(&self, p: &str) -> bool {
        matches!(self.toks.get(self.pos), Some((Tok::Punct(q), _)) if *q == p)
    }

    fn eat(&mut self, p: &str) -> Option<Range<usize>> {
        if self.peek_punct(p) {
            self.pos += 1;
            Some(self.toks[self.pos - 1].1.clone())
        } else {
            None
        }
    }

    fn expect(&mut self, p: &str, context: &str) -> Result<Range<usize>, ExprError> {
        self.eat(p).ok_or_else(|| {
            let (found, span) = match self.toks.get(self.pos) {
                Some((t, s)) => (describe(t), s.clone()),
                None => ("the end of the expression".to_owned(), self.end..self.end),
            };
            ExprError::new(format!("expected `{p}` {context}, found {found}"), span)
        })
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self
                .toks
                .get(self.pos)
                .map_or(self.end..self.end, |t| t.1.clone());
            return Err(ExprError::new(
                format!("expression nested more than {MAX_DEPTH} levels deep"),
                span,
            ));
        }
        let result = self.cond();
        self.depth -= 1;
        result
    }

    fn cond(&mut self) -> Result<Expr, ExprError> {
        let cond = self.or()?;
        if self.eat("?").is_some() {
            let then = self.expr()?;
            self.expect(":", "in a `cond ? a : b` expression")?;
            let otherwise = self.expr()?;
            let span = cond.span().start..otherwise.span().end;
            return Ok(Expr::Cond {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
                span,
            });
        }
        Ok(cond)
    }

    fn binary_chain(
        &mut self,
        op_text: &str,
        op: BinOp,
        next: fn(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        let mut lhs = next(self)?;
        let mut operands = 1;
        while let Some(at) = self.eat(op_text) {
            // A chain builds a tree as deep as it is long: bound it like nesting.
            operands += 1;
            if operands > MAX_DEPTH {
                return Err(ExprError::new(
                    format!("more than {MAX_DEPTH} operands joined by `{op_text}`"),
                    at,
                ));
            }
            let rhs = next(self)?;
            let span = join(&lhs, &rhs);
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span,
            };
        }
        Ok(lhs)
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.binary_chain("||", BinOp::Or, Self::and)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        self.binary_chain("&&", BinOp::And, Self::cmp)
    }

    fn cmp(&mut self) -> Result<Expr, ExprError> {
        let lhs = self.unary()?;
        let ops = [
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ];
        for (text, op) in ops {
            if self.eat(text).is_some() {
                let rhs = self.unary()?;
                let span = join(&lhs, &rhs);
                return Ok(Expr::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                    span,
                });
            }
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.depth > MAX_DEPTH {
            let span = self
                .toks
                .get(self.pos)
                .map_or(self.end..self.end, |t| t.1.clone());
            return Err(ExprError::new(
                format!("expression nested more than {MAX_DEPTH} levels deep"),
                span,
            ));
        }
        if let Some(s) = self.eat("!") {
            self.depth += 1;
            let inner = self.unary();
            self.depth -= 1;
            let inner = inner?;
            let span = s.start..inner.span().end.max(s.end);
            return Ok(Expr::Not(Box::new(inner), span));
        }
        if let Some(s) = self.eat("-") {
            self.depth += 1;
            let inner = self.unary();
            self.depth -= 1;
            let inner = inner?;
            let span = s.start..inner.span().end.max(s.end);
            return Ok(Expr::Neg(Box::new(inner), span));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let mut e = self.primary()?;
        let mut steps = 0;
        loop {
            steps += 1;
            if steps > MAX_DEPTH {
                let span = self
                    .toks
                    .get(self.pos)
                    .map_or(self.end..self.end, |t| t.1.clone());
                return Err(ExprError::new(
                    format!("more than {MAX_DEPTH} attribute or index steps in a row"),
                    span,
                ));
            }
            if self.eat(".").is_some() {
                let Some((Tok::Ident(name), span)) = self.toks.get(self.pos).cloned() else {
                    let span = self
                        .toks
                        .get(self.pos)
                        .map_or(self.end..self.end, |t| t.1.clone());
                    return Err(ExprError::new("expected an attribute name after `.`", span));
                };
                self.pos += 1;
                let whole = e.span().start..span.end;
                e = match e {
                    // Still a dotted name: keep it one reference.
                    Expr::Ref(mut r) => {
                        r.segments.push(name);
                        r.span = whole;
                        Expr::Ref(r)
                    }
                    other => Expr::GetAttr {
                        target: Box::new(other),
                        name,
                        span: whole,
                    },
                };
            } else if self.eat("[").is_some() {
                let index = self.expr()?;
                let close = self.expect("]", "to close the index")?;
                let span = e.span().start..close.end;
                e = Expr::Index {
                    target: Box::new(e),
                    index: Box::new(index),
                    span,
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some((tok, span)) = self.toks.get(self.pos).cloned() else {
            return Err(ExprError::new(
                "expected a value, found the end of the expression",
                self.end..self.end,
            ));
        };
        self.pos += 1;
        match tok {
            Tok::Str(s) => Ok(Expr::Literal(Value::String(s), span)),
            Tok::Int(i) => Ok(Expr::Literal(Value::Int(i), span)),
            Tok::Float(f) => Ok(Expr::Literal(Value::Float(f), span)),
            Tok::Ident(name) if name == "true" => Ok(Expr::Literal(Value::Bool(true), span)),
            Tok::Ident(name) if name == "false" => Ok(Expr::Literal(Value::Bool(false), span)),
            Tok::Ident(name) if name == "null" => Ok(Expr::Literal(Value::Null, span)),
            Tok::Ident(name) if self.peek_punct("(") => {
                if !super::FUNCTIONS.contains(&name.as_str()) {
                    return Err(ExprError::new(format!("unknown function `{name}`"), span)
                        .with_help(did_you_mean(
                            &name,
                            super::FUNCTIONS.iter().copied(),
                            "functions",
                        )));
                }
                self.pos += 1;
                let mut args = Vec::new();
                if !self.peek_punct(")") {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(",").is_none() {
                            break;
                        }
                    }
                }
                let close = self.expect(")", &format!("after the arguments of `{name}`"))?;
                Ok(Expr::Call {
                    name,
                    args,
                    span: span.start..close.end,
                })
            }
            Tok::Ident(name) => Ok(Expr::Ref(Reference {
                segments: vec![name],
                span,
            })),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")", "to close `(`")?;
                Ok(e)
            }
            Tok::Punct("[") => {
                let mut items = Vec::new();
                while !self.peek_punct("]") {
                    items.push(self.expr()?);
                    if self.eat(",").is_none() {
                        break;
                    }
                }
                let close = self.expect("]", "to close the list")?;
                Ok(Expr::List(items, span.start..close.end))
            }
            other => Err(ExprError::new(
                format!("unexpected {}", describe(&other)),
                span,
            )),
        }
    }
}

fn join(a: &Expr, b: &Expr) -> Range<usize> {
    a.span().start..b.span().end
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("`{i}`"),
        Tok::Float(f) => format!("`{f}`"),
        Tok::Punct(p) => format!("`{p}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a parse result compactly: parts, or the error with the text it points at.
    fn check(input: &str, expected: &str) {
        let got = match parse_template(input) {
            Ok(t) => t
                .parts
                .iter()
                .map(|p| match p {
                    Part::Lit(l) => format!("lit({l})"),
                    Part::Secret { name, key, .. } => format!("secret({name}.{key})"),
                    Part::Expr { expr, span } => {
                        format!("expr[{}]({})", &input[span.clone()], show(expr))
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!(
                "error `{}` at {:?}: {}",
                input.get(e.span.clone()).unwrap_or("?"),
                e.span,
                e.message
            ),
        };
        assert_eq!(got, expected, "input: {input}");
    }

    fn show(e: &Expr) -> String {
        match e {
            Expr::Literal(v, _) => v.to_string(),
            Expr::Ref(r) => format!("ref:{}", r.segments.join(".")),
            Expr::List(items, _) => format!(
                "[{}]",
                items.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Expr::GetAttr { target, name, .. } => format!("{}.{name}", show(target)),
            Expr::Index { target, index, .. } => format!("{}[{}]", show(target), show(index)),
            Expr::Call { name, args, .. } => format!(
                "{name}({})",
                args.iter().map(show).collect::<Vec<_>>().join(", ")
            ),
            Expr::Not(e, _) => format!("!{}", show(e)),
            Expr::Neg(e, _) => format!("-{}", show(e)),
            Expr::Binary { op, lhs, rhs, .. } => format!("({} {op:?} {})", show(lhs), show(rhs)),
            Expr::Cond {
                cond,
                then,
                otherwise,
                ..
            } => format!("({} ? {} : {})", show(cond), show(then), show(otherwise)),
        }
    }

    #[test]
    fn template_strings() {
        check("plain", "lit(plain)");
        check("", "");
        check("a-${x.y}-b", "lit(a-) expr[${x.y}](ref:x.y) lit(-b)");
        check("$${not} ${a}", "lit(${not} ) expr[${a}](ref:a)");
        check("{{ db.pass }}x", "secret(db.pass) lit(x)");
        check(
            "{{ ${a} }}",
            "error `{{ ${a} }}` at 0..10: malformed secret reference",
        );
        check("{{ a.b", "error `{{` at 0..2: `{{` is never closed");
        check("x ${a", "error `${` at 2..4: `${` is never closed");
        check("${ }", "error `${ }` at 0..4: empty expression `${}`");
        check("${\"}\" }", "expr[${\"}\" }](\"}\")");
    }

    #[test]
    fn expressions() {
        check("${a.b[0].c}", "expr[${a.b[0].c}](ref:a.b[0].c)");
        check("${f-x.y}", "expr[${f-x.y}](ref:f-x.y)");
        check(
            "${inputs.a == \"k\" && !b || c}",
            "expr[${inputs.a == \"k\" && !b || c}]((((ref:inputs.a Eq \"k\") And !ref:b) Or ref:c))",
        );
        check("${a ? 1 : -2}", "expr[${a ? 1 : -2}]((ref:a ? 1 : -2))");
        check(
            "${join(\",\", [a, \"b\",])}",
            "expr[${join(\",\", [a, \"b\",])}](join(\",\", [ref:a, \"b\"]))",
        );
        check(
            "${lowr(a)}",
            "error `lowr` at 2..6: unknown function `lowr`",
        );
        check(
            "${lower(a}",
            "error `` at 9..9: expected `)` after the arguments of `lower`, found the end of the expression",
        );
        check(
            "${a b}",
            "error `b` at 4..5: unexpected `b` after the expression",
        );
        check(
            "${a.}",
            "error `` at 4..4: expected an attribute name after `.`",
        );
        check(
            "${\"x\\q\"}",
            "error `\\q` at 4..6: unknown escape `\\q` in a string",
        );
        check("${#}", "error `#` at 2..3: unexpected `#`");
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        for deep in [
            format!("${{{}a{}}}", "(".repeat(10_000), ")".repeat(10_000)),
            format!("${{{}a}}", "!".repeat(10_000)),
            format!("${{{}}}", vec!["a"; 10_000].join(" || ")),
            format!("${{a{}}}", "[0]".repeat(10_000)),
            format!("${{{}1{}}}", "[".repeat(10_000), "]".repeat(10_000)),
        ] {
            let err = parse_template(&deep).unwrap_err();
            assert!(err.message.contains("64"), "{}", err.message);
        }
    }

    #[test]
    fn bare_expressions_and_arbitrary_input_never_panic() {
        assert!(parse_expr("inputs.x == \"y\"").is_ok());
        assert!(parse_expr("  ").is_err());
        let samples = [
            "${", "${[", "${(", "${\"", "${a[", "{{", "${é}", "${1.2.3}", "${a ? b}", "$${${",
            "${-}", "${!}",
        ];
        for s in samples {
            let _ = parse_template(s);
        }
    }
}
