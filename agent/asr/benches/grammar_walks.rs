//! The repairs' grammar walks (`repair::repairs` over the example skills' recognition
//! grammar) on the dev set's lines the grammar does not accept, written as Whisper writes
//! them: each transcript with the grammar's table of steps cold (a grammar parsed afresh)
//! and warm (the same grammar again, as a worker's next requests find it). The free pass's
//! ranking of first words is stood in for by a fixed pseudo-random one, so the walks are
//! the same in every run.
//!
//! `cargo bench -p edge-asr --bench grammar_walks`

#[path = "../tests/common/mod.rs"]
mod common;

use edge_asr::repair::{self, Prior};
use edge_asr::{Grammar, TextCursor};
use std::time::Instant;

/// Ranks each word at each step somewhere in the 10 nats below the best, by a hash.
struct Scattered;

impl Prior for Scattered {
    fn first_token(&self, step: usize, word: &str) -> Option<f32> {
        let hash = word
            .bytes()
            .fold(step as u32 * 31, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        Some(-((hash % 100) as f32) / 10.0)
    }
}

/// A line as Whisper's tokens roughly fall: a capital first, each word after a space, its
/// punctuation a token of its own, a full stop at the end.
fn whisper_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for (i, word) in text.split_whitespace().enumerate() {
        let bare = word.trim_end_matches([',', '.', '?', '!']);
        let mut spelled = bare.to_owned();
        if i == 0 {
            spelled = bare[..1].to_uppercase() + &bare[1..];
        }
        tokens.push(format!(" {spelled}"));
        if bare.len() < word.len() {
            tokens.push(word[bare.len()..].to_owned());
        }
    }
    if tokens.last().is_some_and(|t| t.starts_with(' ')) {
        tokens.push(".".to_owned());
    }
    tokens
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p / 100.0).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn main() {
    let gbnf = common::engine().recognition_grammar();
    let dev = std::fs::read_to_string(common::repo().join("tests/resources/nlu/dev.jsonl"))
        .expect("the dev set");
    let probe = Grammar::parse(&gbnf, "root").expect("the skills' grammar");
    let lines: Vec<Vec<String>> = dev
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| {
            v["text"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(whisper_tokens)
        })
        .filter(|tokens| !TextCursor::accepts(&probe, &tokens.concat()))
        .collect();
    let walk = |grammar: &Grammar, tokens: &[String]| {
        let texts: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let words = grammar.words();
        let started = Instant::now();
        let found = repair::repairs(
            grammar,
            &words,
            &texts,
            &Scattered,
            |_| Some(0.0),
            10.0,
            400,
        );
        (started.elapsed().as_secs_f64() * 1e3, found.len())
    };
    let (mut cold, mut warm, mut repairs) = (Vec::new(), Vec::new(), 0);
    let mut remembered = (0, 0);
    for tokens in &lines {
        let grammar = Grammar::parse(&gbnf, "root").expect("the skills' grammar");
        let (ms, found) = walk(&grammar, tokens);
        cold.push(ms);
        repairs += found;
        let (ms, again) = walk(&grammar, tokens);
        assert_eq!(found, again, "a remembered step leads where it did");
        warm.push(ms);
        remembered.0 = remembered.0.max(grammar.remembered().0);
        remembered.1 = remembered.1.max(grammar.remembered().1);
    }
    // A worker's table after every line: each line's repairs on one grammar.
    let shared = Grammar::parse(&gbnf, "root").expect("the skills' grammar");
    let started = Instant::now();
    for tokens in &lines {
        walk(&shared, tokens);
    }
    let shared_ms = started.elapsed().as_secs_f64() * 1e3 / lines.len() as f64;
    let (states, positions) = shared.remembered();
    for v in [&mut cold, &mut warm] {
        v.sort_by(f64::total_cmp);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "{} dev lines outside the grammar, {:.1} repairs each on average\n",
        lines.len(),
        repairs as f64 / lines.len() as f64
    );
    println!("| table of steps | mean ms | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    println!(
        "| cold (a grammar parsed for the line) | {:.2} | {:.2} | {:.2} |",
        mean(&cold),
        percentile(&cold, 50.0),
        percentile(&cold, 95.0)
    );
    println!(
        "| warm (the same line again) | {:.2} | {:.2} | {:.2} |",
        mean(&warm),
        percentile(&warm, 50.0),
        percentile(&warm, 95.0)
    );
    println!("| one grammar for every line, in turn | {shared_ms:.2} | | |");
    println!(
        "\nremembered: at most {} states / {} positions for one line; {states} / {positions} after every line (emptied beyond 400000 positions)",
        remembered.0, remembered.1
    );
}
