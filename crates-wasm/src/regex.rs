//! A backtracking regex engine for the pre-tokenizer patterns of HuggingFace `tokenizer.json` files,
//! with Oniguruma's semantics (what HF tokenizers runs): leftmost-first alternation, greedy and lazy
//! quantifiers, bounded repeats, atomic lookahead, Unicode general categories (UCD 16.0), `\s` as
//! White_Space, `\d` as Nd, `.` as any character but `\n`, and `(?i)` over ASCII.
//!
//! Anything else is refused at compile time with an error naming the construct: a pattern we might
//! match differently from Oniguruma must never load.

use crate::unicode::{category_ranges, complement, decode, normalize, white_space, CharSet, Ranges};

mod fast;

pub use fast::GPT2 as GPT2_PATTERN;

#[derive(Clone, Debug)]
enum Node {
    Empty,
    Set(Ranges),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat { node: Box<Node>, min: u32, max: Option<u32>, greedy: bool },
    Look { node: Box<Node>, negative: bool },
}

const MAX_CHAR: u32 = 0x10FFFF;

struct Parser<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
}

type PResult<T> = Result<T, String>;

fn ascii_case_closure(r: &[(u32, u32)]) -> Ranges {
    let mut out = r.to_vec();
    let has = |c: u32| r.iter().any(|&(lo, hi)| lo <= c && c <= hi);
    for c in b'a'..=b'z' {
        let (lower, upper) = (c as u32, c as u32 - 32);
        if has(lower) || has(upper) {
            out.push((lower, lower));
            out.push((upper, upper));
            // Unicode simple case folding: KELVIN SIGN folds to k, LATIN SMALL LETTER LONG S to s.
            if c == b'k' {
                out.push((0x212A, 0x212A));
            }
            if c == b's' {
                out.push((0x017F, 0x017F));
            }
        }
    }
    normalize(out)
}

