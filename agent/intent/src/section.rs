//! `[nlu]`: the template tier's threshold and the entity lists its slots draw on, defined
//! and checked here; the configuration crate places it.

use edge_core::section::list_or_comma_separated;
use edge_core::{EntityList, EntityLists, SectionError};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// `[nlu]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NluSection {
    /// Template matches scoring below this (0.0 to 1.0) count as `none`.
    pub min_confidence: f32,
    /// Entity lists by name (`[nlu.entities.machine]`).
    #[serde(deserialize_with = "entity_lists")]
    pub entities: EntityLists,
}

impl Default for NluSection {
    fn default() -> Self {
        let mut machine = EntityList {
            values: [
                "pump-1",
                "pump-2",
                "pump-3",
                "pump-4",
                "press-1",
                "press-2",
                "conveyor-1",
            ]
            .map(String::from)
            .to_vec(),
            synonyms: BTreeMap::new(),
        };
        machine.synonyms.insert(
            "conveyor-1".into(),
            vec![
                "the conveyor".into(),
                "conveyor belt".into(),
                "conveyor".into(),
            ],
        );
        Self {
            min_confidence: 0.5,
            entities: BTreeMap::from([("machine".to_owned(), machine)]),
        }
    }
}

impl NluSection {
    /// Checks the values the schema cannot; keys are relative to `[nlu]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(SectionError::new(
                "min_confidence",
                format!("{} is outside 0.0 to 1.0", self.min_confidence),
            ));
        }
        for (name, list) in &self.entities {
            if list.values.is_empty() {
                return Err(SectionError::new(
                    format!("entities.{name}.values"),
                    "needs at least one value",
                ));
            }
            if let Some(unknown) = list.synonyms.keys().find(|k| !list.values.contains(k)) {
                return Err(SectionError::new(
                    format!("entities.{name}.synonyms"),
                    format!("{unknown:?} is not one of the list's values"),
                ));
            }
        }
        Ok(())
    }
}

/// Entity lists whose `values` may also come from the environment as a comma-separated string.
fn entity_lists<'de, D: Deserializer<'de>>(de: D) -> Result<EntityLists, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        #[serde(default, deserialize_with = "list_or_comma_separated")]
        values: Vec<String>,
        #[serde(default)]
        synonyms: BTreeMap<String, Vec<String>>,
    }
    let raw = BTreeMap::<String, Raw>::deserialize(de)?;
    Ok(raw
        .into_iter()
        .map(|(name, r)| {
            (
                name,
                EntityList {
                    values: r.values,
                    synonyms: r.synonyms,
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_list() {
        assert_eq!(NluSection::default().validate(), Ok(()));
        let mut nlu = NluSection::default();
        if let Some(machine) = nlu.entities.get_mut("machine") {
            machine
                .synonyms
                .insert("mixer".into(), vec!["the mixer".into()]);
        }
        let e = nlu.validate().expect_err("refused");
        assert_eq!(e.key, "entities.machine.synonyms");
        assert_eq!(e.message, "\"mixer\" is not one of the list's values");
    }
}
