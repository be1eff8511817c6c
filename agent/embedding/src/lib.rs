//! The embedding intent tier's classifier, fitted on the device when skills change.
//!
//! Each training sentence (a skill's template expansions, its description, the examples
//! its author wrote, and the project's negative set for the `none` class) is a unit-length
//! vector with a label. An utterance's vector is scored against every class: by the mean
//! cosine of its `k` nearest examples of that class ([`Method::Knn`]), or by the cosine of
//! the class's mean vector ([`Method::Prototype`]). The decision rule then accepts the best
//! intent only when it is near enough, ahead of the runner-up and ahead of `none`; near
//! the threshold it asks; otherwise the answer is `none`.
//!
//! Pure: vectors come from the `edge-slm` worker's encoder; nothing here loads a model or
//! does I/O, so it is unit-tested with vectors made by hand. [`EmbeddingSection`] is its
//! configuration section, `[embedding]`.

use serde::{Deserialize, Serialize};

mod clauses;
mod section;
pub mod span;
pub mod tier;

pub use section::EmbeddingSection;
pub use tier::{Clarification, EmbeddingTier, Judgement, TrainingSet, Verdict};

/// The label of the negative set: requests no skill owns.
pub const NONE: &str = "none";

/// How a class is scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum Method {
    /// Mean cosine of the class's `k` nearest examples.
    Knn { k: usize },
    /// Cosine of the class's mean vector.
    Prototype,
    /// Probability under a softmax regression fitted on the training vectors (a SetFit
    /// head: the fine-tuned encoder below, a linear classifier on top), classes weighted
    /// by their size so the large `none` class does not swamp the intents.
    LogReg,
    /// [`Method::LogReg`]'s probabilities choose the intent, but it is accepted only where
    /// the `k`-nearest-neighbour scores also put that intent ahead of `none` by
    /// `none_margin` (cosine): the head generalises to paraphrases, kNN keeps requests no
    /// skill owns out (docs/BENCHMARKS.md).
    LogRegVeto { k: usize },
}

impl Default for Method {
    /// The configuration's default (`embedding.method`, `embedding.k`).
    fn default() -> Self {
        Method::from(&EmbeddingSection::default())
    }
}

impl From<&EmbeddingSection> for Method {
    fn from(section: &EmbeddingSection) -> Self {
        match section.method.as_str() {
            "prototype" => Method::Prototype,
            "logreg" => Method::LogReg,
            "logreg-veto" => Method::LogRegVeto { k: section.k },
            // The configuration admits knn, prototype, logreg and logreg-veto only.
            _ => Method::Knn { k: section.k },
        }
    }
}

/// When the tier acts, asks or refuses. Calibrated on the dev set only (never on the
/// held-out set): docs/BENCHMARKS.md.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Least score of an accepted intent.
    pub accept: f32,
    /// Least lead of the accepted intent over the runner-up intent.
    pub margin: f32,
    /// Least lead of the best intent over the `none` class.
    pub none_margin: f32,
    /// Least score to ask "did you mean ...?" instead of refusing.
    pub ask: f32,
    /// Ask instead of acting on an utterance with a word only the negatives have.
    pub ask_on_none_words: bool,
}

impl Default for Thresholds {
    /// The configuration's defaults, chosen on the dev set for the fine-tuned encoder.
    fn default() -> Self {
        Thresholds::from(&EmbeddingSection::default())
    }
}

impl From<&EmbeddingSection> for Thresholds {
    fn from(section: &EmbeddingSection) -> Self {
        Self {
            accept: section.accept,
            margin: section.margin,
            none_margin: section.none_margin,
            ask: section.ask,
            ask_on_none_words: section.ask_on_none_words,
        }
    }
}

/// Why a classifier cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("no training sentences")]
    Empty,
    #[error("{vectors} vectors for {labels} labels")]
    Count { vectors: usize, labels: usize },
    #[error("training sentence {index} ({label}): {found} dimensions, the others have {expected}")]
    Dimension {
        index: usize,
        label: String,
        found: usize,
        expected: usize,
    },
    #[error("no intent to choose from: every training sentence is labelled none")]
    OnlyNone,
    #[error("k must be at least 1")]
    ZeroK,
}

/// Labelled sentence vectors, ready to score utterances.
#[derive(Debug, Clone)]
pub struct Classifier {
    method: Method,
    dim: usize,
    /// Class names; `none` is among them when the negative set had sentences.
    classes: Vec<String>,
    /// Unit-length training vectors and their class.
    points: Vec<(Vec<f32>, usize)>,
    /// Unit-length mean vector of each class.
    prototypes: Vec<Vec<f32>>,
    /// The softmax regression's weights (class-major, `dim` each) and biases, for
    /// [`Method::LogReg`].
    weights: Vec<f32>,
    biases: Vec<f32>,
}

