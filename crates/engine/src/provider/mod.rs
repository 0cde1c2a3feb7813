//! The provider contract: what a resource type, a data source, an inventory and a connector
//! kind implement, the classified errors they return, ownership tags and recovery keys, price
//! tables, and the `Registry` that gathers them.
//!
//! Providers see a resource's record only through `Recorded`, a borrowed view, so that the
//! contract does not depend on the state file's types.
//!
//! May import: `base`, `lang`.

pub mod connector;
pub mod contract;
pub mod prices;

pub use connector::{
    Ability, AuthMethod, Checked, Checks, Claim, ClusterAccess, Connector, ConnectorFailure,
    ConnectorKind, DockerLogin, Identity, Reached, Resolved, Token,
};
pub use contract::*;
pub use prices::PriceTable;
