//! One compiler, two outputs: the recognition grammar the template tier writes for the
//! example skills is read by the recogniser's matcher, and agrees with the template tier on
//! what is a command.

mod common;

use common::{engine, repo};
use edge_asr::{Grammar, TextCursor};

fn texts(file: &str) -> Vec<String> {
    std::fs::read_to_string(repo().join(file))
        .expect(file)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect(l);
            v["text"].as_str().expect("text").to_owned()
        })
        .collect()
}

#[test]
fn the_skills_grammar_accepts_what_the_templates_accept_and_little_else() {
    let engine = engine();
    let gbnf = engine.recognition_grammar();
    let started = std::time::Instant::now();
    let grammar = Grammar::parse(&gbnf, "root").expect("the generated grammar parses");
    eprintln!("{} bytes read in {:?}", gbnf.len(), started.elapsed());
    let mut lines = texts("tests/speech/commands.jsonl");
    lines.extend(texts("tests/resources/nlu/dev.jsonl"));
    let (mut both, mut only_templates, mut only_grammar, mut neither) = (0, vec![], vec![], 0);
    for text in &lines {
        let template = engine.recognize_exact(text).intent != "none";
        // Whisper's way of writing it: capitals, punctuation.
        let end = if text.ends_with(['.', '!', '?']) {
            ""
        } else {
            "."
        };
        let spoken = format!(" {}{end}", capitalise(text));
        match (template, TextCursor::accepts(&grammar, &spoken)) {
            (true, true) => both += 1,
            (true, false) => only_templates.push(text.clone()),
            (false, true) => only_grammar.push(text.clone()),
            (false, false) => neither += 1,
        }
    }
    eprintln!(
        "{} lines: both {both}, neither {neither}, templates only {}, grammar only {}",
        lines.len(),
        only_templates.len(),
        only_grammar.len()
    );
    assert!(both > 250, "{both}");
    assert!(
        only_templates.is_empty(),
        "the grammar refuses what the templates accept: {only_templates:#?}"
    );
    // The grammar is looser only where the matcher applies a rule the grammar cannot
    // (a slot's value bounds, a fraction where an integer is wanted).
    assert!(
        only_grammar.len() * 50 <= lines.len(),
        "the grammar accepts what the templates refuse: {only_grammar:#?}"
    );
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
