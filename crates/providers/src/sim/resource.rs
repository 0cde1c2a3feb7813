//! `sim.resource` and `sim.store` (the same, but holding data that a replace destroys).
//!
//! Failure injection: `fail: ["create:1:retryable"]` makes the first create call of this
//! resource fail with a retryable error. Kinds: `retryable`, `permission`, `invalid`,
//! `conflict`, `fatal`, `unknown` (the call takes effect, then the connection "breaks"), `lost`
//! (the call is lost before taking effect, and the outcome is reported unknown). Call numbers
//! count across runs, per stack and address, in the world's `calls/` directory.

use std::sync::Arc;
use std::time::Duration;

use stackform_engine::base::value::Value;
use stackform_engine::lang::schema::{OutputSchema, PropType, PropertySchema, ResourceSchema};
use stackform_engine::provider::{
    Applied, ErrorKind, OpContext, Outcome, Progress, Props, ProviderError, ResourceType,
};

use super::world::{World, WorldResource};

pub struct SimResource {
    schema: ResourceSchema,
    world: Arc<World>,
}

impl SimResource {
    pub fn new(type_name: &str, stateful: bool, world: Arc<World>) -> SimResource {
        let schema = ResourceSchema::new(
            type_name,
            "A simulated resource (testing aid): configurable latency and failure injection.",
        )
        .property(
            PropertySchema::new(
                "name",
                PropType::String,
                "The resource's name, unique in the sim world; changing it replaces the resource.",
            )
            .force_new(),
        )
        .property(PropertySchema::new(
            "size",
            PropType::Integer,
            "A number that can change in place.",
        ))
        .property(PropertySchema::new(
            "tags",
            PropType::map_of(PropType::String),
            "Tags, changed in place.",
        ))
        .property(PropertySchema::new(
            "data",
            PropType::Any,
            "Any value, stored as given.",
        ))
        .property(
            PropertySchema::new("secret", PropType::String, "A value never shown in plans.")
                .sensitive(),
        )
        .property(
            PropertySchema::new(
                "latency_ms",
                PropType::Integer,
                "Simulated duration of every call, in milliseconds.",
            )
            .default(0i64),
        )
        .property(
            PropertySchema::new(
                "polls",
                PropType::Integer,
                "How many times creates and deletes answer \"still running\" before they finish.",
            )
            .default(0i64),
        )
        .property(PropertySchema::new(
            "fail",
            PropType::list_of(PropType::String),
            "Failures to inject, as `<operation>:<call number>:<kind>`, e.g. `create:1:retryable`.",
        ))
        .output(OutputSchema::new(
            "arn",
            PropType::String,
            "A unique identifier assigned on create.",
        ))
        .output(OutputSchema::new(
            "endpoint",
            PropType::String,
            "An address assigned on create.",
        ));
        let schema = if stateful { schema.stateful() } else { schema };
        SimResource { schema, world }
    }

    async fn latency(props: &Props) {
        if let Some(Value::Int(ms)) = props.get("latency_ms")
            && *ms > 0
        {
            tokio::time::sleep(Duration::from_millis(*ms as u64)).await;
        }
    }

    /// The failure injected into this call, if any.
    fn injected(&self, ctx: &OpContext, op: &str, props: &Props) -> Option<String> {
        let Some(Value::List(specs)) = props.get("fail") else {
            return None;
        };
        let key = format!("{}-{}-{op}", ctx.ownership.stack_id, ctx.ownership.address);
        let n = self.world.count_call(&key);
        specs.iter().filter_map(Value::as_str).find_map(|spec| {
            let mut parts = spec.splitn(3, ':');
            let (o, at, kind) = (parts.next()?, parts.next()?, parts.next()?);
            (o == op && at.parse::<u64>().ok()? == n).then(|| kind.to_owned())
        })
    }

    fn error(kind: &str, op: &str) -> ProviderError {
        let request_id = format!(
            "sim-req-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let (k, text) = match kind {
            "retryable" => (ErrorKind::Retryable, "simulated throttling (503 SlowDown)"),
            "permission" => (ErrorKind::Permission, "simulated AccessDenied"),
            "invalid" => (ErrorKind::Invalid, "simulated invalid request"),
            "conflict" => (ErrorKind::Conflict, "simulated conflict"),
            "unknown" | "lost" => (
                ErrorKind::OutcomeUnknown,
                "simulated connection reset after the request was sent",
            ),
            _ => (ErrorKind::Other, "simulated internal error"),
        };
        ProviderError::new(k, format!("{op}: {text}")).with_request_id(request_id)
    }

    pub(super) fn applied(r: &WorldResource) -> Applied {
        Applied {
            physical_id: r.id.clone(),
            properties: r.properties.clone(),
            outputs: Props::from([
                ("arn".to_owned(), Value::String(format!("sim:{}", r.id))),
                (
                    "endpoint".to_owned(),
                    Value::String(format!("sim://{}", r.id)),
                ),
            ]),
        }
    }

    fn polls(props: &Props) -> i64 {
        props.get("polls").and_then(Value::as_int).unwrap_or(0)
    }
}

fn id_for(ctx: &OpContext, props: &Props) -> String {
    match props.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => format!(
            "{}-{}",
            ctx.ownership.address,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        ),
    }
}

