//! Built-in functions. Each checks its arguments and says its signature when they are wrong.

use std::ops::Range;

use super::{ExprError, MAX_VALUE_BYTES};
use crate::base::diagnostic::a;
use crate::base::value::Value;

/// Every function name, for parse-time checks and documentation.
pub const FUNCTIONS: &[&str] = &[
    "coalesce", "concat", "contains", "format", "join", "length", "lower", "replace", "substr",
    "tonumber", "tostring", "upper",
];

fn signature(name: &str) -> &'static str {
    match name {
        "lower" => "lower(string)",
        "upper" => "upper(string)",
        "replace" => "replace(string, from, to)",
        "substr" => "substr(string, offset, length)",
        "join" => "join(separator, list)",
        "format" => "format(format, values...) with %s, %d and %%",
        "length" => "length(string | list | map)",
        "concat" => "concat(list, list...)",
        "contains" => "contains(list | string, value)",
        "coalesce" => "coalesce(value, value...)",
        "tostring" => "tostring(value)",
        "tonumber" => "tonumber(string)",
        _ => "",
    }
}

/// Calls a function on evaluated arguments.
pub fn call(name: &str, args: Vec<Value>, span: Range<usize>) -> Result<Value, ExprError> {
    let bad = |why: String| {
        ExprError::new(format!("{name}: {why}"), span.clone())
            .with_help(format!("usage: {}", signature(name)))
    };
    // coalesce may answer before reaching an unknown argument; every other function is unknown
    // as soon as any argument is.
    if name == "coalesce" {
        if args.is_empty() {
            return Err(bad("needs at least one argument".into()));
        }
        for a in args {
            match a {
                Value::Unknown => return Ok(Value::Unknown),
                Value::Null => {}
                Value::String(s) if s.is_empty() => {}
                other => return Ok(other),
            }
        }
        return Ok(Value::Null);
    }
    if args.iter().any(|a| matches!(a, Value::Unknown)) {
        return Ok(Value::Unknown);
    }
    let arity = |n: usize| -> Result<(), ExprError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(bad(format!(
                "takes {n} argument{}, got {}",
                if n == 1 { "" } else { "s" },
                args.len()
            )))
        }
    };
    let string = |v: &Value, what: &str| -> Result<String, ExprError> {
        v.as_str().map(str::to_owned).ok_or_else(|| {
            bad(format!(
                "{what} must be a string, found {}",
                a(v.type_name())
            ))
        })
    };
    let int = |v: &Value, what: &str| -> Result<i64, ExprError> {
        v.as_int().ok_or_else(|| {
            bad(format!(
                "{what} must be an integer, found {}",
                a(v.type_name())
            ))
        })
    };
    match name {
        "lower" | "upper" => {
            arity(1)?;
            let s = string(&args[0], "the argument")?;
            Ok(Value::String(if name == "lower" {
                s.to_lowercase()
            } else {
                s.to_uppercase()
            }))
        }
        "replace" => {
            arity(3)?;
            let s = string(&args[0], "the string")?;
            let from = string(&args[1], "`from`")?;
            let to = string(&args[2], "`to`")?;
            if from.is_empty() {
                return Err(bad("`from` must not be empty".into()));
            }
            // Measured before it is built: each nested replace can multiply the length.
            let count = s.matches(from.as_str()).count();
            let len = (s.len() - count * from.len()).saturating_add(count.saturating_mul(to.len()));
            if len > MAX_VALUE_BYTES {
                return Err(ExprError::too_large(span.clone()));
            }
            Ok(Value::String(s.replace(&from, &to)))
        }
        "substr" => {
            arity(3)?;
            let s = string(&args[0], "the string")?;
            let offset = int(&args[1], "the offset")?;
            let length = int(&args[2], "the length")?;
            let offset = usize::try_from(offset)
                .map_err(|_| bad("the offset must not be negative".into()))?;
            let chars = s.chars().skip(offset);
            Ok(Value::String(match usize::try_from(length) {
                Ok(n) => chars.take(n).collect(),
                Err(_) => chars.collect(),
            }))
        }
        "join" => {
            arity(2)?;
            let sep = string(&args[0], "the separator")?;
            let Value::List(items) = &args[1] else {
                return Err(bad(format!(
                    "the second argument must be a list, found {}",
                    a(args[1].type_name())
                )));
            };
            let parts = items
                .iter()
                .map(|i| {
                    i.interpolated()
                        .ok_or_else(|| bad(format!("cannot join {}", a(i.type_name()))))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // The separator is repeated between every two items: measured before it is built.
            let len = parts.iter().fold(
                sep.len().saturating_mul(parts.len().saturating_sub(1)),
                |n, p| n.saturating_add(p.len()),
            );
            if len > MAX_VALUE_BYTES {
                return Err(ExprError::too_large(span.clone()));
            }
            Ok(Value::String(parts.join(&sep)))
        }
        "format" => {
            let Some((fmt, values)) = args.split_first() else {
                return Err(bad("needs a format string".into()));
            };
            let fmt = string(fmt, "the format")?;
            format(&fmt, values).map(Value::String).map_err(bad)
        }
        "length" => {
            arity(1)?;
            let n = match &args[0] {
                Value::String(s) => s.chars().count(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(bad(format!("has no length for {}", a(other.type_name())))),
            };
            i64::try_from(n)
                .map(Value::Int)
                .map_err(|_| bad(format!("{n} does not fit a 64-bit integer")))
        }
        "concat" => {
            let mut out = Vec::new();
            for arg in args {
                match arg {
                    Value::List(items) => out.extend(items),
                    other => {
                        return Err(bad(format!(
                            "every argument must be a list, found {}",
                            a(other.type_name())
                        )));
                    }
                }
            }
            Ok(Value::List(out))
        }
        "contains" => {
            arity(2)?;
            match (&args[0], &args[1]) {
                (Value::List(items), v) => Ok(Value::Bool(items.contains(v))),
                (Value::String(s), Value::String(sub)) => Ok(Value::Bool(s.contains(sub.as_str()))),
                (haystack, needle) => Err(bad(format!(
                    "cannot look for {} in {}",
                    a(needle.type_name()),
                    a(haystack.type_name())
                ))),
            }
        }
        "tostring" => {
            arity(1)?;
            args[0].interpolated().map(Value::String).ok_or_else(|| {
                bad(format!(
                    "cannot turn {} into a string",
                    a(args[0].type_name())
                ))
            })
        }
        "tonumber" => {
            arity(1)?;
            match &args[0] {
                Value::Int(_) | Value::Float(_) => Ok(args[0].clone()),
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| s.trim().parse::<f64>().map(Value::Float))
                    .map_err(|_| bad(format!("{s:?} is not a number"))),
                other => Err(bad(format!(
                    "cannot turn {} into a number",
                    a(other.type_name())
                ))),
            }
        }
        _ => Err(bad("unknown function".into())),
    }
}

fn format(fmt: &str, values: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = values.iter();
    let mut placeholders = 0;
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(kind @ ('s' | 'd')) => {
                placeholders += 1;
                let Some(v) = next.next() else { continue };
                match (kind, v) {
                    ('d', Value::Int(i)) => out.push_str(&i.to_string()),
                    ('d', other) => {
                        return Err(format!(
                            "%d needs an integer, found {}",
                            a(other.type_name())
                        ));
                    }
                    (_, v) => out.push_str(
                        &v.interpolated()
                            .ok_or_else(|| format!("%s cannot show {}", a(v.type_name())))?,
                    ),
                }
            }
            Some(other) => return Err(format!("unknown placeholder %{other}")),
            None => return Err("the format ends with a lone %".into()),
        }
    }
    if placeholders != values.len() {
        return Err(format!(
            "the format has {placeholders} placeholders but {} values were given",
            values.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, args: Vec<Value>, expected: &str) {
        let got = match call(name, args, 0..0) {
            Ok(v) => v.to_string(),
            Err(e) => format!("error: {}", e.message),
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn string_functions() {
        check("lower", vec!["AbC".into()], "\"abc\"");
        check("upper", vec!["abc".into()], "\"ABC\"");
        check(
            "lower",
            vec![Value::Int(1)],
            "error: lower: the argument must be a string, found an integer",
        );
        check(
            "replace",
            vec!["a-b-c".into(), "-".into(), "_".into()],
            "\"a_b_c\"",
        );
        check(
            "substr",
            vec!["héllo".into(), Value::Int(1), Value::Int(3)],
            "\"éll\"",
        );
        check(
            "substr",
            vec!["abc".into(), Value::Int(1), Value::Int(-1)],
            "\"bc\"",
        );
        check(
            "substr",
            vec!["abc".into(), Value::Int(9), Value::Int(2)],
            "\"\"",
        );
        check(
            "substr",
            vec!["abc".into(), Value::Int(-1), Value::Int(2)],
            "error: substr: the offset must not be negative",
        );
        check("tostring", vec![Value::Int(5)], "\"5\"");
        check("tonumber", vec!["5".into()], "5");
        check("tonumber", vec!["2.5".into()], "2.5");
        check(
            "tonumber",
            vec!["x".into()],
            "error: tonumber: \"x\" is not a number",
        );
    }

    #[test]
    fn list_functions() {
        let l = Value::List(vec!["a".into(), Value::Int(2)]);
        check("join", vec![",".into(), l.clone()], "\"a,2\"");
        check("join", vec![",".into(), Value::List(vec![])], "\"\"");
        check("length", vec![l.clone()], "2");
        check("length", vec!["héllo".into()], "5");
        check(
            "concat",
            vec![l.clone(), Value::List(vec!["z".into()])],
            "[\"a\", 2, \"z\"]",
        );
        check("contains", vec![l.clone(), Value::Int(2)], "true");
        check("contains", vec!["abc".into(), "bc".into()], "true");
        check(
            "join",
            vec![",".into()],
            "error: join: takes 2 arguments, got 1",
        );
    }

    #[test]
    fn format_and_coalesce() {
        check(
            "format",
            vec!["%s-%d%%".into(), "a".into(), Value::Int(7)],
            "\"a-7%\"",
        );
        check(
            "format",
            vec!["%s %s".into(), "a".into()],
            "error: format: the format has 2 placeholders but 1 values were given",
        );
        check(
            "format",
            vec!["%d".into(), "a".into()],
            "error: format: %d needs an integer, found a string",
        );
        check(
            "coalesce",
            vec![Value::Null, "".into(), "x".into()],
            "\"x\"",
        );
        check("coalesce", vec!["a".into(), Value::Unknown], "\"a\"");
        check(
            "coalesce",
            vec![Value::Unknown, "a".into()],
            "(known after apply)",
        );
        check("upper", vec![Value::Unknown], "(known after apply)");
    }
}
