// The release version, printed by `jingled --version` and `jinglectl --version`
// and sent in the control socket's hello. Equal to package.json's "version"
// (test/unit/version.test.ts checks it).
export const VERSION = "0.1.0";
