//! GBNF grammars (the format of llama.cpp and whisper.cpp) read into a character matcher,
//! and a cursor that follows Whisper's text through it.
//!
//! whisper.cpp can bias decoding toward a grammar itself, but whisper-rs 0.16 hands it the
//! rules in a shape it cannot read (`set_grammar` passes a flat element array where the C
//! API wants an array of rule pointers, which crashes), so the recogniser applies the
//! grammar through the logits filter instead (see `bias`), with this matcher.
//!
//! Supported: rules `name ::= ...` one per line (continued inside parentheses), string
//! literals with `\"` `\\` `\n` `\t` escapes, character classes `[a-z0-9]` and `[^...]`,
//! rule references, groups, and `*` `+` `?`. Left recursion does not hang: expansion stops
//! at a depth limit, so a left-recursive branch simply matches nothing.
//!
//! Text is compared the way the template tier normalises it: lowercase, apostrophes
//! dropped, hyphens as spaces, one space before each word, and a decimal point kept where
//! the grammar allows one ("21.5"). Punctuation is ignored only where a writer puts it
//! (see [`TextCursor`]).
//!
//! The matcher builds its automaton lazily: each step taken from a set of partial matches
//! is remembered ([`Transitions`]), so the same walk again (a repair's words tried at
//! several places, the same grammar on the next request) costs a lookup, not a new set.

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A grammar that does not parse, saying where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("rule {0:?} is used but never defined")]
    Undefined(String),
    #[error("the grammar has no start rule {0:?}")]
    NoStart(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CharSet {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl CharSet {
    fn single(c: char) -> Self {
        Self {
            ranges: vec![(c, c)],
            negated: false,
        }
    }

    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Sym {
    Chars(CharSet),
    Rule(u32),
}

/// A parsed grammar: rules of alternatives of symbol sequences.
#[derive(Debug, Clone)]
pub struct Grammar {
    rules: Vec<Vec<Vec<Sym>>>,
    start: u32,
    /// Steps already taken (shared by clones: the rules are the same).
    transitions: Arc<Mutex<Transitions>>,
}

type Stacks = Arc<Vec<Vec<Pos>>>;

/// Partial matches held by [`Transitions`] before it starts afresh (about 12 bytes each,
/// plus a stack's own 24): a few megabytes, several requests' worth of repairs.
const MAX_REMEMBERED_POSITIONS: usize = 400_000;

/// The sets of partial matches met so far, each numbered once, and the steps between them
/// by character. When full it is emptied and numbering starts again in a new generation,
/// so a state numbered in an old one is simply looked up afresh.
#[derive(Debug, Default)]
struct Transitions {
    /// Positions held before starting afresh.
    capacity: usize,
    generation: u32,
    ids: FxHashMap<Stacks, u32>,
    states: Vec<Stacks>,
    start: Option<u32>,
    next: FxHashMap<(u32, char), u32>,
    positions: usize,
}

impl Transitions {
    /// The number of a set of partial matches, numbering it if new.
    fn id_of(&mut self, stacks: &Stacks) -> u32 {
        if let Some(&id) = self.ids.get(stacks) {
            return id;
        }
        let id = self.states.len() as u32;
        self.positions += stacks.iter().map(|s| s.len() + 2).sum::<usize>();
        self.states.push(stacks.clone());
        self.ids.insert(stacks.clone(), id);
        id
    }

    fn state(&self, id: u32) -> MatchState {
        MatchState {
            stacks: self.states[id as usize].clone(),
            key: Some((self.generation, id)),
        }
    }

    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    fn start_again_if_full(&mut self) {
        if self.positions > self.capacity {
            *self = Self {
                generation: self.generation.wrapping_add(1),
                ..Self::new(self.capacity)
            };
        }
    }
}

/// Where a partial match stands inside one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Pos {
    rule: u32,
    alt: u32,
    idx: u32,
}

/// Deepest chain of rule references followed without reading a character.
const MAX_DEPTH: usize = 64;
/// Most partial matches kept at once; beyond it the oldest alternatives are dropped.
const MAX_STACKS: usize = 20_000;

/// The set of partial matches after some text.
#[derive(Debug, Clone, Default)]
pub struct MatchState {
    /// Each stack's top is at a character symbol, or the stack is empty (complete).
    /// Shared: the decoder tries many tokens from one state, and a copy must cost nothing.
    stacks: Stacks,
    /// Its number in the grammar's [`Transitions`] (generation, id), once it has one.
    key: Option<(u32, u32)>,
}

impl MatchState {
    /// No way forward: the text left the grammar.
    pub fn is_dead(&self) -> bool {
        self.stacks.is_empty()
    }

    /// The text so far is a whole sentence of the grammar.
    pub fn is_complete(&self) -> bool {
        self.stacks.iter().any(Vec::is_empty)
    }

    /// Number of partial matches (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

impl Grammar {
    /// Reads GBNF text; `start` names the start rule (`root` by convention).
    pub fn parse(text: &str, start: &str) -> Result<Self, GrammarError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
            names: BTreeMap::new(),
            rules: Vec::new(),
            defined: Vec::new(),
        };
        parser.grammar()?;
        for (name, &id) in &parser.names {
            if !parser.defined[id as usize] {
                return Err(GrammarError::Undefined(name.clone()));
            }
        }
        let start = *parser
            .names
            .get(start)
            .ok_or_else(|| GrammarError::NoStart(start.to_owned()))?;
        Ok(Self {
            rules: parser.rules,
            start,
            transitions: Arc::new(Mutex::new(Transitions::new(MAX_REMEMBERED_POSITIONS))),
        })
    }

    /// The words its literals spell (lowercase, each once, sorted): the runs of single
    /// letters, digits and apostrophes between spaces, within one alternative. A run that
    /// touches a rule reference may be part of a word ("twenty" + a rule for "-one"); it is
    /// listed as it is, and simply fails where a whole word is wanted.
    pub fn words(&self) -> Vec<String> {
        let mut words = std::collections::BTreeSet::new();
        for alt in self.rules.iter().flatten() {
            let mut word = String::new();
            for sym in alt {
                let letter = match sym {
                    Sym::Chars(set) if !set.negated && set.ranges.len() == 1 => {
                        let (lo, hi) = set.ranges[0];
                        (lo == hi && (lo.is_alphanumeric() || lo == '\'')).then_some(lo)
                    }
                    _ => None,
                };
                match letter {
                    Some(c) => word.extend(c.to_lowercase()),
                    None if !word.is_empty() => {
                        words.insert(std::mem::take(&mut word));
                    }
                    None => {}
                }
            }
            if !word.is_empty() {
                words.insert(word);
            }
        }
        words.into_iter().collect()
    }

    /// The partial matches before any text.
    pub fn start(&self) -> MatchState {
        let mut transitions = self.transitions();
        if let Some(id) = transitions.start {
            return transitions.state(id);
        }
        let start = self.start_afresh();
        let id = transitions.id_of(&start.stacks);
        transitions.start = Some(id);
        transitions.state(id)
    }

    fn start_afresh(&self) -> MatchState {
        let mut out = Vec::new();
        for alt in 0..self.rules[self.start as usize].len() {
            self.expand(
                vec![Pos {
                    rule: self.start,
                    alt: alt as u32,
                    idx: 0,
                }],
                &mut out,
                0,
            );
        }
        dedup(out)
    }

    /// How many sets of partial matches, and positions in them, the grammar remembers (for
    /// the benchmark and tests).
    pub fn remembered(&self) -> (usize, usize) {
        let transitions = self.transitions();
        (transitions.states.len(), transitions.positions)
    }

    fn transitions(&self) -> MutexGuard<'_, Transitions> {
        // The table holds no invariant a panicking holder could break halfway.
        self.transitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The partial matches after one more character (a step taken before is looked up).
    pub fn advance(&self, state: &MatchState, c: char) -> MatchState {
        let from = {
            let mut transitions = self.transitions();
            let from = match state.key {
                Some((generation, id)) if generation == transitions.generation => id,
                _ => transitions.id_of(&state.stacks),
            };
            if let Some(&to) = transitions.next.get(&(from, c)) {
                let next = transitions.state(to);
                transitions.start_again_if_full();
                return next;
            }
            (transitions.generation, from)
        };
        let next = self.step(state, c);
        let mut transitions = self.transitions();
        if transitions.generation != from.0 {
            return next;
        }
        let to = transitions.id_of(&next.stacks);
        transitions.next.insert((from.1, c), to);
        let next = transitions.state(to);
        transitions.start_again_if_full();
        next
    }

    /// One character's step, computed.
    fn step(&self, state: &MatchState, c: char) -> MatchState {
        let mut out = Vec::new();
        for stack in state.stacks.iter() {
            let Some(top) = stack.last() else { continue };
            let Sym::Chars(set) =
                &self.rules[top.rule as usize][top.alt as usize][top.idx as usize]
            else {
                continue;
            };
            if set.matches(c) {
                let mut next = stack.clone();
                if let Some(t) = next.last_mut() {
                    t.idx += 1;
                }
                self.expand(next, &mut out, 0);
                if out.len() > MAX_STACKS {
                    break;
                }
            }
        }
        dedup(out)
    }

    /// Follows rule references and finished rules until every stack's top is at a character.
    fn expand(&self, mut stack: Vec<Pos>, out: &mut Vec<Vec<Pos>>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        // Pop finished frames (their caller already points past the reference).
        loop {
            match stack.last() {
                None => {
                    out.push(stack);
                    return;
                }
                Some(top) => {
                    let seq = &self.rules[top.rule as usize][top.alt as usize];
                    if (top.idx as usize) < seq.len() {
                        break;
                    }
                    stack.pop();
                }
            }
        }
        let top = *stack.last().unwrap_or(&Pos {
            rule: 0,
            alt: 0,
            idx: 0,
        });
        match &self.rules[top.rule as usize][top.alt as usize][top.idx as usize] {
            Sym::Chars(_) => out.push(stack),
            Sym::Rule(callee) => {
                let mut caller = stack;
                if let Some(t) = caller.last_mut() {
                    t.idx += 1;
                }
                // A caller with nothing left after the reference is dropped now, so that
                // repetition (`x*` as `r ::= x r | ""`) keeps stacks short.
                if caller.last().is_some_and(|t| {
                    t.idx as usize >= self.rules[t.rule as usize][t.alt as usize].len()
                }) {
                    caller.pop();
                }
                for alt in 0..self.rules[*callee as usize].len() {
                    let mut next = caller.clone();
                    next.push(Pos {
                        rule: *callee,
                        alt: alt as u32,
                        idx: 0,
                    });
                    self.expand(next, out, depth + 1);
                }
            }
        }
    }
}

/// The stacks, each once, in their first order. Hashed in place with a fast hash: copying
/// every stack into a set with the default hash was about half the matcher's time.
fn dedup(mut stacks: Vec<Vec<Pos>>) -> MatchState {
    if stacks.len() > 1 {
        let mut seen = FxHashSet::with_capacity_and_hasher(stacks.len(), Default::default());
        let first: Vec<bool> = stacks.iter().map(|s| seen.insert(s.as_slice())).collect();
        drop(seen);
        let mut first = first.into_iter();
        stacks.retain(|_| first.next().unwrap_or(false));
    }
    MatchState {
        stacks: Arc::new(stacks),
        key: None,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    names: BTreeMap<String, u32>,
    rules: Vec<Vec<Vec<Sym>>>,
    defined: Vec<bool>,
}

impl Parser {
    fn error(&self, message: impl Into<String>) -> GrammarError {
        let before = &self.chars[..self.pos.min(self.chars.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let column = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        GrammarError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Skips blanks and comments; newlines too when `newlines` (inside parentheses).
    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else if c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn rule_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = self.new_rule();
        self.names.insert(name.to_owned(), id);
        id
    }

    fn new_rule(&mut self) -> u32 {
        self.rules.push(Vec::new());
        self.defined.push(false);
        (self.rules.len() - 1) as u32
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    fn grammar(&mut self) -> Result<(), GrammarError> {
        loop {
            self.space(true);
            if self.peek().is_none() {
                return Ok(());
            }
            let Some(name) = self.name() else {
                return Err(self.error("expected a rule name"));
            };
            self.space(false);
            if !self.chars[self.pos..].starts_with(&[':', ':', '=']) {
                return Err(self.error(format!("expected ::= after the rule name {name:?}")));
            }
            self.pos += 3;
            self.space(false);
            let id = self.rule_id(&name);
            if self.defined[id as usize] {
                return Err(self.error(format!("rule {name:?} is defined twice")));
            }
            let alts = self.alternatives(false)?;
            self.rules[id as usize] = alts;
            self.defined[id as usize] = true;
            match self.peek() {
                None | Some('\n') => {}
                Some(c) => return Err(self.error(format!("unexpected {c:?}"))),
            }
        }
    }

    fn alternatives(&mut self, nested: bool) -> Result<Vec<Vec<Sym>>, GrammarError> {
        let mut alts = vec![self.sequence(nested)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            self.space(true);
            alts.push(self.sequence(nested)?);
        }
        Ok(alts)
    }

    fn sequence(&mut self, nested: bool) -> Result<Vec<Sym>, GrammarError> {
        let mut seq = Vec::new();
        loop {
            let term: Vec<Sym> = match self.peek() {
                Some('"') => self.literal()?,
                Some('[') => vec![Sym::Chars(self.class()?)],
                Some('(') => {
                    self.pos += 1;
                    self.space(true);
                    let alts = self.alternatives(true)?;
                    if self.peek() != Some(')') {
                        return Err(self.error("expected )"));
                    }
                    self.pos += 1;
                    let id = self.new_rule();
                    self.rules[id as usize] = alts;
                    self.defined[id as usize] = true;
                    vec![Sym::Rule(id)]
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                    let name = self.name().unwrap_or_default();
                    vec![Sym::Rule(self.rule_id(&name))]
                }
                _ => break,
            };
            let term = match self.peek() {
                Some('*') => {
                    self.pos += 1;
                    vec![Sym::Rule(self.repeat(&term))]
                }
                Some('+') => {
                    self.pos += 1;
                    let rest = self.repeat(&term);
                    let mut once = term;
                    once.push(Sym::Rule(rest));
                    once
                }
                Some('?') => {
                    self.pos += 1;
                    let id = self.new_rule();
                    self.rules[id as usize] = vec![term, Vec::new()];
                    self.defined[id as usize] = true;
                    vec![Sym::Rule(id)]
                }
                Some('{') => return Err(self.error("{m,n} repetition is not supported")),
                _ => term,
            };
            seq.extend(term);
            self.space(nested);
        }
        Ok(seq)
    }

    /// `r ::= term r | ""`.
    fn repeat(&mut self, term: &[Sym]) -> u32 {
        let id = self.new_rule();
        let mut again = term.to_vec();
        again.push(Sym::Rule(id));
        self.rules[id as usize] = vec![again, Vec::new()];
        self.defined[id as usize] = true;
        id
    }

    fn escaped(&mut self) -> Result<char, GrammarError> {
        let c = self.peek().ok_or_else(|| self.error("unfinished escape"))?;
        self.pos += 1;
        Ok(match c {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            '\\' | '"' | '[' | ']' | '-' | '^' => c,
            other => return Err(self.error(format!("unknown escape \\{other}"))),
        })
    }

    fn literal(&mut self) -> Result<Vec<Sym>, GrammarError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.error("unterminated string")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self.escaped()?;
                    out.push(Sym::Chars(CharSet::single(c)));
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(Sym::Chars(CharSet::single(c)));
                }
            }
        }
    }

    fn class(&mut self) -> Result<CharSet, GrammarError> {
        self.pos += 1; // [
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        loop {
            let lo = match self.peek() {
                None | Some('\n') => return Err(self.error("unterminated character class")),
                Some(']') => {
                    self.pos += 1;
                    return Ok(CharSet { ranges, negated });
                }
                Some('\\') => {
                    self.pos += 1;
                    self.escaped()?
                }
                Some(c) => {
                    self.pos += 1;
                    c
                }
            };
            let hi = if self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']') {
                self.pos += 1;
                match self.peek() {
                    Some('\\') => {
                        self.pos += 1;
                        self.escaped()?
                    }
                    Some(c) => {
                        self.pos += 1;
                        c
                    }
                    None => return Err(self.error("unterminated character class")),
                }
            } else {
                lo
            };
            ranges.push((lo, hi));
        }
    }
}

