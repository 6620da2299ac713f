//! Property tests: the parser never panics, and what it accepts always has a `what`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;

/// Parses `text`; fails the case if an accepted memory has an empty `what`.
fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(LlmVerdict::Memory(m)) = parse_llm_output(text) {
        prop_assert!(!m.what.is_empty(), "empty what from {:?}", text);
    }
    Ok(())
}

/// Pieces of the XML dialect, so random strings often look almost right.
fn fragment() -> impl Strategy<Value = String> {
    let pieces: Vec<&'static str> = vec![
        "<memory",
        "</memory>",
        " type=\"",
        " domain='",
        "bug",
        "pattern",
        "\"",
        "'",
        ">",
        "<",
        "/",
        "/>",
        "<what>",
        "</what>",
        "<when>",
        "</when>",
        "<do>",
        "</do>",
        "<warn>",
        "</warn>",
        "<summary>",
        "<keywords>",
        "<![CDATA[",
        "]]>",
        "&amp;",
        "&#",
        "&#x",
        "1F600",
        ";",
        "|",
        ",",
        "\n- ",
        "\n",
        "```xml\n",
        "```",
        "REJECT",
        "reject",
        ": ",
        "é",
        "🎉",
        "\u{0}",
        "\u{200b}",
        " ",
    ];
    prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-zA-Z0-9 ]{0,6}",
    ]
}

/// Arbitrary Unicode strings, and concatenations of fragments.
fn answer() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), prop::collection::vec(fragment(), 0..48).prop_map(|parts| parts.concat())]
}

/// Text with the characters that need escaping or separate list items.
fn field_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-z]{1,6}",
            1 => proptest::sample::select(vec![" ", "&", "<", ">", "\"", "'", ";", "|", ",", "\n", "- ", "é", "&amp;", "]]>"])
                .prop_map(str::to_owned),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn structured() -> impl Strategy<Value = Structured> {
    let memory_type = proptest::option::of(proptest::sample::select(MemoryType::ALL.to_vec()));
    let domain = proptest::option::of(
        proptest::sample::select(Domain::DEFAULTS.to_vec())
            .prop_filter_map("a domain", |d| Domain::parse(d).ok()),
    );
    let list = || prop::collection::vec(field_text(), 0..4);
    (memory_type, domain, field_text(), list(), list(), list()).prop_map(
        |(memory_type, domain, what, when, do_steps, warn)| Structured {
            memory_type,
            domain,
            what,
            when,
            do_steps,
            warn,
            summary: None,
            keywords: Vec::new(),
        },
    )
}

/// A change to valid XML: cut it, or insert a troublesome piece.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Insert(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            proptest::sample::select(vec!["<", "&", "\"", "'", "</", "<what>", "&#", "<![CDATA["])
        )
            .prop_map(|(at, piece)| Mutation::Insert(at, piece)),
    ]
}

/// Applies a mutation at a character boundary chosen by its index.
fn mutate(xml: &str, mutation: &Mutation) -> String {
    let boundaries: Vec<usize> = xml.char_indices().map(|(i, _)| i).chain([xml.len()]).collect();
    let pick = |n: usize| boundaries.get(n % boundaries.len()).copied().unwrap_or(0);
    match *mutation {
        Mutation::Truncate(n) => xml.get(..pick(n)).unwrap_or_default().to_owned(),
        Mutation::Insert(n, piece) => {
            let at = pick(n);
            let (head, tail) = xml.split_at(at);
            format!("{head}{piece}{tail}")
        }
    }
}

/// Runs `test` on `cases` values of `strategy` and reports how many ran and how long it took.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let executions = AtomicUsize::new(0);
    let started = Instant::now();
    let mut runner = TestRunner::new(Config::with_cases(cases));
    let result = runner.run(&strategy, |value| {
        executions.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    eprintln!("fuzz {name}: {} executions in {:.2?}", executions.load(Ordering::Relaxed), started.elapsed());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

#[test]
fn arbitrary_answers_never_panic() {
    run("arbitrary strings", 20_000, answer(), |text| check(&text));
}

#[test]
fn mutated_xml_never_panics() {
    let strategy = (structured(), prop::collection::vec(mutation(), 1..4));
    run("mutated xml", 5_000, strategy, |(memory, mutations)| {
        let mut xml = memory.to_xml();
        for m in &mutations {
            xml = mutate(&xml, m);
            check(&xml)?;
        }
        Ok(())
    });
}

#[test]
fn xml_round_trips_and_every_truncation_parses() {
    run("round trip + all truncations", 300, structured(), |memory| {
        let xml = memory.to_xml();
        let mut expected = memory.normalized();
        expected.retain_type_fields();
        match parse_llm_output(&xml) {
            Ok(LlmVerdict::Memory(parsed)) => prop_assert_eq!(parsed, expected),
            Ok(other) => prop_assert!(false, "{:?} from {:?}", other, xml),
            Err(e) => prop_assert!(expected.what.is_empty(), "{} from {:?}", e, xml),
        }
        for (i, _) in xml.char_indices() {
            check(xml.get(..i).unwrap_or_default())?;
        }
        Ok(())
    });
}
