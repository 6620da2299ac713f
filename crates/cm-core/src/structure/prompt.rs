//! The prompt asking an LLM to structure a note, whose answer
//! [`parse_llm_output`](super::parse_llm_output) reads; the template and
//! field rules are shared with the other prompts of the crate.

use std::fmt::Write as _;

use super::fields_of;
use crate::memory::{Domain, MemoryType};

/// What each type means, for the prompt.
fn describe(memory_type: MemoryType) -> &'static str {
    match memory_type {
        MemoryType::Fact => "a stable fact about the codebase or project",
        MemoryType::Decision => "an architectural or technical decision and its rationale",
        MemoryType::Bug => "a bug, its root cause and its fix",
        MemoryType::Pattern => "a recurring code pattern or workflow: when it applies and how to do it",
        MemoryType::Context => "background about the project or its people worth knowing next session",
        MemoryType::Preference => "a workflow or style preference of the user",
        MemoryType::Skill => "a consolidated, reusable procedure",
    }
}

/// The elements a type carries, as `what, when, do, warn`.
fn field_names(memory_type: MemoryType) -> String {
    let fields = fields_of(Some(memory_type));
    let mut names = vec!["what"];
    names.extend(
        [(fields.when, "when"), (fields.do_steps, "do"), (fields.warn, "warn")]
            .iter()
            .filter_map(|&(wanted, name)| wanted.then_some(name)),
    );
    names.join(", ")
}

/// Appends the `<memory>` element's template, what each of `types` carries,
/// and the rules for its fields; `source` names what the LLM reads ("note",
/// "text"). Shared by every prompt whose answer [`parse_llm_output`](super::parse_llm_output) reads.
pub(crate) fn format_rules(out: &mut String, types: &[MemoryType], source: &str) {
    out.push_str(
        "<memory type=\"TYPE\" domain=\"DOMAIN\">\n  <what>…</what>\n  <when>situation | situation</when>\n  \
         <do>step; step</do>\n  <warn>pitfall; pitfall</warn>\n  <summary>…</summary>\n  \
         <keywords>keyword, keyword, keyword</keywords>\n</memory>\n\nTYPE is one of:\n",
    );
    for &t in types {
        let _ = writeln!(out, "- {t}: {}; elements: {}", describe(t), field_names(t));
    }
    let _ = write!(
        out,
        "\nDOMAIN is one of {}, or another short lower-case word when none fits.\n\n\
         Write only the elements of the chosen type (plus summary and keywords):\n\
         - what: the knowledge itself in 1–2 self-contained sentences (name the files, commands and versions involved);\n\
         - when: the situations where it applies, separated by |;\n\
         - do: concrete steps, separated by ;;\n\
         - warn: pitfalls and what not to do, separated by ;;\n\
         - summary: at most 15 words;\n\
         - keywords: 3 to 8 search keywords, comma separated.\n\
         Escape & < > in text as &amp; &lt; &gt;. Use only what the {source} says; never invent details.",
        Domain::DEFAULTS.join(", ")
    );
}

/// The system and user messages asking an LLM to structure `content`.
///
/// The system message holds the rules: answer `REJECT` (optionally with a
/// reason) for one-off instructions, temporary debugging and session-only
/// chatter; otherwise only a `<memory>` element with the fields of its type,
/// a `<summary>` of at most 15 words and 3–8 `<keywords>`. Hints, when given,
/// are passed in the user message as the caller's best guess.
pub fn structuring_prompt(
    content: &str,
    hint_type: Option<MemoryType>,
    hint_domain: Option<&Domain>,
) -> (String, String) {
    let mut system = String::from(
        "You structure notes for a developer's long-term project memory, which is searched and \
         shown to a coding assistant in later sessions.\n\n\
         First decide whether the note is worth remembering beyond this session. Answer exactly \
         `REJECT`, optionally followed by `: ` and a short reason, when it is:\n\
         - a one-off instruction for the task at hand (\"rename this variable\", \"run the tests now\");\n\
         - temporary debugging (a failure still being chased, print statements, guesses not yet confirmed);\n\
         - session-only chatter (greetings, thanks, status updates, plans for the next few minutes).\n\n\
         Otherwise answer with only this XML, without any other text:\n",
    );
    format_rules(&mut system, &MemoryType::ALL, "note");
    let mut user = String::new();
    if let Some(t) = hint_type {
        let _ = writeln!(user, "Suggested type: {t} (keep it unless the note clearly is another type)");
    }
    if let Some(d) = hint_domain {
        let _ = writeln!(user, "Suggested domain: {d}");
    }
    let _ = write!(user, "Note:\n<note>\n{}\n</note>", content.trim());
    (system, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_states_the_rules_types_and_domains() {
        let domain = Domain::parse("api").expect("a default domain");
        let (system, user) = structuring_prompt(
            "  Use `cargo nextest` for tests.  ",
            Some(MemoryType::Preference),
            Some(&domain),
        );
        for needle in [
            "REJECT",
            "one-off instruction",
            "temporary debugging",
            "session-only chatter",
            "<summary>",
            "<keywords>",
            "3 to 8",
            "at most 15 words",
            "separated by |",
            "separated by ;",
        ] {
            assert!(system.contains(needle), "missing {needle:?}");
        }
        for t in MemoryType::ALL {
            assert!(system.contains(&format!("- {t}: ")), "missing type {t}");
        }
        assert!(system.contains("- fact: a stable fact about the codebase or project; elements: what\n"));
        assert!(system.contains("elements: what, when, do, warn\n"));
        assert!(system.contains(&Domain::DEFAULTS.join(", ")));
        assert!(user.contains("Suggested type: preference"));
        assert!(user.contains("Suggested domain: api"));
        assert!(user.ends_with("<note>\nUse `cargo nextest` for tests.\n</note>"));
        let (_, bare) = structuring_prompt("x", None, None);
        assert_eq!(bare, "Note:\n<note>\nx\n</note>");
    }
}