impl<'a> Parser<'a> {
    fn err<T>(&self, what: &str) -> PResult<T> {
        Err(format!("regex {:?}: {} (at character {})", self.src, what, self.pos))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn parse_alt(&mut self, icase: bool) -> PResult<Node> {
        // An inline (?i) holds to the end of the enclosing group, across later alternatives too.
        let (first, mut icase) = self.parse_concat(icase)?;
        let mut alts = vec![first];
        while self.eat('|') {
            let (alt, flag) = self.parse_concat(icase)?;
            icase = flag;
            alts.push(alt);
        }
        Ok(if alts.len() == 1 { alts.pop().unwrap_or(Node::Empty) } else { Node::Alt(alts) })
    }

    fn parse_concat(&mut self, mut icase: bool) -> PResult<(Node, bool)> {
        let mut items: Vec<Node> = Vec::new();
        // The last two literal characters under (?i): Oniguruma folds some letter pairs to one
        // character (ss ~ ß, st ~ ﬆ, ff/fi/fl ~ ligatures), which this engine does not model.
        let mut prev_literal: Option<char> = None;
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let start = self.pos;
            let atom = match c {
                '(' => {
                    self.pos += 1;
                    if self.eat('?') {
                        match self.peek() {
                            Some(':') => {
                                self.pos += 1;
                                self.group_rest(icase)?
                            }
                            Some('=') | Some('!') => {
                                let negative = self.peek() == Some('!');
                                self.pos += 1;
                                let inner = self.parse_alt(icase)?;
                                if !self.eat(')') {
                                    return self.err("unclosed lookahead");
                                }
                                Node::Look { node: Box::new(inner), negative }
                            }
                            Some('i') | Some('-') => {
                                let on = !self.eat('-');
                                if !self.eat('i') {
                                    return self.err("unsupported group flags (only i is supported)");
                                }
                                if self.eat(')') {
                                    // (?i) switches the flag for the rest of the enclosing group.
                                    icase = on;
                                    prev_literal = None;
                                    continue;
                                }
                                if !self.eat(':') {
                                    return self.err("unsupported group flags (only i is supported)");
                                }
                                self.group_rest(on)?
                            }
                            Some('<') if matches!(self.chars.get(self.pos + 1), Some('=') | Some('!')) => {
                                return self.err("lookbehind is not supported");
                            }
                            Some('<') => {
                                // Named capture: captures do not change what matches.
                                while let Some(c) = self.peek() {
                                    self.pos += 1;
                                    if c == '>' {
                                        break;
                                    }
                                }
                                self.group_rest(icase)?
                            }
                            _ => return self.err("unsupported group construct (?..."),
                        }
                    } else {
                        self.group_rest(icase)?
                    }
                }
                '[' => {
                    self.pos += 1;
                    Node::Set(self.parse_class(icase)?)
                }
                '.' => {
                    self.pos += 1;
                    Node::Set(complement(&[(0x0A, 0x0A)]))
                }
                '\\' => {
                    self.pos += 1;
                    match self.parse_escape()? {
                        Escaped::Char(ch) => self.literal(ch, icase, &mut prev_literal)?,
                        Escaped::Set(r) => {
                            if icase {
                                return self.err("a character class escape inside (?i) is not supported");
                            }
                            Node::Set(r)
                        }
                    }
                }
                '^' | '$' => return self.err("anchors (^ and $) are not supported"),
                '*' | '+' | '?' => return self.err("quantifier without an operand"),
                _ => {
                    self.pos += 1;
                    self.literal(c, icase, &mut prev_literal)?
                }
            };
            if !matches!(atom, Node::Set(_)) || self.pos - start > 1 && c != '\\' {
                prev_literal = None;
            }
            let atom = self.parse_quantifier(atom)?;
            if matches!(atom, Node::Repeat { .. }) {
                prev_literal = None;
            }
            items.push(atom);
        }
        let node = match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        };
        Ok((node, icase))
    }

    fn literal(&self, c: char, icase: bool, prev: &mut Option<char>) -> PResult<Node> {
        if !icase {
            return Ok(Node::Set(vec![(c as u32, c as u32)]));
        }
        if !c.is_ascii() {
            return self.err(&format!("non-ASCII character {:?} inside (?i) is not supported", c));
        }
        let lower = c.to_ascii_lowercase();
        if let Some(p) = *prev {
            if matches!((p, lower), ('s', 's') | ('s', 't') | ('f', 'f') | ('f', 'i') | ('f', 'l')) {
                return self.err(&format!(
                    "the letters {:?} inside (?i) (Oniguruma folds them to one character) are not supported",
                    format!("{}{}", p, lower)
                ));
            }
        }
        *prev = Some(lower);
        Ok(Node::Set(ascii_case_closure(&[(c as u32, c as u32)])))
    }

    fn group_rest(&mut self, icase: bool) -> PResult<Node> {
        let inner = self.parse_alt(icase)?;
        if !self.eat(')') {
            return self.err("unclosed group");
        }
        Ok(inner)
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.pos;
        while matches!(self.peek(), Some('0'..='9')) {
            self.pos += 1;
        }
        if self.pos == start {
            return None;
        }
        self.chars[start..self.pos].iter().collect::<String>().parse().ok()
    }

    fn parse_quantifier(&mut self, atom: Node) -> PResult<Node> {
        let (min, max) = match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, None)
            }
            Some('+') => {
                self.pos += 1;
                (1, None)
            }
            Some('?') => {
                self.pos += 1;
                (0, Some(1))
            }
            Some('{') => {
                let save = self.pos;
                self.pos += 1;
                let lo = self.number();
                let (min, max) = if self.eat(',') {
                    (lo.unwrap_or(0), self.number())
                } else {
                    (lo.unwrap_or(0), lo)
                };
                if (lo.is_none() && max.is_none()) || !self.eat('}') {
                    // Not a quantifier: Oniguruma reads '{' literally.
                    self.pos = save;
                    return Ok(atom);
                }
                if let Some(m) = max {
                    if m < min {
                        return self.err("repeat bounds out of order");
                    }
                }
                if min > 1000 || max.map_or(false, |m| m > 1000) {
                    return self.err("repeat bounds above 1000 are not supported");
                }
                (min, max)
            }
            _ => return Ok(atom),
        };
        let greedy = !self.eat('?');
        if matches!(self.peek(), Some('*') | Some('+') | Some('?') | Some('{')) {
            if self.peek() == Some('{') {
                // '{' after a quantifier would be a literal unless it parses as one; be strict.
                return self.err("a quantifier after a quantifier is not supported");
            }
            return self.err("possessive or stacked quantifiers are not supported");
        }
        if nullable(&atom) && max.map_or(true, |m| m > 1) {
            return self.err("a repeated sub-pattern that can match the empty string is not supported");
        }
        if let Node::Look { .. } = atom {
            return self.err("a quantified lookahead is not supported");
        }
        Ok(Node::Repeat { node: Box::new(atom), min, max, greedy })
    }

    fn hex(&mut self, digits: usize) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..digits {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    v = v * 16 + d;
                    self.pos += 1;
                }
                None => return self.err("bad hex escape"),
            }
        }
        Ok(v)
    }

    fn code_point(&self, x: u32) -> PResult<Escaped> {
        match char::from_u32(x) {
            Some(c) => Ok(Escaped::Char(c)),
            None => self.err(&format!("escape of an invalid code point {:#x}", x)),
        }
    }

    fn parse_escape(&mut self) -> PResult<Escaped> {
        let c = match self.peek() {
            Some(c) => c,
            None => return self.err("trailing backslash"),
        };
        self.pos += 1;
        match c {
            'n' => Ok(Escaped::Char('\n')),
            'r' => Ok(Escaped::Char('\r')),
            't' => Ok(Escaped::Char('\t')),
            'f' => Ok(Escaped::Char('\x0C')),
            'v' => Ok(Escaped::Char('\x0B')),
            'a' => Ok(Escaped::Char('\x07')),
            'e' => Ok(Escaped::Char('\x1B')),
            's' => Ok(Escaped::Set(white_space())),
            'S' => Ok(Escaped::Set(complement(&white_space()))),
            'd' => Ok(Escaped::Set(category_ranges(&["Nd"]))),
            'D' => Ok(Escaped::Set(complement(&category_ranges(&["Nd"])))),
            'p' | 'P' => {
                if !self.eat('{') {
                    return self.err("\\p without {...}");
                }
                let mut negate = c == 'P';
                if self.eat('^') {
                    negate = !negate;
                }
                let start = self.pos;
                while let Some(x) = self.peek() {
                    if x == '}' {
                        break;
                    }
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                if !self.eat('}') {
                    return self.err("unclosed \\p{");
                }
                let r = match property(&name) {
                    Some(r) => r,
                    None => return self.err(&format!("unsupported Unicode property \\p{{{}}}", name)),
                };
                Ok(Escaped::Set(if negate { complement(&r) } else { r }))
            }
            'x' => {
                if self.eat('{') {
                    let start = self.pos;
                    while matches!(self.peek(), Some(x) if x.is_ascii_hexdigit()) {
                        self.pos += 1;
                    }
                    let digits = self.pos - start;
                    self.pos = start;
                    let v = self.hex(digits)?;
                    if digits == 0 || !self.eat('}') {
                        return self.err("bad \\x{...} escape");
                    }
                    self.code_point(v)
                } else {
                    let v = self.hex(2)?;
                    self.code_point(v)
                }
            }
            'u' => {
                let v = self.hex(4)?;
                self.code_point(v)
            }
            c if c.is_ascii_alphanumeric() => self.err(&format!("unsupported escape \\{}", c)),
            c => Ok(Escaped::Char(c)),
        }
    }

    fn parse_class(&mut self, icase: bool) -> PResult<Ranges> {
        let negate = self.eat('^');
        let mut ranges: Ranges = Vec::new();
        let mut first = true;
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => return self.err("unclosed character class"),
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' {
                return self.err("nested character classes are not supported");
            }
            if c == '&' && self.chars.get(self.pos + 1) == Some(&'&') {
                return self.err("character class intersection (&&) is not supported");
            }
            self.pos += 1;
            let lo = if c == '\\' {
                match self.parse_escape()? {
                    Escaped::Char(x) => x,
                    Escaped::Set(r) => {
                        if icase {
                            return self.err("a character class escape inside (?i) is not supported");
                        }
                        ranges.extend(r);
                        continue;
                    }
                }
            } else {
                c
            };
            // A range lo-hi, unless '-' is last in the class.
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).map_or(false, |&x| x != ']') {
                self.pos += 1;
                let h = match self.peek() {
                    Some(h) => h,
                    None => return self.err("unclosed character class"),
                };
                self.pos += 1;
                let hi = if h == '\\' {
                    match self.parse_escape()? {
                        Escaped::Char(x) => x,
                        Escaped::Set(_) => return self.err("a class escape as a range bound"),
                    }
                } else if h == '[' {
                    return self.err("nested character classes are not supported");
                } else {
                    h
                };
                if hi < lo {
                    return self.err("character range out of order");
                }
                ranges.push((lo as u32, hi as u32));
            } else {
                ranges.push((lo as u32, lo as u32));
            }
        }
        let mut r = normalize(ranges);
        if icase {
            if r.iter().any(|&(_, hi)| hi > 0x7F) {
                return self.err("non-ASCII characters in a class inside (?i) are not supported");
            }
            r = ascii_case_closure(&r);
        }
        Ok(if negate { complement(&r) } else { r })
    }
}

