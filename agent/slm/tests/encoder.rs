//! The sentence encoder on the real all-MiniLM-L6-v2 GGUF made by the project's converter
//! (`agent/models/bert_to_gguf.py`): its vectors must reproduce the reference model's
//! (`tests/resources/nlu/embedding-reference.json`, computed once by
//! `agent/models/embed_reference.py` with an implementation independent of llama.cpp).
//! The encoder fine-tuned on the skills' sentences (`provision.sh tuned`) must reproduce
//! the vectors its trainer wrote beside it.

mod common;

use common::{encoder, specialised_encoder};
use edge_slm::{SentenceEncoder, cosine};
use std::path::Path;

#[derive(serde::Deserialize)]
struct Reference {
    dim: usize,
    sentences: Vec<ReferenceSentence>,
}

#[derive(serde::Deserialize)]
struct ReferenceSentence {
    text: String,
    vector: Vec<f32>,
}

fn reference(path: &Path) -> Reference {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not the reference format: {e}", path.display()))
}

#[test]
fn the_converted_encoder_reproduces_the_reference_vectors() {
    let path = "../../tests/resources/nlu/embedding-reference.json";
    reproduces(&encoder(), &reference(Path::new(path)));
}

#[test]
fn the_specialised_encoder_reproduces_its_trainers_vectors() {
    let model = specialised_encoder();
    let trained = reference(&model.with_extension("").join("reference.json"));
    reproduces(&model, &trained);
    // It is not the base model under another name.
    let base = reference(Path::new(
        "../../tests/resources/nlu/embedding-reference.json",
    ));
    let changed = trained
        .sentences
        .iter()
        .zip(&base.sentences)
        .filter(|(t, b)| cosine(&t.vector, &b.vector) < 0.99)
        .count();
    assert!(changed > 0, "the fine-tuned vectors equal the base model's");
}

fn reproduces(model: &Path, reference: &Reference) {
    let mut encoder = SentenceEncoder::load(model, 1).expect("load the encoder");
    assert_eq!(encoder.dim(), reference.dim);
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    // All in one batch, as the tier embeds its examples.
    let vectors = encoder.embed(&texts).expect("embed");
    assert_eq!(vectors.len(), texts.len());
    let mut worst = (f32::MAX, "");
    for (sentence, vector) in reference.sentences.iter().zip(&vectors) {
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "{:?}: length {norm}",
            sentence.text
        );
        let c = cosine(vector, &sentence.vector);
        if c < worst.0 {
            worst = (c, &sentence.text);
        }
    }
    assert!(
        worst.0 >= 0.99,
        "cosine {} with the reference for {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn a_sentence_gets_the_same_vector_alone_and_in_a_batch() {
    let mut encoder = SentenceEncoder::load(&encoder(), 1).expect("load the encoder");
    let alone = encoder.embed(&["I'm freezing"]).expect("embed");
    let batch = encoder
        .embed(&["set the fan to level three", "I'm freezing", "hello there"])
        .expect("embed");
    assert!(cosine(&alone[0], &batch[1]) > 0.9999);
    // Related sentences are nearer than unrelated ones.
    let [cold, warmer, weather] = &encoder
        .embed(&[
            "it is cold in here",
            "make it warmer",
            "who won the football game",
        ])
        .expect("embed")[..]
    else {
        unreachable!("three sentences in, three vectors out")
    };
    assert!(cosine(cold, warmer) > cosine(cold, weather));
}

#[test]
fn sentences_are_wrapped_in_cls_and_sep_and_cut_to_the_limit() {
    let encoder = SentenceEncoder::load(&encoder(), 1).expect("load the encoder");
    let tokens = encoder.tokenize("hello");
    // all-MiniLM-L6-v2's vocabulary: [CLS] = 101, [SEP] = 102.
    assert_eq!(tokens.first().map(|t| t.0), Some(101), "{tokens:?}");
    assert_eq!(tokens.last().map(|t| t.0), Some(102), "{tokens:?}");
    let long = "word ".repeat(500);
    let tokens = encoder.tokenize(&long);
    assert_eq!(tokens.len(), edge_slm::encoder::MAX_SENTENCE_TOKENS);
    assert_eq!(tokens.last().map(|t| t.0), Some(102));
}

#[test]
fn a_missing_or_broken_model_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let missing = dir.join("missing.gguf");
    let err = SentenceEncoder::load(&missing, 1).expect_err("no file");
    assert!(err.to_string().contains("missing.gguf"), "{err}");
    let broken = dir.join("broken.gguf");
    std::fs::write(&broken, b"GGUF but not really").expect("write");
    let err = SentenceEncoder::load(&broken, 1).expect_err("garbage");
    assert!(err.to_string().contains("broken.gguf"), "{err}");
}
