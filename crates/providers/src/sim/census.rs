//! The sim world's census: every simulated resource carrying a stack's marks, so that destroy
//! and `sweep` rehearse on the sim provider what they do on a cloud (find what the state does
//! not record, and delete it).

use std::collections::BTreeMap;
use std::sync::Arc;

use stackform_engine::provider::{
    Found, Inventory, Marks, Props, ProviderError, TAG_ADDRESS, TAG_STACK, TAG_STACK_ID,
};

use super::resource::SimResource;
use super::world::World;

pub struct Census {
    world: Arc<World>,
}

impl Census {
    pub fn new(world: Arc<World>) -> Census {
        Census { world }
    }
}

#[async_trait::async_trait]
impl Inventory for Census {
    async fn owned(
        &self,
        _settings: &Props,
        marks: &Marks,
        kinds: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .world
            .all()
            .into_iter()
            .filter(|r| match marks {
                Marks::StackId(id) => r.stack_id == id.to_string(),
                Marks::StackName(name) => &r.stack == name,
                // Simulated resources carry no expiry.
                Marks::Expiring => false,
            })
            .filter(|r| kinds.is_none_or(|k| k.contains(&r.type_name)))
            .map(|r| {
                let applied = SimResource::applied(&r);
                Found {
                    type_name: r.type_name.clone(),
                    label: format!("sim:{}", r.id),
                    physical_id: applied.physical_id,
                    tags: BTreeMap::from([
                        (TAG_STACK.to_owned(), r.stack.clone()),
                        (TAG_STACK_ID.to_owned(), r.stack_id.clone()),
                        (TAG_ADDRESS.to_owned(), r.address.clone()),
                    ]),
                    properties: applied.properties,
                    outputs: applied.outputs,
                    rank: 0,
                }
            })
            .collect())
    }
}
