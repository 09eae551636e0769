// Bundles src/index.ts into one ES module (CSS inlined) that TensorBoard loads in the tab's iframe.
// `node build.mjs OUTDIR` writes OUTDIR/index.js; `node build.mjs --verify OUTDIR` builds into a
// temporary folder and fails when OUTDIR's committed bundle differs from it byte for byte.
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const verify = args[0] === "--verify";
const outdir = resolve(root, verify ? args[1] : args[0]);
const FILES = ["index.js"];

async function build(dir) {
  await esbuild.build({
    entryPoints: [join(root, "src/index.ts")],
    outfile: join(dir, "index.js"),
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: true,
    // The iframe's CSP allows inline styles: CSS ships inside the module, one request in all.
    loader: { ".css": "text" },
    legalComments: "eof",
    logLevel: "warning",
  });
}

if (verify) {
  const tmp = mkdtempSync(join(tmpdir(), "lossdiag-bundle-"));
  try {
    await build(tmp);
    const stale = FILES.filter((name) => {
      const committed = join(outdir, name);
      return !existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(tmp, name)));
    });
    if (stale.length) {
      console.error(`stale bundle: ${stale.join(", ")} in ${outdir} differ from what frontend/ builds; run \`make frontend\` and commit it`);
      process.exit(1);
    }
    console.log(`bundle up to date: ${FILES.join(", ")}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  await build(outdir);
  console.log(`wrote ${FILES.map((f) => join(outdir, f)).join(", ")}`);
}
