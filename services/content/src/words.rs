//! The 错敏词 scanner: every word of the dictionary found in one pass over a text with an
//! Aho–Corasick automaton (leftmost-longest, so 国务院办公厅 wins over 国务院), after folding
//! each character to the form the dictionary is matched in — full-width Latin and digits to
//! half-width, Latin to lower case, traditional characters to simplified (OpenCC's table) — one
//! character for one, so a finding's offsets are those of the text as written.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// A dictionary entry as the scanner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub word: String,
    /// wrong | sensitive | outdated
    pub kind: String,
    pub suggestion: String,
    pub note: String,
}

/// One place a listed word stands, in characters of the field's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub start: usize,
    pub end: usize,
    /// The text as written there.
    pub text: String,
    /// Index of the entry.
    pub entry: usize,
}

const TS_CHARACTERS: &str = include_str!("../../../data/opencc/TSCharacters.txt");

/// The fold of every Basic Multilingual Plane character (the table is 256 KiB, built once).
static FOLD: LazyLock<Vec<char>> = LazyLock::new(|| {
    let mut table: Vec<char> = (0..=0xFFFFu32)
        .map(|c| char::from_u32(c).unwrap_or('\u{FFFD}'))
        .collect();
    for line in TS_CHARACTERS.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split('\t');
        let (Some(from), Some(to)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (mut from, mut to) = (from.chars(), to.split(' ').next().unwrap_or("").chars());
        if let (Some(f), None, Some(t), None) = (from.next(), from.next(), to.next(), to.next())
            && (f as u32) <= 0xFFFF
        {
            table[f as usize] = t;
        }
    }
    for c in 0xFF01..=0xFF5Eu32 {
        table[c as usize] = char::from_u32(c - 0xFEE0).expect("ASCII");
    }
    table[0x3000] = ' ';
    for c in b'A'..=b'Z' {
        table[c as usize] = (c + 32) as char;
    }
    // Full-width capitals fold on to lower case too.
    for c in 0xFF21..=0xFF3Au32 {
        table[c as usize] = char::from_u32(c - 0xFEE0 + 32).expect("ASCII");
    }
    table
});

/// The form a character is matched in.
pub fn fold_char(c: char) -> char {
    let u = c as u32;
    if u < 0x80 {
        return c.to_ascii_lowercase();
    }
    if u <= 0xFFFF { FOLD[u as usize] } else { c }
}

pub fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

pub struct Scanner {
    automaton: Option<AhoCorasick>,
    pub entries: Vec<Entry>,
}

impl Scanner {
    pub fn new(entries: Vec<Entry>) -> Scanner {
        let patterns: Vec<String> = entries.iter().map(|e| fold(&e.word)).collect();
        let automaton = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&patterns)
                .or_else(|_| {
                    // Too large for a DFA: the contiguous NFA is slower but has no such bound.
                    AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostLongest)
                        .build(&patterns)
                })
                .expect("plain string patterns always build")
        });
        Scanner { automaton, entries }
    }

    /// Every listed word in `text`, left to right, none overlapping.
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        // Folding keeps one character for one, and nearly always its byte length too (國 and
        // 国 are both three bytes); only full-width forms shrink (Ａ is three bytes, a one).
        let table: &[char] = &FOLD;
        let mut folded = String::with_capacity(text.len());
        let mut same_layout = true;
        for c in text.chars() {
            let f = if c.is_ascii() {
                c.to_ascii_lowercase()
            } else if (c as u32) <= 0xFFFF {
                table[c as usize]
            } else {
                c
            };
            same_layout &= f.len_utf8() == c.len_utf8();
            folded.push(f);
        }
        let bytes = folded.as_bytes();
        // Characters in a run of UTF-8: the bytes that are not continuation bytes.
        let count = |s: &[u8]| s.iter().filter(|&&b| (b & 0xC0) != 0x80).count();
        let mut hits = Vec::new();
        let (mut byte, mut chars) = (0usize, 0usize);
        let mut written_chars = text.chars();
        let mut consumed = 0usize;
        for m in ac.find_iter(&folded) {
            chars += count(&bytes[byte..m.start()]);
            let len = count(&bytes[m.start()..m.end()]);
            byte = m.end();
            let written = if same_layout {
                text[m.start()..m.end()].to_string()
            } else {
                let w: String = written_chars
                    .by_ref()
                    .skip(chars - consumed)
                    .take(len)
                    .collect();
                consumed = chars + len;
                w
            };
            hits.push(Hit {
                start: chars,
                end: chars + len,
                text: written,
                entry: m.pattern().as_usize(),
            });
            chars += len;
        }
        hits
    }
}

