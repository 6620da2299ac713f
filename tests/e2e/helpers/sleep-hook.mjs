#!/usr/bin/env node
// A throwaway Claude Code command hook for the async-hook contract test:
// `node sleep-hook.mjs <Event> <ms>`. Appends `<Event> started` to $E2E_CAPTURE_DIR/events.log as it
// starts, sleeps <ms>, then appends `<Event> finished`: what was started and what ran whole, even
// after Claude Code has exited. Answers nothing.
import fs from "node:fs";
import path from "node:path";

const [event, ms] = process.argv.slice(2);
const log = path.join(process.env.E2E_CAPTURE_DIR, "events.log");
fs.mkdirSync(path.dirname(log), { recursive: true });
fs.appendFileSync(log, `${event} started\n`);
for await (const _ of process.stdin);
await new Promise((r) => setTimeout(r, Number(ms)));
fs.appendFileSync(log, `${event} finished\n`);
