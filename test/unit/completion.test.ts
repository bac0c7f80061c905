// jinglectl's shell completion, generated from its command table, loaded into
// a real bash and a real zsh.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bashCompletion, zshCompletion } from "../../src/cli/completion.js";
import { COMMANDS } from "../../src/cli/usage.js";
import { main } from "../../src/cli/jinglectl.js";

/** COMPREPLY for the command line `words` (the last word is the one being completed). */
function bashComplete(words: string[]): string[] {
  const script = `${bashCompletion()}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_jinglectl
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync("bash", ["--norc", "--noprofile", "-c", script], { encoding: "utf8", cwd: tmpdir() });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter(Boolean).sort();
}

const bashCases: Array<[words: string[], expected: string[]]> = [
  [["jinglectl", "ca"], ["call", "calls"]],
  [["jinglectl", "--v"], ["--version"]],
  [["jinglectl", "call", "bob@example.org", "--co"], ["--codec"]],
  [["jinglectl", "call", "bob@example.org", "--codec", ""], ["g722", "opus", "pcma", "pcmu"]],
  [["jinglectl", "reject", "--reason", "b"], ["busy"]],
  [["jinglectl", "record", ""], ["start", "stop"]],
  [["jinglectl", "--socket", "/run/j.sock", "presence", "d"], ["dnd"]],
  [["jinglectl", "roster", "a"], ["add", "approve"]],
  [["jinglectl", "voicemail", ""], ["delete", "list"]],
  [["jinglectl", "voicemail", "delete", "--o"], ["--older-than"]],
  [["jinglectl", "set-output", "n"], ["null"]],
  [["jinglectl", "raw", "set-"], ["set-input", "set-output"]],
  [["jinglectl", "completion", ""], ["bash", "zsh"]],
  [["jinglectl", "hangup", "--"], ["--help", "--json"]],
  [["jinglectl", "record", "start", "/tmp/a.wav", "--o"], ["--overwrite"]],
  [["jinglectl", "set-output", "file:/tmp/a.wav", "--o"], ["--overwrite"]],
];

for (const [words, expected] of bashCases) {
  test(`bash: ${words.slice(1).join(" ")}<TAB> -> ${expected.join(" ")}`, () => {
    assert.deepEqual(bashComplete(words), expected);
  });
}

test("both scripts offer every command of the table; jinglectl completion prints them", async () => {
  for (const script of [bashCompletion(), zshCompletion()]) {
    for (const word of Object.keys(COMMANDS)) assert.ok(script.includes(`'${word}`), `${word} in the script`);
  }
  let text = "";
  const io = { stdout: { write: (s: string) => (text += s) }, stderr: { write: () => true }, env: {} };
  assert.equal(await main(["completion", "zsh"], io), 0);
  assert.equal(text, zshCompletion());
  assert.equal(await main(["completion", "fish"], io), 64);
});

test("zsh: the completion loads into compsys and completes commands, option values and arguments", (t) => {
  if (spawnSync("zsh", ["--version"]).status !== 0) {
    if (process.getuid?.() === 0) assert.fail("zsh is missing: run scripts/bootstrap.sh");
    t.skip("zsh is not installed");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "jingled-zsh-"));
  try {
    const file = join(dir, "_jinglectl");
    writeFileSync(file, zshCompletion());
    assert.equal(spawnSync("zsh", ["-n", file]).status, 0, "valid zsh");
    // A real interactive zsh in a pseudo-terminal (zsh/zpty): type, press TAB, then read the
    // command line (a widget on ^X writes $BUFFER to a file) or the listing on the screen.
    const buffers = join(dir, "buffers");
    const driver = `
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1=""; autoload -U compinit; compinit -u -D; source ${file}; dump() { print -r -- "[$BUFFER]" >> ${buffers} }; zle -N dump; bindkey "^X" dump; print ready-$((6*7))'
screen=""
wait_for() { local chunk i; for i in {1..100}; do while zpty -r -t z chunk; do screen+=$chunk; done; [[ $screen == *$1* ]] && return 0; sleep 0.1; done; return 1; }
line() { local i; : > ${buffers}; zpty -w -n z $'\\C-u'"$1"$'\\C-x'; for i in {1..100}; do [[ -s ${buffers} ]] && break; sleep 0.1; done; [[ "$(<${buffers})" == "[$2]" ]] && print -r "ok: $1 -> $2" || print -r "MISSING: $1 -> $2 (got $(<${buffers}))"; }
listing() { screen=""; zpty -w -n z $'\\C-u'"$1"; wait_for "$2" && print -r "ok: $1 -> $2" || print -r "MISSING: $1 lists $2"; }
wait_for ready-42 || print "MISSING: compinit"
line $'jinglectl reco\\t' 'jinglectl record '
line $'jinglectl --js\\t' 'jinglectl --json '
line $'jinglectl record sta\\t' 'jinglectl record start '
listing $'jinglectl call bob@example.org --codec \\t\\t' 'pcmu'
listing $'jinglectl presence \\t\\t' 'dnd'
zpty -d z
`;
    const r = spawnSync("zsh", ["-f", "-c", driver], { encoding: "utf8", timeout: 60_000 });
    const lines = r.stdout.split("\n").filter(Boolean);
    assert.deepEqual(lines.filter((l) => l.startsWith("MISSING")), [], r.stdout + r.stderr);
    assert.equal(lines.filter((l) => l.startsWith("ok:")).length, 5, r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