/// What the last character fed was, for the rules on punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    /// An apostrophe inside a word: a letter must follow.
    Apostrophe,
    Letter,
    Digit,
    Space,
    Punctuation,
}

/// Follows recognised text through a grammar, character by character, normalising it on
/// the way (see the module documentation). Punctuation is ignored, but only as a writer
/// uses it: one mark at a time right after a word, an apostrophe between letters, a hyphen
/// between words. Runs of marks, marks after a space or first, and any other symbol leave
/// the grammar, so a biased decoder cannot escape into punctuation.
#[derive(Debug, Clone)]
pub struct TextCursor {
    state: MatchState,
    /// A space is due before the next word character.
    pending_space: bool,
    /// A punctuation mark was written: the next word must come after a space.
    mark_pending: bool,
    last: Last,
    /// Letters since an apostrophe in this word ("we'll": 2), if it has one.
    after_apostrophe: Option<u8>,
}

impl TextCursor {
    pub fn new(grammar: &Grammar) -> Self {
        Self {
            state: grammar.start(),
            pending_space: true,
            mark_pending: false,
            last: Last::Start,
            after_apostrophe: None,
        }
    }

    pub fn state(&self) -> &MatchState {
        &self.state
    }

    /// The text fed so far leaves no way to finish inside the grammar.
    pub fn is_dead(&self) -> bool {
        self.state.is_dead()
    }

