//! Evaluation: expressions to values, with Unknown flowing through everything it touches.

use std::ops::Range;

use super::functions::call;
use super::{BinOp, Expr, ExprError, MAX_VALUE_BYTES, Part, Reference, Template};
use crate::base::diagnostic::a;
use crate::base::value::Value;

/// What the host knows: the value of a reference, possibly Unknown.
pub trait Scope {
    fn resolve(&self, reference: &Reference) -> Result<Value, ExprError>;
}

/// Renders a template string. A string that is exactly one `${...}` keeps the expression's own
/// type (a list stays a list); anything else is text. Secret references stay as written.
pub fn render(template: &Template, scope: &dyn Scope) -> Result<Value, ExprError> {
    if let [Part::Expr { expr, .. }] = template.parts.as_slice() {
        return eval(expr, scope);
    }
    let mut out = String::new();
    let mut unknown = false;
    for part in &template.parts {
        match part {
            Part::Lit(l) => out.push_str(l),
            Part::Secret { name, key, .. } => out.push_str(&format!("{{{{ {name}.{key} }}}}")),
            Part::Expr { expr, span } => match eval(expr, scope)? {
                Value::Unknown => unknown = true,
                v => match v.interpolated() {
                    Some(text) => {
                        // The literal text around is the author's own; what is interpolated
                        // may be a large value, once per `${...}`.
                        if out.len().saturating_add(text.len()) > MAX_VALUE_BYTES {
                            return Err(ExprError::too_large(span.clone()));
                        }
                        out.push_str(&text)
                    }
                    None => {
                        return Err(ExprError::new(
                            format!("cannot put {} into a string", a(v.type_name())),
                            span.clone(),
                        )
                        .with_help(
                            "use join(\", \", ...) for a list, or refer to one of its items",
                        ));
                    }
                },
            },
        }
    }
    Ok(if unknown {
        Value::Unknown
    } else {
        Value::String(out)
    })
}

pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Value, ExprError> {
    match expr {
        Expr::Literal(v, _) => Ok(v.clone()),
        Expr::Ref(r) => scope.resolve(r),
        Expr::List(items, span) => eval_all(items, scope, span).map(Value::List),
        Expr::GetAttr { target, name, span } => match eval(target, scope)? {
            Value::Unknown => Ok(Value::Unknown),
            Value::Map(mut m) => m.remove(name).ok_or_else(|| {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                ExprError::new(format!("no key `{name}` in this map"), span.clone())
                    .with_help(format!("its keys are: {}", keys.join(", ")))
            }),
            other => Err(ExprError::new(
                format!("cannot read `{name}` from {}", a(other.type_name())),
                span.clone(),
            )),
        },
        Expr::Index {
            target,
            index,
            span,
        } => {
            let target = eval(target, scope)?;
            let index = eval(index, scope)?;
            match (target, index) {
                (Value::Unknown, _) | (_, Value::Unknown) => Ok(Value::Unknown),
                (Value::List(items), Value::Int(i)) => {
                    let len = items.len();
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| items.into_iter().nth(i))
                        .ok_or_else(|| {
                            ExprError::new(
                                format!("index {i} is out of range for a list of {len}"),
                                span.clone(),
                            )
                        })
                }
                (Value::Map(mut m), Value::String(k)) => m.remove(&k).ok_or_else(|| {
                    ExprError::new(format!("no key {k:?} in this map"), span.clone())
                }),
                (t, i) => Err(ExprError::new(
                    format!(
                        "cannot index {} with {}",
                        a(t.type_name()),
                        a(i.type_name())
                    ),
                    span.clone(),
                )),
            }
        }
        Expr::Call { name, args, span } => {
            let values = eval_all(args, scope, span)?;
            bounded(call(name, values, span.clone())?, span)
        }
        Expr::Not(inner, span) => match eval(inner, scope)? {
            Value::Unknown => Ok(Value::Unknown),
            Value::Bool(b) => Ok(Value::Bool(!b)),
            other => Err(ExprError::new(
                format!("`!` needs a boolean, found {}", a(other.type_name())),
                span.clone(),
            )),
        },
        Expr::Neg(inner, span) => match eval(inner, scope)? {
            Value::Unknown => Ok(Value::Unknown),
            Value::Int(i) => i.checked_neg().map(Value::Int).ok_or_else(|| {
                ExprError::new(
                    format!("`-` overflows: {i} has no negative within 64-bit integers"),
                    span.clone(),
                )
                .with_help(format!(
                    "integers range from {} to {}; use a smaller value",
                    i64::MIN,
                    i64::MAX
                ))
            }),
            Value::Float(f) => Ok(Value::Float(-f)),
            other => Err(ExprError::new(
                format!("`-` needs a number, found {}", a(other.type_name())),
                span.clone(),
            )),
        },
        Expr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
            ..
        } => {
            let short = matches!(op, BinOp::Or);
            match boolean(eval(lhs, scope)?, lhs)? {
                Some(b) if b == short => Ok(Value::Bool(b)),
                left => match (left, boolean(eval(rhs, scope)?, rhs)?) {
                    (_, Some(b)) if b == short => Ok(Value::Bool(b)),
                    (Some(_), Some(b)) => Ok(Value::Bool(b)),
                    _ => Ok(Value::Unknown),
                },
            }
        }
        Expr::Binary { op, lhs, rhs, span } => {
            let l = eval(lhs, scope)?;
            let r = eval(rhs, scope)?;
            if matches!(l, Value::Unknown) || matches!(r, Value::Unknown) {
                return Ok(Value::Unknown);
            }
            compare(*op, &l, &r).map(Value::Bool).ok_or_else(|| {
                ExprError::new(
                    format!(
                        "cannot compare {} with {}",
                        a(l.type_name()),
                        a(r.type_name())
                    ),
                    span.clone(),
                )
                .with_help("`<`, `<=`, `>`, `>=` compare two numbers or two strings")
            })
        }
        Expr::Cond {
            cond,
            then,
            otherwise,
            ..
        } => match boolean(eval(cond, scope)?, cond)? {
            Some(true) => eval(then, scope),
            Some(false) => eval(otherwise, scope),
            None => Ok(Value::Unknown),
        },
    }
}

