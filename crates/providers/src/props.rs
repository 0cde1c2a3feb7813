//! Reading a resource's properties, for every provider.

use std::collections::BTreeMap;

use stackform_engine::base::value::Value;
use stackform_engine::provider::{ErrorKind, Props, ProviderError};

pub fn string(props: &Props, name: &str) -> Option<String> {
    match props.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn required(props: &Props, name: &str) -> Result<String, ProviderError> {
    string(props, name).ok_or_else(|| {
        ProviderError::new(ErrorKind::Invalid, format!("property `{name}` is required"))
    })
}

pub fn boolean(props: &Props, name: &str) -> Option<bool> {
    props.get(name).and_then(Value::as_bool)
}

pub fn int(props: &Props, name: &str) -> Option<i64> {
    props.get(name).and_then(Value::as_int)
}

pub fn strings(props: &Props, name: &str) -> Vec<String> {
    match props.get(name) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn string_map(props: &Props, name: &str) -> BTreeMap<String, String> {
    match props.get(name) {
        Some(Value::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.interpolated()?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}
