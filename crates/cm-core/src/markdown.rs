//! The statements of a Markdown instructions file (`CLAUDE.md`, a rules
//! file, Claude Code's auto-memory notes): each list item and each paragraph
//! of prose is one statement; headings, code blocks, tables, front matter,
//! HTML comments and `@path` imports are not.

/// The statements of `text`, in order, each on one line (whitespace
/// collapsed), without list markers; very short fragments (fewer than three
/// words) are left out, and a statement that repeats an earlier one is kept
/// once.
pub fn statements(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, out: &mut Vec<String>| {
        let joined = paragraph.join(" ");
        paragraph.clear();
        let statement = joined.split_whitespace().collect::<Vec<_>>().join(" ");
        if statement.split_whitespace().count() >= 3 && !out.contains(&statement) {
            out.push(statement);
        }
    };
    let mut lines = text.strip_prefix('\u{FEFF}').unwrap_or(text).lines().peekable();
    // YAML front matter.
    if lines.peek().is_some_and(|l| l.trim() == "---") {
        lines.next();
        for l in lines.by_ref() {
            if l.trim() == "---" {
                break;
            }
        }
    }
    let mut fence: Option<&str> = None;
    let mut comment = false;
    for line in lines {
        let trimmed = line.trim();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
            continue;
        }
        if comment {
            comment = !trimmed.contains("-->");
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush(&mut paragraph, &mut out);
            fence = Some(&trimmed[..3]);
            continue;
        }
        if trimmed.starts_with("<!--") {
            flush(&mut paragraph, &mut out);
            comment = !trimmed.contains("-->");
            continue;
        }
        let blank = trimmed.is_empty();
        let heading = trimmed.starts_with('#');
        let table = trimmed.starts_with('|');
        let import = trimmed.starts_with('@') && !trimmed.contains(' ');
        let rule = trimmed.len() >= 3 && trimmed.chars().all(|c| matches!(c, '-' | '*' | '_' | ' '));
        if blank || heading || table || import || rule {
            flush(&mut paragraph, &mut out);
            continue;
        }
        if let Some(item) = list_item(trimmed) {
            flush(&mut paragraph, &mut out);
            paragraph.push(item);
        } else {
            // Prose, or a list item's continuation line.
            paragraph.push(trimmed);
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

/// The text of a list item (`- x`, `* x`, `+ x`, `1. x`, `1) x`, with an
/// optional task box), or `None` for any other line.
fn list_item(line: &str) -> Option<&str> {
    let rest =
        if let Some(r) = line.strip_prefix("- ").or(line.strip_prefix("* ")).or(line.strip_prefix("+ ")) {
            r
        } else {
            let digits = line.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            line[digits..].strip_prefix(". ").or(line[digits..].strip_prefix(") "))?
        };
    let rest = rest.trim_start();
    Some(
        rest.strip_prefix("[ ] ").or(rest.strip_prefix("[x] ")).or(rest.strip_prefix("[X] ")).unwrap_or(rest),
    )
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn list_items_and_paragraphs_are_statements_and_the_rest_is_not() {
        let text = "---\ndescription: rules\n---\n# Project notes\n\nWe deploy with make ship on Thursdays.\nNever on a Friday.\n\n\
                    - Use pnpm, never npm.\n- [x] Tests run with cargo nextest\n  in CI and locally.\n1. Migrations are never edited once landed.\n\n\
                    ```bash\nrm -rf / # not a statement\n```\n<!-- a hidden\nnote -->\n| a | b |\n|---|---|\n@docs/style.md\n\n---\n- ok\n\
                    - Use pnpm, never npm.\n";
        assert_eq!(
            statements(text),
            [
                "We deploy with make ship on Thursdays. Never on a Friday.",
                "Use pnpm, never npm.",
                "Tests run with cargo nextest in CI and locally.",
                "Migrations are never edited once landed.",
            ]
        );
    }
}
