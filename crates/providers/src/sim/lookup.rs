//! `sim.lookup`: a data source that returns what it is given, for testing references to data.

use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{DataSource, Props, ProviderError};

pub struct Lookup {
    schema: ResourceSchema,
}

impl Lookup {
    pub fn new() -> Lookup {
        let schema =
            ResourceSchema::new("sim.lookup", "A simulated read-only lookup (testing aid).")
                .property(PropertySchema::new(
                    "values",
                    PropType::map_of(PropType::Any),
                    "What the lookup returns.",
                ))
                .output(OutputSchema::new(
                    "values",
                    PropType::map_of(PropType::Any),
                    "The values given.",
                ));
        Lookup { schema }
    }
}

#[async_trait::async_trait]
impl DataSource for Lookup {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    async fn read(&self, _settings: &Props, props: &Props) -> Result<Props, ProviderError> {
        let values = props
            .get("values")
            .cloned()
            .unwrap_or(Value::Map(Default::default()));
        Ok(Props::from([("values".to_owned(), values)]))
    }
}
