#!/usr/bin/env node
// A `solc` lookalike backed by solc-js (npm `solc`), for tools that expect a native compiler
// (py-solc-x / brownie) and for our own compile step. Answers `--version` and `--standard-json`
// (input on stdin, output JSON on stdout, nothing else on stdout).
// Imports resolve against --base-path, each --include-path / --allow-paths entry, and the
// project's node_modules, so `@openzeppelin/...` works without remappings.
"use strict";
const fs = require("fs");
const path = require("path");

const projectRoot = path.resolve(__dirname, "..", "..");
const solc = require(require.resolve("solc", { paths: [projectRoot, process.cwd()] }));

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, roots: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--version") opts.version = true;
    else if (a === "--standard-json") opts.standardJson = true;
    else if (a === "--base-path" || a === "--include-path") opts.roots.push(argv[++i]);
    else if (a === "--allow-paths") opts.roots.push(...argv[++i].split(","));
  }
  opts.roots.push(process.cwd(), path.join(projectRoot, "node_modules"), projectRoot);
  return opts;
}

function makeImportResolver(roots) {
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
    }
    return { error: `File not found: ${importPath}` };
  };
}

const opts = parseArgs(process.argv.slice(2));
if (opts.version) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
} else if (opts.standardJson) {
  const input = fs.readFileSync(0, "utf8");
  process.stdout.write(solc.compile(input, { import: makeImportResolver(opts.roots) }));
} else {
  process.stderr.write("usage: solc --version | solc --standard-json [--base-path P] [--include-path P] < input.json\n");
  process.exit(2);
}
