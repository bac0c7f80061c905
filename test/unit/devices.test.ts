// Device listing: parsers of /proc/asound/pcm and `pactl list short`, and the built-in entries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { listDevices, parseAlsaPcm, parsePactlShort } from "../../src/app/devices.js";
import { sinkSpec, sourceSpec } from "../../src/config/schema.js";

test("parseAlsaPcm: playback and capture devices", () => {
  const text = [
    "00-00: ALC257 Analog : ALC257 Analog : playback 1 : capture 1",
    "00-03: HDMI 0 : HDMI 0 : playback 1",
    "01-00: USB Audio : USB Audio : capture 1",
    "garbage line",
  ].join("\n");
  assert.deepEqual(parseAlsaPcm(text), [
    { device: "hw:0,0", name: "ALC257 Analog", playback: true, capture: true },
    { device: "hw:0,3", name: "HDMI 0", playback: true, capture: false },
    { device: "hw:1,0", name: "USB Audio", playback: false, capture: true },
  ]);
});

test("parsePactlShort: name and state columns", () => {
  const text = "0\talsa_output.pci.analog-stereo\tPipeWire\ts32le 2ch 48000Hz\tSUSPENDED\n1\tnull.monitor\tmodule-null-sink.c\ts16le 2ch 44100Hz\tIDLE\n";
  assert.deepEqual(parsePactlShort(text), [
    { name: "alsa_output.pci.analog-stereo", state: "SUSPENDED" },
    { name: "null.monitor", state: "IDLE" },
  ]);
  assert.deepEqual(parsePactlShort(""), []);
});

test("listDevices: every spec offered is one the config schema accepts (bar the example path)", async () => {
  const { inputs, outputs } = await listDevices();
  assert.ok(inputs.some((d) => d.spec.type === "silence"));
  assert.ok(outputs.some((d) => d.spec.type === "null"));
  for (const d of inputs) assert.ok(sourceSpec.safeParse(d.spec).success, JSON.stringify(d.spec));
  for (const d of outputs) assert.ok(sinkSpec.safeParse(d.spec).success, JSON.stringify(d.spec));
});
