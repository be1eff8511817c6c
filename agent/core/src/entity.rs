//! Entity lists: named sets of things the installation has (machines, stations), given by
//! configuration rather than by skills, so one skill serves every plant.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entity list, e.g. the plant's machines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntityList {
    /// Canonical ids (`pump-3`). Spoken forms are derived: "pump 3", "pump three",
    /// "pump number three".
    pub values: Vec<String>,
    /// Extra phrases per id ("the conveyor" -> `conveyor-1`).
    pub synonyms: BTreeMap<String, Vec<String>>,
}

/// Entity lists by name.
pub type EntityLists = BTreeMap<String, EntityList>;
