//! Small text helpers shared by the parsers and the renderers.

/// Collapses every run of whitespace (newlines included) into one space and trims the ends.
pub(crate) fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `Some(collapsed)` unless the text is blank.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let c = collapse_ws(s);
    (!c.is_empty()).then_some(c)
}

/// An abstract as arXiv stores it — hard-wrapped at ~80 columns, each new paragraph indented by
/// two spaces — as paragraphs of single-spaced text separated by a blank line.
pub(crate) fn normalize_abstract(s: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, line) in s.trim_matches(['\n', '\r']).lines().enumerate() {
        let indented = line.starts_with(char::is_whitespace);
        if (indented && i > 0 || line.trim().is_empty()) && !current.is_empty() {
            paragraphs.push(std::mem::take(&mut current));
        }
        let line = collapse_ws(line);
        if !line.is_empty() {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs.join("\n\n")
}

/// Folds common Latin letters with diacritics to ASCII (`Wübben` → `Wubben`, `Ł` → `L`) and drops
/// other non-ASCII characters: for BibTeX keys and slugs.
pub(crate) fn ascii_fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let folded = match c {
            'À'..='Å' => "A",
            'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
            'Æ' => "AE",
            'æ' => "ae",
            'Ç' | 'Ć' | 'Č' => "C",
            'ç' | 'ć' | 'č' => "c",
            'Ď' | 'Đ' => "D",
            'ď' | 'đ' | 'ð' => "d",
            'È'..='Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
            'è'..='ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
            'Ğ' => "G",
            'ğ' => "g",
            'Ì'..='Ï' | 'İ' | 'Ī' => "I",
            'ì'..='ï' | 'ı' | 'ī' => "i",
            'Ł' | 'Ľ' => "L",
            'ł' | 'ľ' => "l",
            'Ñ' | 'Ń' | 'Ň' => "N",
            'ñ' | 'ń' | 'ň' => "n",
            'Ò'..='Ö' | 'Ø' | 'Ő' | 'Ō' => "O",
            'ò'..='ö' | 'ø' | 'ő' | 'ō' => "o",
            'Œ' => "OE",
            'œ' => "oe",
            'Ř' => "R",
            'ř' => "r",
            'Ś' | 'Š' | 'Ş' => "S",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'Ť' | 'Ţ' => "T",
            'ť' | 'ţ' => "t",
            'Þ' => "Th",
            'þ' => "th",
            'Ù'..='Ü' | 'Ů' | 'Ű' | 'Ū' => "U",
            'ù'..='ü' | 'ů' | 'ű' | 'ū' => "u",
            'Ý' | 'Ÿ' => "Y",
            'ý' | 'ÿ' => "y",
            'Ź' | 'Ż' | 'Ž' => "Z",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        out.push_str(folded);
    }
    out
}

/// Lowercase ASCII words of `s` (letters and digits), after folding diacritics.
pub(crate) fn ascii_words(s: &str) -> Vec<String> {
    ascii_fold(s)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect()
}

/// Greedy word wrap at `width` columns, each line prefixed with `indent`; paragraphs (separated by
/// blank lines) are kept.
pub(crate) fn wrap(s: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    for (p, paragraph) in s.split("\n\n").enumerate() {
        if p > 0 {
            out.push('\n');
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty()
                && indent.len() + line.chars().count() + 1 + word.chars().count() > width
            {
                out.push_str(indent);
                out.push_str(&line);
                out.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The first `max` characters of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstracts_keep_paragraphs_and_join_wrapped_lines() {
        let raw = "  We introduce a novel\nconstruction.\n  In particular, we\npresent classes.\n";
        assert_eq!(
            normalize_abstract(raw),
            "We introduce a novel construction.\n\nIn particular, we present classes."
        );
        assert_eq!(normalize_abstract("One line only."), "One line only.");
    }

    #[test]
    fn folds_names_for_keys() {
        assert_eq!(ascii_fold("Dirk Wübben"), "Dirk Wubben");
        assert_eq!(
            ascii_words("Łukasz Kaiser's \"BERT\""),
            ["lukasz", "kaiser", "s", "bert"]
        );
    }

    #[test]
    fn wraps_at_width() {
        assert_eq!(wrap("aa bb cc", 6, "  "), "  aa\n  bb\n  cc\n");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
