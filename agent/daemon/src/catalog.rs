//! What the installed skills make of the agent, replaced whole on reload.

use edge_config::AgentConfig;
use edge_core::{IntentDef, LoadedManifest};
use edge_intent::TemplateEngine;
use edge_skill_host::SkillHost;
use std::collections::HashMap;

/// What the installed skills make of the agent: compiled templates, the skills that
/// loaded, why others were skipped, and each intent's definition. Replaced whole on reload.
#[derive(Debug)]
pub struct Catalog {
    /// Compiled templates.
    pub engine: TemplateEngine,
    /// Skills that loaded.
    pub skills: Vec<LoadedManifest>,
    /// Why skills were skipped.
    pub skill_errors: Vec<String>,
    /// The templates as a GBNF grammar, for the recogniser.
    pub recognition_grammar: std::sync::Arc<str>,
    /// The commands whose free text lists known values, held to them (`None`: no skill
    /// lists any).
    pub known_values_grammar: Option<std::sync::Arc<str>>,
    pub(crate) intents: HashMap<String, IntentDef>,
    /// Which build this is: every build in the process gets the next number, so tiers
    /// fitted to a catalog tell reloads apart (an address could be reused after a drop).
    generation: u64,
}

/// The last catalog generation handed out.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Catalog {
    /// Loads the manifests from the configured directories, their components into
    /// `skill_host` (a new version replaces the old only once it compiled), and compiles
    /// the templates. A bad skill is skipped and logged; the others load.
    pub fn build(config: &AgentConfig, skill_host: &SkillHost) -> Self {
        let (mut manifests, mut load_errors) = LoadedManifest::discover(&config.skills.dirs);
        // A skill whose component does not load is skipped whole: its intents must not be
        // recognised only to fail.
        let failed = crate::skills::load_components(
            skill_host,
            &manifests,
            config.skills.require_signed,
            &config.skills.trusted_keys,
        );
        manifests.retain(|m| {
            !failed
                .iter()
                .any(|(name, _)| *name == m.manifest.skill.name)
        });
        manifests.extend(edge_intent::builtin_manifests());
        let (engine, compile_errors) =
            TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence);
        let skill_errors: Vec<String> = load_errors
            .drain(..)
            .map(|e| e.to_string())
            .chain(failed.into_iter().map(|(_, e)| e))
            .chain(compile_errors.iter().map(ToString::to_string))
            .collect();
        for name in skill_host.skill_names() {
            let still_code = manifests.iter().any(|m| {
                m.manifest.skill.name == name && crate::skills::component_path(m).is_some()
            });
            if !engine.skill_names().contains(&name.as_str()) || !still_code {
                skill_host.unload(&name);
            }
        }
        for e in &skill_errors {
            tracing::error!("skill skipped: {e}");
        }
        let loaded = engine.skill_names();
        let skills: Vec<LoadedManifest> = manifests
            .into_iter()
            .filter(|m| loaded.contains(&m.manifest.skill.name.as_str()))
            .collect();
        let intents = skills
            .iter()
            .flat_map(|m| m.manifest.intents.clone())
            .collect();
        Self {
            recognition_grammar: engine.recognition_grammar().into(),
            known_values_grammar: engine.known_values_grammar().map(Into::into),
            engine,
            skills,
            skill_errors,
            intents,
            generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
        }
    }

    /// This build's number, unique in the process and growing with each reload.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Catalog {
    /// The loaded skill that declares `intent`.
    pub fn skill_of(&self, intent: &str) -> Option<&str> {
        self.skills
            .iter()
            .find(|m| m.manifest.intents.contains_key(intent))
            .map(|m| m.manifest.skill.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_build_has_the_next_generation_even_where_an_address_is_reused() {
        let config = AgentConfig::defaults();
        let host = SkillHost::new(None, None).expect("skill host");
        let mut builds: Vec<(usize, u64)> = Vec::new();
        for _ in 0..6 {
            let catalog = Arc::new(Catalog::build(&config, &host));
            builds.push((Arc::as_ptr(&catalog) as usize, catalog.generation()));
            // Dropped here: the next build may be allocated where this one was.
        }
        // Strictly growing, so distinct, even where the allocator gave a later build an
        // earlier one's address (which the address as identity would have confused).
        for pair in builds.windows(2) {
            assert!(pair[1].1 > pair[0].1, "{builds:?}");
        }
    }
}
