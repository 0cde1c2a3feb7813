//! Cost estimates: what a stack costs per hour and per month while it runs, from each resource
//! type's declared [`Pricing`] and a provider's price table (kept in the repository, with its
//! source and date). Usage-priced services (storage, requests) have no fixed rate and are named
//! as such rather than guessed. An estimate is a list-price guide, not a bill.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::base::value::Value;
use crate::lang::schema::{Catalog, Pricing};
use crate::plan::{Action, Plan, PlannedValue};
use crate::provider::{Props, Registry, provider_of};
use crate::state::State;

/// Hours in an average month (365 * 24 / 12), as cloud price pages count them.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// What one resource costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceCost {
    pub address: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// `None` when usage-based or not known until apply.
    pub hourly: Option<f64>,
    pub monthly: Option<f64>,
    /// How it was priced: `2 × t3.medium`, `usage-based: storage and requests`, ...
    pub basis: String,
}

/// What a stack costs while it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub currency: String,
    pub hourly: f64,
    pub monthly: f64,
    /// Resources billed by use, whose charges come on top.
    pub usage_based: Vec<String>,
    /// Resources whose rate is not known (an unknown instance type, a count known after apply).
    pub unpriced: Vec<String>,
    pub resources: Vec<ResourceCost>,
    /// The price tables used.
    pub prices: Vec<PriceSource>,
}

/// Where an estimate's rates come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceSource {
    pub region: String,
    pub recorded: String,
    pub source: String,
}

/// Prices resources given as (address, type, properties), in their providers' regions.
pub fn estimate<'a>(
    resources: impl IntoIterator<Item = (&'a str, &'a str, Props)>,
    catalog: &Catalog,
    registry: &Registry,
    settings: &BTreeMap<String, Props>,
) -> Option<Estimate> {
    let mut out = Estimate {
        currency: String::new(),
        hourly: 0.0,
        monthly: 0.0,
        usage_based: Vec::new(),
        unpriced: Vec::new(),
        resources: Vec::new(),
        prices: Vec::new(),
    };
    for (address, type_name, props) in resources {
        let Some(pricing) = catalog.resource(type_name).and_then(|s| s.pricing.as_ref()) else {
            continue;
        };
        let provider = provider_of(type_name);
        let Some(table) = registry.prices(provider) else {
            continue;
        };
        let region = settings
            .get(provider)
            .and_then(|s| s.get("region"))
            .and_then(Value::as_str)
            .unwrap_or(&table.fallback_region);
        let (used, rates) = table.rates(region);
        let note = PriceSource {
            region: used.to_owned(),
            recorded: table.recorded.clone(),
            source: table.source.clone(),
        };
        if !out.prices.contains(&note) {
            out.prices.push(note);
        }
        out.currency = table.currency.clone();
        let rate = |key: &str| rates.and_then(|r| r.get(key)).copied();
        let (hourly, basis) = match pricing {
            Pricing::Free => continue,
            Pricing::Usage(what) => {
                out.usage_based.push(address.to_owned());
                (None, format!("usage-based: {what}"))
            }
            Pricing::Hourly(key) => (rate(key), "per hour".to_owned()),
            Pricing::PerInstance {
                prefix,
                type_property,
                count_property,
            } => {
                let kind = match props.get(type_property) {
                    Some(Value::List(l)) => l.first().and_then(Value::as_str).map(str::to_owned),
                    Some(Value::String(s)) => Some(s.clone()),
                    _ => None,
                };
                let count = props.get(count_property).and_then(Value::as_int);
                match (kind, count) {
                    (Some(kind), Some(n)) => (
                        rate(&format!("{prefix}{kind}")).map(|r| r * n as f64),
                        format!("{n} × {kind}"),
                    ),
                    _ => (None, "known after apply".to_owned()),
                }
            }
            Pricing::PerGibMonth { key, size_property } => {
                match props.get(size_property).and_then(Value::as_int) {
                    Some(gib) => (
                        rate(key).map(|r| r * gib as f64 / HOURS_PER_MONTH),
                        format!("{gib} GiB"),
                    ),
                    None => (None, "size known after apply".to_owned()),
                }
            }
        };
        if hourly.is_none() && !matches!(pricing, Pricing::Usage(_)) {
            out.unpriced.push(address.to_owned());
        }
        if let Some(h) = hourly {
            out.hourly += h;
            out.monthly += h * HOURS_PER_MONTH;
        }
        out.resources.push(ResourceCost {
            address: address.to_owned(),
            type_name: type_name.to_owned(),
            hourly,
            monthly: hourly.map(|h| h * HOURS_PER_MONTH),
            basis,
        });
    }
    (!out.resources.is_empty()).then_some(out)
}

/// What the stack will cost once `plan` is applied: every resource it keeps, creates or changes,
/// with the properties it will have (the state's, with the plan's changes over them).
pub fn of_plan(
    plan: &Plan,
    state: Option<&State>,
    catalog: &Catalog,
    registry: &Registry,
    settings: &BTreeMap<String, Props>,
) -> Option<Estimate> {
    let resources = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::Delete)
        .map(|c| {
            let mut props: Props = state
                .and_then(|s| s.resources.get(&c.address))
                .filter(|_| c.action != Action::Create)
                .map(|r| r.properties.clone())
                .unwrap_or_default();
            for p in &c.properties {
                match &p.after {
                    Some(PlannedValue::Known(v)) => {
                        props.insert(p.name.clone(), v.clone());
                    }
                    Some(_) => {
                        props.insert(p.name.clone(), Value::Unknown);
                    }
                    None => {
                        props.remove(&p.name);
                    }
                }
            }
            (c.address.as_str(), c.type_name.as_str(), props)
        });
    estimate(resources, catalog, registry, settings)
}

/// What a deployed stack costs while it runs, from its state.
pub fn of_state(state: &State, catalog: &Catalog, registry: &Registry) -> Option<Estimate> {
    let resources = state
        .resources
        .iter()
        .filter(|(_, r)| r.found.as_ref().is_none_or(|f| f.retain))
        .map(|(a, r)| (a.as_str(), r.type_name.as_str(), r.properties.clone()));
    estimate(resources, catalog, registry, &state.providers)
}
