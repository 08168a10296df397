// Bundle the web console (docs/web.md): node build.mjs OUTDIR writes
// index.html, app.js and app.css there. tools/build-web embeds them in
// the daemon.
import { build } from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outfile: join(out, "app.js"),
  legalComments: "none",
  logLevel: "warning",
});
const css = await Promise.all([
  "node_modules/@xterm/xterm/css/xterm.css",
  "node_modules/uplot/dist/uPlot.min.css",
  "src/style.css",
].map((f) => readFile(join(here, f), "utf8")));
const min = await build({
  stdin: { contents: css.join("\n"), loader: "css" },
  minify: true,
  write: false,
  logLevel: "warning",
});
await writeFile(join(out, "app.css"), min.outputFiles[0].contents);
await writeFile(join(out, "index.html"),
  await readFile(join(here, "src", "index.html")));
