//! The expression language inside `${...}`: template strings, references, functions.
//!
//! A template string is split into literal text, `${expr}` parts and `{{ name.key }}` secret
//! references (which are never interpreted here: they are resolved much later, where used).
//! References (`a.b.c`) are what the dependency graph is built from; evaluation asks the host's
//! [`Scope`] what a reference means, so this module knows nothing of resources or state.
//! Every span is a byte range in the original string, so errors point at a column.

mod eval;
mod functions;
mod parse;

use std::ops::Range;

use crate::base::value::Value;

pub use eval::{Scope, eval, render};
pub use functions::FUNCTIONS;
pub use parse::{parse_expr, parse_template};

/// The largest value an expression may build, in [`Value::size`] bytes: 1 MiB, far past any
/// property a cloud takes. Without a bound, a few hundred bytes of template build terabytes:
/// each nested `replace` multiplies a length, and each resource that reads the one before
/// twice doubles it. Values read by reference pass as they are; what is built from them is
/// bounded.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// A string with `${...}` parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text (with `$${` already turned into `${`).
    Lit(String),
    Expr {
        expr: Expr,
        /// The whole `${...}`.
        span: Range<usize>,
    },
    /// `{{ name.key }}`: a secret reference, kept as written.
    Secret {
        name: String,
        key: String,
        span: Range<usize>,
    },
}

impl Template {
    /// Every reference in the string's expressions.
    pub fn references(&self) -> Vec<&Reference> {
        self.parts
            .iter()
            .flat_map(|p| match p {
                Part::Expr { expr, .. } => expr.references(),
                _ => Vec::new(),
            })
            .collect()
    }
}

/// A dotted name such as `inputs.region` or `cluster.endpoint`: the host decides how many
/// leading segments name the thing referred to.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub segments: Vec<String>,
    pub span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A value written out, and where: errors about an operand point at it.
    Literal(Value, Range<usize>),
    Ref(Reference),
    List(Vec<Expr>, Range<usize>),
    GetAttr {
        target: Box<Expr>,
        name: String,
        span: Range<usize>,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
        span: Range<usize>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
        span: Range<usize>,
    },
    Not(Box<Expr>, Range<usize>),
    Neg(Box<Expr>, Range<usize>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Range<usize>,
    },
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
        span: Range<usize>,
    },
}

impl Expr {
    /// Every reference inside, in source order.
    pub fn references(&self) -> Vec<&Reference> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Reference>) {
        match self {
            Expr::Literal(..) => {}
            Expr::Ref(r) => out.push(r),
            Expr::List(items, _) => items.iter().for_each(|i| i.collect(out)),
            Expr::Call { args, .. } => args.iter().for_each(|a| a.collect(out)),
            Expr::GetAttr { target, .. } | Expr::Not(target, _) | Expr::Neg(target, _) => {
                target.collect(out)
            }
            Expr::Index { target, index, .. } => {
                target.collect(out);
                index.collect(out);
            }
            Expr::Binary { lhs, rhs, .. } => {
                lhs.collect(out);
                rhs.collect(out);
            }
            Expr::Cond {
                cond,
                then,
                otherwise,
                ..
            } => {
                cond.collect(out);
                then.collect(out);
                otherwise.collect(out);
            }
        }
    }

    /// The source range this expression covers.
    pub fn span(&self) -> Range<usize> {
        match self {
            Expr::Ref(r) => r.span.clone(),
            Expr::Literal(_, s)
            | Expr::List(_, s)
            | Expr::GetAttr { span: s, .. }
            | Expr::Index { span: s, .. }
            | Expr::Call { span: s, .. }
            | Expr::Not(_, s)
            | Expr::Neg(_, s)
            | Expr::Binary { span: s, .. }
            | Expr::Cond { span: s, .. } => s.clone(),
        }
    }
}

/// A problem in an expression, with the byte range at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    pub span: Range<usize>,
    pub help: Option<String>,
}

impl ExprError {
    pub fn new(message: impl Into<String>, span: Range<usize>) -> ExprError {
        ExprError {
            message: message.into(),
            span,
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> ExprError {
        self.help = Some(help.into());
        self
    }

    /// A value past [`MAX_VALUE_BYTES`] would be built at `span`.
    fn too_large(span: Range<usize>) -> ExprError {
        ExprError::new(
            format!("this builds a value of more than {MAX_VALUE_BYTES} bytes"),
            span,
        )
        .with_help(
            "an expression builds values of at most 1 MiB; one that grows with every nested \
             call, or with every resource that reads the one before, is almost always a mistake",
        )
    }
}
