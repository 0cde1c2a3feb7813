//! A provider's list prices: data with its source and date, so that prices change without code.
//! The engine's `plan::cost` turns them and each type's `Pricing` into estimates.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A provider's list prices, by region: `key` to rate (per hour, or per GiB-month for storage).
#[derive(Debug, Clone, Deserialize)]
pub struct PriceTable {
    /// Where the prices come from.
    pub source: String,
    /// When they were recorded (YYYY-MM-DD).
    pub recorded: String,
    pub currency: String,
    /// The region whose prices stand in for a region the table does not list.
    pub fallback_region: String,
    pub regions: BTreeMap<String, BTreeMap<String, f64>>,
}

impl PriceTable {
    /// The rates of `region`, or the fallback region's, and which one that is.
    pub fn rates(&self, region: &str) -> (&str, Option<&BTreeMap<String, f64>>) {
        match self.regions.get_key_value(region) {
            Some((r, rates)) => (r.as_str(), Some(rates)),
            None => (
                self.fallback_region.as_str(),
                self.regions.get(&self.fallback_region),
            ),
        }
    }
}