#[async_trait::async_trait]
impl ResourceType for SimResource {
    fn schema(&self) -> &ResourceSchema {
        &self.schema
    }

    /// Its configured latency per call, one more for the wait of a polled operation.
    fn expected_duration(&self, props: &Props) -> Option<Duration> {
        let ms = props.get("latency_ms").and_then(Value::as_int)?;
        if ms <= 0 {
            return None;
        }
        let calls = if Self::polls(props) > 0 { 2 } else { 1 };
        Some(Duration::from_millis(ms as u64 * calls))
    }

    async fn create(&self, ctx: &OpContext, props: &Props) -> Result<Outcome, ProviderError> {
        Self::latency(props).await;
        let injected = self.injected(ctx, "create", props);
        if let Some(kind) = injected.as_deref()
            && kind != "unknown"
        {
            return Err(Self::error(kind, "create"));
        }
        let r = WorldResource {
            id: id_for(ctx, props),
            type_name: self.schema.type_name.clone(),
            stack: ctx.ownership.stack.clone(),
            stack_id: ctx.ownership.stack_id.to_string(),
            address: ctx.ownership.address.clone(),
            properties: props.clone(),
        };
        self.world.insert(&r)?;
        if injected.is_some() {
            return Err(Self::error("unknown", "create"));
        }
        match Self::polls(props) {
            n if n > 0 => Ok(Progress::Pending {
                token: format!("create:{}:{n}", r.id),
                after: Duration::from_millis(
                    props
                        .get("latency_ms")
                        .and_then(Value::as_int)
                        .unwrap_or(0)
                        .max(1) as u64,
                ),
                note: "creating".into(),
            }),
            _ => Ok(Progress::Done(Some(Self::applied(&r)))),
        }
    }

    async fn read(
        &self,
        _ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Option<Applied>, ProviderError> {
        Self::latency(props).await;
        self.world.count_call("read-requests");
        Ok(self.world.get(id).map(|r| Self::applied(&r)))
    }

    /// One scan of the world answers any number of reads, as a describe call with many ids does.
    fn reads_in_bulk(&self) -> bool {
        true
    }

    async fn read_many(
        &self,
        _ctx: &OpContext,
        items: &[(String, Props)],
    ) -> Result<Vec<Option<Applied>>, ProviderError> {
        self.world.count_call("read-requests");
        let all: std::collections::HashMap<String, WorldResource> = self
            .world
            .all()
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok(items
            .iter()
            .map(|(id, _)| all.get(id).map(Self::applied))
            .collect())
    }

    async fn update(
        &self,
        ctx: &OpContext,
        id: &str,
        _old: &Props,
        new: &Props,
    ) -> Result<Outcome, ProviderError> {
        Self::latency(new).await;
        let injected = self.injected(ctx, "update", new);
        if let Some(kind) = injected.as_deref()
            && kind != "unknown"
        {
            return Err(Self::error(kind, "update"));
        }
        let Some(mut r) = self.world.get(id) else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                format!("sim resource `{id}` does not exist"),
            ));
        };
        r.properties = new.clone();
        self.world.replace(&r)?;
        if injected.is_some() {
            return Err(Self::error("unknown", "update"));
        }
        Ok(Progress::Done(Some(Self::applied(&r))))
    }

    async fn delete(
        &self,
        ctx: &OpContext,
        id: &str,
        props: &Props,
    ) -> Result<Outcome, ProviderError> {
        Self::latency(props).await;
        let injected = self.injected(ctx, "delete", props);
        if let Some(kind) = injected.as_deref()
            && kind != "unknown"
        {
            return Err(Self::error(kind, "delete"));
        }
        self.world.remove(id)?;
        if injected.is_some() {
            return Err(Self::error("unknown", "delete"));
        }
        match Self::polls(props) {
            n if n > 0 => Ok(Progress::Pending {
                token: format!("delete:{id}:{n}"),
                after: Duration::from_millis(
                    props
                        .get("latency_ms")
                        .and_then(Value::as_int)
                        .unwrap_or(0)
                        .max(1) as u64,
                ),
                note: "deleting".into(),
            }),
            _ => Ok(Progress::Done(None)),
        }
    }

    async fn poll(&self, _ctx: &OpContext, token: &str) -> Result<Outcome, ProviderError> {
        let mut parts = token.splitn(3, ':');
        let (op, id, left) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts
                .next()
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0),
        );
        if left > 1 {
            return Ok(Progress::Pending {
                token: format!("{op}:{id}:{}", left - 1),
                after: Duration::from_millis(1),
                note: format!("{op} still running"),
            });
        }
        match op {
            "create" => match self.world.get(id) {
                Some(r) => Ok(Progress::Done(Some(Self::applied(&r)))),
                None => Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("sim resource `{id}` vanished while creating"),
                )),
            },
            _ => Ok(Progress::Done(None)),
        }
    }

    async fn find(&self, ctx: &OpContext, props: &Props) -> Result<Option<Applied>, ProviderError> {
        Self::latency(props).await;
        let stack_id = ctx.ownership.stack_id.to_string();
        Ok(self
            .world
            .all()
            .into_iter()
            .find(|r| {
                r.stack_id == stack_id
                    && r.address == ctx.ownership.address
                    && r.type_name == self.schema.type_name
            })
            .map(|r| Self::applied(&r)))
    }
}
