// Build the inspector into src/aegra/inspector/static/ (committed, so the Python package serves it without Node).
// BUILD_SOURCES records a hash of the sources, so a Python test can tell when the committed build is stale.

import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "aegra", "inspector", "static");

/** The files whose content makes the build: sorted, with paths relative to inspector/. */
function sources() {
  const files = ["build.mjs", "index.html", "package-lock.json"];
  for (const name of readdirSync(join(here, "src")).sort()) files.push(`src/${name}`);
  return files;
}

/** sha256 over each source's path and content (the Python test recomputes the same). */
function sourceHash() {
  const hash = createHash("sha256");
  for (const file of sources()) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(join(here, file)));
    hash.update("\n");
  }
  return hash.digest("hex");
}

mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { inspector: join(here, "src", "main.js") },
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  outdir: out,
});
await esbuild.build({
  entryPoints: { inspector: join(here, "src", "style.css") },
  bundle: true,
  minify: true,
  outdir: out,
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
writeFileSync(join(out, "BUILD_SOURCES"), `${sourceHash()}\n`);
console.log(`built ${relative(process.cwd(), out)}`);
