// Bundle the web console (docs/web.md): node build.mjs OUTDIR writes
// index.html, app.js and app.css there. tools/build-web embeds them in
// the daemon.
import { build } from "esbuild";
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
await mkdir(out, { recursive: true });
// The list page loads main.js only; the VM page's xterm.js and uPlot
// (most of the bytes) come as vmpage.js when a VM is opened.
await build({
  entryPoints: [join(here, "src", "main.js"), join(here, "src", "vmpage.js")],
  bundle: true,
  minify: true,
  splitting: true,
  format: "esm",
  target: ["es2020"],
  outdir: out,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
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
// main.js's shared chunks are fetched with it, not after it is parsed
const chunks = (await readdir(out)).filter((f) => f.startsWith("chunk-"));
const preload = chunks.map((f) => `<link rel="modulepreload" href="/ui/${f}">`).join("\n");
const html = await readFile(join(here, "src", "index.html"), "utf8");
await writeFile(join(out, "index.html"), html.replace("<!-- preload -->", preload));