/// The text of sanitised HTML: tags dropped (block ends become a line break) and the common
/// entities decoded, so findings point at what a reader sees.
pub fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        decode_into(&rest[..lt], &mut out);
        let Some(gt) = rest[lt..].find('>') else {
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) && (tag.starts_with('/') || name == "br")
        {
            out.push('\n');
        }
        rest = &rest[lt + gt + 1..];
    }
    decode_into(rest, &mut out);
    out
}

fn decode_into(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let decoded = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
            ("&nbsp;", ' '),
        ]
        .iter()
        .find(|(e, _)| tail.starts_with(e));
        match decoded {
            Some((e, c)) => {
                out.push(*c);
                rest = &tail[e.len()..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(word: &str, kind: &str, suggestion: &str) -> Entry {
        Entry {
            word: word.into(),
            kind: kind.into(),
            suggestion: suggestion.into(),
            note: String::new(),
        }
    }

    #[test]
    fn finds_words_as_written_in_traditional_and_full_width_forms() {
        let s = Scanner::new(vec![
            entry("国务院", "wrong", ""),
            entry("国务院办公厅", "wrong", ""),
            entry(
                "含山县人民政府办公室",
                "outdated",
                "含山县人民政府办公室（县政务服务管理局）",
            ),
            entry("app", "sensitive", ""),
            entry("截止", "wrong", "截至"),
        ]);
        let text = "據國務院辦公廳通知，截止目前含山县人民政府办公室已上线ＡＰＰ。";
        let hits = s.scan(text);
        let found: Vec<(&str, &str)> = hits
            .iter()
            .map(|h| (h.text.as_str(), s.entries[h.entry].word.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("國務院辦公廳", "国务院办公厅"),
                ("截止", "截止"),
                ("含山县人民政府办公室", "含山县人民政府办公室"),
                ("ＡＰＰ", "app")
            ]
        );
        // Offsets are characters of the text as written.
        let chars: Vec<char> = text.chars().collect();
        for h in &hits {
            assert_eq!(chars[h.start..h.end].iter().collect::<String>(), h.text);
        }
        assert_eq!((hits[0].start, hits[0].end), (1, 7));
    }

    #[test]
    fn offsets_hold_when_no_character_changes_its_length() {
        let s = Scanner::new(vec![
            entry("政务服务", "wrong", ""),
            entry("截止", "wrong", "截至"),
        ]);
        let text = "一网通办：政務服務截止到年底";
        let hits = s.scan(text);
        let got: Vec<(usize, usize, &str)> = hits
            .iter()
            .map(|h| (h.start, h.end, h.text.as_str()))
            .collect();
        assert_eq!(got, vec![(5, 9, "政務服務"), (9, 11, "截止")]);
    }

    #[test]
    fn an_empty_dictionary_finds_nothing() {
        assert!(Scanner::new(Vec::new()).scan("任何文字").is_empty());
    }

    #[test]
    fn html_text_is_what_a_reader_sees() {
        assert_eq!(
            html_text("<p>A &amp; B</p><p>国务院<br>通知 &lt;x&gt;</p>"),
            "A & B\n国务院\n通知 <x>\n"
        );
        assert_eq!(html_text("a < b"), "a ");
    }
}