/// Softmax regression: logits are `SCALE` × (w · x) + b on unit vectors (cosines are small
/// numbers; the scale lets a few hundred full-batch steps reach confident probabilities).
/// Chosen on the dev set in one offline run (docs/BENCHMARKS.md); not tuned further.
const LOGREG_SCALE: f32 = 20.0;
const LOGREG_STEPS: usize = 150;
const LOGREG_RATE: f32 = 2.0;
const LOGREG_L2: f32 = 1e-3;

/// A class and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub intent: String,
    pub score: f32,
}

/// How an utterance scored: the best intent, the runner-up intent and the `none` class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub best: Scored,
    pub runner_up: Option<Scored>,
    /// The `none` class's score; absent without a negative set.
    pub none: Option<f32>,
    /// [`Method::LogRegVeto`]: the best intent's kNN score minus `none`'s (cosine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veto_lead: Option<f32>,
}

/// What the tier does with an utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "decision", content = "intent")]
pub enum Decision {
    /// Act on this intent.
    Accept(String),
    /// Ask whether this intent was meant.
    Ask(String),
    /// No skill's request.
    None,
}

impl Decision {
    /// The intent acted on or asked about.
    pub fn intent(&self) -> Option<&str> {
        match self {
            Decision::Accept(i) | Decision::Ask(i) => Some(i),
            Decision::None => None,
        }
    }
}

impl Classifier {
    /// Fits the classifier on `vectors` labelled `labels` (an intent name or [`NONE`]).
    pub fn fit(
        vectors: Vec<Vec<f32>>,
        labels: &[String],
        method: Method,
    ) -> Result<Self, FitError> {
        if vectors.len() != labels.len() {
            return Err(FitError::Count {
                vectors: vectors.len(),
                labels: labels.len(),
            });
        }
        if matches!(method, Method::Knn { k: 0 } | Method::LogRegVeto { k: 0 }) {
            return Err(FitError::ZeroK);
        }
        let dim = vectors.first().map(Vec::len).ok_or(FitError::Empty)?;
        let mut classes: Vec<String> = Vec::new();
        let mut points = Vec::with_capacity(vectors.len());
        for (index, (vector, label)) in vectors.into_iter().zip(labels).enumerate() {
            if vector.len() != dim {
                return Err(FitError::Dimension {
                    index,
                    label: label.clone(),
                    found: vector.len(),
                    expected: dim,
                });
            }
            let class = match classes.iter().position(|c| c == label) {
                Some(c) => c,
                None => {
                    classes.push(label.clone());
                    classes.len() - 1
                }
            };
            points.push((unit_length(&vector), class));
        }
        if classes.iter().all(|c| c == NONE) {
            return Err(FitError::OnlyNone);
        }
        let prototypes = (0..classes.len())
            .map(|class| {
                let mut sum = vec![0.0f32; dim];
                for (v, _) in points.iter().filter(|(_, c)| *c == class) {
                    for (s, x) in sum.iter_mut().zip(v) {
                        *s += x;
                    }
                }
                unit_length(&sum)
            })
            .collect();
        let (weights, biases) = if matches!(method, Method::LogReg | Method::LogRegVeto { .. }) {
            fit_softmax(&points, classes.len(), dim)
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Self {
            method,
            dim,
            classes,
            points,
            prototypes,
            weights,
            biases,
        })
    }

    /// Length of the vectors it expects.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Training sentences per class, by class name.
    pub fn class_sizes(&self) -> Vec<(String, usize)> {
        self.classes
            .iter()
            .enumerate()
            .map(|(c, name)| {
                (
                    name.clone(),
                    self.points.iter().filter(|(_, k)| *k == c).count(),
                )
            })
            .collect()
    }

    /// Every class's score for `vector` (any length; it is compared by cosine), best first.
    pub fn scores(&self, vector: &[f32]) -> Vec<Scored> {
        let query = unit_length(vector);
        let mut scores: Vec<Scored> = match self.method {
            Method::Prototype => self
                .prototypes
                .iter()
                .zip(&self.classes)
                .map(|(p, name)| Scored {
                    intent: name.clone(),
                    score: dot(p, &query),
                })
                .collect(),
            Method::LogReg | Method::LogRegVeto { .. } => {
                let probabilities = softmax_row(&self.weights, &self.biases, &query, self.dim);
                probabilities
                    .into_iter()
                    .zip(&self.classes)
                    .map(|(p, name)| Scored {
                        intent: name.clone(),
                        score: p,
                    })
                    .collect()
            }
            Method::Knn { k } => self.knn_scores(&query, k),
        };
        scores.sort_by(|a, b| b.score.total_cmp(&a.score));
        scores
    }

