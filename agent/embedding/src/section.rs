//! `[embedding]`: the embedding tier's method and thresholds, defined and checked here;
//! the configuration crate places it.

use edge_core::SectionError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[embedding]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSection {
    /// Match utterances the templates reject against the skills' own sentences by
    /// sentence embeddings (a sentence encoder in the `edge-slm` worker of `[slm]`).
    /// Without the encoder file the tier is off and the status says why.
    pub enabled: bool,
    /// GGUF sentence encoder (BERT, mean pooling).
    pub encoder: PathBuf,
    /// `knn` (mean cosine of the `k` nearest sentences of each intent), `prototype`
    /// (cosine of each intent's mean vector), `logreg` (probability under a softmax
    /// regression on the sentence vectors; the thresholds are then probabilities) or
    /// `logreg-veto` (the softmax chooses, `accept`, `margin` and `ask` are probabilities,
    /// and `none_margin` is the lead over `none` the `k` nearest neighbours must give).
    pub method: String,
    /// Neighbours per intent for `knn`.
    pub k: usize,
    /// Least score to act.
    pub accept: f32,
    /// Least lead of the best intent over the runner-up to act.
    pub margin: f32,
    /// Least lead of the best intent over the negative set (`none`) to act.
    pub none_margin: f32,
    /// Least score to ask "Did you mean ...?" instead of refusing.
    pub ask: f32,
    /// Ask instead of acting when the utterance has a word that at least two negatives
    /// and no skill sentence have ("set the thermostat at home", "open a new window on
    /// my laptop"). On by default since 2026-12-05 (thirteenth session): over the nine
    /// dev sets it kept 4 of 10 out-of-domain lines from acting and asked about 5 of
    /// 1,681 paraphrases instead of acting (docs/BENCHMARKS.md).
    pub ask_on_none_words: bool,
}

impl Default for EmbeddingSection {
    fn default() -> Self {
        Self {
            enabled: true,
            encoder: "/usr/share/edge-agent/models/minilm-skills.gguf".into(),
            method: "knn".into(),
            k: 3,
            // Chosen on the dev set for the fine-tuned encoder (docs/BENCHMARKS.md).
            accept: 0.92,
            margin: 0.03,
            none_margin: 0.03,
            ask: 0.80,
            ask_on_none_words: true,
        }
    }
}

impl EmbeddingSection {
    /// Checks the values the schema cannot; keys are relative to `[embedding]`.
    pub fn validate(&self) -> Result<(), SectionError> {
        if !matches!(
            self.method.as_str(),
            "knn" | "prototype" | "logreg" | "logreg-veto"
        ) {
            return Err(SectionError::new(
                "method",
                format!(
                    "{:?} is not knn, prototype, logreg or logreg-veto",
                    self.method
                ),
            ));
        }
        if self.k == 0 || self.k > 50 {
            return Err(SectionError::new(
                "k",
                format!("{} is outside 1 to 50", self.k),
            ));
        }
        for (key, value) in [
            ("accept", self.accept),
            ("margin", self.margin),
            ("none_margin", self.none_margin),
            ("ask", self.ask),
        ] {
            if !(-1.0..=1.0).contains(&value) {
                return Err(SectionError::new(
                    key,
                    format!("{value} is outside -1.0 to 1.0 (a cosine)"),
                ));
            }
        }
        if self.ask > self.accept {
            return Err(SectionError::new(
                "ask",
                format!(
                    "{} is above embedding.accept ({}): the tier would ask about what it accepts",
                    self.ask, self.accept
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_errors_name_the_key() {
        assert_eq!(EmbeddingSection::default().validate(), Ok(()));
        let section = EmbeddingSection {
            ask: 0.95,
            ..EmbeddingSection::default()
        };
        let e = section.validate().expect_err("refused");
        assert_eq!(e.key, "ask");
        assert!(e.message.contains("above embedding.accept (0.92)"), "{e}");
    }
}
