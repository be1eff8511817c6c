//! `edge-agentctl nlu --jsonl FILE`: offline recognition and evaluation.

use anyhow::Context as _;
use edge_config::LoadOptions;
use edge_core::{LoadedManifest, Recognition};
use edge_intent::{Doubt, Evaluation, Expectation, HeardDoubts, TemplateEngine, builtin_manifests};
use edge_slm_client::{SlmTier, Thresholds};
use serde::Serialize;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct NluArgs {
    /// Input: one JSON object per line with at least "text" (`-` for stdin).
    #[arg(long)]
    jsonl: PathBuf,
    /// Lines also carry the expected "intent" and "slots": print accuracy per intent and
    /// command acceptance (intent and all slots right) to stderr.
    #[arg(long)]
    expect: bool,
    /// Skill directories (default: those of the configuration).
    #[arg(long = "skills")]
    skills: Vec<PathBuf>,
    /// Configuration file for entity lists and skill directories (default: the daemon's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// List every utterance that was not accepted (with --expect).
    #[arg(long)]
    misses: bool,
    /// For lines with "wav": a Wyoming ASR server (tcp://host:port, unix:///path).
    #[arg(long)]
    asr: Option<String>,
    /// For lines with "wav": start an edge-asr worker on this whisper.cpp model
    /// (default: asr.uri or asr.model of the configuration).
    #[arg(long)]
    asr_model: Option<PathBuf>,
    /// For lines with "wav": the penalty of the grammar-biased pass (default
    /// asr.grammar_penalty; 0 turns the pass off, as asr.grammar = false does).
    #[arg(long)]
    asr_grammar_penalty: Option<f32>,
    /// For lines with "wav": the largest loss of log-probability (nats, over the whole
    /// transcript) for which the grammar-biased transcript is taken (default
    /// asr.grammar_max_drop).
    #[arg(long)]
    asr_max_drop: Option<f32>,
    /// For lines with "wav": always ask about a grammar-made command with free text, even
    /// when the free transcript names the same command (the daemon's rule before the second
    /// opinion; for benchmarks).
    #[arg(long)]
    asr_no_second_opinion: bool,
    /// For lines with "wav": how many nats less likely a rival reading (one word swapped,
    /// another command) may be for the command to be asked about (default
    /// asr.rival_max_gap; 0 turns it off).
    #[arg(long)]
    asr_rival_max_gap: Option<f32>,
    /// For lines with "wav": ask about a command torn between readings at once, without
    /// the second listen in Whisper's whole window (asr.second_listen = false; for
    /// benchmarks).
    #[arg(long)]
    asr_no_second_listen: bool,
    /// For lines with "wav": a command the embedding tier or the SLM read from a
    /// transcript with a word heard below this probability (function words aside) is asked
    /// about (default asr.request_word_min_p; 0 turns it off).
    #[arg(long)]
    asr_request_word_min_p: Option<f32>,
    /// Only the template tier (by default every local tier the configuration enables and
    /// whose model is provisioned runs, as in the daemon).
    #[arg(long, conflicts_with_all = ["slm", "encoder", "slm_model"])]
    templates_only: bool,
    /// Ask the SLM tier (an `edge-slm` worker on slm.model) about utterances the earlier
    /// tiers reject even when slm.intents is off in the configuration.
    #[arg(long)]
    slm: bool,
    /// The GGUF model for the SLM tier (default: slm.model of the configuration, or the
    /// one `agent/models/provision.sh slm` put in the user cache).
    #[arg(long)]
    slm_model: Option<PathBuf>,
    /// The sentence encoder GGUF for the embedding tier (default: embedding.encoder of the
    /// configuration, or the one `agent/models/provision.sh` put in the user cache: the
    /// fine-tuned minilm-skills.gguf, else all-minilm-l6-v2.gguf).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Embedding tier classifier: `knn:K` (mean of the K nearest sentences per class),
    /// `prototype`, `logreg` or `logreg-veto:K` (the softmax chooses, kNN vetoes what it
    /// does not put ahead of none) (default: embedding.method and embedding.k of the
    /// configuration).
    #[arg(long, value_parser = parse_method)]
    embedding_method: Option<edge_embedding::Method>,
    /// Embedding tier thresholds (accept, margin over the runner-up, margin over none,
    /// ask); default: the configuration's `[embedding]`, chosen on the dev set.
    #[arg(long)]
    embedding_accept: Option<f32>,
    #[arg(long)]
    embedding_margin: Option<f32>,
    #[arg(long)]
    embedding_none_margin: Option<f32>,
    #[arg(long)]
    embedding_ask: Option<f32>,
}