    /// The text fed so far is a whole sentence of the grammar.
    pub fn is_complete(&self) -> bool {
        self.last != Last::Apostrophe && self.state.is_complete()
    }

    /// The cursor as it will be once the next word starts: the due space taken. Trying many
    /// tokens that begin with a space from this cursor reads that space once, not per token.
    pub fn at_next_word(&self, grammar: &Grammar) -> Option<Self> {
        if !self.pending_space || self.state.is_dead() {
            return None;
        }
        Some(Self {
            state: grammar.advance(&self.state, ' '),
            pending_space: false,
            mark_pending: false,
            last: Last::Space,
            after_apostrophe: None,
        })
    }

    /// The cursor once the text ends here: unchanged when it is a whole sentence, else dead.
    pub fn ended(&self) -> Self {
        let mut cursor = self.clone();
        if !cursor.is_complete() {
            cursor.die();
        }
        cursor
    }

    /// Whether the grammar allows the current word to end here.
    fn at_word_end(&self, grammar: &Grammar) -> bool {
        self.pending_space
            || self.state.is_complete()
            || !grammar.advance(&self.state, ' ').is_dead()
    }

    fn die(&mut self) {
        self.state = MatchState::default();
    }

    /// Feeds more text. Stops early once dead.
    pub fn feed(&mut self, grammar: &Grammar, text: &str) {
        for c in text.chars() {
            if self.state.is_dead() {
                return;
            }
            let after_word = matches!(self.last, Last::Letter | Last::Digit);
            if self.last == Last::Apostrophe && !c.is_alphabetic() {
                self.die();
                return;
            }
            match c {
                c if c.is_whitespace() => {
                    self.pending_space = true;
                    self.mark_pending = false;
                    if self.last != Last::Start {
                        self.last = Last::Space;
                    }
                }
                // Inside a word, once, as in a contraction or a possessive: "driver's" is
                // "drivers", "we'll" is "well"; never "f'r'o'n't".
                '\'' | '\u{2019}'
                    if self.last == Last::Letter && self.after_apostrophe.is_none() =>
                {
                    self.last = Last::Apostrophe;
                    self.after_apostrophe = Some(0);
                }
                // Between words: "fan-speed" is two words, "twenty-five" two numbers.
                '-' if after_word && self.at_word_end(grammar) => {
                    self.pending_space = true;
                    self.last = Last::Punctuation;
                }
                '.' if self.last == Last::Digit && !self.pending_space => {
                    // A decimal point, or the end of a sentence after a number: both.
                    let at_end = self.at_word_end(grammar);
                    let point = grammar.advance(&self.state, '.');
                    let mut stacks: Vec<Vec<Pos>> = point.stacks.as_ref().clone();
                    if at_end {
                        stacks.extend(self.state.stacks.iter().cloned());
                    }
                    self.state = dedup(stacks);
                    self.last = Last::Punctuation;
                }
                '.' | ',' | '!' | '?' | ';' | ':' if after_word && self.at_word_end(grammar) => {
                    self.last = Last::Punctuation;
                    self.mark_pending = true;
                }
                '%' if after_word => self.feed(grammar, " percent "),
                '°' if after_word || self.last == Last::Space => self.feed(grammar, " degrees "),
                // After a mark, a space before the next word.
                c if c.is_alphanumeric() && self.mark_pending => self.die(),
                c if c.is_alphanumeric() => {
                    if self.pending_space {
                        self.state = grammar.advance(&self.state, ' ');
                        self.pending_space = false;
                        self.after_apostrophe = None;
                    }
                    if let Some(n) = self.after_apostrophe.as_mut() {
                        *n += 1;
                        if *n > 2 {
                            self.die();
                            return;
                        }
                    }
                    for lower in c.to_lowercase() {
                        self.state = grammar.advance(&self.state, lower);
                    }
                    self.last = if c.is_ascii_digit() {
                        Last::Digit
                    } else {
                        Last::Letter
                    };
                }
                _ => self.die(),
            }
        }
    }