    /// Every class's mean cosine of its `k` nearest sentences to the unit vector `query`,
    /// in class order.
    fn knn_scores(&self, query: &[f32], k: usize) -> Vec<Scored> {
        let mut per_class: Vec<Vec<f32>> = vec![Vec::new(); self.classes.len()];
        for (v, class) in &self.points {
            per_class[*class].push(dot(v, query));
        }
        per_class
            .into_iter()
            .zip(&self.classes)
            .map(|(mut sims, name)| {
                // The k largest, then in order (summed as a full sort would: same score).
                let k = sims.len().min(k);
                if k > 0 && k < sims.len() {
                    sims.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
                    sims.truncate(k);
                }
                sims.sort_by(|a, b| b.total_cmp(a));
                let top = &sims[..k];
                Scored {
                    intent: name.clone(),
                    score: top.iter().sum::<f32>() / top.len().max(1) as f32,
                }
            })
            .collect()
    }

    /// The training sentence of class `label` nearest to `vector`: its index in the order
    /// given to [`Classifier::fit`], and its cosine.
    pub fn nearest(&self, vector: &[f32], label: &str) -> Option<(usize, f32)> {
        let class = self.classes.iter().position(|c| c == label)?;
        let query = unit_length(vector);
        self.points
            .iter()
            .enumerate()
            .filter(|(_, (_, c))| *c == class)
            .map(|(i, (v, _))| (i, dot(v, &query)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The best intent, the runner-up intent and the `none` class's score.
    pub fn rank(&self, vector: &[f32]) -> Ranking {
        let scores = self.scores(vector);
        let none = scores.iter().find(|s| s.intent == NONE).map(|s| s.score);
        let mut intents = scores.into_iter().filter(|s| s.intent != NONE);
        // `fit` refuses a set with no intent, so there is always a best one.
        let best = intents.next().unwrap_or(Scored {
            intent: NONE.into(),
            score: f32::MIN,
        });
        let veto_lead = match self.method {
            Method::LogRegVeto { k } => {
                let knn = self.knn_scores(&unit_length(vector), k);
                let of = |name: &str| knn.iter().find(|s| s.intent == name).map(|s| s.score);
                of(&best.intent).map(|intent| intent - of(NONE).unwrap_or(f32::MIN))
            }
            _ => None,
        };
        Ranking {
            best,
            runner_up: intents.next(),
            none,
            veto_lead,
        }
    }
}

impl Ranking {
    /// The decision under `thresholds`.
    pub fn decide(&self, thresholds: &Thresholds) -> Decision {
        let best = self.best.score;
        let ahead_of_none = match self.veto_lead {
            // The head's probability must beat none's; the kNN lead is held to the margin.
            Some(lead) => {
                self.none.is_none_or(|none| best > none) && lead >= thresholds.none_margin
            }
            None => self
                .none
                .is_none_or(|none| best - none >= thresholds.none_margin),
        };
        let vetoed = self.veto_lead.is_some_and(|lead| lead <= 0.0);
        let margin = self
            .runner_up
            .as_ref()
            .map_or(f32::INFINITY, |r| best - r.score);
        if best >= thresholds.accept && margin >= thresholds.margin && ahead_of_none {
            Decision::Accept(self.best.intent.clone())
        } else if best >= thresholds.ask && self.none.is_none_or(|none| best > none) && !vetoed {
            Decision::Ask(self.best.intent.clone())
        } else {
            Decision::None
        }
    }
}

/// Class probabilities of one unit vector.
fn softmax_row(weights: &[f32], biases: &[f32], x: &[f32], dim: usize) -> Vec<f32> {
    let logits: Vec<f32> = biases
        .iter()
        .enumerate()
        .map(|(c, b)| LOGREG_SCALE * dot(&weights[c * dim..(c + 1) * dim], x) + b)
        .collect();
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Full-batch gradient descent on the class-weighted cross-entropy with an L2 penalty.
fn fit_softmax(points: &[(Vec<f32>, usize)], classes: usize, dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut weights = vec![0.0f32; classes * dim];
    let mut biases = vec![0.0f32; classes];
    let mut counts = vec![0usize; classes];
    for (_, c) in points {
        counts[*c] += 1;
    }
    let n = points.len() as f32;
    let class_weight: Vec<f32> = counts
        .iter()
        .map(|&k| n / (classes as f32 * k.max(1) as f32))
        .collect();
    let mut grad_w = vec![0.0f32; classes * dim];
    let mut grad_b = vec![0.0f32; classes];
    for _ in 0..LOGREG_STEPS {
        grad_w.iter_mut().for_each(|g| *g = 0.0);
        grad_b.iter_mut().for_each(|g| *g = 0.0);
        for (x, label) in points {
            let p = softmax_row(&weights, &biases, x, dim);
            let w = class_weight[*label] / n;
            for (c, pc) in p.iter().enumerate() {
                let g = (pc - if c == *label { 1.0 } else { 0.0 }) * w;
                grad_b[c] += g;
                let row = &mut grad_w[c * dim..(c + 1) * dim];
                for (gw, xi) in row.iter_mut().zip(x) {
                    *gw += LOGREG_SCALE * g * xi;
                }
            }
        }
        for (w, g) in weights.iter_mut().zip(&grad_w) {
            *w -= LOGREG_RATE * (g + LOGREG_L2 * *w);
        }
        for (b, g) in biases.iter_mut().zip(&grad_b) {
            *b -= LOGREG_RATE * g;
        }
    }
    (weights, biases)
}

/// Lanes of [`dot`]'s partial sums.
const DOT_LANES: usize = 8;

/// The dot product, summed in [`DOT_LANES`] independent lanes: a single running sum is
/// one long chain of dependent additions the compiler may not reorder, so it cannot use
/// SIMD; lanes can. kNN scores every training sentence (5,335 of 384 dimensions for the
/// example skills) for every utterance: one sum took 3 ms, most of the judgement's time.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0.0f32; DOT_LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(DOT_LANES), b.chunks_exact(DOT_LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn unit_length(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dot_product_in_lanes_is_the_plain_sum() {
        for n in [0, 1, 7, 8, 9, 384, 389] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y)).sum();
            assert!(
                (f64::from(dot(&a, &b)) - plain).abs() < 1e-4,
                "{n} dimensions: {} against {plain}",
                dot(&a, &b)
            );
        }
        // Vectors of unequal length: the shorter decides.
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Two intents along the first two axes, `none` along the third.
    fn classifier(method: Method) -> Classifier {
        Classifier::fit(
            vec![
                vec![1.0, 0.1, 0.0],
                vec![0.9, 0.0, 0.1],
                vec![0.1, 1.0, 0.0],
                vec![0.0, 0.9, 0.1],
                vec![0.0, 0.1, 1.0],
                vec![0.1, 0.0, 0.9],
            ],
            &labels(&["warm", "warm", "fan", "fan", NONE, NONE]),
            method,
        )
        .expect("fit")
    }