fn parse_method(text: &str) -> Result<edge_embedding::Method, String> {
    match text.split_once(':') {
        None if text == "prototype" => Ok(edge_embedding::Method::Prototype),
        None if text == "logreg" => Ok(edge_embedding::Method::LogReg),
        Some(("logreg-veto", k)) => k
            .parse()
            .ok()
            .filter(|k| *k > 0)
            .map(|k| edge_embedding::Method::LogRegVeto { k })
            .ok_or_else(|| {
                format!("logreg-veto:K needs a whole number K of at least 1, not {k:?}")
            }),
        Some(("knn", k)) => k
            .parse()
            .ok()
            .filter(|k| *k > 0)
            .map(|k| edge_embedding::Method::Knn { k })
            .ok_or_else(|| format!("knn:K needs a whole number K of at least 1, not {k:?}")),
        _ => Err(format!(
            "{text:?}: expected knn:K, prototype, logreg or logreg-veto:K"
        )),
    }
}

/// The first of `candidates` that exists.
fn first_file(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}

/// The encoder the embedding tier uses: `given`, else the configured one, else the user
/// cache's fine-tuned then base encoder. `None` when none exists.
pub fn encoder_path(given: Option<&Path>, config: &edge_config::AgentConfig) -> Option<PathBuf> {
    match given {
        Some(path) => Some(path.to_owned()),
        None => first_file([
            config.embedding.encoder.clone(),
            crate::model_cache::cached_model("embed/minilm-skills.gguf"),
            crate::model_cache::cached_model("embed/all-minilm-l6-v2.gguf"),
        ]),
    }
}

/// The embedding tier's classifier and thresholds: the configuration's, with `args`'
/// overrides.
fn embedding_settings(
    args: &NluArgs,
    config: &edge_config::AgentConfig,
) -> (edge_embedding::Method, edge_embedding::Thresholds) {
    let section = &config.embedding;
    let method = args
        .embedding_method
        .unwrap_or_else(|| edge_embedding::Method::from(section));
    let base = edge_embedding::Thresholds::from(section);
    let thresholds = edge_embedding::Thresholds {
        accept: args.embedding_accept.unwrap_or(base.accept),
        margin: args.embedding_margin.unwrap_or(base.margin),
        none_margin: args.embedding_none_margin.unwrap_or(base.none_margin),
        ask: args.embedding_ask.unwrap_or(base.ask),
        ask_on_none_words: base.ask_on_none_words,
    };
    (method, thresholds)
}

#[derive(Debug, Serialize)]
struct OutputLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    wav: Option<&'a str>,
    /// What was said (the line's "text"), beside the transcript, for recordings.
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    /// The recogniser's hypotheses and which one the text was taken from.
    #[serde(skip_serializing_if = "Option::is_none")]
    heard: Option<&'a Heard>,
    /// A free-text slot held a word the recogniser doubted, or a rival reading of the audio
    /// was another command: the daemon would ask first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    asked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    asr_ms: Option<f64>,
    /// The recogniser's CPU time for the recording (`edge-asr` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    asr_cpu_ms: Option<f64>,
    text: &'a str,
    intent: &'a str,
    slots: &'a edge_core::Slots,
    confidence: f32,
    tier: edge_core::Tier,
    latency_us: u64,
    /// The SLM's raw answer, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    slm: Option<&'a edge_protocol::slm::SlmAnswer>,
    /// The embedding tier's ranking and decision, when it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    embedding: Option<&'a crate::embedding::EmbeddingAnswer>,
}

/// The template engine over the configured (or given) skills plus the built-in intents;
/// skipped skills are reported on stderr.
pub fn load_engine(
    config_path: Option<&Path>,
    skills: &[PathBuf],
) -> anyhow::Result<(edge_config::AgentConfig, TemplateEngine)> {
    let config = edge_config::load(&LoadOptions {
        config_path: config_path.map(Path::to_owned),
        env: None,
        overlay: None,
    })
    .context("loading the configuration")?;
    let dirs = if skills.is_empty() {
        config.skills.dirs.clone()
    } else {
        skills.to_vec()
    };
    let (mut manifests, errors) = LoadedManifest::discover(&dirs);
    for e in &errors {
        eprintln!("skipped skill: {e}");
    }
    manifests.extend(builtin_manifests());
    let (engine, errors) =
        TemplateEngine::compile(&manifests, &config.nlu.entities, config.nlu.min_confidence);
    for e in &errors {
        eprintln!("skipped skill: {e}");
    }
    eprintln!(
        "{} skills, {} intents, {} templates",
        manifests.len(),
        engine.intent_names().count(),
        engine.template_count()
    );
    Ok((config, engine))
}

