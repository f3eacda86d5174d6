//! Laying out label text in a lane: words that stay whole where they fit, greedy wrapping,
//! cutting after a number of lines, and neutralising control characters. Widths count
//! characters, one column each: labels are ASCII in practice, and anything else must merely
//! not break the drawing.

/// A word of a label: kept whole on one line when it fits; `alarm` marks analysis labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub alarm: bool,
}

impl Word {
    pub fn plain(text: impl Into<String>) -> Self {
        Word {
            text: text.into(),
            alarm: false,
        }
    }

    pub fn alarm(text: impl Into<String>) -> Self {
        Word {
            text: text.into(),
            alarm: true,
        }
    }
}

/// Control characters would move the cursor; they are shown as `?`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Columns a string takes, counting each character as one (labels are ASCII in practice).
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` followed by blanks up to `to` columns.
pub fn pad(mut s: String, to: usize) -> String {
    let n = width(&s);
    s.extend(std::iter::repeat_n(' ', to.saturating_sub(n)));
    s
}

/// Greedy wrapping of words into lines of at most `room` columns, a space between words. A
/// word wider than `room` is broken at its spaces, and a part still too wide at characters.
pub fn wrap(words: &[Word], room: usize) -> Vec<Vec<Word>> {
    let room = room.max(1);
    let mut lines: Vec<Vec<Word>> = Vec::new();
    let mut cur: Vec<Word> = Vec::new();
    let mut used = 0;
    for w in words {
        for part in split_long(w, room) {
            let n = width(&part.text);
            if !cur.is_empty() && used + 1 + n > room {
                lines.push(std::mem::take(&mut cur));
                used = 0;
            }
            used += if cur.is_empty() { n } else { n + 1 };
            cur.push(part);
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A word as parts no wider than `room`.
fn split_long(w: &Word, room: usize) -> Vec<Word> {
    if width(&w.text) <= room {
        return vec![w.clone()];
    }
    let mut parts = Vec::new();
    for token in w.text.split(' ').filter(|t| !t.is_empty()) {
        let chars: Vec<char> = token.chars().collect();
        for chunk in chars.chunks(room) {
            parts.push(Word {
                text: chunk.iter().collect(),
                alarm: w.alarm,
            });
        }
    }
    parts
}

/// At most `max_lines` lines; a cut text ends in `...` within `room` columns.
pub fn cap(mut lines: Vec<Vec<Word>>, max_lines: usize, room: usize) -> Vec<Vec<Word>> {
    if lines.len() <= max_lines.max(1) {
        return lines;
    }
    lines.truncate(max_lines.max(1));
    if let Some(last) = lines.last_mut() {
        while !last.is_empty() && words_width(last) + 4 > room {
            let Some(w) = last.last_mut() else { break };
            w.text.pop();
            if w.text.is_empty() {
                last.pop();
            }
        }
        last.push(Word::plain("..."));
    }
    lines
}

/// Columns taken by words joined with single spaces.
pub fn words_width(words: &[Word]) -> usize {
    let n: usize = words.iter().map(|w| width(&w.text)).sum();
    n + words.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(texts: &[&str]) -> Vec<Word> {
        texts.iter().map(|t| Word::plain(*t)).collect()
    }

    fn texts(lines: &[Vec<Word>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let t: Vec<&str> = l.iter().map(|w| w.text.as_str()).collect();
                t.join(" ")
            })
            .collect()
    }

    #[test]
    fn words_stay_whole_when_they_fit() {
        let w = words(&["Server Hello,", "Certificate,", "Server Key Exchange"]);
        assert_eq!(
            texts(&wrap(&w, 26)),
            ["Server Hello, Certificate,", "Server Key Exchange"]
        );
        assert_eq!(texts(&wrap(&w, 100)).len(), 1);
    }

    #[test]
    fn a_word_wider_than_the_room_breaks_at_spaces_then_characters() {
        let w = vec![Word::alarm("[TCP segment of a reassembled PDU]")];
        let lines = wrap(&w, 12);
        assert_eq!(
            texts(&lines),
            ["[TCP segment", "of a", "reassembled", "PDU]"]
        );
        assert!(
            lines.iter().flatten().all(|w| w.alarm),
            "parts keep the colour"
        );
        assert_eq!(
            texts(&wrap(&words(&["abcdefghij"]), 4)),
            ["abcd", "efgh", "ij"]
        );
        assert!(wrap(&words(&["\u{1F600}\u{1F600}\u{1F600}"]), 0).len() == 3);
    }

    #[test]
    fn cut_text_ends_in_dots_within_the_room() {
        let w = words(&["Application Data,"; 10]);
        let lines = cap(wrap(&w, 20), 2, 20);
        let t = texts(&lines);
        assert_eq!(t.len(), 2);
        assert!(t[1].ends_with("..."), "{t:?}");
        assert!(t.iter().all(|l| width(l) <= 20), "{t:?}");
        // Short text is left alone.
        assert_eq!(texts(&cap(wrap(&w[..1], 20), 2, 20)), ["Application Data,"]);
    }

    #[test]
    fn control_characters_are_shown_as_question_marks() {
        assert_eq!(sanitize("a\x1b[2Jb\n\u{e9}"), "a?[2Jb?\u{e9}");
        assert_eq!(width("\u{e9}t\u{e9}"), 3);
        assert_eq!(pad("ab".into(), 4), "ab  ");
        assert_eq!(pad("abcdef".into(), 4), "abcdef");
    }
}
