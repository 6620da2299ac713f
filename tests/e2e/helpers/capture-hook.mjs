#!/usr/bin/env node
// A throwaway Claude Code command hook for the contract tests: `node capture-hook.mjs <Event>`.
// Appends the JSON payload Claude Code sends on stdin to $E2E_CAPTURE_DIR/<Event>.jsonl and, for
// the events that accept it, answers with hookSpecificOutput.additionalContext
// "MARKER-<Event>-<$E2E_MARKER>", which the tests then look for in the requests to the fake API.
import fs from "node:fs";
import path from "node:path";

const event = process.argv[2];
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const raw = Buffer.concat(chunks).toString("utf8");
const dir = process.env.E2E_CAPTURE_DIR;
if (dir) {
  fs.mkdirSync(dir, { recursive: true });
  // One line per call: the payload as sent, this hook's environment's CLAUDE_* variables, and
  // whether the session's transcript existed yet when the hook ran.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^CLAUDE/.test(k)));
  const payload = JSON.parse(raw);
  const transcriptExists = typeof payload.transcript_path === "string" && fs.existsSync(payload.transcript_path);
  fs.appendFileSync(path.join(dir, `${event}.jsonl`), JSON.stringify({ payload, env, transcriptExists }) + "\n");
}
const CONTEXT_EVENTS = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure"];
if (CONTEXT_EVENTS.includes(event)) {
  const additionalContext = `MARKER-${event}-${process.env.E2E_MARKER ?? "0"}`;
  process.stdout.write(JSON.stringify({ hookSpecificOutput: { hookEventName: event, additionalContext } }) + "\n");
}