/// The SLM tier over `schema` with the configured thresholds.
pub fn slm_tier(config: &edge_config::AgentConfig, schema: edge_intent::IntentSchema) -> SlmTier {
    SlmTier::new(schema, Thresholds::from(&config.slm))
}

pub fn run(args: &NluArgs) -> anyhow::Result<ExitCode> {
    let (config, engine) = load_engine(args.config.as_deref(), &args.skills)?;
    let embedding_on = !args.templates_only && (config.embedding.enabled || args.encoder.is_some());
    let mut embedding = match encoder_path(args.encoder.as_deref(), &config) {
        Some(encoder) if embedding_on => {
            let (method, thresholds) = embedding_settings(args, &config);
            Some(crate::embedding::EmbeddingRunner::start(
                &encoder,
                &engine,
                &edge_intent::builtin_negatives(),
                method,
                thresholds,
                &config,
            )?)
        }
        None if embedding_on => {
            eprintln!(
                "embedding tier: off: no encoder at embedding.encoder ({}) nor in the user cache (run agent/models/provision.sh embed)",
                config.embedding.encoder.display()
            );
            None
        }
        _ => None,
    };
    let slm_on = args.slm
        || args.slm_model.is_some()
        || (!args.templates_only && config.slm.enabled && config.slm.intents);
    let slm_model = args.slm_model.clone().or_else(|| {
        first_file([
            config.slm.model.clone(),
            crate::model_cache::cached_model("slm/smollm2-135m-instruct.gguf"),
        ])
    });
    let mut slm = if slm_on {
        let model = slm_model.context(format!(
            "the SLM tier: slm.model {} does not exist, nor SmolLM2 in the user cache (run agent/models/provision.sh slm)",
            config.slm.model.display()
        ))?;
        eprintln!("SLM tier: model {}", model.display());
        let schema = engine.schema_with_examples(config.slm.examples_per_intent);
        Some(crate::slm::SlmRunner::start(
            &model,
            slm_tier(&config, schema),
            &config,
        )?)
    } else {
        None
    };

    let input: Box<dyn std::io::Read> = if args.jsonl.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&args.jsonl)
                .with_context(|| format!("{}: cannot open", args.jsonl.display()))?,
        )
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut evaluation = Evaluation::default();
    let mut latencies = Vec::new();
    let mut bad_lines = 0usize;
    let mut transcriber: Option<crate::speech::Transcriber> = None;
    let penalty = args
        .asr_grammar_penalty
        .unwrap_or(config.asr.grammar_penalty);
    let max_drop = args.asr_max_drop.unwrap_or(config.asr.grammar_max_drop);
    let rival_max_gap = args.asr_rival_max_gap.unwrap_or(config.asr.rival_max_gap);
    let second_listen = config.asr.second_listen && !args.asr_no_second_listen;
    let request_word_min_p = args
        .asr_request_word_min_p
        .unwrap_or(config.asr.request_word_min_p);
    // As the daemon asks (`Speech::hints`): the prompt, and the skills' grammar.
    let hints = edge_speech::RecognitionHints {
        prompt: if config.asr.vocabulary_prompt {
            edge_speech::vocabulary_prompt(&config.nlu.entities, &config.asr.prompt_words)
        } else {
            String::new()
        },
        grammar: (config.asr.grammar && penalty > 0.0).then(|| engine.recognition_grammar().into()),
        known_grammar: engine.known_values_grammar().map(Into::into),
        grammar_penalty: Some(penalty),
        grammar_max_drop: Some(max_drop),
        rival_max_gap: Some(rival_max_gap),
        whole_window: false,
    };
    let (mut second_listens, mut settled) = (0usize, 0usize);
    let (mut biased_passes, mut biased_taken, mut asked_count) = (0usize, 0usize, 0usize);
    let (mut rival_asked, mut barely_asked) = (0usize, 0usize);
    let (mut corroborated, mut known_found, mut known_asked) = (0usize, 0usize, 0usize);
    let (mut word_edits, mut reference_words, mut recordings) = (0usize, 0usize, 0usize);
    let mut asr_latencies = Vec::new();
    let mut asr_cpu = Vec::new();
    let base = args.jsonl.parent().map(Path::to_owned).unwrap_or_default();
    for (index, line) in BufReader::new(input).lines().enumerate() {
        let line_no = index + 1;
        let line =
            line.with_context(|| format!("{}:{line_no}: cannot read", args.jsonl.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let (mut expectation, wav) = match parse_line(&line, args.expect) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{}:{line_no}: {e}", args.jsonl.display());
                bad_lines += 1;
                continue;
            }
        };
        let mut reference = None;
        let mut asr_ms = None;
        let mut asr_cpu_ms = None;
        let mut heard = None;
        let mut heard_doubts = HeardDoubts::default();
        if let Some(wav) = &wav {
            let path = base.join(wav);
            if transcriber.is_none() {
                transcriber = Some(crate::speech::Transcriber::start(
                    args.asr.as_deref(),
                    args.asr_model.as_deref(),
                    &config,
                )?);
            }
            let Some(asr) = transcriber.as_mut() else {
                continue;
            };
            match asr.transcribe(&path, &hints) {
                Ok((mut transcript, mut ms)) => {
                    if let Some(e) = &transcript.grammar_error {
                        eprintln!(
                            "{}:{line_no}: the recogniser refused the grammar: {e}",
                            args.jsonl.display()
                        );
                    }
                    let mut chosen = edge_speech::choose(
                        &transcript,
                        |text| engine.command_free_text(text),
                        |heard, reading| engine.names_the_machines_heard(heard, reading),
                        max_drop,
                    );
                    if chosen.confirm && !args.asr_no_second_opinion {
                        let intent = engine.recognize(&chosen.text).intent;
                        // As the daemon: a reading that mends only the carrier's sound
                        // beside a typed value heard in both needs no other opinion.
                        let free_intent = if engine
                            .mends_only_by_sound(&transcript.text, &chosen.text)
                        {
                            Some(intent.clone())
                        } else {
                            second_opinion(&engine, embedding.as_mut(), &transcript.text)
                                .with_context(|| format!("{}:{line_no}", args.jsonl.display()))?
                        };
                        corroborated +=
                            usize::from(chosen.corroborate(&intent, free_intent.as_deref()));
                    }
                    // As the daemon: a command torn between two readings is listened to
                    // again in the whole window before it is asked about.
                    let mut cpu_ms = transcript.cpu_ms;
                    let mut again_heard = None;
                    if second_listen
                        && let Some(readings) = edge_speech::torn_readings(
                            &transcript,
                            &chosen,
                            rival_max_gap,
                            |rivals| {
                                let recognition = engine.recognize(&chosen.text);
                                engine
                                    .rival_command(&chosen.text, &recognition, rivals)
                                    .map(str::to_owned)
                            },
                        )
                    {
                        second_listens += 1;
                        let (again, again_ms) = asr
                            .transcribe(&path, &hints.second_listen())
                            .with_context(|| {
                                format!("{}:{line_no}: second listen", args.jsonl.display())
                            })?;
                        ms += again_ms;
                        cpu_ms = cpu_ms.zip(again.cpu_ms).map(|(a, b)| a + b);
                        again_heard = Some(again.text.clone());
                        if edge_speech::second_listen_settles(&readings, &again, rival_max_gap) {
                            settled += 1;
                            transcript = again;
                            chosen = edge_speech::choose(
                                &transcript,
                                |text| engine.command_free_text(text),
                                |heard, reading| engine.names_the_machines_heard(heard, reading),
                                max_drop,
                            );
                        }
                    }
                    let found =
                        |source: &str| transcript.hypotheses.iter().any(|h| h.source == source);
                    biased_passes += usize::from(found("grammar"));
                    known_found += usize::from(found("known"));
                    biased_taken += usize::from(chosen.source == "grammar");
                    known_asked += usize::from(chosen.source == "known");
                    let mut doubted = edge_speech::doubted_words(
                        &transcript,
                        &chosen,
                        config.asr.free_text_min_p,
                    );
                    if !chosen.confirm {
                        doubted = engine.unsure_beyond_known(&chosen.text, doubted);
                    }
                    heard_doubts = HeardDoubts {
                        unsure_words: doubted,
                        barely_heard: edge_speech::words_below(
                            &transcript,
                            &chosen,
                            request_word_min_p,
                        ),
                        rivals: edge_speech::rival_readings(&transcript, &chosen, rival_max_gap),
                    };
                    let said = std::mem::replace(&mut expectation.text, chosen.text);
                    heard = Some(Heard {
                        second_listen: again_heard,
                        corroborated: chosen.corroborated,
                        source: chosen.source,
                        hypotheses: transcript.hypotheses,
                    });
                    if !said.is_empty() {
                        let (edits, words) = crate::speech::word_errors(&said, &expectation.text);
                        word_edits += edits;
                        reference_words += words;
                    }
                    recordings += 1;
                    asr_latencies.push(ms);
                    asr_cpu_ms = cpu_ms;
                    asr_cpu.extend(cpu_ms);
                    asr_ms = Some((ms * 10.0).round() / 10.0);
                    reference = Some(said);
                }
                Err(e) => {
                    eprintln!("{}:{line_no}: {e:#}", args.jsonl.display());
                    bad_lines += 1;
                    continue;
                }
            }
        }
        let started = Instant::now();
        let mut recognition: Recognition = engine.recognize(&expectation.text);
        // As the daemon, after whichever tier answered.
        let ask = |recognition: &mut Recognition| {
            ask_instead(&engine, recognition, &expectation.text, &heard_doubts)
        };
        let mut asked = ask(&mut recognition);
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        // As the daemon: a reading that rests on free text gets the embedding tier's
        // second look; overruled, it is read as if the templates had rejected it.
        let mut overruled = None;
        if engine.rests_on_free_text(&recognition)
            && let Some(tier) = embedding.as_mut()
            && let Some(answer) = tier
                .second_look(&engine, &expectation.text, &recognition.intent)
                .with_context(|| format!("{}:{line_no}", args.jsonl.display()))?
        {
            recognition = Recognition::none();
            asked = ask(&mut recognition);
            overruled = Some(answer);
        }
        let mut embedding_answer = None;
        if recognition.is_none()
            && asked.is_none()
            && let Some(tier) = embedding.as_mut()
        {
            let (r, answer) = match overruled {
                Some(answer) => answer,
                None => tier
                    .recognize(&engine, &expectation.text)
                    .with_context(|| format!("{}:{line_no}", args.jsonl.display()))?,
            };
            recognition = r;
            asked = ask(&mut recognition);
            embedding_answer = Some(answer);
        }
        let mut slm_answer = None;
        if recognition.is_none()
            && asked.is_none()
            && let Some(slm) = slm.as_mut()
        {
            let (r, answer) = slm
                .recognize(&expectation.text)
                .with_context(|| format!("{}:{line_no}", args.jsonl.display()))?;
            recognition = r;
            asked = ask(&mut recognition);
            slm_answer = Some(answer);
        }
        asked_count += usize::from(asked.is_some());
        rival_asked += usize::from(matches!(asked, Some(Doubt::Rival(_))));
        barely_asked += usize::from(asked == Some(Doubt::BarelyHeard));
        latencies.push(latency_us);
        serde_json::to_writer(
            &mut out,
            &OutputLine {
                wav: wav.as_deref(),
                reference: reference.as_deref(),
                heard: heard.as_ref(),
                asked: asked.is_some(),
                asr_ms,
                asr_cpu_ms,
                text: &expectation.text,
                intent: &recognition.intent,
                slots: &recognition.slots,
                confidence: recognition.confidence,
                tier: recognition.tier,
                latency_us,
                slm: slm_answer.as_ref(),
                embedding: embedding_answer.as_ref(),
            },
        )?;
        writeln!(out)?;
        if args.expect {
            evaluation.record(&expectation, &recognition);
        }
    }
    out.flush()?;
    if args.expect {
        eprint!("{}", evaluation.report());
        if args.misses {
            for m in &evaluation.misses {
                eprintln!(
                    "MISS {:?}: expected {} {:?}, got {} {:?}",
                    m.text, m.expected.0, m.expected.1, m.got.0, m.got.1
                );
            }
        }
    }
    if !latencies.is_empty() {
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "template tier latency: p50 {} us, p99 {} us, max {} us over {} utterances",
            pct(0.5),
            pct(0.99),
            pct(1.0),
            latencies.len()
        );
    }
    if let Some(tier) = embedding.as_mut() {
        eprintln!("{}", tier.report());
    }
    if let Some(slm) = slm.as_mut() {
        eprintln!("{}", slm.report());
    }
    if recordings > 0 {
        asr_latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| asr_latencies[((asr_latencies.len() - 1) as f64 * p).round() as usize];
        let cpu = if asr_cpu.is_empty() {
            String::new()
        } else {
            format!(
                ", recogniser CPU per recording mean {:.0} ms",
                asr_cpu.iter().sum::<f64>() / asr_cpu.len() as f64
            )
        };
        eprintln!(
            "speech: {recordings} recordings, word error rate {:.1}% ({word_edits} edits / {reference_words} words), end of audio to transcript p50 {:.0} ms, p95 {:.0} ms{cpu}; grammar-biased pass on {biased_passes}, taken {biased_taken} (penalty {penalty}, max drop {max_drop}; {corroborated} with free text named by the free transcript too, not asked first); a reading with a known free-text value found for {known_found} commands heard with another, asked about for {known_asked}; {asked_count} commands asked about (counted as not accepted): {rival_asked} for a rival reading nearly as likely (max gap {rival_max_gap}), {barely_asked} read by a lenient tier from a word barely heard (p < {request_word_min_p}), the rest for doubted free text; {second_listens} commands torn between two readings listened to again in the whole window, {settled} settled",
            100.0 * word_edits as f64 / reference_words.max(1) as f64,
            pct(0.5),
            pct(0.95)
        );
    }
    if bad_lines > 0 {
        eprintln!("{bad_lines} malformed lines skipped");
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// As the daemon (`Pipeline::second_opinion`): what `text` means on its own, the template
/// tier's intent, else the one the embedding tier would act on or ask about.
fn second_opinion(
    engine: &TemplateEngine,
    embedding: Option<&mut crate::embedding::EmbeddingRunner>,
    text: &str,
) -> anyhow::Result<Option<String>> {
    let recognition = engine.recognize(text);
    if !recognition.is_none() {
        return Ok(Some(recognition.intent));
    }
    match embedding {
        Some(tier) => tier.leaning_intent(engine, text),
        None => Ok(None),
    }
}

/// As the daemon (`TemplateEngine::doubt`): a free-text slot heard with a doubted word,
/// whichever tier filled it, a lenient tier's command read from a word barely heard, or a
/// command that a rival reading of the audio makes another, is asked about, so it is no
/// action (counted as not accepted). Returns why it was.
fn ask_instead<'d>(
    engine: &TemplateEngine,
    recognition: &mut Recognition,
    text: &str,
    heard: &'d HeardDoubts,
) -> Option<Doubt<'d>> {
    let doubt = engine.doubt(recognition, text, heard);
    if doubt.is_some() {
        *recognition = Recognition::none();
    }
    doubt
}