    #[test]
    fn the_nearest_class_wins_with_either_method() {
        for method in [Method::Knn { k: 2 }, Method::Prototype] {
            let c = classifier(method);
            let r = c.rank(&[1.0, 0.2, 0.0]);
            assert_eq!(r.best.intent, "warm", "{method:?}");
            assert_eq!(r.runner_up.as_ref().map(|s| s.intent.as_str()), Some("fan"));
            assert!(r.none.is_some_and(|n| n < r.best.score));
            assert_eq!(
                r.decide(&Thresholds::default()),
                Decision::Accept("warm".into())
            );
        }
    }

    #[test]
    fn nearer_to_none_is_none_and_between_intents_is_asked_or_refused() {
        let c = classifier(Method::Knn { k: 2 });
        assert_eq!(
            c.rank(&[0.1, 0.1, 1.0]).decide(&Thresholds::default()),
            Decision::None
        );
        // Halfway between the two intents: no margin, so not accepted.
        let between = c.rank(&[1.0, 1.0, 0.0]);
        let decision = between.decide(&Thresholds {
            accept: 0.5,
            margin: 0.05,
            none_margin: 0.0,
            ask: 0.5,
            ask_on_none_words: false,
        });
        assert!(matches!(decision, Decision::Ask(_)), "{decision:?}");
        // Far from everything: refused.
        let far = c.rank(&[-1.0, -1.0, -1.0]);
        assert_eq!(far.decide(&Thresholds::default()), Decision::None);
    }

