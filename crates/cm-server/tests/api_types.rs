//! The dashboard's TypeScript types are generated from the API's wire
//! structs (`cm_server::dto` and the records they hold), through their JSON
//! Schemas, and committed as `ui/src/lib/api-types.ts`. This test fails when
//! the file is not what the Rust types say, so the contract cannot drift;
//! `UPDATE_API_TYPES=1 cargo test --workspace --test api_types` rewrites it.

use std::fmt::Write as _;
use std::path::PathBuf;

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use cm_server::dto;

const HEADER: &str = "\
// Generated from the Rust wire types (crates/cm-server/src/dto.rs and the
// records they hold) by crates/cm-server/tests/api_types.rs. Do not edit:
// change the Rust types, then run
//   UPDATE_API_TYPES=1 cargo test --workspace --test api_types
";

/// Every type the API answers with (described as serialized).
fn answers(g: &mut SchemaGenerator) {
    g.subschema_for::<dto::MemoryView>();
    g.subschema_for::<dto::SearchHitView>();
    g.subschema_for::<dto::SearchAnswer>();
    g.subschema_for::<dto::MemoriesAnswer>();
    g.subschema_for::<dto::MemoryAnswer>();
    g.subschema_for::<cm_server::team::TeamAnswer>();
    g.subschema_for::<cm_server::team::Linked>();
    g.subschema_for::<dto::MemoryDetail>();
    g.subschema_for::<dto::PurgedAnswer>();
    g.subschema_for::<dto::SaveAnswer>();
    g.subschema_for::<dto::StatsAnswer>();
    g.subschema_for::<dto::InjectionsAnswer>();
    g.subschema_for::<dto::TimelineAnswer>();
    g.subschema_for::<dto::JobsAnswer>();
    g.subschema_for::<dto::ClustersAnswer>();
    g.subschema_for::<dto::MergeAnswer>();
    g.subschema_for::<dto::UnmergeAnswer>();
    g.subschema_for::<dto::ClusterMapAnswer>();
    g.subschema_for::<dto::StatusAnswer>();
    g.subschema_for::<dto::Paused>();
    g.subschema_for::<dto::ProjectsAnswer>();
    g.subschema_for::<dto::ProjectAnswer>();
    g.subschema_for::<dto::ModelsAnswer>();
    g.subschema_for::<dto::TaskAnswer>();
    g.subschema_for::<dto::VerifyAnswer>();
    g.subschema_for::<dto::CancelAnswer>();
    g.subschema_for::<dto::ReloadAnswer>();
    g.subschema_for::<dto::SettingsAnswer>();
    g.subschema_for::<dto::SettingsSaved>();
    g.subschema_for::<cm_server::doctor::Report>();
    g.subschema_for::<cm_engine::EngineEvent>();
}

/// Every request body (described as deserialized).
fn requests(g: &mut SchemaGenerator) {
    g.subschema_for::<dto::SaveRequest>();
    g.subschema_for::<dto::PatchRequest>();
    g.subschema_for::<dto::ValidateRequest>();
    g.subschema_for::<dto::InstallRequest>();
}

fn definitions(settings: SchemaSettings, add: fn(&mut SchemaGenerator)) -> Map<String, Value> {
    let mut g = settings.into_generator();
    add(&mut g);
    g.take_definitions(true)
}

/// The TypeScript of every definition, answers first; a request type with
/// the name of an answer type is the same type.
fn typescript() -> String {
    let mut defs = definitions(SchemaSettings::draft2020_12().for_serialize(), answers);
    for (name, schema) in definitions(SchemaSettings::draft2020_12().for_deserialize(), requests) {
        defs.entry(name).or_insert(schema);
    }
    let mut names: Vec<&String> = defs.keys().collect();
    names.sort();
    let mut out = String::from(HEADER);
    for name in names {
        let schema = &defs[name];
        out.push('\n');
        doc(&mut out, schema, "");
        match object_body(schema, "") {
            Some(body) => writeln!(out, "export interface {name} {body}").unwrap(),
            None => writeln!(out, "export type {name} = {};", ts(schema, "")).unwrap(),
        }
    }
    out
}