/// What the recogniser heard in a recording.
#[derive(Debug, Serialize)]
struct Heard {
    /// `free` or `grammar`.
    source: String,
    /// The free transcript named the same command as the grammar's (not asked first).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    corroborated: bool,
    /// The free transcript of a second listen (whole window), when the command was torn
    /// between two readings; `hypotheses` are that listen's when it settled them.
    #[serde(skip_serializing_if = "Option::is_none")]
    second_listen: Option<String>,
    hypotheses: Vec<edge_speech::Hypothesis>,
}

/// A line: `{"text", ...}`, or `{"wav", "text"?: reference transcript, ...}`.
fn parse_line(line: &str, expect: bool) -> Result<(Expectation, Option<String>), String> {
    let mut value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let wav = match value.get("wav") {
        None => None,
        Some(serde_json::Value::String(w)) => Some(w.clone()),
        Some(other) => return Err(format!("\"wav\" must be a path string, found {other}")),
    };
    if wav.is_some() && value.get("text").is_none() {
        value["text"] = serde_json::Value::String(String::new());
    }
    if expect {
        return serde_json::from_value(value)
            .map(|e| (e, wav))
            .map_err(|e| format!("expected {{\"text\" or \"wav\", \"intent\", \"slots\"}}: {e}"));
    }
    let text = match value.get("text") {
        Some(serde_json::Value::String(t)) => t.clone(),
        _ => return Err("expected {\"text\": ...} or {\"wav\": ...}".into()),
    };
    Ok((
        Expectation {
            text,
            intent: String::new(),
            slots: Default::default(),
            kind: None,
        },
        wav,
    ))
}
