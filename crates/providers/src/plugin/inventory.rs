//! A listing plugin's census: everything it holds, filtered by the stack's marks here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use stackform_engine::base::value::Value;
use stackform_engine::provider::{
    ErrorKind, Found, Inventory, Marks, Props, ProviderError, TAG_ADDRESS, TAG_STACK, TAG_STACK_ID,
};

use super::protocol::Plugin;

pub struct Listed {
    plugin: Arc<Plugin>,
}

impl Listed {
    pub fn new(plugin: Arc<Plugin>) -> Listed {
        Listed { plugin }
    }
}

#[async_trait::async_trait]
impl Inventory for Listed {
    async fn owned(
        &self,
        settings: &Props,
        marks: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        let plugin = Arc::clone(&self.plugin);
        let settings: serde_json::Map<String, serde_json::Value> = settings
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        let request = Plugin::request("list", json!({ "settings": settings }));
        let answer = tokio::task::spawn_blocking(move || plugin.call_blocking(&request))
            .await
            .map_err(|e| ProviderError::new(ErrorKind::Other, format!("plugin call: {e}")))??;
        let map = |j: &serde_json::Value| -> Props {
            j.as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), Value::from_json(v)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for r in answer["resources"].as_array().into_iter().flatten() {
            let (Some(type_name), Some(id)) = (r["type"].as_str(), r["id"].as_str()) else {
                continue;
            };
            if kinds.is_some_and(|k| !k.contains(type_name)) {
                continue;
            }
            let own = &r["ownership"];
            let tags: BTreeMap<String, String> = [
                (TAG_STACK, &own["stack"]),
                (TAG_STACK_ID, &own["stack_id"]),
                (TAG_ADDRESS, &own["address"]),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v.as_str()?.to_owned())))
            .collect();
            if !marks.matches(&tags) {
                continue;
            }
            out.push(Found {
                type_name: type_name.to_owned(),
                physical_id: id.to_owned(),
                label: format!("{type_name} {id} (plugin `{}`)", self.plugin.name),
                tags,
                properties: map(&r["properties"]),
                outputs: map(&r["outputs"]),
                rank: 0,
            });
        }
        Ok(out)
    }
}