enum Escaped {
    Char(char),
    Set(Ranges),
}

/// `\p{...}` names: general categories and their one-letter groups, with their long aliases.
fn property(name: &str) -> Option<Ranges> {
    const ALIASES: &[(&str, &str)] = &[
        ("Letter", "L"),
        ("Uppercase_Letter", "Lu"),
        ("Lowercase_Letter", "Ll"),
        ("Titlecase_Letter", "Lt"),
        ("Modifier_Letter", "Lm"),
        ("Other_Letter", "Lo"),
        ("Mark", "M"),
        ("Combining_Mark", "M"),
        ("Nonspacing_Mark", "Mn"),
        ("Spacing_Mark", "Mc"),
        ("Enclosing_Mark", "Me"),
        ("Number", "N"),
        ("Decimal_Number", "Nd"),
        ("Letter_Number", "Nl"),
        ("Other_Number", "No"),
        ("Punctuation", "P"),
        ("Connector_Punctuation", "Pc"),
        ("Dash_Punctuation", "Pd"),
        ("Open_Punctuation", "Ps"),
        ("Close_Punctuation", "Pe"),
        ("Initial_Punctuation", "Pi"),
        ("Final_Punctuation", "Pf"),
        ("Other_Punctuation", "Po"),
        ("Symbol", "S"),
        ("Math_Symbol", "Sm"),
        ("Currency_Symbol", "Sc"),
        ("Modifier_Symbol", "Sk"),
        ("Other_Symbol", "So"),
        ("Separator", "Z"),
        ("Space_Separator", "Zs"),
        ("Line_Separator", "Zl"),
        ("Paragraph_Separator", "Zp"),
        ("Other", "C"),
        ("Control", "Cc"),
        ("Format", "Cf"),
        ("Surrogate", "Cs"),
        ("Private_Use", "Co"),
        ("Unassigned", "Cn"),
    ];
    let short = ALIASES.iter().find(|(long, _)| *long == name).map_or(name, |(_, s)| *s);
    if short == "LC" || short == "L&" {
        return Some(category_ranges(&["Lu", "Ll", "Lt"]));
    }
    let known = crate::unicode_tables::CATEGORIES.iter().any(|c| *c == short || (short.len() == 1 && c.starts_with(short)));
    if !known {
        return None;
    }
    Some(category_ranges(&[short]))
}