/// `value` if it is within [`MAX_VALUE_BYTES`], else the error at `span`.
fn bounded(value: Value, span: &Range<usize>) -> Result<Value, ExprError> {
    if value.size() > MAX_VALUE_BYTES {
        return Err(ExprError::too_large(span.clone()));
    }
    Ok(value)
}

/// Evaluates `exprs` in order, failing as soon as their values together pass
/// [`MAX_VALUE_BYTES`]: the items of a list, the arguments of a call. Checked one by one, so
/// a thousand copies of a large value are refused at the second, not after the thousandth.
fn eval_all(
    exprs: &[Expr],
    scope: &dyn Scope,
    span: &Range<usize>,
) -> Result<Vec<Value>, ExprError> {
    let mut size = 0usize;
    let mut out = Vec::with_capacity(exprs.len());
    for e in exprs {
        let v = eval(e, scope)?;
        size = size.saturating_add(v.size());
        if size > MAX_VALUE_BYTES {
            return Err(ExprError::too_large(span.clone()));
        }
        out.push(v);
    }
    Ok(out)
}

/// A boolean operand: `None` if unknown, an error naming the type otherwise.
fn boolean(v: Value, at: &Expr) -> Result<Option<bool>, ExprError> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Unknown => Ok(None),
        other => Err(ExprError::new(
            format!("expected a boolean, found {}", a(other.type_name())),
            at.span(),
        )
        .with_help("compare with `==` to get a boolean")),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn compare(op: BinOp, l: &Value, r: &Value) -> Option<bool> {
    use std::cmp::Ordering;
    // Two integers compare exactly: as floats, 2^53 + 1 would equal 2^53.
    let equal = match (l, r, number(l), number(r)) {
        (Value::Int(a), Value::Int(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a == b,
        _ => l == r,
    };
    let ordering = || -> Option<Ordering> {
        match (l, r) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            _ => number(l)?.partial_cmp(&number(r)?),
        }
    };
    Some(match op {
        BinOp::Eq => equal,
        BinOp::Ne => !equal,
        BinOp::Lt => ordering()? == Ordering::Less,
        BinOp::Le => ordering()? != Ordering::Greater,
        BinOp::Gt => ordering()? == Ordering::Greater,
        BinOp::Ge => ordering()? != Ordering::Less,
        BinOp::And | BinOp::Or => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::lang::expr::{MAX_VALUE_BYTES, parse_template};

    /// A scope with a few fixed values; `u.*` is unknown.
    struct Fixed;

    impl Scope for Fixed {
        fn resolve(&self, r: &Reference) -> Result<Value, ExprError> {
            match r.segments.join(".").as_str() {
                "n" => Ok(Value::Int(3)),
                "min" => Ok(Value::Int(i64::MIN)),
                "big" => Ok(Value::Int((1 << 53) + 1)),
                "s" => Ok(Value::from("Hello")),
                "t" => Ok(Value::Bool(true)),
                "l" => Ok(Value::List(vec!["a".into(), "b".into()])),
                "m" => Ok(Value::Map(BTreeMap::from([(
                    "k".to_owned(),
                    Value::from("v"),
                )]))),
                "m.k" => Ok(Value::from("v")),
                // Just over half the bound: one fits, two do not.
                "half" => Ok(Value::String("x".repeat(MAX_VALUE_BYTES / 2 + 1))),
                p if p.starts_with("u") => Ok(Value::Unknown),
                other => Err(ExprError::new(format!("unknown {other}"), r.span.clone())),
            }
        }
    }

    fn check(input: &str, expected: &str) {
        let got = match parse_template(input).and_then(|t| render(&t, &Fixed)) {
            Ok(v) => format!("{} {v}", v.type_name()),
            Err(e) => format!("error at {:?}: {}", e.span, e.message),
        };
        assert_eq!(got, expected, "input: {input}");
    }

    #[test]
    fn rendering_keeps_types_of_whole_expressions() {
        check("${n}", "integer 3");
        check("${l}", "list [\"a\", \"b\"]");
        check("n=${n} t=${t}", "string \"n=3 t=true\"");
        check("x ${l}", "error at 2..6: cannot put a list into a string");
        check("x ${u.a} y", "unknown (known after apply)");
        check("{{ db.pw }}-${s}", "string \"{{ db.pw }}-Hello\"");
    }

    #[test]
    fn integer_overflow_is_an_error_naming_the_expression() {
        check(
            "${-min}",
            "error at 2..6: `-` overflows: -9223372036854775808 has no negative within 64-bit integers",
        );
        check(
            "${99999999999999999999}",
            "error at 2..22: `99999999999999999999` does not fit a 64-bit integer",
        );
        check("${big == 9007199254740992}", "boolean false");
        check("${big > 9007199254740992}", "boolean true");
    }

    #[test]
    fn operators_and_unknown() {
        check("${n == 3}", "boolean true");
        check("${n == 3.0}", "boolean true");
        check("${s != \"Hello\"}", "boolean false");
        check("${n < 10 && s >= \"A\"}", "boolean true");
        check("${false && u.x}", "boolean false");
        check("${true || u.x}", "boolean true");
        check("${u.x || true}", "boolean true");
        check("${u.x && true}", "unknown (known after apply)");
        check("${t ? \"yes\" : u.x}", "string \"yes\"");
        check("${u.c ? 1 : 2}", "unknown (known after apply)");
        check("${n == u.x}", "unknown (known after apply)");
        check("${!t}", "boolean false");
        check("${-n}", "integer -3");
        check("${-(-n)}", "integer 3");
        check(
            "${n && t}",
            "error at 2..3: expected a boolean, found an integer",
        );
        check(
            "${l < n}",
            "error at 2..7: cannot compare a list with an integer",
        );
    }

    /// The error of a value past [`MAX_VALUE_BYTES`], however it was built.
    fn assert_too_large(input: &str) {
        let started = std::time::Instant::now();
        let got = parse_template(input).and_then(|t| render(&t, &Fixed));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let err = got.map(|v| v.size()).unwrap_err();
        assert!(
            err.message.contains(&MAX_VALUE_BYTES.to_string()),
            "{input}: {}",
            err.message
        );
        assert!(err.help.is_some());
    }

    #[test]
    fn values_built_by_expressions_are_bounded() {
        // Each replace multiplies the length by 20: 200 bytes of template would build 12.8 MB
        // at five levels and a hundred billion bytes at eight.
        let grow = |levels: usize| {
            format!(
                "${{{}\"aaaa\"{}}}",
                "replace(".repeat(levels),
                ", \"a\", \"aaaaaaaaaaaaaaaaaaaa\")".repeat(levels)
            )
        };
        check(&grow(1), &format!("string {:?}", "a".repeat(80)));
        assert_too_large(&grow(5));
        assert_too_large(&grow(8));
        // Concatenations, lists, joins, formats and concats of values each within the bound.
        check(
            "${length(half)}",
            &format!("integer {}", MAX_VALUE_BYTES / 2 + 1),
        );
        assert_too_large("${half}${half}");
        assert_too_large("${[half, half]}");
        assert_too_large("${join(\"\", [substr(half, 0, 10), half, half])}");
        assert_too_large("${format(\"%s%s\", half, half)}");
        assert_too_large("${length(concat([half], [half]))}");
        // A separator repeated between many items.
        assert_too_large(
            "${join(substr(half, 0, 100000), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])}",
        );
    }

    #[test]
    fn errors_about_literals_point_at_them() {
        check(
            "${s > 1}",
            "error at 2..7: cannot compare a string with an integer",
        );
        check(
            "${1 && t}",
            "error at 2..3: expected a boolean, found an integer",
        );
        check(
            "${-\"a\"}",
            "error at 2..6: `-` needs a number, found a string",
        );
        check(
            "${t ? 2 < s : [1]}",
            "error at 6..11: cannot compare an integer with a string",
        );
    }

    #[test]
    fn attribute_and_index_access() {
        check("${l[1]}", "string \"b\"");
        check(
            "${l[2]}",
            "error at 2..6: index 2 is out of range for a list of 2",
        );
        check("${m[\"k\"]}", "string \"v\"");
        check("${l[0].x}", "error at 2..8: cannot read `x` from a string");
        check("${[m][0].k}", "string \"v\"");
        check("${[m][0].z}", "error at 2..10: no key `z` in this map");
        check("${u.l[0]}", "unknown (known after apply)");
    }
}