/// A JSDoc comment from a schema's description.
fn doc(out: &mut String, schema: &Value, indent: &str) {
    let Some(text) = schema.get("description").and_then(Value::as_str) else { return };
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() == 1 {
        writeln!(out, "{indent}/** {} */", lines[0].replace("*/", "*\\/")).unwrap();
        return;
    }
    writeln!(out, "{indent}/**").unwrap();
    for line in lines {
        writeln!(out, "{indent} * {}", line.replace("*/", "*\\/").trim_end()).unwrap();
    }
    writeln!(out, "{indent} */").unwrap();
}

/// `{ field: T; ... }` for an object schema with properties.
fn object_body(schema: &Value, indent: &str) -> Option<String> {
    let props = schema.get("properties")?.as_object()?;
    if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return None;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let inner = format!("{indent}  ");
    let mut out = String::from("{\n");
    for (field, s) in props {
        doc(&mut out, s, &inner);
        let optional = if required.contains(&field.as_str()) { "" } else { "?" };
        writeln!(out, "{inner}{field}{optional}: {};", ts(s, &inner)).unwrap();
    }
    write!(out, "{indent}}}").unwrap();
    Some(out)
}

/// The TypeScript type of a schema.
fn ts(schema: &Value, indent: &str) -> String {
    let Some(s) = schema.as_object() else {
        // `true`: anything (a `serde_json::Value`).
        return "unknown".into();
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(c) = s.get("const") {
        return c.to_string();
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return union(e.iter().map(Value::to_string).collect());
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = s.get(key).and_then(Value::as_array) {
            return union(variants.iter().map(|v| ts(&merged(s, v, key), indent)).collect());
        }
    }
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        return all.iter().map(|v| ts(v, indent)).collect::<Vec<_>>().join(" & ");
    }
    match s.get("type") {
        Some(Value::Array(types)) => union(
            types
                .iter()
                .map(|t| {
                    let mut one = s.clone();
                    one.insert("type".into(), t.clone());
                    ts(&Value::Object(one), indent)
                })
                .collect(),
        ),
        Some(Value::String(t)) => match t.as_str() {
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => array(s, indent),
            "object" => object_body(schema, indent).unwrap_or_else(|| match s.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("Record<string, {}>", ts(v, indent)),
                _ => "Record<string, unknown>".into(),
            }),
            other => panic!("unexpected JSON Schema type {other}"),
        },
        _ => "unknown".into(),
    }
}

/// A variant of a `oneOf`/`anyOf` with the properties its parent declares
/// for every variant (schemars puts an internally tagged enum's shared
/// fields there).
fn merged(parent: &Map<String, Value>, variant: &Value, key: &str) -> Value {
    let mut out = variant.clone();
    if let (Some(shared), Some(v)) = (parent.get("properties"), out.as_object_mut()) {
        let props = v.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        if let (Some(props), Some(shared)) = (props.as_object_mut(), shared.as_object()) {
            for (k, s) in shared {
                props.entry(k.clone()).or_insert_with(|| s.clone());
            }
        }
        v.entry("type").or_insert_with(|| Value::String("object".into()));
    }
    let _ = key;
    out
}

fn array(s: &Map<String, Value>, indent: &str) -> String {
    if let Some(items) = s.get("prefixItems").and_then(Value::as_array) {
        return format!("[{}]", items.iter().map(|i| ts(i, indent)).collect::<Vec<_>>().join(", "));
    }
    let item = s.get("items").map_or_else(|| "unknown".to_owned(), |i| ts(i, indent));
    if item.contains(' ') { format!("({item})[]") } else { format!("{item}[]") }
}

fn union(mut parts: Vec<String>) -> String {
    parts.dedup();
    parts.join(" | ")
}

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/lib/api-types.ts")
}

#[test]
fn the_dashboards_api_types_match_the_rust_wire_types() {
    let generated = typescript();
    let path = committed();
    if std::env::var_os("UPDATE_API_TYPES").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "ui/src/lib/api-types.ts is not what the Rust wire types say; regenerate it with\n  \
         UPDATE_API_TYPES=1 cargo test --workspace --test api_types"
    );
}

#[test]
fn every_answer_field_is_typed() {
    // A wire type whose schema says nothing (`unknown`) is a contract with
    // no checks; only deliberate free-form JSON may be.
    let generated = typescript();
    let loose: Vec<&str> =
        generated.lines().filter(|l| l.contains("unknown") && !l.trim_start().starts_with("*")).collect();
    assert!(loose.len() <= 4, "untyped fields: {loose:#?}");
}