    /// Whether `text` as a whole is a sentence of the grammar.
    pub fn accepts(grammar: &Grammar, text: &str) -> bool {
        let mut cursor = Self::new(grammar);
        cursor.feed(grammar, text);
        cursor.is_complete()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAN: &str = r#"
# a comment
root ::= lead* command
lead ::= " okay" | " uh"
command ::= " set the fan to" (" level")? number | " play" word (word)?
number ::= " " ([0-9]+ ("." [0-9]+)? | ("one" | "two" | "five"))
word ::= " " [a-z0-9]+
"#;

    fn grammar() -> Grammar {
        Grammar::parse(FAN, "root").expect("test input")
    }

    #[test]
    fn whisper_text_is_compared_as_the_template_tier_sees_it() {
        let g = grammar();
        for text in [
            " Set the fan to level 5.",
            "set the fan to five",
            " Okay, set the fan to level 21.5!",
            " Uh, okay. Set the fan-to two.",
            " Play Radiohead.",
            " play sigur ros",
        ] {
            assert!(TextCursor::accepts(&g, text), "{text:?}");
        }
        for text in [
            " Turn the phantom level 5.",
            " set the fan to level 5..",
            " play radio''head",
            " play radio\u{fffd}head",
            " , set the fan to 5",
            " set the f,an to 5",
            " set the f' .",
            " set the fan to 5 ,",
            " play radio'",
            " set the f'r'o'n't left window",
            " Status-O- of pump 3",
            " set the fan to level 5 &",
            " set the fan",
            " play",
            " play one two three",
            " set the fan to level 5 please",
        ] {
            assert!(!TextCursor::accepts(&g, text), "{text:?}");
        }
    }

    #[test]
    fn a_cursor_knows_when_the_text_has_left_the_grammar() {
        let g = grammar();
        let mut cursor = TextCursor::new(&g);
        cursor.feed(&g, " Set the f");
        assert!(!cursor.is_dead() && !cursor.is_complete());
        let mut wrong = cursor.clone();
        wrong.feed(&g, "antom");
        assert!(wrong.is_dead());
        cursor.feed(&g, "an to 5");
        assert!(cursor.is_complete());
    }

    #[test]
    fn the_words_of_the_literals_are_listed() {
        let words = grammar().words();
        for word in [
            "set", "the", "fan", "to", "level", "play", "okay", "uh", "one", "five",
        ] {
            assert!(words.contains(&word.to_owned()), "{word} in {words:?}");
        }
        // Character classes spell no word.
        assert!(
            !words
                .iter()
                .any(|w| w.contains(' ') || w == "a" || w == "0"),
            "{words:?}"
        );
        assert_eq!(words.len(), 11, "{words:?}");
    }

    #[test]
    fn repetition_keeps_the_state_small() {
        let g = Grammar::parse("root ::= (\" a\")* \" b\"", "root").expect("test input");
        let mut cursor = TextCursor::new(&g);
        for _ in 0..200 {
            cursor.feed(&g, " a");
        }
        assert!(cursor.state().len() <= 2, "{}", cursor.state().len());
        cursor.feed(&g, " b");
        assert!(cursor.is_complete());
    }

    /// Every state of a walk, one character at a time, stepped afresh (no table).
    fn walked(g: &Grammar, text: &str) -> Vec<Stacks> {
        let mut state = g.start_afresh();
        let mut out = vec![state.stacks.clone()];
        for c in text.chars() {
            state = g.step(&state, c);
            out.push(state.stacks.clone());
        }
        out
    }

    fn advanced(g: &Grammar, text: &str) -> Vec<Stacks> {
        let mut state = g.start();
        let mut out = vec![state.stacks.clone()];
        for c in text.chars() {
            state = g.advance(&state, c);
            out.push(state.stacks.clone());
        }
        out
    }

    #[test]
    fn a_step_taken_again_is_looked_up_and_leads_where_it_did() {
        let g = grammar();
        let text = " okay set the fan to level five";
        let fresh = walked(&g, text);
        assert_eq!(advanced(&g, text), fresh);
        let (states, positions) = g.remembered();
        assert!(states > 10, "{states}");
        // The same walk again adds nothing and leads to the same states.
        assert_eq!(advanced(&g, text), fresh);
        assert_eq!(g.remembered(), (states, positions));
        // A walk that leaves the grammar is remembered as dead.
        let gone = advanced(&g, " okay sex");
        assert!(gone.last().is_some_and(|s| s.is_empty()));
    }

    #[test]
    fn a_full_table_starts_again_and_still_steps_right() {
        let g = grammar();
        let text = " play jazz music";
        let fresh = walked(&g, text);
        *g.transitions() = Transitions::new(20);
        for _ in 0..3 {
            assert_eq!(advanced(&g, text), fresh);
            let (_, positions) = g.remembered();
            // Emptied as soon as it holds more than its capacity.
            assert!(positions <= 20, "{positions}");
        }
        assert!(g.transitions().generation > 0);
    }

    #[test]
    fn bad_grammars_are_refused_with_their_place() {
        let err = Grammar::parse("root ::= \"a\"\nx ::= [a-", "root").expect_err("must fail");
        assert_eq!(
            err,
            GrammarError::Syntax {
                line: 2,
                column: 10,
                message: "unterminated character class".into()
            }
        );
        assert_eq!(
            Grammar::parse("root ::= missing", "root").expect_err("must fail"),
            GrammarError::Undefined("missing".into())
        );
        assert_eq!(
            Grammar::parse("x ::= \"a\"", "root").expect_err("must fail"),
            GrammarError::NoStart("root".into())
        );
        assert!(matches!(
            Grammar::parse("root ::= \"a\"{2}", "root").expect_err("must fail"),
            GrammarError::Syntax { .. }
        ));
        // Left recursion does not hang: it simply matches nothing through that branch.
        let g = Grammar::parse("root ::= root \" a\" | \" b\"", "root").expect("test input");
        assert!(TextCursor::accepts(&g, "b"));
    }
}