    #[test]
    fn the_softmax_head_gives_probabilities_that_pick_the_nearest_class() {
        let c = classifier(Method::LogReg);
        let scores = c.scores(&[1.0, 0.2, 0.0]);
        let total: f32 = scores.iter().map(|s| s.score).sum();
        assert!((total - 1.0).abs() < 1e-4, "{scores:?}");
        let r = c.rank(&[1.0, 0.2, 0.0]);
        assert_eq!(r.best.intent, "warm");
        assert!(r.best.score > 0.8, "{r:?}");
        let near_none = c.rank(&[0.1, 0.1, 1.0]);
        assert!(
            near_none.none.is_some_and(|n| n > near_none.best.score),
            "{near_none:?}"
        );
    }

    #[test]
    fn the_knn_veto_keeps_what_is_nearer_to_none_out_whatever_the_head_says() {
        let c = classifier(Method::LogRegVeto { k: 2 });
        let thresholds = Thresholds {
            accept: 0.6,
            margin: 0.0,
            none_margin: 0.05,
            ask: 0.4,
            ask_on_none_words: false,
        };
        let warm = c.rank(&[1.0, 0.2, 0.0]);
        assert!(warm.veto_lead.is_some_and(|l| l > 0.05), "{warm:?}");
        assert_eq!(warm.decide(&thresholds), Decision::Accept("warm".into()));
        // Nearer the none sentences than the warm ones: refused, not even asked, even
        // where the head's best intent is warm with everything but none below it.
        let leaning = c.rank(&[0.6, 0.0, 0.8]);
        assert!(leaning.veto_lead.is_some_and(|l| l < 0.0), "{leaning:?}");
        let permissive = Thresholds {
            accept: 0.0,
            ask: 0.0,
            ..thresholds
        };
        let forced = Ranking {
            best: Scored {
                intent: "warm".into(),
                score: 0.9,
            },
            none: Some(0.05),
            ..leaning
        };
        assert_eq!(forced.decide(&permissive), Decision::None);
        // Without the veto the same probabilities would act.
        let unvetoed = Ranking {
            veto_lead: None,
            ..forced
        };
        assert_eq!(
            unvetoed.decide(&permissive),
            Decision::Accept("warm".into())
        );
    }

    #[test]
    fn knn_uses_the_k_nearest_only() {
        // One warm example right on the query, one far: k=1 sees only the near one.
        let c = Classifier::fit(
            vec![vec![1.0, 0.0], vec![-1.0, 0.0], vec![0.0, 1.0]],
            &labels(&["warm", "warm", "fan"]),
            Method::Knn { k: 1 },
        )
        .expect("fit");
        let r = c.rank(&[1.0, 0.0]);
        assert!((r.best.score - 1.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.none, None);
    }

    #[test]
    fn bad_training_sets_are_refused_naming_the_problem() {
        assert_eq!(
            Classifier::fit(vec![], &[], Method::default()).expect_err("must be refused"),
            FitError::Empty
        );
        assert_eq!(
            Classifier::fit(vec![vec![1.0]], &[], Method::default()).expect_err("must be refused"),
            FitError::Count {
                vectors: 1,
                labels: 0
            }
        );
        let err = Classifier::fit(
            vec![vec![1.0, 0.0], vec![1.0]],
            &labels(&["a", "b"]),
            Method::default(),
        )
        .expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "training sentence 1 (b): 1 dimensions, the others have 2"
        );
        assert_eq!(
            Classifier::fit(vec![vec![1.0]], &labels(&[NONE]), Method::default())
                .expect_err("must be refused"),
            FitError::OnlyNone
        );
        assert_eq!(
            Classifier::fit(vec![vec![1.0]], &labels(&["a"]), Method::Knn { k: 0 })
                .expect_err("must be refused"),
            FitError::ZeroK
        );
    }

    #[test]
    fn the_nearest_sentence_of_a_class_is_found_by_its_fit_index() {
        let c = classifier(Method::default());
        assert_eq!(c.nearest(&[0.0, 1.0, 0.0], "fan").map(|n| n.0), Some(2));
        assert_eq!(c.nearest(&[0.0, 0.5, 0.5], "warm").map(|n| n.0), Some(1));
        assert_eq!(c.nearest(&[1.0, 0.0, 0.0], "nothing"), None);
    }

    #[test]
    fn class_sizes_count_each_label() {
        let c = classifier(Method::Prototype);
        assert_eq!(
            c.class_sizes(),
            vec![("warm".into(), 2), ("fan".into(), 2), (NONE.into(), 2)]
        );
        assert_eq!(c.dim(), 3);
    }
}
