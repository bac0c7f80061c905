// ice.addresses and ice.interfaces against the machine: refused at start
// with exit 78 naming the value (the real daemon binary), by --check-config,
// and the messages for each kind of mistake (a given interface table).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir, type NetworkInterfaceInfo } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHostConfig, hostConfigProblems } from "../../src/ice/host-check.js";
import { ConfigError } from "../../src/util/errors.js";

const info = (address: string, family: "IPv4" | "IPv6", internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: family === "IPv4" ? "255.255.255.0" : "ffff:ffff:ffff:ffff::", mac: "00:00:00:00:00:00", cidr: null, ...(family === "IPv6" ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

const machine: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [info("127.0.0.1", "IPv4", true), info("::1", "IPv6", true)],
  enp3s0: [info("192.168.1.20", "IPv4"), info("2001:db8::20", "IPv6"), info("fe80::1", "IPv6")],
  wg0: [],
};

test("addresses this machine has pass, in any spelling; interfaces it has pass, with or without addresses", () => {
  assert.deepEqual(hostConfigProblems({ addresses: ["192.168.1.20", "2001:DB8:0::20", "127.0.0.1", "fe80::1%enp3s0", "fe80::1%2"] }, machine), []);
  assert.deepEqual(hostConfigProblems({ interfaces: ["enp3s0", "lo", "wg0"] }, machine), [], "wg0 has no address yet: accepted");
  assert.deepEqual(hostConfigProblems({}, machine), []);
});

test("an address the machine does not have is named, with what it has", () => {
  assert.deepEqual(hostConfigProblems({ addresses: ["192.168.1.20", "192.168.1.50"] }, machine), [
    "ice.addresses.1: 192.168.1.50 is not an address of this machine (it has 127.0.0.1 on lo, ::1 on lo, 192.168.1.20 on enp3s0, 2001:db8::20 on enp3s0, fe80::1 on enp3s0)",
  ]);
});

test("the unspecified address, a link-local address without its zone or with the wrong one", () => {
  const p = hostConfigProblems({ addresses: ["0.0.0.0", "::", "fe80::1", "fe80::1%wg0"] }, machine);
  assert.match(p[0]!, /^ice\.addresses\.0: 0\.0\.0\.0 is the unspecified address, which no peer can reach; leave ice\.addresses out/);
  assert.match(p[1]!, /^ice\.addresses\.1: :: is the unspecified address/);
  assert.equal(p[2], "ice.addresses.2: fe80::1 is link-local and means something only with its interface: write it as fe80::1%INTERFACE");
  assert.equal(p[3], "ice.addresses.3: fe80::1%wg0: fe80::1 is on enp3s0, not on wg0");
});

test("an interface the machine does not have is named, with the ones it has", () => {
  assert.deepEqual(hostConfigProblems({ interfaces: ["enp3s0", "eth0"] }, machine), ["ice.interfaces.1: this machine has no interface named eth0 (it has lo, enp3s0, wg0)"]);
  const many = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`veth${i}`, []]));
  assert.match(hostConfigProblems({ interfaces: ["eth0"] }, many)[0]!, /\(it has veth0, .*veth7 and 4 more\)$/);
});

test("checkHostConfig throws one ConfigError naming the file and every problem", () => {
  assert.throws(
    () => checkHostConfig({ ice: { addresses: ["192.0.2.77"], interfaces: ["eth9"] }, file: "/etc/jingled/jingled.yaml" }, machine),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid configuration in \/etc\/jingled\/jingled\.yaml for this machine:\n {2}ice\.addresses\.0: 192\.0\.2\.77 is not an address of this machine .*\n {2}ice\.interfaces\.0: this machine has no interface named eth9 /);
      assert.equal(err.issues.length, 2);
      return true;
    },
  );
  assert.doesNotThrow(() => checkHostConfig({ ice: {} }, machine));
});

test("the daemon refuses to start (exit 78) with an address or interface this machine does not have; --check-config says the same", () => {
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no machine has it. The daemon stops before any connection.
  const absent = Object.keys(networkInterfaces()).includes("nosuch0") ? "nosuch1" : "nosuch0";
  const dir = mkdtempSync(join(tmpdir(), "jingled-host-check-"));
  try {
    const bin = fileURLToPath(new URL("../../../bin/jingled.js", import.meta.url));
    const file = join(dir, "jingled.yaml");
    writeFileSync(
      file,
      "account: {jid: door@home.test, password: pw, server: 'xmpp://127.0.0.1:1'}\n" +
        `control: {socket: ${join(dir, "run", "control.sock")}}\n` +
        `ice: {addresses: [127.0.0.1, 192.0.2.77], interfaces: [${absent}]}\n`,
    );
    const env = { ...process.env, JINGLED_PASSWORD: "" };
    const r = spawnSync(process.execPath, [bin, "--config", file], { encoding: "utf8", env, timeout: 20_000 });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /^jingled: invalid configuration in .*jingled\.yaml for this machine:\n {2}ice\.addresses\.1: 192\.0\.2\.77 is not an address of this machine \(it has .*127\.0\.0\.1 on lo/);
    assert.match(r.stderr, new RegExp(`\\n {2}ice\\.interfaces\\.0: this machine has no interface named ${absent} \\(it has .*lo`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");

    const check = spawnSync(process.execPath, [bin, "--check-config", file], { encoding: "utf8", env, timeout: 20_000 });
    assert.equal(check.status, 78);
    assert.equal(check.stdout, "");
    assert.match(check.stderr, /192\.0\.2\.77 is not an address of this machine/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