fn nullable(n: &Node) -> bool {
    match n {
        Node::Empty | Node::Look { .. } => true,
        Node::Set(_) => false,
        Node::Concat(v) => v.iter().all(nullable),
        Node::Alt(v) => v.iter().any(nullable),
        Node::Repeat { node, min, .. } => *min == 0 || nullable(node),
    }
}

/// The characters a match of `n` can start with (everything, when it starts with a lookahead).
fn first_set(n: &Node) -> Ranges {
    match n {
        Node::Empty => Vec::new(),
        Node::Set(r) => r.clone(),
        Node::Look { .. } => vec![(0, MAX_CHAR)],
        Node::Alt(v) => normalize(v.iter().flat_map(first_set).collect()),
        Node::Repeat { node, .. } => first_set(node),
        Node::Concat(v) => {
            let mut out = Vec::new();
            for item in v {
                out.extend(first_set(item));
                if !nullable(item) {
                    break;
                }
            }
            normalize(out)
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Inst {
    /// A character in `sets[i]`.
    Set(u32),
    /// Try `x` first; on failure resume at `y` at the same position.
    Split(u32, u32),
    Jmp(u32),
    /// Run the body (from pc + 1, ending in `Match`) atomically here; continue at `end` if its outcome
    /// is success (positive) or failure (negative).
    Look { negative: bool, end: u32 },
    Match,
}

struct Compiler {
    prog: Vec<Inst>,
    sets: Vec<CharSet>,
    set_ranges: Vec<Ranges>,
}

impl Compiler {
    fn pc(&self) -> u32 {
        self.prog.len() as u32
    }

    fn set(&mut self, r: &Ranges) -> u32 {
        if let Some(i) = self.set_ranges.iter().position(|x| x == r) {
            return i as u32;
        }
        self.set_ranges.push(r.clone());
        self.sets.push(CharSet::new(r));
        (self.sets.len() - 1) as u32
    }

    fn emit(&mut self, n: &Node) {
        match n {
            Node::Empty => {}
            Node::Set(r) => {
                let i = self.set(r);
                self.prog.push(Inst::Set(i));
            }
            Node::Concat(v) => v.iter().for_each(|x| self.emit(x)),
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (k, alt) in v.iter().enumerate() {
                    if k + 1 < v.len() {
                        let split = self.pc();
                        self.prog.push(Inst::Split(0, 0));
                        self.emit(alt);
                        jumps.push(self.pc());
                        self.prog.push(Inst::Jmp(0));
                        let next = self.pc();
                        self.prog[split as usize] = Inst::Split(split + 1, next);
                    } else {
                        self.emit(alt);
                    }
                }
                let end = self.pc();
                for j in jumps {
                    self.prog[j as usize] = Inst::Jmp(end);
                }
            }
            Node::Repeat { node, min, max, greedy } => {
                for _ in 0..*min {
                    self.emit(node);
                }
                match max {
                    None => {
                        // L: split(body, exit); body; jmp L
                        let l = self.pc();
                        self.prog.push(Inst::Split(0, 0));
                        self.emit(node);
                        self.prog.push(Inst::Jmp(l));
                        let exit = self.pc();
                        self.prog[l as usize] =
                            if *greedy { Inst::Split(l + 1, exit) } else { Inst::Split(exit, l + 1) };
                    }
                    Some(max) => {
                        // Optional copies, nested: (x(x(x)?)?)?
                        let mut splits = Vec::new();
                        for _ in *min..*max {
                            splits.push(self.pc());
                            self.prog.push(Inst::Split(0, 0));
                            self.emit(node);
                        }
                        let exit = self.pc();
                        for s in splits {
                            self.prog[s as usize] =
                                if *greedy { Inst::Split(s + 1, exit) } else { Inst::Split(exit, s + 1) };
                        }
                    }
                }
            }
            Node::Look { node, negative } => {
                let at = self.pc();
                self.prog.push(Inst::Look { negative: *negative, end: 0 });
                self.emit(node);
                self.prog.push(Inst::Match);
                let end = self.pc();
                self.prog[at as usize] = Inst::Look { negative: *negative, end };
            }
        }
    }
}

/// One top-level alternative: its program start and the characters it can start with.
struct Branch {
    start: u32,
    first: CharSet,
}

pub struct Regex {
    /// A hand-coded matcher, used instead of the program when the pattern is one of the common ones.
    fast: Option<fast::Fast>,
    prog: Vec<Inst>,
    sets: Vec<CharSet>,
    branches: Vec<Branch>,
    stack: Vec<(u32, u32)>,
}

impl Regex {
    pub fn new(src: &str) -> Result<Regex, String> {
        let mut p = Parser { src, chars: src.chars().collect(), pos: 0 };
        let ast = p.parse_alt(false)?;
        if p.pos != p.chars.len() {
            return p.err("unbalanced parenthesis");
        }
        if nullable(&ast) {
            return Err(format!("regex {:?}: a pattern that can match the empty string is not supported", src));
        }
        let alts = match ast {
            Node::Alt(v) => v,
            other => vec![other],
        };
        let mut c = Compiler { prog: Vec::new(), sets: Vec::new(), set_ranges: Vec::new() };
        let mut branches = Vec::new();
        for alt in &alts {
            let start = c.pc();
            c.emit(alt);
            c.prog.push(Inst::Match);
            branches.push(Branch { start, first: CharSet::new(&first_set(alt)) });
        }
        Ok(Regex { fast: fast::Fast::new(src), prog: c.prog, sets: c.sets, branches, stack: Vec::new() })
    }

    /// Runs the program from `pc` at byte `pos`; the end of the first match found, if any.
    fn run(&mut self, s: &[u8], pc: u32, pos: usize) -> Option<usize> {
        let base = self.stack.len();
        let (mut pc, mut pos) = (pc as usize, pos);
        loop {
            let ok = match self.prog[pc] {
                Inst::Set(i) => {
                    if pos < s.len() {
                        let (c, len) = decode(s, pos);
                        if self.sets[i as usize].contains(c) {
                            pc += 1;
                            pos += len;
                            true
                        } else {
                            false
                        }
                    } else {
                        false
                    }
                }
                Inst::Split(x, y) => {
                    self.stack.push((y, pos as u32));
                    pc = x as usize;
                    true
                }
                Inst::Jmp(x) => {
                    pc = x as usize;
                    true
                }
                Inst::Look { negative, end } => {
                    let found = self.run(s, pc as u32 + 1, pos).is_some();
                    if found != negative {
                        pc = end as usize;
                        true
                    } else {
                        false
                    }
                }
                Inst::Match => {
                    self.stack.truncate(base);
                    return Some(pos);
                }
            };
            if !ok {
                if self.stack.len() == base {
                    return None;
                }
                let (p, q) = self.stack.pop().unwrap_or((0, 0));
                pc = p as usize;
                pos = q as usize;
            }
        }
    }

    /// The leftmost-first match starting exactly at `pos` (a char boundary of valid UTF-8 `s`).
    fn match_at(&mut self, s: &[u8], pos: usize) -> Option<usize> {
        let (c, _) = decode(s, pos);
        for b in 0..self.branches.len() {
            if !self.branches[b].first.contains(c) {
                continue;
            }
            let start = self.branches[b].start;
            if let Some(end) = self.run(s, start, pos) {
                return Some(end);
            }
        }
        None
    }

    /// Appends to `out` the (start, end) byte ranges of successive non-overlapping matches in `s`.
    pub fn find_all(&mut self, s: &[u8], out: &mut Vec<(usize, usize)>) {
        if let Some(f) = &self.fast {
            return f.find_all(s, out);
        }
        let mut pos = 0;
        while pos < s.len() {
            match self.match_at(s, pos) {
                // An empty match moves on by a char (as a find-iterator does), or it would repeat.
                Some(end) if end == pos => {
                    out.push((pos, end));
                    pos += decode(s, pos).1;
                }
                Some(end) => {
                    out.push((pos, end));
                    pos = end;
                }
                None => pos += decode(s, pos).1,
            }
        }
    }
}

/// A Split or Replace pattern of a tokenizer.json. HF compiles a `String` one as an escaped regex; its
/// leftmost non-overlapping matches are found here by a plain search, many times faster.
pub enum Pattern {
    Literal(Vec<u8>),
    Regex(Regex),
}

impl Pattern {
    pub fn new(literal: bool, source: &str) -> Result<Pattern, String> {
        if literal && !source.is_empty() {
            return Ok(Pattern::Literal(source.as_bytes().to_vec()));
        }
        Regex::new(&if literal { escape(source) } else { source.to_string() }).map(Pattern::Regex)
    }

    /// Appends to `out` the (start, end) byte ranges of successive non-overlapping matches in `s`.
    pub fn find_all(&mut self, s: &[u8], out: &mut Vec<(usize, usize)>) {
        match self {
            Pattern::Regex(r) => r.find_all(s, out),
            Pattern::Literal(needle) => {
                let first = needle[0];
                let mut pos = 0;
                while let Some(i) = s[pos..].iter().position(|&b| b == first) {
                    let at = pos + i;
                    if starts_with(&s[at..], needle) {
                        out.push((at, at + needle.len()));
                        pos = at + needle.len();
                    } else {
                        pos = at + 1;
                    }
                }
            }
        }
    }
}

/// `s.starts_with(prefix)` byte by byte: the prefixes here are short, and a slice compare would call
/// memcmp (a byte loop on wasm32 anyway, behind a call).
#[inline(always)]
pub fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && prefix.iter().zip(s).all(|(a, b)| a == b)
}

/// A literal pattern as a regex.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii_punctuation() || c == ' ' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(re: &str, s: &str) -> Vec<String> {
        let mut r = Regex::new(re).unwrap();
        let mut out = Vec::new();
        r.find_all(s.as_bytes(), &mut out);
        out.iter().map(|&(a, b)| s[a..b].to_string()).collect()
    }

    #[test]
    fn qwen_pattern() {
        let re = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        assert_eq!(split(re, "Hello world's  12 x\n\n  y"), vec!["Hello", " world", "'s", " ", " ", "1", "2", " x", "\n\n", " ", " y"]);
    }

    #[test]
    fn refusals() {
        for re in [r"(?<=a)b", r"\bfoo", r"^a", r"a++", r"(?i:é)", r"[a[b]]", r"\p{Greek}", r"(a*)*", r"(?i:ss)", r"\w"] {
            assert!(Regex::new(re).is_err(), "{}", re);
        }
    }
}
